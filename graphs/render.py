"""Views of a graph for people: an SSA-like text dump, Mermaid and Graphviz DOT.

The text dump is stable (declaration order, fixed field order) so tests can
compare it with a golden file.
"""

from __future__ import annotations

import json

from graphs.graph import Graph
from graphs.nodes import CombineNode, GenerateNode, Node, NodeKind, ScopeNode
from graphs.params import SamplingParams

_DEFAULT_PARAMS = SamplingParams()


def _quote(text: str, limit: int | None = None) -> str:
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return json.dumps(text, ensure_ascii=False)


def _param_text(params: SamplingParams) -> str:
    changed = {k: v for k, v in params if v != getattr(_DEFAULT_PARAMS, k)}
    return "".join(f" {k}={json.dumps(v if not isinstance(v, tuple) else list(v))}" for k, v in changed.items())


def _dump_node(node: Node) -> str:
    after = f" after=[{', '.join('%' + a for a in node.after)}]" if node.after else ""
    match node:
        case GenerateNode():
            system = f" system={_quote(node.system)}" if node.system else ""
            prefix = f" prefix={_quote(node.assistant_prefix)}" if node.assistant_prefix else ""
            return f"%{node.name} = generate {_quote(node.prompt)}{system}{prefix}{_param_text(node.params)}{after}"
        case ScopeNode():
            members = ", ".join(f"%{m}" for m in node.members)
            fmt = "" if node.item_format == "{output}" else f" item={_quote(node.item_format)}"
            strip = (" strip_markers" if node.strip_markers else "") + (
                f" strip_label={_quote(node.strip_label)}" if node.strip_label else "")
            return f"%{node.name} = scope [{members}] sep={_quote(node.separator)}{fmt}{strip}{after}"
        case CombineNode():
            return f"%{node.name} = combine {_quote(node.template)}{after}"
    raise AssertionError(f"unknown node kind {node!r}")


def dump(graph: Graph) -> str:
    """One line per node in declaration order, SSA style."""
    return "\n".join(_dump_node(node) for node in graph.nodes()) + "\n"


def summary(graph: Graph) -> dict:
    """Counts and planning figures, as plain data."""
    tokens, path = graph.critical_path()
    kinds = {kind.value: 0 for kind in NodeKind}
    for node in graph.nodes():
        kinds[node.kind.value] += 1
    return {
        "nodes": len(graph),
        "kinds": kinds,
        "edges": len(graph.edges()),
        "critical_path_tokens": tokens,
        "critical_path": path,
        "width": graph.width(),
        "sinks": graph.sinks(),
    }


def _label(node: Node) -> str:
    match node:
        case GenerateNode():
            return f"{node.name}: generate {node.cost} tok"
        case ScopeNode():
            return f"{node.name}: join {len(node.members)}"
        case CombineNode():
            return f"{node.name}: combine"
    raise AssertionError(f"unknown node kind {node!r}")


def _mermaid_id(name: str) -> str:
    return "n_" + name.replace("-", "_")


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart; each scope is a subgraph holding its members."""
    lines = ["flowchart TD"]
    lines.extend(f'    {_mermaid_id(node.name)}["{_label(node)}"]' for node in graph.nodes())
    for node in graph.nodes():
        if isinstance(node, ScopeNode):
            lines.append(f"    subgraph {_mermaid_id(node.name)}_members [{node.name}]")
            lines.extend(f"        {_mermaid_id(m)}" for m in node.members)
            lines.append("    end")
    lines.extend(f"    {_mermaid_id(a)} --> {_mermaid_id(b)}" for a, b in graph.edges())
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph) -> str:
    """Graphviz DOT; each scope is a cluster holding its members."""
    lines = ["digraph forkjoin {", "  rankdir=TB;", "  node [shape=box];"]
    for node in graph.nodes():
        shape = ", shape=doubleoctagon" if isinstance(node, ScopeNode) else ""
        lines.append(f"  {_quote(node.name)} [label={_quote(_label(node))}{shape}];")
    for node in graph.nodes():
        if isinstance(node, ScopeNode):
            lines.append(f"  subgraph {_quote('cluster_' + node.name)} {{ label={_quote(node.name)};")
            lines.extend(f"    {_quote(m)};" for m in node.members)
            lines.append("  }")
    lines.extend(f"  {_quote(a)} -> {_quote(b)};" for a, b in graph.edges())
    lines.append("}")
    return "\n".join(lines) + "\n"
