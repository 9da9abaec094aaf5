"""Every runtime test ends with a leak check: no open engine request, no slot held."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors import ScriptedEngine
from orchestrator import Runtime, RuntimeConfig


class Harness:
    def __init__(self) -> None:
        self.pairs: list[tuple[ScriptedEngine, Runtime]] = []

    def __call__(self, respond=None, *, config: RuntimeConfig | None = None, **engine_options) -> tuple[ScriptedEngine, Runtime]:
        engine = ScriptedEngine(respond, **engine_options)
        runtime = Runtime(engine, config)
        self.pairs.append((engine, runtime))
        return engine, runtime


@pytest.fixture
def make() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    for engine, runtime in harness.pairs:
        assert engine.active == set(), f"engine requests leaked: {engine.active}"
        assert runtime.in_flight == 0, "runtime still counts requests in flight"
        assert all(call.end is not None for call in engine.calls), "a stream was never closed"
