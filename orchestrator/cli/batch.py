"""``forkjoin batch INPUT OUTPUT``: every prompt of a corpus through the cluster, one output row each.

Also ``forkjoin bench batch`` (registered by orchestrator/cli/bench.py through
:func:`add_bench_parser`): plain batch serving against forkjoin's graphs
(:mod:`orchestrator.batch_bench`).

Thin: parse, build the job's configuration, call :func:`orchestrator.batch.batch`,
print the summary. The input and the output directory are checked before Ray
or an engine starts. Exit status: 0 every row ok, 1 some rows failed or were
rejected, 2 the job could not run (bad input, unusable output, no cluster).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from graphs.compiler import CompileOptions
from graphs.errors import ForkjoinError, one_line
from orchestrator.batch import BatchConfig, BatchSummary, Columns, OutputFormat, PipelineConfig, batch
from orchestrator.cli.args import int_range, positive_float, positive_int
from orchestrator.cli.compile import add_extractor_argument
from orchestrator.progress import current_progress
from orchestrator.config import RuntimeConfig
from orchestrator.engines import add_engine_arguments, options_from_args
from orchestrator.extract_llm import Extractor
from orchestrator.strategies import Strategy

JOB_FAILED = 2


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("batch", help="run every prompt of a JSONL, CSV or Parquet corpus on the cluster")
    parser.add_argument("input", type=_existing, help="JSONL, CSV or Parquet file, or a Parquet directory")
    parser.add_argument("output", type=Path, help="output directory (Parquet parts, or JSONL with --format jsonl)")
    parser.add_argument("--strategy", choices=[s.value for s in (Strategy.AUTO, Strategy.SERIAL, Strategy.PARALLEL)],
                        default="auto", help="auto (default): the compiled graph when it validates, else serial")
    parser.add_argument("--prompt-column", default="prompt", help="column holding the prompt (default prompt)")
    parser.add_argument("--id-column", default="id", help="column holding the row id (default id; row numbers if absent)")
    parser.add_argument("--limit", type=positive_int, help="only the first N rows")
    parser.add_argument("--resume", action="store_true", help="finish the job that wrote OUTPUT (rows done are kept)")
    parser.add_argument("--format", choices=[f.value for f in OutputFormat], default="parquet", help="output format")
    parser.add_argument("--actors", type=positive_int, help="Ray Data map actors (default: 2 per replica)")
    parser.add_argument("--batch-rows", type=positive_int, default=8, help="rows per map call (default 8)")
    parser.add_argument("--max-concurrency", type=int_range(1, 4096), default=16, help="engine requests in flight per actor (default 16)")
    parser.add_argument("--max-tokens", type=positive_int, help="max_tokens of each generation (default: compiler's)")
    parser.add_argument("--node-timeout", type=positive_float, default=300.0, help="seconds a node may generate (default 300)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_extractor_argument(parser)
    add_engine_arguments(parser)
    parser.set_defaults(handler=batch_command)


def job_config(args: argparse.Namespace) -> BatchConfig:
    """The batch configuration the command line states (pydantic checks the numbers)."""
    return BatchConfig(
        strategy=Strategy(args.strategy),
        columns=Columns(prompt=args.prompt_column, id=args.id_column),
        limit=args.limit,
        resume=args.resume,
        format=OutputFormat(args.format),
        compile=CompileOptions(**_tokens(args)),
        runtime=RuntimeConfig(max_concurrency=args.max_concurrency, node_timeout_s=args.node_timeout),
        pipeline=PipelineConfig(actors=args.actors, batch_rows=args.batch_rows),
        extractor=Extractor(args.extractor),
    )


def batch_command(args: argparse.Namespace) -> int:
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # the job's own bar and summary say it all
    try:
        config = job_config(args)
        summary = batch(args.input, args.output, config=config, engine=options_from_args(args),
                        progress=current_progress())
    except (ForkjoinError, ValidationError) as exc:
        print(f"forkjoin: error: {one_line(exc)}", file=sys.stderr)
        return JOB_FAILED
    _print(summary, args)
    return summary.exit_code


def add_bench_parser(kinds: argparse._SubParsersAction) -> None:
    """``bench batch``: the same rows as plain batch serving and as forkjoin's graphs, side by side."""
    parser = kinds.add_parser("batch", help="a dataset's rows as plain batch serving and as forkjoin graphs")
    parser.add_argument("--dataset", type=_existing, required=True, help="JSONL, CSV or Parquet rows with a prompt")
    parser.add_argument("--prompt-column", default="prompt", help="column holding the prompt (default prompt)")
    parser.add_argument("--limit", type=positive_int, help="only the first N rows")
    parser.add_argument("--max-concurrency", type=int_range(1, 4096), default=16,
                        help="engine requests in flight per actor (default 16)")
    parser.add_argument("--max-tokens", type=positive_int,
                        help="tokens each row may write, on both sides: plain's cap, split among a graph's "
                        "nodes (default: the compiler's serial cap, 2048)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_engine_arguments(parser)
    parser.set_defaults(handler=bench_batch_command)


def bench_batch_command(args: argparse.Namespace) -> int:
    from orchestrator.batch_bench import BatchBenchConfig, bench_batch, equal_budget, report

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    try:
        config = BatchBenchConfig(dataset=args.dataset, columns=Columns(prompt=args.prompt_column), limit=args.limit,
                                  runtime=RuntimeConfig(max_concurrency=args.max_concurrency),
                                  **equal_budget(args.max_tokens))
        result = bench_batch(config, options_from_args(args), progress=current_progress())
    except (ForkjoinError, ValidationError) as exc:
        print(f"forkjoin: error: {one_line(exc)}", file=sys.stderr)
        return JOB_FAILED
    print(result.model_dump_json(indent=2) if args.json else report(result))
    return 0


def _tokens(args: argparse.Namespace) -> dict[str, int]:
    if args.max_tokens is None:
        return {}
    return {"item_max_tokens": args.max_tokens, "serial_max_tokens": args.max_tokens}


def _existing(text: str) -> Path:
    """An input file or Parquet directory that exists (its rows are checked when the job reads it)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or directory: {text}")
    return path


def _print(summary: BatchSummary, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps({**summary.model_dump(), "output": str(args.output)}))
        return
    print(
        f"[batch | {summary.rows} rows: {summary.ok} ok, {summary.failed} failed, {summary.rejected} rejected | "
        f"ran {summary.ran} in {summary.wall_s:.1f} s | {summary.parts} parts in {args.output}]",
        file=sys.stderr,
    )

