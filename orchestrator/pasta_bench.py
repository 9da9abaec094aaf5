"""PASTA on an engine, measured and mined: the sequential-vs-PASTA benchmark and training-set annotation.

The benchmark decodes each prompt plainly and with the interpreter, one
prompt at a time on the same engine so the two never compete, and reports
tokens/s per prompt and a summary. Annotation turns plain responses into
PASTA-LANG examples (the list heuristic) and keeps those that pass both
filters: the predicted latency drops by at least 20% (on the engine's
measured curve, :mod:`graphs.pasta.latency`, or a fixed cost model) and,
with a predicting engine, fewer than 20% of next-token predictions change,
counted in the serving model's tokens when its tokenizer is given. With a
tokenizer, each accepted example also carries its training record
(:mod:`graphs.pasta.records`), and every example records its split (train
or test, :mod:`graphs.pasta.split`). ``forkjoin pasta bench|annotate``
(``orchestrator.cli.pasta``) only parse, read and print.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Engine, GenerateRequest
from graphs.cost import EngineCurve
from graphs.params import SamplingParams
from graphs.pasta import parse
from graphs.pasta.latency import curve_latency
from graphs.pasta.records import TrainingRecord
from graphs.pasta.split import Split
from graphs.pasta.training import (
    LatencyModel,
    agreement_from,
    annotate_lists,
    contexts_to_predict,
    pieces,
    predicted_latency,
    word_tokens,
)
from orchestrator.pasta import Interpreter, PastaConfig, PastaResult


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

    ``wall_speedup`` is all sequential walls over all PASTA walls;
    ``median_wall_speedup_applied`` the median per-prompt speedup where the
    answer forked (the issue's target is stated that way). ``valid`` counts
    applied answers whose tags were all valid (no fallback, nothing dropped);
    ``useful`` counts applied answers faster in tokens/s.
    """
    applied = [row for row in rows if row.applied]
    ratios = [row.pasta_tps / row.sequential_tps for row in applied if row.sequential_tps and row.pasta_tps]
    speedups = [row.sequential_wall_s / row.pasta_wall_s for row in applied if row.pasta_wall_s]
    sequential_wall = sum(row.sequential_wall_s for row in rows)
    pasta_wall = sum(row.pasta_wall_s for row in rows)
    return {
        "prompts": len(rows),
        "applied": len(applied),
        "tokens_per_s_ratio": statistics.median(ratios) if ratios else None,
        "wall_speedup": sequential_wall / pasta_wall if pasta_wall else None,
        "median_wall_speedup_applied": statistics.median(speedups) if speedups else None,
        "sequential_tokens": sum(row.sequential_tokens for row in rows),
        "pasta_tokens": sum(row.pasta_tokens for row in rows),
        "fell_back": sum(row.fell_back is not None for row in rows),
        "valid": sum(row.fell_back is None and row.malformed_tags == 0 for row in applied),
        "useful": sum(1 for ratio in ratios if ratio > 1.0),
    }


async def run_bench(
    engine: Engine, rows: Sequence[dict], config: PastaConfig, emit: Callable[[BenchRow], None], repeat: int = 1
) -> list[BenchRow]:
    """Benchmark every row in order (one at a time, so the two decodings never compete)."""
    results = []
    for index, row in enumerate(rows):
        results.append(await bench_prompt(engine, str(row.get("id", index)), row["prompt"], config, repeat))
        emit(results[-1])
    return results


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
    record: TrainingRecord | None = Field(None, description="Training inputs in the model's tokens (with --records).")
    split: Split = Field(Split.TRAIN, description="train, or test: held out so the tuned model is measured on it.")


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


Tokenize = Callable[[str], list[str]]
Record = Callable[[str, str], TrainingRecord]
"""(prompt, annotated) -> the training record in the model's tokens."""


def _latency(annotated: str, latency: LatencyModel | EngineCurve, tokenize: Tokenize) -> tuple[float, float]:
    document = parse(annotated)
    if isinstance(latency, EngineCurve):
        return curve_latency(document, latency, lambda text: len(tokenize(text)))
    return predicted_latency(document, latency, lambda text: len(tokenize(text)))


async def annotate_row(
    engine: Engine | None, row_id: str, prompt: str, response: str, latency: LatencyModel | EngineCurve,
    tokenize: Tokenize = word_tokens, record: Record | None = None, split: Split = Split.TRAIN,
) -> Example:
    """Annotate one response with the list heuristic and apply both filters (counted in ``tokenize``'s tokens)."""
    annotated = annotate_lists(response)
    if annotated is None:
        return Example(id=row_id, prompt=prompt, response=response, annotated=None, changed_ratio=None,
                       predicted_speedup=None, accepted=False, split=split)
    sequential, parallel = _latency(annotated, latency, tokenize)
    ratio = None
    if engine is not None:
        tokens = pieces(annotated, tokenize)
        contexts = contexts_to_predict(tokens)
        predictions = dict(zip(contexts, await engine_predictions(engine, prompt, contexts), strict=True))
        ratio = agreement_from(tokens, predictions).changed_ratio
    accepted = parallel <= 0.8 * sequential and (ratio is None or ratio < 0.2)
    return Example(
        id=row_id, prompt=prompt, response=response, annotated=annotated, changed_ratio=ratio,
        predicted_speedup=sequential / parallel if parallel else None, accepted=accepted,
        record=record(prompt, annotated) if record is not None and accepted else None, split=split,
    )


async def annotate_all(
    engine: Engine | None, rows: Sequence[dict], latency: LatencyModel | EngineCurve, *, predict: bool,
    max_tokens: int, on_example: Callable[[Example], None], tokenize: Tokenize = word_tokens,
    record: Record | None = None, split: Callable[[str], Split] = lambda prompt: Split.TRAIN,
) -> list[Example]:
    """Annotate every row in order; a row without a response gets one sampled from ``engine``.

    ``predict`` applies the next-token filter with ``engine``'s greedy predictions; ``split``
    says where each prompt belongs (:func:`graphs.pasta.split.split_of`).
    """
    predictor = engine if predict else None
    examples = []
    for index, row in enumerate(rows):
        response = row.get("response")
        if not response and engine is not None:
            _, _, response = await sequential_answer(engine, row["prompt"], max_tokens)
        row_id = str(row.get("id", index))
        examples.append(await annotate_row(predictor, row_id, row["prompt"], response, latency, tokenize, record,
                                           split(row["prompt"])))
        on_example(examples[-1])
    return examples
