"""Annotated response -> task graph: scopes become scope nodes, forks generate nodes."""

from __future__ import annotations

from graphs import GenerateNode, ScopeNode
from graphs import render as render_template
from graphs.pasta import Fork, Scope, joined, parse, remove_pasta, sync_prefix
from graphs.pasta.convert import count_forks, to_graph

TEXT = (
    "Intro {braces}<scope>A<promise/><async> a-text</async> B<scope> C<promise/><async> c-text</async></scope>"
    "<scope>no forks here</scope></scope> End<scope>D<async> d-text</async></scope>"
)


def test_scopes_and_forks_become_nodes_with_positional_names() -> None:
    graph = to_graph(parse(TEXT), question="Q {x}?")
    assert [node.name for node in graph.nodes()] == [
        "scope-1-fork-1", "scope-1-scope-1-fork-1", "scope-1-scope-1", "scope-1", "scope-2-fork-1", "scope-2", "answer",
    ]
    assert graph.members("scope-1") == ("scope-1-fork-1", "scope-1-scope-1")
    assert graph.sinks() == ["answer"]
    assert count_forks(parse(TEXT)) == 3


def test_forks_continue_the_answer_from_the_interpreters_view() -> None:
    graph = to_graph(parse(TEXT), question="Q {x}?", system="Sys {y}")
    starts = {"scope-1-fork-1": " a-text", "scope-1-scope-1-fork-1": " c-text", "scope-2-fork-1": " d-text"}
    for name, body in starts.items():
        node = graph.node(name)
        assert isinstance(node, GenerateNode)
        assert render_template(node.prompt, {}) == "Q {x}?"
        assert render_template(node.system or "", {}) == "Sys {y}"
        assert node.params.stop == ("</async>",)
        expected = sync_prefix(TEXT, TEXT.index(body), keep_tags=True)
        assert render_template(node.assistant_prefix, {}) == expected
    prefix = render_template(graph.node("scope-1-scope-1-fork-1").assistant_prefix, {})
    assert prefix == "Intro {braces}<scope>A<promise/> B<scope> C<promise/><async>"


def test_a_later_dialect_fork_has_no_scope_tag_in_its_prefix() -> None:
    text = "x<promise/>y<async> P</async><sync/>z"
    node = to_graph(parse(text)).node("scope-1-fork-1")
    assert render_template(node.assistant_prefix, {}) == "x<promise/><async>"


def test_answer_renders_the_joined_text_from_fork_outputs() -> None:
    document = parse(TEXT)
    graph = to_graph(document)
    outputs: dict[str, str] = {}

    def collect(nodes, name: str) -> None:
        forks = scopes = 0
        for child in nodes:
            if isinstance(child, Fork):
                forks += 1
                outputs[f"{name}-fork-{forks}"] = joined(child.body)
            elif isinstance(child, Scope):
                scopes += 1
                collect(child.children, f"{name}-scope-{scopes}")

    top = [child for child in document.children if isinstance(child, Scope)]
    for index, scope in enumerate(top, start=1):
        collect(scope.children, f"scope-{index}")
    answer = graph.node("answer")
    assert render_template(answer.template, outputs) == remove_pasta(TEXT)
    assert all(isinstance(graph.node(n), ScopeNode) for n in answer.after)
