"""``forkjoin run``: answer a prompt (or run a graph file) on real engines.

A prompt is compiled first: strategy ``auto`` runs the compiled graph when
validation passes and the one-node serial graph otherwise; ``serial`` and
``parallel`` force a shape; ``--compare`` runs both on the same replicas.
Without ``--json`` the answer streams in final order (:mod:`orchestrator.ordered`):
the first branch as it is written, each later one once every branch before it is done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from graphs import Graph, GraphError
from graphs.compiler import CompileOptions, graph_dict
from orchestrator.cli.args import input_file, int_range, positive_float, positive_int
from orchestrator.cli.compile import add_extractor_argument, extract_with_engine
from orchestrator.cli.graph import load_graph
from orchestrator.config import RuntimeConfig
from orchestrator.curves import load_curve
from orchestrator.engines import EngineOptions, add_engine_arguments, open_engine, options_from_args
from orchestrator.results import RunResult
from orchestrator.ordered import AnswerStream
from orchestrator.runtime import Runtime
from orchestrator.strategies import Plan, Strategy, compare, plan
from orchestrator.tracing import Telemetry, run_span


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="answer a prompt or run a graph file")
    run.add_argument("prompt", nargs="?", help="the prompt (omit with --graph)")
    run.add_argument("--graph", type=input_file, help="run this graph JSON file instead of a prompt")
    run.add_argument(
        "--strategy", choices=[s.value for s in (Strategy.AUTO, Strategy.SERIAL, Strategy.PARALLEL)],
        default="auto", help="auto (default): the compiled graph when it validates, else serial",
    )
    run.add_argument("--compare", action="store_true", help="run serial and parallel; print both and the speedup")
    run.add_argument("--max-tokens", type=positive_int, help="max_tokens of each generation (default: compiler's)")
    run.add_argument("--max-fanout", type=int_range(1, 4096), default=64, help="most parallel subtasks (default 64)")
    run.add_argument("--min-speedup", type=positive_float, default=1.2,
                     help="auto runs the parallel graph from this predicted speedup (default 1.2)")
    run.add_argument("--max-concurrency", type=int_range(1, 4096), default=16, help="engine requests in flight (default 16)")
    run.add_argument("--node-timeout", type=positive_float, default=300.0, help="seconds a node may generate (default 300)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--trace", type=Path, help="append OpenTelemetry spans (JSON lines) to this file")
    add_extractor_argument(run)
    add_engine_arguments(run)
    run.set_defaults(handler=run_command)


def compile_options(args: argparse.Namespace) -> CompileOptions:
    tokens = {} if args.max_tokens is None else {"item_max_tokens": args.max_tokens, "serial_max_tokens": args.max_tokens}
    return CompileOptions(max_fanout=args.max_fanout, **tokens)


def _plan(args: argparse.Namespace) -> Plan | tuple[Graph, str]:
    if args.graph and args.prompt:
        raise GraphError("give either a PROMPT or --graph FILE, not both")
    if args.graph:
        if args.compare or args.strategy != "auto":
            raise GraphError("--strategy and --compare apply to a PROMPT, not to --graph")
        return load_graph(args.graph), "graph"
    if not args.prompt or not args.prompt.strip():
        raise GraphError("nothing to run: give a PROMPT or --graph FILE")
    strategy = Strategy.COMPARE if args.compare else Strategy(args.strategy)
    curve = load_curve(options_from_args(args).model_name)
    schema = extract_with_engine(args, [args.prompt])[0].result  # rules unless --extractor llm|auto
    return plan(args.prompt, strategy, compile_options(args), curve=curve, min_speedup=args.min_speedup, schema=schema)


def run_command(args: argparse.Namespace) -> int:
    chosen = _plan(args)
    options = options_from_args(args)
    config = RuntimeConfig(max_concurrency=args.max_concurrency, node_timeout_s=args.node_timeout)
    if args.compare:
        return _compare(args, options, config)
    graph, strategy = chosen if isinstance(chosen, tuple) else (chosen.graph, chosen.executed.value)
    graph.validate()
    telemetry = Telemetry.from_env(trace_file=args.trace)
    span = {"forkjoin.strategy": strategy, "forkjoin.model": options.model_name}
    try:
        result = asyncio.run(_execute(graph, options, config, telemetry, span, stream=not args.json))
    finally:
        if telemetry is not None:
            telemetry.shutdown()
    report = run_report(graph_dict(graph), result, strategy=strategy, options=options)
    if isinstance(chosen, Plan):
        report["compile"] = {k: chosen.compiled[k] for k in ("category", "validation_tier", "reasons", "dependencies")}
        report["prediction"] = chosen.prediction.model_dump() if chosen.prediction else None
        report["decision"] = chosen.decision
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print()  # the answer was streamed
        _print_timings(report)
    return 0 if result.ok else 1


async def _execute(
    graph: Graph, options: EngineOptions, config: RuntimeConfig, telemetry: Telemetry | None, span: dict, *, stream: bool
) -> RunResult:
    async with open_engine(options) as engine:
        runtime = Runtime(engine, config, telemetry=telemetry)
        with run_span(telemetry, span):
            if not stream:
                return await runtime.arun(graph)
            return await _streamer(runtime.astream(graph))


async def _streamer(answer: AnswerStream) -> RunResult:
    """Print the answer in final order as it is written: the first branch live, each later one once those before end."""
    async for text in answer:
        sys.stdout.write(text)
        sys.stdout.flush()
    return answer.result


def _compare(args: argparse.Namespace, options: EngineOptions, config: RuntimeConfig) -> int:
    async def both():
        async with open_engine(options) as engine:
            return await compare(engine, args.prompt, options=compile_options(args), config=config)

    outcome = asyncio.run(both())
    reports = {
        name: run_report(run.graph, run.result, strategy=run.strategy.value, options=options)
        for name, run in (("serial", outcome.serial), ("parallel", outcome.parallel))
    }
    if args.json:
        print(json.dumps({**reports, "speedup": outcome.speedup}, indent=2, ensure_ascii=False))
    else:
        for name, report in reports.items():
            print(f"=== {name} ({report['timings']['wall_s']:.2f} s) ===")
            print(report["answer"])
            print()
        speedup = "n/a" if outcome.speedup is None else f"{outcome.speedup:.2f}x"
        print(f"speedup (serial wall / parallel wall): {speedup}")
    return 0 if outcome.serial.result.ok and outcome.parallel.result.ok else 1


def run_report(graph: dict, result: RunResult, *, strategy: str, options: EngineOptions) -> dict:
    """The machine-readable form of a run (``graph`` as graph_dict gives it)."""
    return {
        "answer": result.answer,
        "strategy": strategy,
        "model": options.model_name,
        "ok": result.ok,
        "nodes": [n.model_dump(mode="json") for n in result.nodes],
        "timings": {"wall_s": result.wall_s, "ttft_s": result.ttft_s},
        "tokens": result.tokens,
        "graph": graph,
    }


def _print_timings(report: dict) -> None:
    t = report["timings"]
    ttft = "n/a" if t["ttft_s"] is None else f"{t['ttft_s']:.2f} s"
    line = (
        f"[{report['strategy']} | {report['model']} | {len(report['nodes'])} nodes | "
        f"{report['tokens']} tokens | wall {t['wall_s']:.2f} s | first token {ttft}]"
    )
    print(line, file=sys.stderr)
    for node in report["nodes"]:
        if node["status"] != "done":
            print(f"  {node['name']}: {node['status']}: {node['error']}", file=sys.stderr)
