"""Phrasings that ask for a step over all the items become a final node after the join (phrasings written here).

Four classes: summing up or combining the results; a creative step that uses every generated item; a final
artefact referring back to the items by number; organising the items (grouping, sorting into categories).
"""

from __future__ import annotations

import pytest

from graphs.compiler import DependencyKind, compile_prompt


def assert_final_node(prompt: str) -> None:
    compiled = compile_prompt(prompt)
    assert compiled.schema.passes, compiled.schema.reasons
    assert DependencyKind.AGGREGATE in [d.kind for d in compiled.dependencies]
    assert compiled.parallel
    assert compiled.graph.sinks() == ["final"]
    assert ("answers", "final") in compiled.graph.edges() or any(
        dst == "final" for _src, dst in compiled.graph.edges())


@pytest.mark.parametrize("prompt", [
    "Generate 5 names for a night market, then combine them into a single short jingle.",
    "Answer these questions:\n1. What is a geyser?\n2. What is a fjord?\n3. What is a delta?\n"
    "At the end, write a brief summary of all the answers.",
    "Contesta estas preguntas:\n1. ¿Qué es un eclipse?\n2. ¿Qué es una marea?\nLuego haz un resumen de todas las "
    "respuestas.",
    "Réponds à ces questions :\n1. Qu'est-ce qu'une dune ?\n2. Qu'est-ce qu'un atoll ?\nEnsuite, combine-les en un "
    "seul paragraphe.",
    "Beantworte diese Fragen:\n1. Was ist eine Düne?\n2. Was ist ein Atoll?\nFasse sie danach in einem Absatz zusammen.",
    "Придумай 4 названия для пекарни, а затем объедини их в один слоган.",
    "请写5个关于秋天的短句，最后把它们合并成一段话。",
])
def test_summary_or_combination_after_the_items(prompt):
    assert_final_node(prompt)


@pytest.mark.parametrize("prompt", [
    "Invent 6 creatures for a board game. Then write a story in which all of them appear.",
    "Come up with 4 strange spices and use all of them in one recipe.",
    "Inventa 3 piratas y luego escribe una historia donde aparezcan todos.",
    "Erfinde 3 Roboter und schreibe dann eine Geschichte, in der alle vorkommen.",
    "Придумай 3 драконов, затем напиши рассказ, в котором появляются все.",
    "写3个城市的名字，然后用所有这些城市写一个故事。",
])
def test_creative_step_using_every_item(prompt):
    assert_final_node(prompt)


@pytest.mark.parametrize("prompt", [
    "Suggest 5 podcast titles. Afterwards, say which to record first, referring to each title by its number.",
    "Propose 6 mottos for a library; then explain why options 2 and 5 work best.",
    "Propón 5 ideas de regalo y después compara las ideas 1 y 3.",
    "Propose 5 idées de sortie, puis explique pourquoi les idées 2 et 4 sont les meilleures.",
])
def test_final_artefact_referring_to_items_by_number(prompt):
    assert_final_node(prompt)


@pytest.mark.parametrize("prompt", [
    "List 12 birds and group them by where they nest.",
    "Brainstorm 15 side projects and sort them into categories.",
    "Genera 10 nombres de árboles y agrúpalos por categorías.",
    "Schlage 10 Ausflugsziele vor und gruppiere sie nach Kategorien.",
    "Придумай 10 профессий и сгруппируй их по категориям.",
    "列出10种蔬菜，并把它们按颜色分类。",
    "野菜を10個挙げて、色ごとにグループに分けてください。",
])
def test_organising_the_items(prompt):
    assert_final_node(prompt)


@pytest.mark.parametrize("prompt", [
    "Write 5 product descriptions that each mention the word 'fresh'.",
    "Use each of these words in a sentence: lantern, pebble, orbit",
    "Classify each sentence as positive or negative:\n- I loved it.\n- It was dull.\n- Great value.",
    "Generate 4 slogans for a bike shop.",
])
def test_per_item_work_is_not_a_final_step(prompt):
    compiled = compile_prompt(prompt)
    assert compiled.parallel
    assert DependencyKind.AGGREGATE not in [d.kind for d in compiled.dependencies]
