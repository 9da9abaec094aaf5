"""The synchronous prefix of a position: section 2's four cases, with and without tags."""

from __future__ import annotations

import pytest

from graphs.pasta import sync_prefix

TEXT = "Q: <scope>A<async>bb</async>C<async>dd</async>E</scope>F"


def at(marker: str, text: str = TEXT) -> int:
    return text.index(marker)


def test_case_1_plain_text_sees_everything_before_it() -> None:
    plain = "no tags at all"
    assert sync_prefix(plain, 7) == plain[:7]
    assert sync_prefix(plain, len(plain)) == plain


def test_case_2_after_scope_or_async_the_prefix_skips_the_tag() -> None:
    assert sync_prefix(TEXT, at("A")) == "Q: "
    assert sync_prefix(TEXT, at("bb")) == "Q: A"
    assert sync_prefix(TEXT, at("bb") + 1) == "Q: Ab"


def test_case_3_after_async_close_the_fork_content_is_not_seen() -> None:
    assert sync_prefix(TEXT, at("C")) == "Q: A"
    assert sync_prefix(TEXT, at("dd")) == "Q: AC"
    assert sync_prefix(TEXT, at("E")) == "Q: AC"


def test_case_4_after_scope_close_everything_in_the_scope_is_seen() -> None:
    assert sync_prefix(TEXT, at("F")) == "Q: AbbCddE"
    assert sync_prefix(TEXT, len(TEXT)) == "Q: AbbCddEF"


def test_interpreter_view_keeps_the_tags_the_model_wrote() -> None:
    text = "<scope>A<promise/><async>bb</async>C<promise/><async>dd</async>E</scope>F"
    assert sync_prefix(text, at("bb", text), keep_tags=True) == "<scope>A<promise/><async>"
    assert sync_prefix(text, at("dd", text), keep_tags=True) == "<scope>A<promise/>C<promise/><async>"
    assert sync_prefix(text, at("E", text), keep_tags=True) == "<scope>A<promise/>C<promise/>"
    assert sync_prefix(text, at("F", text), keep_tags=True) == "AbbCddE"


def test_later_dialect_forks_start_from_their_promise() -> None:
    text = "<promise/>x<promise/>y<async>P</async><async>Q</async><sync/>z"
    assert sync_prefix(text, at("P", text)) == ""
    assert sync_prefix(text, at("Q", text)) == "x"
    assert sync_prefix(text, at("z", text)) == "PxQy"  # each content sits at its promise


def test_nested_scope_inside_a_fork() -> None:
    text = "<scope>A<async>b<scope>c<async>d</async>e</scope>f</async>G</scope>"
    assert sync_prefix(text, at("d", text)) == "Abc"
    assert sync_prefix(text, at("f", text)) == "Abcde"
    assert sync_prefix(text, at("G", text)) == "A"


def test_offsets_outside_text_or_inside_tags_are_value_errors() -> None:
    with pytest.raises(ValueError, match="outside the text"):
        sync_prefix(TEXT, len(TEXT) + 1)
    with pytest.raises(ValueError, match="inside a tag"):
        sync_prefix(TEXT, at("<scope>") + 2)
