"""The graph model: building, validation, readiness, planning figures, JSON."""

from __future__ import annotations

import json

import pytest

from graphs import (
    CycleError,
    DuplicateNodeError,
    GenerateNode,
    Graph,
    GraphError,
    ScopeError,
    ScopeNode,
    SerializationError,
    TemplateError,
    UnknownNodeError,
)


def flammable() -> Graph:
    g = Graph()
    with g.scope("classify") as s:
        for item in ["coal", "wood", "glass"]:
            s.generate(f"Is {item} flammable? One sentence.", name=item, max_tokens=48)
    g.generate("Summarize these findings:\n{classify}", name="summary")
    return g


def test_builder_records_members_in_declaration_order_and_edges() -> None:
    g = flammable().validate()
    assert g.members("classify") == ("coal", "wood", "glass")
    assert sorted(g.edges()) == [
        ("classify", "summary"), ("coal", "classify"), ("glass", "classify"), ("wood", "classify")
    ]
    assert g.node("coal").params.max_tokens == 48
    assert g.sinks() == ["summary"]


def test_nested_scopes_form_a_tree() -> None:
    g = Graph()
    with g.scope("outer") as outer:
        outer.generate("a", name="a")
        with outer.scope("inner") as inner:
            inner.generate("b", name="b")
            inner.generate("c", name="c")
    g.validate()
    assert g.members("outer") == ("a", "inner")
    assert g.members("inner") == ("b", "c")
    assert g.parent_scopes() == {"a": "outer", "inner": "outer", "b": "inner", "c": "inner"}


def test_ready_follows_dependencies_and_barriers() -> None:
    g = flammable()
    assert g.ready([]) == ["coal", "wood", "glass"]
    assert g.ready(["coal", "wood"]) == ["glass"]
    assert g.ready(["coal", "wood", "glass"]) == ["classify"]
    assert g.ready(["coal", "wood", "glass", "classify"]) == ["summary"]


def test_a_scope_block_that_raises_adds_no_scope() -> None:
    g = Graph()
    with pytest.raises(RuntimeError):
        with g.scope("s") as s:
            s.generate("x", name="x")
            raise RuntimeError("boom")
    assert "s" not in g
    g.generate("y", name="s")  # the name is free again


def test_auto_names_are_deterministic() -> None:
    def build() -> list[str]:
        g = Graph()
        with g.scope() as s:
            s.generate("a")
            s.generate("b")
        g.combine("{generate-2}")
        return [n.name for n in g.nodes()]

    assert build() == build() == ["generate-2", "generate-3", "scope-1", "combine-4"]


def test_cycle_is_named() -> None:
    g = Graph()
    g.generate("{b}", name="a")
    g.generate("{a}", name="b")
    with pytest.raises(CycleError, match=r"cycle in graph: (a -> b -> a|b -> a -> b)"):
        g.validate()


def test_self_reference_is_a_cycle() -> None:
    g = Graph([GenerateNode(name="a", prompt="again {a}")])
    with pytest.raises(CycleError, match="a -> a"):
        g.validate()


def test_template_placeholder_naming_no_node() -> None:
    g = Graph()
    g.generate("Summarize {findings}", name="summary")
    with pytest.raises(TemplateError, match=r"node 'summary': placeholder \{findings\} names no node") as info:
        g.validate()
    assert info.value.node == "summary"


def test_unknown_scope_member_and_unknown_after() -> None:
    g = Graph([ScopeNode(name="s", members=("ghost",))])
    with pytest.raises(UnknownNodeError, match="scope 's' lists unknown member 'ghost'"):
        g.validate()
    g = Graph([GenerateNode(name="a", prompt="x", after=("nope",))])
    with pytest.raises(UnknownNodeError, match="node 'a' waits for unknown node 'nope'"):
        g.validate()


