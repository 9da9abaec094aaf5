"""``forkjoin pasta``: check, strip and convert annotated text; decode, benchmark and annotate on engines.

- ``check FILE``: the scope tree, or ``FILE:LINE:COLUMN: rule: message`` and exit 1.
- ``strip FILE``: the text without tags (fork contents at their promises).
- ``graph FILE``: the task graph of an annotated response (for ``forkjoin graph show``).
- ``run PROMPT``: decode one answer with the interpreter.
- ``bench --dataset PATH``: sequential vs PASTA decoding per prompt on one engine.
- ``annotate FILE.jsonl``: training examples from responses (the list heuristic and both filters),
  each with its split; ``--exclude`` benchmark sets keep their prompts out entirely.
- ``train FILE.jsonl --name NAME``: LoRA fine-tuning on those examples, merged into a registry model
  (:mod:`orchestrator.pasta_train`).

``add_bench_parser`` lets ``forkjoin bench`` host the benchmark as ``bench pasta``. The
benchmark and the annotation themselves live in :mod:`orchestrator.pasta_bench`;
here every input row is read and checked before an engine starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TypeVar

from actors.engine import Engine
from graphs.pasta import PastaSyntaxError, dump, parse, remove_pasta
from graphs.pasta.convert import to_graph
from graphs.pasta.split import Split, excluded_prompts, split_of
from graphs.pasta.training import LatencyModel, word_tokens
from actors.models import DEFAULT_MODEL
from orchestrator.cli.args import (
    dataset_file,
    float_range,
    input_file_or_stdin,
    int_range,
    non_negative_float,
    positive_float,
    positive_int,
)
from orchestrator.datasets import DatasetError, read_rows
from orchestrator.engines import add_engine_arguments, open_engine, options_from_args
from orchestrator.pasta import Interpreter, PastaConfig, PastaMode
from orchestrator.curves import load_curve
from orchestrator.pasta_bench import BenchRow, Example, Record, Tokenize, annotate_all, run_bench, summarize
from orchestrator.progress import current_progress
from orchestrator.tracing import open_telemetry

T = TypeVar("T")


def register(commands: argparse._SubParsersAction) -> None:
    pasta = commands.add_parser("pasta", help="PASTA-LANG: annotated answers decoded in parallel")
    actions = pasta.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, helptext, handler in (
        ("check", "validate annotated text and print its scope tree", check_command),
        ("strip", "print annotated text without tags", strip_command),
        ("graph", "print the task graph of an annotated response as JSON", graph_command),
    ):
        parser = actions.add_parser(name, help=helptext)
        parser.add_argument("file", type=input_file_or_stdin, help="annotated text file ('-' for stdin)")
        if name == "graph":
            parser.add_argument("--question", default="", help="the prompt the response answered")
        parser.set_defaults(handler=handler)
    run = actions.add_parser("run", help="decode one answer with the PASTA-LANG interpreter")
    run.add_argument("prompt", help="the question")
    run.add_argument("--json", action="store_true", help="print the whole result as JSON")
    run.add_argument("--trace", type=Path, help="append OpenTelemetry spans (JSON lines) to this file")
    _decoding_arguments(run)
    add_engine_arguments(run)
    run.set_defaults(handler=run_command)
    add_bench_parser(actions)
    annotate = actions.add_parser("annotate", help="turn responses into PASTA-LANG training examples")
    annotate.add_argument("file", type=dataset_file, help="JSONL/CSV/Parquet with 'prompt' and (unless --generate) 'response'")
    annotate.add_argument("--out", type=Path, help="write examples here (default: stdout)")
    annotate.add_argument("--limit", type=positive_int, help="first N rows only")
    annotate.add_argument("--generate", action="store_true", help="sample missing responses from the engine")
    annotate.add_argument(
        "--predictor", choices=["engine", "none"], default="engine",
        help="next-token filter: greedy predictions of the engine's model, or skip the filter",
    )
    annotate.add_argument("--max-tokens", type=positive_int, default=384, help="response length when generating")
    annotate.add_argument(
        "--latency", choices=["curve", "fixed"], default="curve",
        help="latency filter: the engine curve stored for --model (forkjoin bench engine), or --per-token-s/--per-request-s",
    )
    annotate.add_argument("--per-token-s", type=positive_float, default=0.02, help="fixed latency: seconds per token")
    annotate.add_argument("--per-request-s", type=non_negative_float, default=0.05, help="fixed latency: seconds per fork")
    annotate.add_argument("--model-tokens", action="store_true",
                          help="count and compare in --model's tokens (its tokenizer), not whitespace words")
    annotate.add_argument("--records", action="store_true",
                          help="add each accepted example's training record (token ids, masks) in --model's tokens")
    annotate.add_argument("--test-share", type=float_range(0.0, 0.9), default=0.1,
                          help="share of prompts held out as the 'test' split, never trained on (default 0.1)")
    annotate.add_argument("--exclude", type=dataset_file, action="append", default=[], metavar="DATASET",
                          help="benchmark set whose prompts are left out entirely (repeatable), e.g. vicuna80.jsonl")
    add_engine_arguments(annotate)
    annotate.set_defaults(handler=annotate_command)
    _train_parser(actions)


def _train_parser(actions: argparse._SubParsersAction) -> None:
    train = actions.add_parser("train", help="LoRA-fine-tune a model on annotated examples; save it as a registry model")
    train.add_argument("file", type=dataset_file, help="JSONL from `forkjoin pasta annotate` ('prompt', 'annotated')")
    train.add_argument("--name", required=True, help="registry name of the merged model, e.g. qwen2.5-coder-0.5b-pasta")
    train.add_argument("--model", default=DEFAULT_MODEL, help=f"model to fine-tune (default {DEFAULT_MODEL})")
    train.add_argument("--steps", type=positive_int, default=300, help="optimizer steps, one example each (default 300)")
    train.add_argument("--max-minutes", type=positive_float, default=80.0, help="stop training after this long")
    train.add_argument("--max-len", type=int_range(16, 8192), default=512, help="skip examples longer (tokens)")
    train.add_argument("--rank", type=positive_int, default=8, help="LoRA rank (default 8)")
    train.add_argument("--lr", type=positive_float, default=2e-4, help="learning rate (default 2e-4)")
    train.add_argument("--all-rows", action="store_true", help="train on every annotated row, not only accepted ones")
    train.add_argument("--json", action="store_true", help="print the training record as JSON")
    train.set_defaults(handler=train_command)


def add_bench_parser(actions: argparse._SubParsersAction, name: str = "bench") -> None:
    """Add the PASTA benchmark as ``name`` under ``actions`` (``pasta bench`` or ``bench pasta``)."""
    bench = actions.add_parser(name, help="sequential vs PASTA decoding per prompt on the same engine")
    bench.add_argument("--dataset", type=dataset_file, required=True, help="JSONL/CSV/Parquet with a 'prompt' per row")
    bench.add_argument("--limit", type=positive_int, help="first N prompts only")
    bench.add_argument("--json", action="store_true", help="one JSON object per prompt, then a summary")
    bench.add_argument("--repeat", type=positive_int, default=1, help="decode each prompt K times both ways; median walls")
    _decoding_arguments(bench)
    add_engine_arguments(bench)
    bench.set_defaults(handler=bench_command)


def _decoding_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=[m.value for m in PastaMode], default="tags", help="tags (default) or lists")
    parser.add_argument("--no-system-prompt", action="store_true", help="model is fine-tuned: no PASTA system prompt")
    parser.add_argument("--max-tokens", type=positive_int, default=384, help="token budget of the main thread")
    parser.add_argument("--fork-max-tokens", type=positive_int, default=192, help="token budget of each fork")
    parser.add_argument("--timeout", type=positive_float, default=600.0, help="seconds one answer may take")


def _config(args: argparse.Namespace) -> PastaConfig:
    return PastaConfig(
        mode=PastaMode(args.mode),
        prompted=not args.no_system_prompt,
        max_tokens=args.max_tokens,
        fork_max_tokens=args.fork_max_tokens,
        timeout_s=args.timeout,
    )


async def _on_engine(args: argparse.Namespace, work: Callable[[Engine], Awaitable[T]]) -> T:
    """Open the engine the command line names (showing progress), do ``work`` on it, and release it."""
    options = options_from_args(args)
    async with AsyncExitStack() as stack:
        with current_progress().status(f"starting the engine ({options.model_name})"):
            engine = await stack.enter_async_context(open_engine(options))
        return await work(engine)


def _read(path: Path) -> str:
    return sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")


# -- check, strip, graph --------------------------------------------------


def check_command(args: argparse.Namespace) -> int:
    try:
        document = parse(_read(args.file))
    except PastaSyntaxError as error:
        print(f"{args.file}:{error.line}:{error.column}: {error.rule}: {error.reason}", file=sys.stderr)
        return 1
    print(dump(document))
    return 0


def strip_command(args: argparse.Namespace) -> int:
    sys.stdout.write(remove_pasta(_read(args.file)))
    return 0


def graph_command(args: argparse.Namespace) -> int:
    print(to_graph(parse(_read(args.file)), question=args.question).to_json())
    return 0


# -- run ------------------------------------------------------------------


def run_command(args: argparse.Namespace) -> int:
    config = _config(args)
    with open_telemetry(args.trace) as telemetry:
        result = asyncio.run(_on_engine(
            args, lambda engine: Interpreter(engine, config, telemetry=telemetry).answer(args.prompt)))
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    print(result.text)
    print(
        f"[pasta | {result.forks} forks | {result.content_tokens} tokens (+{result.tokens - result.content_tokens} tag)"
        f" | wall {result.wall_s:.2f} s{' | fell back: ' + result.fell_back if result.fell_back else ''}]",
        file=sys.stderr,
    )
    return 0


# -- bench ----------------------------------------------------------------


def _rows(path: Path, limit: int | None, required: tuple[str, ...] = ("prompt",)) -> list[dict]:
    """The first ``limit`` rows of a dataset; the whole file is checked, before any engine starts."""
    rows = read_rows(path, required=required, types={name: str for name in required})
    return rows[:limit] if limit else rows


def bench_command(args: argparse.Namespace) -> int:
    rows = _rows(args.dataset, args.limit)
    config = _config(args)

    def emit(row: BenchRow) -> None:
        if args.json:
            print(json.dumps(row.report(), ensure_ascii=False), flush=True)
        else:
            ratio = row.pasta_tps / row.sequential_tps if row.sequential_tps else float("nan")
            print(
                f"{row.id}: sequential {row.sequential_tokens} tok {row.sequential_wall_s:.2f}s"
                f" | pasta {row.pasta_tokens} tok {row.pasta_wall_s:.2f}s {row.forks} forks"
                f" | tok/s x{ratio:.2f}{' | fell back' if row.fell_back else ''}",
                flush=True,
            )

    async def work(engine: Engine) -> list[BenchRow]:
        with current_progress().task("benchmarking prompts", total=len(rows), unit="prompts") as task:

            def emit_and_count(row: BenchRow) -> None:
                emit(row)
                task.advance(1, forks=row.forks)

            return await run_bench(engine, rows, config, emit_and_count, args.repeat)

    summary = summarize(asyncio.run(_on_engine(args, work)))
    print(json.dumps({"summary": summary}) if args.json else f"summary: {json.dumps(summary)}")
    return 0


# -- annotate -------------------------------------------------------------


def _annotate_rows(args: argparse.Namespace) -> list[dict]:
    try:
        return _rows(args.file, args.limit, required=("prompt",) if args.generate else ("prompt", "response"))
    except DatasetError as exc:
        if exc.missing == "response":
            raise DatasetError(f"{exc} (use --generate to sample one)", missing=exc.missing) from exc
        raise


def _tokens(model: str, model_tokens: bool, records: bool) -> tuple[Tokenize, Record | None]:
    """How annotate counts tokens, and how it builds records: with the model's tokenizer when asked."""
    if not (model_tokens or records):
        return word_tokens, None
    from orchestrator.pasta_train import load_tokenizer, record_maker, token_texts  # transformers loads only here

    tokenizer = load_tokenizer(model)
    return (token_texts(tokenizer) if model_tokens else word_tokens), (record_maker(tokenizer) if records else None)


