"""Branch budgets: an item's expected length from the prompt, and the caps the compiler sets from it."""

from __future__ import annotations

import pytest

from graphs.compiler import CompileOptions, compile_prompt
from graphs.compiler.budget import Budget, ItemSize, estimate_tokens, item_budget, length_note
from graphs.compiler.extract import extract_rules
from graphs.compiler.validate import validate


def budget(prompt: str):
    return item_budget(validate(extract_rules(prompt)), prompt)


@pytest.mark.parametrize("prompt, size, tokens", [
    ("Generate 10 commands for a robot. Each command should be concise in no more than 20 words.", ItemSize.LIMIT, 28),
    ("Generate 5 slogans for a bakery, each under 40 characters.", ItemSize.LIMIT, 10),
    ("Generate 5 sentences with the word 'captivating'.", ItemSize.SENTENCE, 36),
    ("Generate 10 names for a cat.", ItemSize.TITLE, 14),
    ("Generate 4 ideas for a party, one line each.", ItemSize.LINE, 28),
    ("Write 3 short paragraphs about the sea.", ItemSize.PARAGRAPH, 90),
    ("Write 3 detailed paragraphs about the sea.", ItemSize.PARAGRAPH, 300),
    ("Generate 3 Python functions that sort a list.", ItemSize.CODE, 260),
])
def test_expected_length_comes_from_the_prompt(prompt, size, tokens):
    found = budget(prompt)
    assert (found.size, found.expected_tokens) == (size, tokens)


def test_the_item_count_is_not_taken_for_a_length():
    assert budget("Generate 5 sentences about dogs.").expected_tokens == 36  # one sentence each, not five


def test_a_translation_is_about_as_long_as_its_source():
    found = budget("Translate into German: good morning, thank you very much for the wonderful dinner")
    assert found.size is ItemSize.SOURCE
    assert found.expected_tokens == int(estimate_tokens("thank you very much for the wonderful dinner") * 1.5 + 0.999) + 4


def test_cap_has_a_margin_a_floor_and_the_ceiling():
    found = budget("Generate 3 Python functions that sort a list.")
    assert found.cap(512) == 512  # 260 * 2.5 = 650, held at the ceiling
    assert budget("Generate 10 names for a cat.").cap(512) == 35
    assert Budget(size=ItemSize.WORD, expected_tokens=6).cap(512) == 32
    assert Budget(size=ItemSize.WORD, expected_tokens=6).cap(16) == 16


def test_estimate_tokens_counts_cjk_characters_one_each():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdefgh") == 2
    assert estimate_tokens("你好世界") == 4


def test_the_compiler_sets_caps_and_expected_tokens_from_the_budget():
    compiled = compile_prompt("Generate 10 names for a cat.")
    node = compiled.graph.node("item-1")
    assert (node.params.max_tokens, node.expected_tokens) == (35, 14)
    uncapped = compile_prompt("Generate 10 names for a cat.", options=CompileOptions(budget_items=False))
    assert uncapped.graph.node("item-1").params.max_tokens == 512


def test_a_short_item_whose_length_the_prompt_does_not_state_gets_a_length_note():
    def note(prompt: str) -> str:
        schema = validate(extract_rules(prompt))
        return length_note(item_budget(schema, prompt), schema.language)

    assert note("Extract name, age and city from the following text: Maria, 34, nurse in Lyon.") == \
        "(Answer in one line, as this entry would read in a list of answers.)"
    assert note("Extrae el nombre, la edad y la ciudad del siguiente texto: María, 34, enfermera en Lyon.") == \
        "(Responde en una línea, como se leería esta entrada en una lista de respuestas.)"
    assert note("Generate 5 names for a bakery.").startswith("(Answer in a few words")
    assert note("Write 3 tips for sleeping better, each in no more than 12 words.") == ""  # the prompt says
    assert note("Write 3 short stories about a dragon.") == ""  # a paragraph is not short
