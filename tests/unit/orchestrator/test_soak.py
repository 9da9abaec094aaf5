"""The soak's properties in a small profile (CI): generated inputs raise only typed errors, each bounded in time."""

from __future__ import annotations

import time

import pytest

from orchestrator.reliability.soak import TARGETS, ExampleHang, bounded, soak

CI_EXAMPLES = 300


@pytest.mark.parametrize("target", TARGETS)
def test_generated_inputs_raise_only_typed_errors(target: str) -> None:
    report = soak(target, CI_EXAMPLES, seed=13)
    assert report.examples >= CI_EXAMPLES
    assert report.typed_errors < report.examples  # some inputs reach the happy path
    if target != "compiler":  # the compiler falls back to a serial graph instead of refusing a prompt
        assert report.typed_errors > 0


def test_an_example_that_hangs_is_stopped_by_the_bound() -> None:
    with pytest.raises(ExampleHang, match=r"^an example ran longer than 0.2 s$"):
        with bounded(0.2):
            while True:
                time.sleep(0.01)


def test_an_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown soak target 'yaml'; choose from pasta, compiler, graph-json"):
        soak("yaml", 1)
