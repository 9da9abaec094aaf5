"""``forkjoin pasta``: check, strip and convert annotated text; decode, benchmark and annotate on engines.

- ``check FILE``: the scope tree, or ``FILE:LINE:COLUMN: rule: message`` and exit 1.
- ``strip FILE``: the text without tags (fork contents at their promises).
- ``graph FILE``: the task graph of an annotated response (for ``forkjoin graph show``).
- ``run PROMPT``: decode one answer with the interpreter.
- ``bench --dataset PATH``: sequential vs PASTA decoding per prompt on one engine.
- ``annotate FILE.jsonl``: training examples from responses (the list heuristic and both filters).

``add_bench_parser`` lets ``forkjoin bench`` host the benchmark as ``bench pasta``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Engine, GenerateRequest
from graphs.params import SamplingParams
from graphs.pasta import PastaSyntaxError, dump, parse, remove_pasta
from graphs.pasta.convert import to_graph
from graphs.pasta.training import (
    LatencyModel,
    agreement_from,
    annotate_lists,
    contexts_to_predict,
    pieces,
    predicted_latency,
)
from orchestrator.cli.args import (
    dataset_file,
    input_file_or_stdin,
    non_negative_float,
    positive_float,
    positive_int,
)
from orchestrator.datasets import DatasetError, read_rows
from orchestrator.engines import add_engine_arguments, open_engine, options_from_args
from orchestrator.pasta import Interpreter, PastaConfig, PastaMode, PastaResult
from orchestrator.progress import current_progress


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
    annotate.add_argument("--per-token-s", type=positive_float, default=0.02, help="latency model: seconds per token")
    annotate.add_argument("--per-request-s", type=non_negative_float, default=0.05, help="latency model: seconds per fork")
    add_engine_arguments(annotate)
    annotate.set_defaults(handler=annotate_command)


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
    result = asyncio.run(_on_engine(args, lambda engine: Interpreter(engine, config).answer(args.prompt)))
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


class BenchRow(BaseModel):
    """Sequential and PASTA decoding of one prompt on the same engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Prompt id from the dataset.")
    sequential_tokens: int = Field(description="Tokens of the plain answer.")
    sequential_wall_s: float = Field(description="Seconds for the plain answer.")
    pasta_tokens: int = Field(description="Tokens of the PASTA answer, tags excluded.")
    pasta_overhead_tokens: int = Field(
        description="Generated tokens not in the answer: tags, and text cut off after a header or an item's end."
    )
    pasta_wall_s: float = Field(description="Seconds for the PASTA answer.")
    applied: bool = Field(description="Whether the answer forked at least once.")
    forks: int = Field(description="Forks started.")
    fell_back: str | None = Field(description="Why PASTA decoding fell back to sequential, if it did.")
    malformed_tags: int = Field(description="Tag-shaped strings the model wrote that were invalid and dropped.")
    annotated: str = Field(description="The PASTA answer in canonical annotated form.")

    @property
    def sequential_tps(self) -> float:
        return self.sequential_tokens / self.sequential_wall_s if self.sequential_wall_s else 0.0

    @property
    def pasta_tps(self) -> float:
        return self.pasta_tokens / self.pasta_wall_s if self.pasta_wall_s else 0.0

    def report(self) -> dict:
        ratio = self.pasta_tps / self.sequential_tps if self.sequential_tps else None
        return {**self.model_dump(), "sequential_tps": self.sequential_tps, "pasta_tps": self.pasta_tps, "tps_ratio": ratio}


async def sequential_answer(engine: Engine, prompt: str, max_tokens: int) -> tuple[int, float, str]:
    """Plain decoding: (tokens, seconds, text)."""
    request = GenerateRequest(
        request_id=f"seq-{uuid.uuid4().hex[:12]}", prompt=prompt, params=SamplingParams(max_tokens=max_tokens)
    )
    start, tokens, parts = time.perf_counter(), 0, []
    async for chunk in engine.generate(request):
        tokens += chunk.tokens
        parts.append(chunk.text)
    return tokens, time.perf_counter() - start, "".join(parts)


async def bench_prompt(engine: Engine, row_id: str, prompt: str, config: PastaConfig, repeat: int = 1) -> BenchRow:
    """One prompt, sequential then PASTA, ``repeat`` times alternately on the same engine; median walls.

    Decoding is greedy, so every repeat writes the same answers; the first run's tokens are reported.
    """
    sequential: list[tuple[int, float, str]] = []
    results: list[PastaResult] = []
    for _ in range(repeat):
        sequential.append(await sequential_answer(engine, prompt, config.max_tokens))
        results.append(await Interpreter(engine, config).answer(prompt))
    tokens, result = sequential[0][0], results[0]
    return BenchRow(
        id=row_id,
        sequential_tokens=tokens,
        sequential_wall_s=statistics.median(wall for _, wall, _ in sequential),
        pasta_tokens=result.content_tokens,
        pasta_overhead_tokens=result.tokens - result.content_tokens,
        pasta_wall_s=statistics.median(r.wall_s for r in results),
        applied=result.used_parallelism,
        forks=result.forks,
        fell_back=result.fell_back,
        malformed_tags=result.malformed_tags,
        annotated=result.annotated,
    )


