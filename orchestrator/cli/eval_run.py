"""``forkjoin eval run``: serial against auto (or parallel) on a dataset, with speed and answer quality.

    forkjoin eval run --dataset ../shared/data/parallelprompt_dev.jsonl [--strategy auto|parallel] \\
        [--part tuning|check] [--limit N] [--per-category N] [--repeat K] [--out DIR] [--calibrate] [--json] [--judge-url URL --judge-model NAME]

Writes ``DIR/results.parquet``, ``DIR/report.md`` and two plots; ``--json``
prints one object whose ``summary`` has the dataset figures. Every row is
read and compiled before the engine starts, so bad input is one line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys

from graphs.compiler import CompileOptions
from graphs.cost import EngineCurve, calibrate
from orchestrator.cli.args import dataset_file, float_range, int_range
from orchestrator.config import RuntimeConfig
from orchestrator.curves import load_curve, write_curve
from orchestrator.engines import add_engine_arguments, options_from_args
from orchestrator.eval.judge import openai_completer
from orchestrator.eval.report import write_report
from orchestrator.eval.runner import (
    EvalConfig,
    EvalInputError,
    calibration_samples,
    lists_samples,
    load,
    prepare,
    run_eval,
)
from orchestrator.evaluate import Part
from orchestrator.progress import current_progress


def add_run_parser(targets: argparse._SubParsersAction) -> None:
    """Register ``run`` under ``forkjoin eval``."""
    run = targets.add_parser("run", help="serial vs auto/parallel on a dataset: speedup, adherence, fidelity")
    run.add_argument("--dataset", type=dataset_file, required=True, help="JSONL / CSV / Parquet with a 'prompt' column")
    run.add_argument("--strategy", choices=("auto", "parallel", "pasta"), default="auto", help="measured against serial")
    run.add_argument("--part", choices=[p.value for p in Part],
                     help="only this part of the set (the split eval compile uses; default: every row)")
    run.add_argument("--limit", type=int_range(1), help="only the first N rows")
    run.add_argument("--per-category", type=int_range(1), help="only the first N rows of each category")
    run.add_argument("--repeat", type=int_range(1, 50), default=1, help="rounds per prompt, median walls (default 1)")
    run.add_argument("--out", default="eval-run", help="directory for results.parquet, report.md, plots")
    run.add_argument("--min-speedup", type=float_range(0.0, inclusive=False), default=1.2,
                     help="auto decomposes from this predicted speedup (default 1.2)")
    run.add_argument("--max-concurrency", type=int_range(1, 4096), default=16, help="engine requests in flight")
    run.add_argument("--node-timeout", type=float_range(0.0, inclusive=False), default=300.0,
                     help="seconds a node may generate (default 300)")
    run.add_argument("--no-fidelity", action="store_true", help="skip the embedding model")
    run.add_argument("--calibrate", action="store_true",
                     help="store the measured token ratios in the model's curve: auto's cost model then uses them")
    run.add_argument("--judge-url", help="OpenAI-compatible endpoint of a pairwise judge")
    run.add_argument("--judge-model", help="the judge's model (at --judge-url, or the pool's own --model)")
    run.add_argument("--json", action="store_true", help="print one JSON object with the summary")
    add_engine_arguments(run)
    run.set_defaults(handler=eval_run_command)


def eval_run_command(args: argparse.Namespace) -> int:
    config = EvalConfig(dataset=args.dataset, strategy=args.strategy, part=args.part, limit=args.limit, per_category=args.per_category, repeat=args.repeat,
                        out=args.out, min_speedup=args.min_speedup)
    judge, on_pool = _judge(args)
    engine = options_from_args(args)
    _check_out(config)
    curve = load_curve(engine.model_name)
    prepared = prepare(load(config), config, curve, CompileOptions(), max_concurrency=args.max_concurrency)
    runtime = RuntimeConfig(max_concurrency=args.max_concurrency, node_timeout_s=args.node_timeout)
    rows, summary = asyncio.run(run_eval(prepared, config, engine, runtime, embed=not args.no_fidelity,
                                         judge=judge, judge_on_pool=on_pool))
    summary["strategy"] = config.strategy
    if args.calibrate:
        summary["calibration"] = _calibrate(curve, engine.model_name, rows)
    command = "forkjoin " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = write_report(summary, rows, config.out, command=command)
    if args.json:
        print(json.dumps({"report": str(report), "results": str(config.out / "results.parquet"),
                          "summary": summary}, ensure_ascii=False))
    else:
        print(report.read_text(encoding="utf-8"))
    return 0


def _calibrate(curve: EngineCurve, model: str, rows: list) -> dict:
    """Fit the token ratios to this run, store them in the model's curve; what was stored, and where."""
    fitted = calibrate(curve.model_copy(update={"model": model}), calibration_samples(rows), lists=lists_samples(rows))
    path = write_curve(fitted)
    current_progress().note(f"token ratios stored in {path}")
    lists = fitted.lists_speedup.model_dump() if fitted.lists_speedup else None
    return {"path": str(path), "token_ratios": {c: r.model_dump() for c, r in fitted.token_ratios.items()},
            "lists_speedup": lists}


def _judge(args: argparse.Namespace):
    """(a completer at --judge-url or None, whether the pool judges itself)."""
    if args.judge_url:
        if not args.judge_model:
            raise EvalInputError("--judge-url needs --judge-model (the model name at that endpoint)")
        return openai_completer(args.judge_url, args.judge_model), False
    if args.judge_model:
        pool_model = options_from_args(args).model_name
        if args.judge_model != pool_model:
            raise EvalInputError(f"--judge-model {args.judge_model} without --judge-url must be the pool's model "
                                 f"({pool_model}); give --judge-url to judge with another model")
        return None, True
    return None, False


def _check_out(config: EvalConfig) -> None:
    if config.out.exists() and not config.out.is_dir():
        raise EvalInputError(f"--out {config.out} exists and is not a directory")
