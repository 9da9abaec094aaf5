"""``forkjoin run``: answer a prompt (or run a graph file) on real engines.

A prompt is compiled first: strategy ``auto`` runs the compiled graph when
validation passes and the one-node serial graph otherwise; ``serial`` and
``parallel`` force a shape; ``--compare`` runs both on the same replicas.
Without ``--json`` the answer streams in final order (:mod:`orchestrator.ordered`):
the first branch as it is written, each later one once every branch before it is done.

One engine per command: when ``--extractor llm|auto`` asks the model for the
prompt's schema, the run is planned on the same engine after the reply (so
the plan's errors come after the engine start only then). ``--trace`` writes
every span; ``--compare`` traces one ``forkjoin.compare`` span holding a
``forkjoin.run`` span per run, each naming its strategy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from actors.engine import Engine
from graphs import Graph, GraphError
from graphs.compiler import CompileOptions, Schema, extract_rules, graph_dict, validate
from orchestrator.cli.args import input_file, int_range, positive_float, positive_int
from orchestrator.cli.compile import add_extractor_argument
from orchestrator.cli.graph import load_graph
from orchestrator.config import RuntimeConfig
from orchestrator.curves import load_curve
from orchestrator.engines import EngineOptions, add_engine_arguments, open_engine, options_from_args
from orchestrator.extract_llm import Extractor, extract_one, wants_engine
from orchestrator.ordered import AnswerStream
from orchestrator.pasta_run import pasta_for_model
from orchestrator.results import RunResult
from orchestrator.runtime import Runtime
from orchestrator.strategies import Comparison, Plan, Strategy, compare, execute, plan
from orchestrator.tracing import Telemetry, open_telemetry, run_span


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="answer a prompt or run a graph file")
    run.add_argument("prompt", nargs="?", help="the prompt (omit with --graph)")
    run.add_argument("--graph", type=input_file, help="run this graph JSON file instead of a prompt")
    run.add_argument(
        "--strategy", choices=[s.value for s in (Strategy.AUTO, Strategy.SERIAL, Strategy.PARALLEL, Strategy.PASTA)],
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


def _early(args: argparse.Namespace) -> Plan | Graph | None:
    """What is decided before any engine starts: the graph file, or the plan when the rules give the schema.

    None: the extractor asks the model for this prompt's schema, so the plan waits for the engine (the
    same engine then runs it).
    """
    if args.graph and args.prompt:
        raise GraphError("give either a PROMPT or --graph FILE, not both")
    if args.graph:
        if args.compare or args.strategy != "auto":
            raise GraphError("--strategy and --compare apply to a PROMPT, not to --graph")
        graph = load_graph(args.graph)
        graph.validate()
        return graph
    if not args.prompt or not args.prompt.strip():
        raise GraphError("nothing to run: give a PROMPT or --graph FILE")
    mode = Extractor(args.extractor)
    if wants_engine(validate(extract_rules(args.prompt)), args.prompt, mode):
        return None
    return _planned(args, None)


def _planned(args: argparse.Namespace, schema: Schema | None) -> Plan:
    strategy = Strategy.COMPARE if args.compare else Strategy(args.strategy)
    model = options_from_args(args).model_name
    options = compile_options(args)
    pasta = pasta_for_model(model, options.serial_max_tokens)  # tags mode on a model tuned on PASTA-LANG
    return plan(args.prompt, strategy, options, curve=load_curve(model), min_speedup=args.min_speedup, schema=schema,
                pasta=pasta)


def run_command(args: argparse.Namespace) -> int:
    early = _early(args)
    options = options_from_args(args)
    config = RuntimeConfig(max_concurrency=args.max_concurrency, node_timeout_s=args.node_timeout)
    with open_telemetry(args.trace) as telemetry:
        session = _Session(args, options, config, telemetry)
        outcome = asyncio.run(session.execute(early))
    if isinstance(outcome, Comparison):
        return _print_comparison(args, outcome, options)
    chosen, result = outcome
    graph, strategy = _shape(chosen)
    report = run_report(graph_dict(graph), result, strategy=strategy, options=options)
    if isinstance(chosen, Plan):
        report["compile"] = {k: chosen.compiled[k] for k in ("category", "validation_tier", "reasons", "dependencies")}
        report["prediction"] = chosen.prediction.model_dump() if chosen.prediction else None
        report["decision"] = chosen.decision
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_timings(report)  # the answer was printed, newline included
    return 0 if result.ok else 1


def _shape(chosen: Plan | Graph) -> tuple[Graph, str]:
    """The graph that runs and the strategy its report names."""
    return (chosen, "graph") if isinstance(chosen, Graph) else (chosen.graph, chosen.executed.value)


class _Session:
    """One engine for the whole command: the LLM extractor (when it is asked) and the run(s) share it."""

    def __init__(self, args: argparse.Namespace, options: EngineOptions, config: RuntimeConfig,
                 telemetry: Telemetry | None) -> None:
        self.args, self.options, self.config, self.telemetry = args, options, config, telemetry

    async def execute(self, early: Plan | Graph | None) -> Comparison | tuple[Plan | Graph, RunResult]:
        async with open_engine(self.options) as engine:
            schema = None
            if early is None:
                mode = Extractor(self.args.extractor)
                schema = (await extract_one(engine, self.args.prompt, mode=mode)).result
            if self.args.compare:
                return await self._compare(engine, schema)
            chosen = early if early is not None else _planned(self.args, schema)
            graph, strategy = _shape(chosen)
            runtime = Runtime(engine, self.config, telemetry=self.telemetry)
            with run_span(self.telemetry, {"forkjoin.strategy": strategy, "forkjoin.model": self.options.model_name}):
                if isinstance(chosen, Plan) and chosen.executed is Strategy.PASTA:
                    return chosen, _printed(await execute(runtime, chosen), quiet=self.args.json)
                if self.args.json:
                    return chosen, await runtime.arun(graph)
                return chosen, await _streamer(runtime.astream(graph))

    async def _compare(self, engine: Engine, schema: Schema | None) -> Comparison:
        """Serial then parallel; traced as one ``forkjoin.compare`` span holding a ``forkjoin.run`` span each."""
        attributes = {"forkjoin.strategy": "compare", "forkjoin.model": self.options.model_name}
        with run_span(self.telemetry, attributes, name="forkjoin.compare") as span:
            outcome = await compare(
                engine, self.args.prompt, options=compile_options(self.args), config=self.config, schema=schema,
                curve=load_curve(self.options.model_name), telemetry=self.telemetry,
            )
            if outcome.speedup is not None:
                span.set_attribute("forkjoin.speedup", round(outcome.speedup, 4))
        return outcome


def _printed(result: RunResult, *, quiet: bool) -> RunResult:
    """A PASTA answer is printed whole once joined (its forks end out of order)."""
    if not quiet:
        sys.stdout.write(result.answer + "\n")
        sys.stdout.flush()
    return result


async def _streamer(answer: AnswerStream) -> RunResult:
    """Print the answer in final order as it is written: the first branch live, each later one once those before end."""
    async for text in answer:
        sys.stdout.write(text)
        sys.stdout.flush()
    sys.stdout.write("\n")  # now, not after the engine stops (that takes seconds)
    sys.stdout.flush()
    return answer.result


def _print_comparison(args: argparse.Namespace, outcome: Comparison, options: EngineOptions) -> int:
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