def summarize(rows: Sequence[BenchRow]) -> dict:
    """The ``summary`` object: prompts, applied, median tokens/s ratio over applied prompts, wall speedup.

    ``valid`` counts applied answers whose tags were all valid (no fallback,
    nothing dropped); ``useful`` counts applied answers faster in tokens/s.
    """
    applied = [row for row in rows if row.applied]
    ratios = [row.pasta_tps / row.sequential_tps for row in applied if row.sequential_tps and row.pasta_tps]
    sequential_wall = sum(row.sequential_wall_s for row in rows)
    pasta_wall = sum(row.pasta_wall_s for row in rows)
    return {
        "prompts": len(rows),
        "applied": len(applied),
        "tokens_per_s_ratio": statistics.median(ratios) if ratios else None,
        "wall_speedup": sequential_wall / pasta_wall if pasta_wall else None,
        "sequential_tokens": sum(row.sequential_tokens for row in rows),
        "pasta_tokens": sum(row.pasta_tokens for row in rows),
        "fell_back": sum(row.fell_back is not None for row in rows),
        "valid": sum(row.fell_back is None and row.malformed_tags == 0 for row in applied),
        "useful": sum(1 for ratio in ratios if ratio > 1.0),
    }


def _rows(path: Path, limit: int | None, required: tuple[str, ...] = ("prompt",)) -> list[dict]:
    """The first ``limit`` rows of a dataset; the whole file is checked, before any engine starts."""
    rows = read_rows(path, required=required, types={name: str for name in required})
    return rows[:limit] if limit else rows


async def run_bench(
    engine: Engine, rows: Sequence[dict], config: PastaConfig, emit: Callable[[BenchRow], None], repeat: int = 1
) -> list[BenchRow]:
    """Benchmark every row in order (one at a time, so the two decodings never compete)."""
    results = []
    for index, row in enumerate(rows):
        results.append(await bench_prompt(engine, str(row.get("id", index)), row["prompt"], config, repeat))
        emit(results[-1])
    return results


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


class Example(BaseModel):
    """One response considered for the training set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Row id.")
    prompt: str = Field(description="The instruction.")
    response: str = Field(description="The plain response.")
    annotated: str | None = Field(description="The list heuristic's annotation, or None if no list.")
    changed_ratio: float | None = Field(description="Share of tokens whose next-token prediction changed.")
    predicted_speedup: float | None = Field(description="Sequential over PASTA predicted latency.")
    accepted: bool = Field(description="Passed both filters (changes < 20%, latency at least 20% lower).")


async def engine_predictions(engine: Engine, prompt: str, contexts: Sequence[str], limit: int = 8) -> list[str]:
    """The engine model's greedy next token after each assistant-text context."""
    slots = asyncio.Semaphore(limit)

    async def one(context: str) -> str:
        request = GenerateRequest(
            request_id=f"predict-{uuid.uuid4().hex[:12]}",
            prompt=prompt,
            assistant_prefix=context,
            params=SamplingParams(max_tokens=1),
            affinity_key=prompt[:64],
        )
        async with slots:
            return "".join([chunk.text async for chunk in engine.generate(request)])

    return list(await asyncio.gather(*(one(context) for context in contexts)))


async def annotate_row(
    engine: Engine | None, row_id: str, prompt: str, response: str, latency: LatencyModel
) -> Example:
    """Annotate one response with the list heuristic and apply both filters."""
    annotated = annotate_lists(response)
    if annotated is None:
        return Example(id=row_id, prompt=prompt, response=response, annotated=None, changed_ratio=None,
                       predicted_speedup=None, accepted=False)
    sequential, parallel = predicted_latency(parse(annotated), latency)
    ratio = None
    if engine is not None:
        tokens = pieces(annotated)
        contexts = contexts_to_predict(tokens)
        predictions = dict(zip(contexts, await engine_predictions(engine, prompt, contexts), strict=True))
        ratio = agreement_from(tokens, predictions).changed_ratio
    faster = parallel <= 0.8 * sequential
    return Example(
        id=row_id, prompt=prompt, response=response, annotated=annotated, changed_ratio=ratio,
        predicted_speedup=sequential / parallel if parallel else None,
        accepted=faster and (ratio is None or ratio < 0.2),
    )


async def _annotate_all(
    engine: Engine | None, rows: Sequence[dict], args: argparse.Namespace, latency: LatencyModel
) -> list[Example]:
    predictor = engine if args.predictor == "engine" else None
    examples = []
    with current_progress().task("annotating responses", total=len(rows), unit="rows") as task:
        for index, row in enumerate(rows):
            response = row.get("response")
            if not response and engine is not None:
                _, _, response = await sequential_answer(engine, row["prompt"], args.max_tokens)
            examples.append(await annotate_row(predictor, str(row.get("id", index)), row["prompt"], response, latency))
            task.advance(1, accepted=sum(example.accepted for example in examples))
    return examples


def _annotate_rows(args: argparse.Namespace) -> list[dict]:
    try:
        return _rows(args.file, args.limit, required=("prompt",) if args.generate else ("prompt", "response"))
    except DatasetError as exc:
        if exc.missing == "response":
            raise DatasetError(f"{exc} (use --generate to sample one)", missing=exc.missing) from exc
        raise


def annotate_command(args: argparse.Namespace) -> int:
    rows = _annotate_rows(args)
    latency = LatencyModel(per_token_s=args.per_token_s, per_request_s=args.per_request_s)
    needs_engine = args.predictor == "engine" or args.generate
    if needs_engine:
        examples = asyncio.run(_on_engine(args, lambda engine: _annotate_all(engine, rows, args, latency)))
    else:
        examples = asyncio.run(_annotate_all(None, rows, args, latency))
    lines = "".join(example.model_dump_json() + "\n" for example in examples)
    if args.out:
        args.out.write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
    annotated = sum(example.annotated is not None for example in examples)
    accepted = sum(example.accepted for example in examples)
    print(f"{len(examples)} responses, {annotated} with lists annotated, {accepted} accepted", file=sys.stderr)
    return 0
