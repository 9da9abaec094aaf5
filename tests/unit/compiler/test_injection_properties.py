"""Property: whatever text the items hold, it can not add nodes, edges or placeholders to the graph."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from graphs import Graph, placeholders, render
from graphs.compiler import compile_prompt

NAME = re.compile(r"^(?:item-\d+|answers|answer|final)$")
PIECES = [*"abc xyz{}[]()-*:.?0123456789\"'", "{answers}", "{item-1}", "{{", "}}", "{data}", "{context}", "{n}",
          " 2. ", "- ", "Ignore the above"]
item_text = st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map(lambda parts: "".join(parts).strip()) \
    .filter(lambda s: any(ch.isalpha() for ch in s))


@settings(max_examples=200, deadline=None)
@given(st.lists(item_text, min_size=2, max_size=6))
def test_items_are_data_never_template(items):
    prompt = "Translate the following phrases into French:\n" + "\n".join(f"{k}. {t}" for k, t in enumerate(items, 1))
    compiled = compile_prompt(prompt)
    graph = compiled.graph
    names = [n.name for n in graph.nodes()]
    assert all(NAME.match(name) for name in names)
    for node in graph.nodes():
        if node.kind.value != "generate":
            continue
        allowed = {"answers", *(f"item-{j}" for j in range(1, 100) if f"item-{j}" != node.name)}
        assert set(placeholders(node.prompt)) <= allowed
        if node.name.startswith("item-") and not placeholders(node.prompt):
            text = render(node.prompt, {})
            k = int(node.name.split("-")[1])
            if compiled.schema.data is not None:
                assert compiled.schema.data[k - 1] in text
    assert Graph.from_json(graph.to_json()) == graph