def test_member_escaping_its_scope() -> None:
    g = Graph([
        GenerateNode(name="x", prompt="x"),
        ScopeNode(name="s1", members=("x",)),
        ScopeNode(name="s2", members=("x",)),
    ])
    with pytest.raises(ScopeError, match="node 'x' escapes its scope: member of both 's1' and 's2'"):
        g.validate()


def test_empty_scope_is_rejected() -> None:
    g = Graph([ScopeNode(name="s", members=())])
    with pytest.raises(ScopeError, match="scope 's' has no members"):
        g.validate()


def test_duplicate_names_and_scope_name_reuse() -> None:
    g = Graph()
    g.generate("x", name="a")
    with pytest.raises(DuplicateNodeError, match="duplicate node name 'a'"):
        g.generate("y", name="a")
    with pytest.raises(DuplicateNodeError, match="duplicate node name 's'"):
        with g.scope("s") as s:
            s.generate("inner", name="s")


def test_bad_names_and_parameters_name_the_node() -> None:
    g = Graph()
    with pytest.raises(GraphError, match=r"node 'bad name': name: .*must match"):
        g.generate("x", name="bad name")
    with pytest.raises(GraphError, match=r"node 'a': max_tokens: .*greater than or equal to 1"):
        g.generate("x", name="a", max_tokens=0)
    with pytest.raises(GraphError, match=r"node 'b': colour: Extra inputs are not permitted"):
        g.generate("x", name="b", colour="red")
    with pytest.raises(GraphError, match=r"item_format may use only"):
        with g.scope("s", item_format="{oops}") as s:
            s.generate("x", name="c")


def test_literal_prompts_keep_braces() -> None:
    g = Graph()
    g.generate('Return {"a": {b}} as JSON', name="j", literal=True)
    g.validate()
    assert g.node("j").inputs == ()


def test_critical_path_and_width() -> None:
    g = flammable()
    tokens, path = g.critical_path()
    assert tokens == 48 + 256
    assert path == ["coal", "classify", "summary"]
    assert g.width() == 3


def test_json_round_trip_preserves_everything() -> None:
    g = Graph()
    with g.scope("s", separator="\n", item_format="{index}. {output}") as s:
        s.generate("a {{x}}", name="a", stop=["\n"], seed=7, temperature=0.5, system="be brief")
        with s.scope("t") as t:
            t.generate("b", name="b", timeout_s=3.5, expected_tokens=12)
    g.combine("{s}!", name="c", after=("a",))
    back = Graph.from_json(g.to_json())
    assert back == g
    assert back.to_json() == g.to_json()
    assert back.node("a").params.stop == ("\n",)


def test_from_json_errors_are_typed_and_short() -> None:
    with pytest.raises(SerializationError, match="not a forkjoin graph"):
        Graph.from_json("{not json")
    with pytest.raises(SerializationError, match=r"nodes.0: Input tag 'loop' found using 'kind'"):
        Graph.from_json(json.dumps({"nodes": [{"kind": "loop", "name": "a"}]}))
    with pytest.raises(SerializationError, match="version 9 is not supported"):
        Graph.from_json(json.dumps({"version": 9, "nodes": []}))
    with pytest.raises(CycleError):
        Graph.from_json(json.dumps({"nodes": [
            {"kind": "generate", "name": "a", "prompt": "{b}"},
            {"kind": "generate", "name": "b", "prompt": "{a}"},
        ]}))


def test_scope_join_can_drop_members_own_list_markers() -> None:
    scope = ScopeNode(name="s", members=("a", "b", "c"), separator="\n", item_format="{index}. {output}",
                      strip_markers=True)
    outputs = {"a": "1. Set goals.", "b": "  - Take breaks\n2. more", "c": "3rd of May is fine"}
    assert scope.join(outputs) == "1. Set goals.\n2. Take breaks\n2. more\n3. 3rd of May is fine"
    plain = scope.model_copy(update={"strip_markers": False})
    assert plain.join(outputs).startswith("1. 1. Set goals.")
