"""The prompt's own item format and its once-stated constraints, detected and applied by the join."""

from __future__ import annotations

import pytest

from graphs.compiler import compile_prompt
from graphs.compiler.schema import Schema, Tier
from graphs.compiler.shape import detect_format, shared_constraints

PLANS = ("Generate 5 possible career plans for a new graduate. Name them from Plan 1 to Plan 5.\nOutput Format:\n\n"
         "[Plan 1]:\n[Plan 1 content]\n\n[Plan 2]:\n[Plan 2 content]\n")


@pytest.mark.parametrize("prompt, item_format, separator", [
    (PLANS, "[Plan {index}]:\n{output}", "\n\n"),
    ("Give 4 ideas for a party in this format:\nIdea 1: ...\nIdea 2: ...", "Idea {index}: {output}", "\n"),
    ("List 3 tips like this:\n1) [tip]\n2) [tip]", "{index}) {output}", "\n"),
    ("Use this output format:\n- {full prompt 1}\n- {full prompt 2}\n- ...", "- {output}", "\n"),
])
def test_the_format_shown_for_items_one_and_two_becomes_the_join(prompt, item_format, separator):
    found = detect_format(prompt)
    assert found is not None
    assert (found.item_format, found.separator) == (item_format, separator)


@pytest.mark.parametrize("prompt", [
    "Rules:\n1. You can refer to the examples.\n2. The name should appear.",  # the prompt's own list, not a format
    "Generate 10 games like 14-26-34-36-43-59, 01-05-12-36-53-55",
    "Write 3 questions.\nQ1: <question>\nA1: <answer>\n\nQ2: <question>\nA2: <answer>",  # two bodies per item
])
def test_no_format_is_read_from_other_text(prompt):
    assert detect_format(prompt) is None


def test_the_join_writes_the_prompts_labels_and_branches_write_only_the_body():
    compiled = compile_prompt(PLANS)
    graph = compiled.graph
    answers = graph.node("answers")
    branch = graph.node("item-2")
    assert answers.item_format == "[Plan {index}]:\n{output}" and answers.separator == "\n\n"
    assert "[Plan 1 content]" not in branch.prompt
    assert 'the answer adds its label "[Plan 2]:" itself' in branch.prompt
    assert "\n[Plan " in branch.params.stop
    outputs = {"item-1": "Become a data engineer.", "item-2": "[Plan 2]:\nJoin a startup.",
               "item-3": "1. Teach.", "item-4": "Research.", "item-5": "Freelance."}
    joined = answers.join(outputs)
    assert joined.split("\n\n")[:3] == ["[Plan 1]:\nBecome a data engineer.", "[Plan 2]:\nJoin a startup.",
                                        "[Plan 3]:\nTeach."]
    assert "1. [Plan" not in joined


def test_a_constraint_stated_once_reaches_every_branch():
    prompt = "Translate into French. Each translation should be under 10 words.\n1. Good morning.\n2. See you soon."
    schema = Schema(parallelizable=True, category="Translation", template="Translate into French: {data}",
                    data=["Good morning.", "See you soon."], validation_tier=Tier.HIGH, language="en")
    assert shared_constraints(prompt, schema) == ("Each translation should be under 10 words.",)
    graph = compile_prompt(prompt, schema=schema).graph
    for name in ("item-1", "item-2"):
        assert graph.node(name).prompt.endswith("(For every item: Each translation should be under 10 words.)")


def test_constraints_about_the_whole_set_or_already_in_the_template_are_not_repeated():
    schema = Schema(parallelizable=True, template="Generate {n} commands. Keep a conversational tone.", n=10,
                    validation_tier=Tier.HIGH, language="en")
    prompt = "Generate 10 commands. Keep a conversational tone. Do not use more than 10 commands."
    assert shared_constraints(prompt, schema) == ()
