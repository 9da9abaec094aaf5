"""The graphs the load benchmark and the chaos cells run, and the scripted answers they stream.

One shape serves both: a scope of independent generate items joined by a
summary that reads them (``members + 2`` nodes). Prompts carry the graph's
index, so no two graphs share an affinity key and the router spreads them.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphs import Graph


def fan_in_graph(
    index: int, *, members: int, label: str = "Graph", max_tokens: int = 64, timeout_s: float | None = None
) -> Graph:
    """Graph ``index``: ``members`` independent items in a scope, then a summary of them.

    ``timeout_s`` sets every generate node's own timeout (the runtime's default if None).
    """
    options = {"max_tokens": max_tokens} | ({"timeout_s": timeout_s} if timeout_s is not None else {})
    graph = Graph()
    with graph.scope("items", separator="\n") as scope:
        for item in range(members):
            scope.generate(f"{label} {index}, item {item}: one line.", name=f"item{item}", **options)
    graph.generate("Summarize:\n{items}", name="summary", **options)
    return graph


def graph_stream(count: int, **shape: object) -> Iterator[Graph]:
    """``count`` graphs of :func:`fan_in_graph` (same ``shape``), built one at a time as they are pulled."""
    for index in range(count):
        yield fan_in_graph(index, **shape)


def scripted_answer(words: int) -> str:
    """What every scripted replica answers: ``w0 w1 ...``, one token per word, so counts are exact."""
    return " ".join(f"w{i}" for i in range(words))
