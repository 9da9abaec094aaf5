"""A row's token budget: one cap on everything a row's graph may write, split among its generate nodes.

Role: ``bench batch`` compares plain serving (each prompt one request of at
most ``T`` tokens) with forkjoin's graphs. Each branch of a compiled graph
has its own cap (the compiler's per-item budget, :mod:`graphs.compiler.budget`),
so without a row budget the graph may write many times ``T`` and the two
sides do different work. :func:`fit_budget` holds the whole graph to ``T``,
as PASTA's lists mode holds its forks to the serial cap.

Policy (static, decided before the run, like the compiler's caps): a graph
whose caps already sum to at most ``T`` is unchanged. Otherwise each
generate node gets one token and the rest of ``T`` is split among them in
proportion to what each is expected to write (its ``expected_tokens``, the compiler's estimate), never above a
node's own cap; what a capped node does not take is split again among the
others (water-filling). Unlike PASTA's shared runtime budget, tokens a
short branch leaves unused are not handed to the others, so a fitted graph
can only write less than ``T``, never more.

Invariant: the caps of a fitted graph sum to at most ``max(T, nodes)``
(every generate node keeps at least one token), and no cap grows. Pure.
"""

from __future__ import annotations

from graphs import GenerateNode, Graph, Node


def fit_budget(graph: Graph, total: int) -> Graph:
    """``graph`` with its generate nodes' ``max_tokens`` split from ``total`` (see the module doc)."""
    if total < 1:
        raise ValueError(f"a row's token budget must be at least 1, got {total}")
    generate = [node for node in graph.nodes() if isinstance(node, GenerateNode)]
    if sum(node.params.max_tokens for node in generate) <= total:
        return graph
    caps = shares([node.params.max_tokens for node in generate], [node.cost for node in generate], total)
    fitted = dict(zip((node.name for node in generate), caps, strict=True))
    return Graph(_capped(node, fitted.get(node.name)) for node in graph.nodes()).validate()


def budget_of(graph: Graph) -> int:
    """Tokens ``graph`` may write at most: the sum of its generate nodes' caps."""
    return sum(node.params.max_tokens for node in graph.nodes() if isinstance(node, GenerateNode))


def shares(caps: list[int], weights: list[int], total: int) -> list[int]:
    """``total`` split in proportion to ``weights``, none above its cap, each at least 1.

    Every node gets its one token first; the rest of ``total`` is water-filled, so the shares sum
    to at most ``max(total, len(caps))``.
    """
    rest = total - len(caps)
    extra = _fill([cap - 1 for cap in caps], weights, rest) if rest > 0 else [0] * len(caps)
    return [1 + tokens for tokens in extra]


def _fill(caps: list[int], weights: list[int], total: int) -> list[int]:
    """``total`` in proportion to ``weights`` (rounded down); a node its cap holds leaves the rest to the others."""
    result = [0] * len(caps)
    left = list(range(len(caps)))
    budget = total
    while left:
        weight = sum(max(1, weights[i]) for i in left)
        grant = {i: budget * max(1, weights[i]) / weight for i in left}
        full = [i for i in left if caps[i] <= grant[i]]
        if not full:
            for i in left:
                result[i] = int(grant[i])
            break
        for i in full:
            result[i] = caps[i]
            budget -= caps[i]
        left = [i for i in left if i not in full]
    return result


def _capped(node: Node, cap: int | None) -> Node:
    if cap is None or not isinstance(node, GenerateNode) or cap >= node.params.max_tokens:
        return node
    expected = None if node.expected_tokens is None else min(node.expected_tokens, cap)
    return node.model_copy(update={"params": node.params.model_copy(update={"max_tokens": cap}),
                                   "expected_tokens": expected})
