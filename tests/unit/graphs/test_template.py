"""Templates: placeholders name nodes; values are never re-parsed; escape() is exact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphs import TemplateError, escape, placeholders, render


def test_placeholders_in_first_use_order() -> None:
    assert placeholders("{b} {a} {b} {{c}} {\"json\": 1} {not valid}") == ("b", "a")


def test_values_are_not_reparsed() -> None:
    assert render("x={a}", {"a": "{b}", "b": "no"}) == "x={b}"


def test_missing_value_names_owner() -> None:
    with pytest.raises(TemplateError, match=r"placeholder \{a\} in node 'n' has no value"):
        render("{a}", {}, owner="n")


@given(st.text())
def test_escape_round_trips_any_text(text: str) -> None:
    escaped = escape(text)
    assert placeholders(escaped) == ()
    assert render(escaped, {}) == text
