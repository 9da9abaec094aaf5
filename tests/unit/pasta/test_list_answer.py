"""Which prompts ask for a list (auto weighs pasta lists mode only for them), and how many items they expect."""

from __future__ import annotations

import pytest

from graphs.pasta.list_answer import DEFAULT_ITEMS, list_items

# Requests of several things, most in the words of Vicuna-80 and of the `make run` prompt.
STATED = [
    ("Give three short tips for staying focused while studying.", 3),
    ("List five ways to save money on groceries.", 5),
    ("Name 4 rivers that flow through Europe.", 4),
    ("What are two differences between cats and dogs as pets?", 2),
    ("I need 3 ideas for a surprise birthday party.", 3),
    ("Top 10 science fiction novels of the last decade", 10),
]
UNSTATED = [
    "What are the most effective ways to deal with stress?",
    "What are the main differences between Python and JavaScript programming languages?",
    "What are the major challenges faced by the education sector today?",
    "What are some subtle clues that suggest someone is pretending to understand a topic?",
    "What factors would you consider when designing an inclusive public transportation system?",
    "What are the steps to bake sourdough bread at home?",
    "Do you have any tips for public speaking?",
    "What are the pros and cons of working from home?",
    "List the planets of the solar system.",
]
# One thing, prose, code, a bounded answer, or no enumerable plural: not a list.
NOT_LISTS = [
    "What is the capital of France?",
    "Why is the sky blue?",
    "What is the best way to learn Python?",
    "Give me one tip for sleeping better.",
    "Name the largest planet in the solar system.",
    "Write an essay about the causes of World War I.",
    "Compose an engaging travel blog post about a recent trip to Hawaii, highlighting the must-see attractions.",
    "Can you help me write a formal email to a potential business partner proposing a joint venture?",
    "Write a Python function that lists the files in a directory.",
    "Implement a binary search algorithm to find a specific element in a sorted array.",
    "Explain in one paragraph the main reasons for inflation.",
    "How many atoms are in a grain of salt? Take the reader through your reasoning step-by-step.",
    "What if the Internet had been invented during the Renaissance period?",
    "How do I make a list in Python?",
    "What are you doing this weekend?",
    "Name 100 animals.",
]


@pytest.mark.parametrize(("prompt", "count"), STATED)
def test_a_stated_count_is_the_expected_number_of_items(prompt: str, count: int) -> None:
    assert list_items(prompt) == count


@pytest.mark.parametrize("prompt", UNSTATED)
def test_a_request_of_several_things_without_a_number_expects_the_default(prompt: str) -> None:
    assert list_items(prompt) == DEFAULT_ITEMS
    assert list_items(prompt, default=7) == 7


@pytest.mark.parametrize("prompt", NOT_LISTS)
def test_one_thing_prose_code_and_plain_questions_are_not_lists(prompt: str) -> None:
    assert list_items(prompt) is None
