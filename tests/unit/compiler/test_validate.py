"""The five validation rules, one at a time, and the tier they give."""

from __future__ import annotations

from graphs.compiler import Schema, Tier, validate


def schema(**fields) -> Schema:
    base = {"parallelizable": True, "category": "Reading Comprehension", "template": "Answer: {data}",
            "data": ["a?", "b?"], "language": "en", "pattern": "numbered"}
    return Schema(**{**base, **fields})


def test_clean_schema_is_high():
    s = validate(schema())
    assert s.validation_tier is Tier.HIGH and s.passes


def test_rule1_data_needs_data_placeholder():
    s = validate(schema(template="Answer the question."))
    assert s.validation_tier is Tier.REJECTED
    assert "template must hold {data} exactly once, found 0" in s.reasons


def test_rule1_literal_placeholder_in_prompt_text_is_rejected():
    s = validate(schema(template="Explain what {data} means in Python: {data}"))
    assert s.validation_tier is Tier.REJECTED


def test_rule1_context_needs_context_placeholder():
    s = validate(schema(context="A passage.", template="Answer: {data}"))
    assert "context is set but the template holds {context} 0 times" in s.reasons
    assert validate(schema(template="{context} {data}")).validation_tier is Tier.REJECTED


def test_rule2_stated_count_must_match_items():
    s = validate(schema(stated_count=3))
    assert s.validation_tier is Tier.REJECTED
    assert "the prompt says 3 items but 2 were found" in s.reasons


def test_rule2_duplicates_lower_the_tier():
    s = validate(schema(data=["same?", "Same?", "other?"]))
    assert s.validation_tier is Tier.MEDIUM and "1 duplicate item(s)" in s.reasons


def test_rule3_minimum_parallelism():
    s = validate(schema(data=["only one?"]))
    assert s.validation_tier is Tier.REJECTED
    assert "only 1 subtask(s); parallelism needs at least 2" in s.reasons


def test_rule4_unsupported_language_is_medium():
    s = validate(schema(language="ko"))
    assert s.validation_tier is Tier.MEDIUM
    assert any("language 'ko'" in r for r in s.reasons)


def test_rule4_items_without_words_are_rejected():
    s = validate(schema(data=["...", "!!"]))
    assert s.validation_tier is Tier.REJECTED


def test_rule4_nested_list_marker_is_medium():
    s = validate(schema(data=["1. nested?", "b?"]))
    assert s.validation_tier is Tier.MEDIUM


def test_rule5_data_and_n_are_exclusive():
    s = validate(schema(n=3))
    assert s.validation_tier is Tier.REJECTED
    assert "both data and n are set; they are mutually exclusive" in s.reasons


def test_rule5_one_of_data_or_n_is_needed():
    s = validate(schema(data=None, template="Write a poem."))
    assert "neither data nor n is set" in s.reasons


def test_repeated_generation_must_not_use_data_placeholder():
    s = validate(schema(data=None, n=4, template="Write {data}"))
    assert "template holds {data} but the schema repeats a generation n times" in s.reasons
