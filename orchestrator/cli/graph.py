"""``forkjoin graph show FILE``: a graph as a summary, an SSA dump and Mermaid or DOT."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from graphs import Graph, dump, summary, to_dot, to_mermaid
from orchestrator.cli.args import input_file


def register(commands: argparse._SubParsersAction) -> None:
    graph = commands.add_parser("graph", help="inspect task graphs")
    actions = graph.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="summarize a graph file and draw it")
    show.add_argument("file", type=input_file, help="graph JSON (from Graph.to_json or forkjoin compile/run --json)")
    show.add_argument("--format", choices=["mermaid", "dot"], default="mermaid", help="drawing format")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=show_graph)


def load_graph(path: Path) -> Graph:
    """Read a graph file, or the ``graph`` of a ``forkjoin run/compile --json`` output.

    Edges, when present, are derived data (every node names its dependencies)
    and are not read.
    """
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return Graph.from_json(text)  # raises the typed SerializationError
    if isinstance(data, dict) and isinstance(data.get("graph"), dict):
        data = data["graph"]
    if isinstance(data, dict) and "edges" in data:
        data = {k: v for k, v in data.items() if k != "edges"}
    return Graph.from_json(json.dumps(data))


def show_graph(args: argparse.Namespace) -> int:
    graph = load_graph(args.file)
    facts = summary(graph)
    drawing = to_dot(graph) if args.format == "dot" else to_mermaid(graph)
    if args.json:
        print(json.dumps({"summary": facts, "format": args.format, "drawing": drawing, "dump": dump(graph)}, indent=2))
        return 0
    kinds = ", ".join(f"{count} {kind}" for kind, count in facts["kinds"].items() if count)
    print(f"{args.file}: {facts['nodes']} nodes ({kinds}), {facts['edges']} edges")
    print(f"critical path: {facts['critical_path_tokens']} expected tokens via {' -> '.join(facts['critical_path'])}")
    print(f"width: {facts['width']} generations can run at once; answer from: {', '.join(facts['sinks'])}")
    print()
    print(dump(graph), end="")
    print()
    print(drawing, end="")
    return 0
