"""``forkjoin run``: answer a prompt (or run a graph file) on real engines."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from graphs import Graph, GraphError
from orchestrator.cli.graph import load_graph
from orchestrator.config import RuntimeConfig
from orchestrator.engines import EngineOptions, add_engine_arguments, open_engine, options_from_args
from orchestrator.results import RunResult
from orchestrator.runtime import RunEvent, Runtime
from orchestrator.tracing import file_tracer_provider


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="answer a prompt or run a graph file")
    run.add_argument("prompt", nargs="?", help="the prompt (omit with --graph)")
    run.add_argument("--graph", type=Path, help="run this graph JSON file instead of a prompt")
    run.add_argument("--max-tokens", type=int, default=256, help="generation bound for a prompt (default 256)")
    run.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy)")
    run.add_argument("--max-concurrency", type=int, default=16, help="engine requests in flight (default 16)")
    run.add_argument("--node-timeout", type=float, default=300.0, help="seconds a node may generate (default 300)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--trace", type=Path, help="append OpenTelemetry spans (JSON lines) to this file")
    add_engine_arguments(run)
    run.set_defaults(handler=run_command)


def prompt_graph(prompt: str, *, max_tokens: int, temperature: float) -> Graph:
    """The serial plan: the whole prompt as one generation."""
    graph = Graph()
    graph.generate(prompt, name="answer", literal=True, max_tokens=max_tokens, temperature=temperature)
    return graph


def _build(args: argparse.Namespace) -> tuple[Graph, str]:
    if args.graph and args.prompt:
        raise GraphError("give either a PROMPT or --graph FILE, not both")
    if args.graph:
        return load_graph(args.graph), "graph"
    if not args.prompt or not args.prompt.strip():
        raise GraphError("nothing to run: give a PROMPT or --graph FILE")
    return prompt_graph(args.prompt, max_tokens=args.max_tokens, temperature=args.temperature), "serial"


def _streamer(graph: Graph, enabled: bool):
    generate_nodes = [n for n in graph.nodes() if n.kind.value == "generate"]
    if not enabled or len(generate_nodes) != 1:
        return None

    def on_event(event: RunEvent) -> None:
        if event.kind == "token":
            sys.stdout.write(event.text)
            sys.stdout.flush()

    return on_event


def run_command(args: argparse.Namespace) -> int:
    graph, strategy = _build(args)
    graph.validate()
    options = options_from_args(args)
    config = RuntimeConfig(max_concurrency=args.max_concurrency, node_timeout_s=args.node_timeout)
    stream = _streamer(graph, enabled=not args.json)
    tracer = file_tracer_provider(args.trace) if args.trace else None
    try:
        with open_engine(options) as engine:
            runtime = Runtime(engine, config, tracer_provider=tracer)
            result = asyncio.run(runtime.arun(graph, on_event=stream))
    finally:
        if tracer is not None:
            tracer.shutdown()
    report = run_report(graph, result, strategy=strategy, options=options)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        if stream is None:
            print(result.answer)
        else:
            print()
        _print_timings(report)
    return 0 if result.ok else 1


def run_report(graph: Graph, result: RunResult, *, strategy: str, options: EngineOptions) -> dict:
    """The machine-readable form of a run."""
    return {
        "answer": result.answer,
        "strategy": strategy,
        "model": options.model_label,
        "ok": result.ok,
        "nodes": [n.model_dump(mode="json") for n in result.nodes],
        "timings": {"wall_s": result.wall_s, "ttft_s": result.ttft_s},
        "tokens": result.tokens,
        "graph": json.loads(graph.to_json()),
    }


def _print_timings(report: dict) -> None:
    t = report["timings"]
    ttft = "n/a" if t["ttft_s"] is None else f"{t['ttft_s']:.2f} s"
    failed = [n["name"] for n in report["nodes"] if n["status"] != "done"]
    line = (
        f"[{report['strategy']} | {report['model']} | {len(report['nodes'])} nodes | "
        f"{report['tokens']} tokens | wall {t['wall_s']:.2f} s | first token {ttft}]"
    )
    print(line, file=sys.stderr)
    for name in failed:
        node = next(n for n in report["nodes"] if n["name"] == name)
        print(f"  {name}: {node['status']}: {node['error']}", file=sys.stderr)
