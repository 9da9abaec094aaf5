"""The deterministic tuning / check split of an annotated set."""

from __future__ import annotations

import hashlib

import pytest

pytest.importorskip("opentelemetry", reason="orchestrator needs the project venv (.venv/bin/python -m pytest)")

from orchestrator.evaluate import Part, split_part


def test_split_is_a_function_of_the_id_alone():
    ids = [f"row-{k}" for k in range(300)]
    assert [split_part(i) for i in ids] == [split_part(i) for i in ids]
    expected = [Part.CHECK if int(hashlib.sha256(i.encode()).hexdigest()[:16], 16) % 3 == 0 else Part.TUNING
                for i in ids]
    assert [split_part(i) for i in ids] == expected


def test_about_one_row_in_three_is_check():
    parts = [split_part(f"prompt-{k}") for k in range(3000)]
    assert 900 <= parts.count(Part.CHECK) <= 1100
    assert parts.count(Part.CHECK) + parts.count(Part.TUNING) == 3000