def _splits(args: argparse.Namespace, rows: list[dict]) -> tuple[list[dict], Callable[[str], Split]]:
    """The rows left once benchmark prompts are out, and each prompt's split."""
    excluded = excluded_prompts(row["prompt"] for path in args.exclude for row in _rows(path, None))
    kept = [row for row in rows if split_of(row["prompt"], args.test_share, excluded) is not Split.EXCLUDED]
    return kept, lambda prompt: split_of(prompt, args.test_share, excluded)


def annotate_command(args: argparse.Namespace) -> int:
    read = _annotate_rows(args)
    rows, split = _splits(args, read)
    model = options_from_args(args).model_name
    fixed = LatencyModel(per_token_s=args.per_token_s, per_request_s=args.per_request_s)
    latency = load_curve(model) if args.latency == "curve" else fixed
    tokenize, record = _tokens(model, args.model_tokens, args.records)
    needs_engine = args.predictor == "engine" or args.generate

    async def work(engine: Engine | None) -> list[Example]:
        with current_progress().task("annotating responses", total=len(rows), unit="rows") as task:
            accepted: list[bool] = []

            def counted(example: Example) -> None:
                accepted.append(example.accepted)
                task.advance(1, accepted=sum(accepted))

            return await annotate_all(
                engine, rows, latency, predict=args.predictor == "engine", max_tokens=args.max_tokens,
                on_example=counted, tokenize=tokenize, record=record, split=split,
            )

    examples = asyncio.run(_on_engine(args, work) if needs_engine else work(None))
    lines = "".join(example.model_dump_json() + "\n" for example in examples)
    if args.out:
        args.out.write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
    annotated = sum(example.annotated is not None for example in examples)
    accepted = sum(example.accepted for example in examples)
    test, left_out = sum(example.split is Split.TEST for example in examples), len(read) - len(rows)
    print(f"{len(examples)} responses, {annotated} with lists annotated, {accepted} accepted"
          + (f"; {test} in the test split" if test else "")
          + (f"; {left_out} left out as benchmark prompts" if left_out else ""), file=sys.stderr)
    return 0


# -- train ----------------------------------------------------------------


def train_command(args: argparse.Namespace) -> int:
    from orchestrator.pasta_train import TrainConfig, check_name, train  # torch and peft load only here

    config = TrainConfig(
        data=args.file, base=args.model, name=check_name(args.name), steps=args.steps, max_minutes=args.max_minutes,
        max_len=args.max_len, rank=args.rank, lr=args.lr, all_rows=args.all_rows,
    )
    progress = current_progress()
    with progress.task(f"training {config.name}", total=config.steps, unit="steps") as task:
        info, path = train(config, lambda step, loss: task.advance(1, loss=round(loss, 4)), progress.note)
    if args.json:
        print(json.dumps({**info.model_dump(), "path": str(path)}))
    else:
        print(f"{info.name} ready at {path}: {info.description}; {info.seconds:.0f} s on {info.device}"
              f" (stopped at {info.stopped})")
    return 0
