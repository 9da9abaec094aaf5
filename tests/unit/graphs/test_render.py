"""Views for people: the SSA dump is golden-tested; Mermaid and DOT name every node and edge."""

from __future__ import annotations

from pathlib import Path

from graphs import Graph, dump, summary, to_dot, to_mermaid

GOLDEN = Path(__file__).parent / "golden"


def example() -> Graph:
    g = Graph()
    with g.scope("classify", separator="\n", item_format="{index}. {output}") as s:
        for item in ["coal", "wood"]:
            s.generate(f"Is {item} flammable?", name=item, max_tokens=48, stop=["\n"])
        with s.scope("more") as inner:
            inner.generate("Is glass flammable?", name="glass", max_tokens=16)
    g.generate("Summarize:\n{classify}", name="summary", system="Be brief.")
    g.combine("{summary}\n-- {coal}", name="report")
    return g.validate()


def test_dump_matches_golden() -> None:
    assert dump(example()) == (GOLDEN / "example.dump").read_text()


def test_summary_figures() -> None:
    facts = summary(example())
    assert facts["kinds"] == {"generate": 4, "scope": 2, "combine": 1}
    assert facts["critical_path"] == ["coal", "classify", "summary", "report"]
    assert facts["critical_path_tokens"] == 48 + 256
    assert facts["width"] == 3
    assert facts["sinks"] == ["report"]


def test_mermaid_and_dot_draw_every_edge() -> None:
    g = example()
    mermaid, dot = to_mermaid(g), to_dot(g)
    assert mermaid.startswith("flowchart TD\n")
    assert "subgraph n_more_members [more]" in mermaid
    assert 'subgraph "cluster_classify"' in dot
    for a, b in g.edges():
        assert f"n_{a.replace('-', '_')} --> n_{b.replace('-', '_')}" in mermaid
        assert f'"{a}" -> "{b}";' in dot
