"""Structural adherence on hand-built answers: count, order, format, ratings, translations, JSON."""

from __future__ import annotations

from graphs.adherence import Expectation, ListStyle, check, expectation
from graphs.compiler import compile_prompt

NUMBERED = Expectation(count=3, style=ListStyle.NUMBERED, marker=r"\s*\d{1,3}\.\s+")


def test_a_numbered_answer_with_the_requested_count_passes():
    result = check("1. Apple\n2. Pear\n3. Plum", NUMBERED)
    assert result.passed and [c.name for c in result.checks] == ["count", "order", "format"]


def test_a_missing_item_fails_count_and_says_so():
    result = check("1. Apple\n2. Pear", NUMBERED)
    assert result.failed == ["count"]
    assert result.checks[0].detail == "2 items, 3 requested"


def test_items_out_of_order_fail_order():
    assert check("1. Apple\n3. Plum\n2. Pear", NUMBERED).failed == ["order"]


def test_an_unnumbered_answer_fails_format():
    result = check("Apple, pear and plum are fruit.", NUMBERED)
    assert "format" in result.failed and "count" in result.failed


def test_the_prompts_own_labelled_format_is_checked_item_by_item():
    compiled = compile_prompt("Generate 3 career plans. Output Format:\n\n[Plan 1]:\n[Plan 1 content]\n\n"
                              "[Plan 2]:\n[Plan 2 content]\n")
    expected = expectation(compiled)
    assert expected.style is ListStyle.CUSTOM and expected.count == 3
    good = "[Plan 1]:\nTeach.\n\n[Plan 2]:\nCode.\n\n[Plan 3]:\nWrite."
    assert check(good, expected).passed
    lost_label = "[Plan 1]:\nTeach.\n\nCode.\n\n[Plan 3]:\nWrite."
    assert check(lost_label, expected).failed == ["count", "order"]
    double_numbered = "1. [Plan 1 content]\n2. [Plan 2 content]\n3. [Plan 3 content]"
    assert "format" in check(double_numbered, expected).failed


def test_one_rating_per_sentence():
    expected = Expectation(count=2, style=ListStyle.NUMBERED, marker=r"\s*\d{1,3}\.\s+", ratings=True)
    assert check("1. Positive\n2. Negative", expected).passed
    result = check("1. Positive\n2. It is positive, or maybe negative.", expected)
    assert result.failed == ["one_rating_per_item"]
    assert "items [2] lack exactly one rating" in result.checks[-1].detail


def test_one_translation_per_item_rejects_a_copied_source():
    expected = Expectation(count=2, sources=("Good morning", "Thank you"))
    assert check("Bonjour\nMerci", expected).passed
    assert check("Bonjour\nThank you", expected).failed == ["one_translation_per_item"]


def test_json_is_checked_only_when_asked():
    expected = Expectation(json_answer=True)
    assert check('```json\n{"a": 1}\n```', expected).passed
    assert check("{'a': 1}", expected).failed == ["json"]
    assert check("{'a': 1}", Expectation()).checks == []


def test_labelled_fields_in_the_order_asked():
    expected = Expectation(count=2, style=ListStyle.LABELLED, labels=("name", "city"))
    assert check("name: Maria\ncity: Lyon", expected).passed
    assert check("city: Lyon\nname: Maria", expected).failed == ["order"]


def test_expectation_of_a_translation_prompt():
    expected = expectation(compile_prompt("Translate into French: cat, dog, bird"))
    assert expected.count == 3 and expected.sources == ("cat", "dog", "bird")
    assert check("chat\nchien\noiseau", expected).passed
