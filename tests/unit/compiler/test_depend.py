"""Dependency detection: aggregate, chain and diversity, and what each does to the graph."""

from __future__ import annotations

import pytest

from graphs.compiler import DependencyKind, compile_prompt


def kinds(prompt: str) -> list[DependencyKind]:
    return [d.kind for d in compile_prompt(prompt).dependencies]


@pytest.mark.parametrize("prompt", [
    "Translate these sentences into French:\n1. I am tired.\n2. It is late.\n3. Let's go home.\n"
    "Then compare the translations and say which was hardest.",
    "Suggest ideas for a team name:\n- fast\n- bold\n- calm\nFinally, rank them from best to worst.",
    "请翻译下列句子：\n1. 你好。\n2. 谢谢。\n3. 再见。\n然后总结这些翻译。",
    "Traduce las siguientes frases:\n1. Hola.\n2. Gracias.\nLuego compáralos.",
])
def test_aggregate_adds_a_final_node_after_the_join(prompt):
    compiled = compile_prompt(prompt)
    assert DependencyKind.AGGREGATE in kinds(prompt)
    assert compiled.parallel
    assert ("answers", "final") in compiled.graph.edges()
    assert compiled.graph.sinks() == ["final"]


def test_branches_do_not_do_the_final_step():
    compiled = compile_prompt("Answer these questions:\n1. What is 2+2?\n2. What is 3+3?\nThen rank them by difficulty.")
    branch = compiled.graph.node("item-1").prompt
    assert "rank" not in branch and "What is 2+2?" in branch


def test_instruction_level_chain_is_serial():
    compiled = compile_prompt("Write the chapters of a story:\n1. The hero leaves home.\n2. The hero meets a guide.\n"
                              "3. The hero returns.\nEach chapter should continue from where the previous one ends.")
    assert DependencyKind.CHAIN in kinds(compiled.prompt)
    assert not compiled.parallel
    assert ("item-1", "item-2") in compiled.graph.edges() and ("item-2", "item-3") in compiled.graph.edges()
    assert compiled.graph.width() == 1
    assert any(r.startswith("serial: ") for r in compiled.reasons)


def test_item_referring_to_the_previous_answer_waits_for_it():
    compiled = compile_prompt("Answer these questions:\n1. What is 12 times 3?\n2. What is 4 plus 5?\n"
                              "3. Divide the previous answer by 3.")
    assert compiled.parallel
    assert ("item-2", "item-3") in compiled.graph.edges() and ("item-1", "item-3") not in compiled.graph.edges()


def test_item_that_depends_on_the_answer_before_it():
    compiled = compile_prompt("Answer the questions about the call:\n1. Did the agent greet the customer?\n"
                              "2. If so, was the greeting polite?\n3. Did the agent say goodbye?")
    chain = [d for d in compiled.dependencies if d.kind is DependencyKind.CHAIN]
    assert chain and chain[0].item == 2 and not chain[0].serial
    assert compiled.parallel  # only item 2 waits; items 1 and 3 still run at once
    edges = set(compiled.graph.edges())
    assert ("item-1", "item-2") in edges and ("item-2", "item-3") not in edges
    assert "Did the agent greet the customer?" in compiled.graph.node("item-2").prompt
    assert compiled.graph.width() == 2


def test_instruction_chain_in_other_language():
    compiled = compile_prompt("Beantworte die folgenden Fragen:\n1. Was ist 2+2?\n2. Was ist 3+3?\n"
                              "Nutze die vorherige Antwort für jede Frage.")
    assert not compiled.parallel


def test_explicit_diversity_is_recorded_and_each_branch_gets_its_slot():
    compiled = compile_prompt("Generate 4 different names for a bakery.")
    dep = next(d for d in compiled.dependencies if d.kind is DependencyKind.DIVERSITY)
    assert dep.evidence == "different" and not dep.serial
    prompts = [compiled.graph.node(f"item-{k}").prompt for k in range(1, 5)]
    assert len(set(prompts)) == 4
    assert "item 3 of 4" in prompts[2]
    seeds = {compiled.graph.node(f"item-{k}").params.seed for k in range(1, 5)}
    assert seeds == {1, 2, 3, 4}


def test_implicit_diversity_for_any_repeated_generation():
    compiled = compile_prompt("Write 3 haiku about rain.")
    dep = next(d for d in compiled.dependencies if d.kind is DependencyKind.DIVERSITY)
    assert dep.evidence == "" and compiled.parallel


def test_independent_list_has_no_dependencies():
    assert kinds("Translate into Spanish: cat, dog, bird") == []


def test_shared_part_is_answered_once_before_the_items():
    compiled = compile_prompt("Explain what a haiku is and write 3 haiku about rain.")
    shared = next(d for d in compiled.dependencies if d.kind is DependencyKind.SHARED)
    assert shared.evidence == "Explain what a haiku is"
    graph = compiled.graph
    assert graph.sinks() == ["answer"]
    assert graph.node("answer").template == "{shared}\n\n{answers}"
    assert "do not write them" in graph.node("shared").prompt
    assert compiled.parallel and graph.width() == 4


def test_relative_clause_is_not_a_shared_part():
    assert DependencyKind.SHARED not in kinds("Generate 5 sentences that describe a sunset.")
