"""Generate nodes' assistant prefix: a template like the prompt (edges, JSON, dump)."""

from __future__ import annotations

import pytest

from graphs import GenerateNode, Graph, TemplateError, dump


def continuation() -> Graph:
    g = Graph()
    g.generate("Plan a trip.", name="draft")
    g.generate("Plan a trip.", name="more", assistant_prefix="{draft} {{literally}} Next,", max_tokens=8)
    return g.validate()


def test_a_placeholder_in_the_assistant_prefix_is_an_edge() -> None:
    g = continuation()
    assert g.edges() == [("draft", "more")]
    assert g.node("more").dependencies == ("draft",)
    assert g.ready(set()) == ["draft"]


def test_an_unknown_placeholder_in_the_assistant_prefix_is_rejected() -> None:
    g = Graph()
    g.generate("Q", name="a", assistant_prefix="{nowhere}")
    with pytest.raises(TemplateError, match="nowhere"):
        g.validate()


def test_json_round_trip_keeps_the_assistant_prefix() -> None:
    g = continuation()
    back = Graph.from_json(g.to_json())
    assert back == g
    node = back.node("more")
    assert isinstance(node, GenerateNode) and node.assistant_prefix == "{draft} {{literally}} Next,"


def test_dump_shows_the_assistant_prefix_only_when_set() -> None:
    assert dump(continuation()).splitlines() == [
        '%draft = generate "Plan a trip."',
        '%more = generate "Plan a trip." prefix="{draft} {{literally}} Next," max_tokens=8',
    ]
