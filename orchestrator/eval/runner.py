"""``eval run``: serial against the chosen strategy on the same replicas, prompt by prompt.

Plan first, run second: every row is read and compiled (and rejected rows
recorded) before any engine starts, so bad input fails at once. Then, on one
:class:`~orchestrator.runtime.Runtime` over the pool, one warm-up request
(excluded), and per prompt ``repeat`` rounds of serial and parallel (for a
prompt auto runs as pasta lists mode, that decoding instead) whose
order alternates (prompt i, round r: serial first when i + r is even);
walls and token counts are medians over the rounds, answers the first
round's. Adherence (:mod:`graphs.adherence`) and fidelity
(:mod:`orchestrator.eval.fidelity`) are computed after the engine is done,
so they never share the CPU with a measurement. A dead engine stops the run:
the prompt it hit and every later one are listed as failed.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Engine
from graphs.adherence import Expectation, check, expectation
from graphs.compiler import CompileOptions, compile_prompt
from graphs.cost import EngineCurve
from graphs.errors import ForkjoinError
from orchestrator.config import RuntimeConfig
from orchestrator.datasets import DatasetError, read_rows
from orchestrator.errors import RunAborted
from orchestrator.evaluate import Part, select_rows
from orchestrator.eval.fidelity import Embedder, fidelity
from orchestrator.engines import EngineOptions, open_engine
from orchestrator.eval.judge import Completer, JudgeError, judge_pair, pool_completer
from orchestrator.eval.metrics import EvalRow, derive, summarize
from orchestrator.progress import current_progress
from orchestrator.results import RunResult
from orchestrator.runtime import Runtime
from orchestrator.strategies import Plan, Strategy, StrategyError, execute, plan


class EvalConfig(BaseModel):
    """What ``eval run`` measures."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Path = Field(description="JSONL / CSV / Parquet rows with a 'prompt' (and optional 'id', 'category').")
    strategy: Literal["auto", "parallel", "pasta"] = Field(
        "auto", description="The strategy measured against serial (pasta: the interpreter, no adherence check)."
    )
    part: Part | None = Field(None, description="Only the rows of this part of the set (None: every row).")
    limit: int | None = Field(None, ge=1, description="Only the first N rows.")
    per_category: int | None = Field(None, ge=1, description="Only the first N rows of each category.")
    repeat: int = Field(1, ge=1, le=50, description="Rounds per prompt (median walls).")
    out: Path = Field(Path("eval-run"), description="Directory for results.parquet, report.md and plots.")
    min_speedup: float = Field(1.2, gt=0, description="auto runs the parallel graph from this predicted speedup.")
    seed: int = Field(0, description="Seed of the judge's shuffling.")


@dataclass(frozen=True)
class Prepared:
    """One dataset row, compiled: what to run, or why nothing runs."""

    id: str
    category: str
    prompt: str
    serial: Plan | None
    parallel: Plan | None
    auto_parallel: bool | None
    expected: Expectation | None
    error: str = ""
    auto_executed: str = ""  # what auto runs: serial, parallel or pasta ('' when auto is not asked)


def load(config: EvalConfig) -> list[dict]:
    """The dataset's rows (of ``part``; the first ``per_category`` of each category, then at most ``limit``).

    DatasetError names the file and line of a bad row.
    """
    rows = select_rows(read_rows(config.dataset, required=("prompt",), types={"prompt": str}), config.part)
    if config.per_category:
        seen: dict[str, int] = {}
        kept = []
        for row in rows:
            category = str(row.get("category") or "")
            seen[category] = seen.get(category, 0) + 1
            if seen[category] <= config.per_category:
                kept.append(row)
        rows = kept
    rows = rows[: config.limit] if config.limit else rows
    for number, row in enumerate(rows, start=1):
        if not row["prompt"].strip():
            raise DatasetError(f"{config.dataset}: row {number}: empty prompt")
    if not rows:
        raise DatasetError(f"{config.dataset}: no rows")
    return rows


def prepare(rows: list[dict], config: EvalConfig, curve: EngineCurve, options: CompileOptions,
            max_concurrency: int = 16) -> list[Prepared]:
    """Compile every row: its serial plan, its parallel plan (None: rejected) and auto's choice."""
    prepared = []
    for number, row in enumerate(rows, start=1):
        prompt, rid = row["prompt"], str(row.get("id") or number)
        category = str(row.get("category") or "")
        kwargs = {"curve": curve, "min_speedup": config.min_speedup, "max_concurrency": max_concurrency}
        serial = plan(prompt, Strategy.SERIAL, options)
        if config.strategy == "pasta":
            prepared.append(Prepared(rid, category, prompt, serial, plan(prompt, Strategy.PASTA, options), None, None))
            continue
        auto = plan(prompt, Strategy.AUTO, options, **kwargs) if config.strategy == "auto" else None
        executed = "" if auto is None else auto.executed.value
        if auto is not None and auto.executed is Strategy.PASTA:  # no graph: serial against what auto decodes
            prepared.append(Prepared(rid, category, prompt, serial, auto, False, None, auto_executed=executed))
            continue
        try:
            parallel = auto if auto is not None and auto.executed is Strategy.PARALLEL else \
                plan(prompt, Strategy.PARALLEL, options, **kwargs)
        except StrategyError as exc:
            prepared.append(Prepared(rid, category, prompt, serial, None, None, None, str(exc), auto_executed=executed))
            continue
        chose = None if auto is None else auto.executed is Strategy.PARALLEL
        expected = expectation(compile_prompt(prompt, options=options.model_copy(update={"force_parallel": True})))
        prepared.append(Prepared(rid, category, prompt, serial, parallel, chose, expected, auto_executed=executed))
    return prepared


@dataclass
class Measured:
    serial: list[RunResult]
    parallel: list[RunResult]


Advance = Callable[[EvalRow], None]


async def measure_all(engine: Engine, prepared: list[Prepared], config: EvalConfig, runtime_config: RuntimeConfig,
                      advance: Advance) -> list[EvalRow]:
    """Warm up, then measure every runnable row as the module doc says; rows come back in dataset order."""
    runtime = Runtime(engine, runtime_config)
    first = next((p for p in prepared if p.parallel is not None), None)
    if first is not None:
        await runtime.arun(first.serial.graph)  # warm-up: excluded
    rows: list[EvalRow] = []
    dead = ""
    for index, item in enumerate(prepared):
        if item.parallel is None or dead:
            row = _unrun(item, "rejected" if item.parallel is None else "failed", item.error or dead)
        else:
            try:
                row = _row(item, await _rounds(runtime, item, config.repeat, index))
            except RunAborted as exc:
                dead = f"not run: the engine died ({exc})"
                row = _unrun(item, "failed", str(exc))
        rows.append(row)
        advance(row)
    return rows


async def _rounds(runtime: Runtime, item: Prepared, repeat: int, index: int) -> Measured:
    measured = Measured([], [])
    for r in range(repeat):
        order = (("serial", item.serial), ("parallel", item.parallel))
        for name, chosen in order if (index + r) % 2 == 0 else order[::-1]:
            getattr(measured, name).append(await execute(runtime, chosen))
    return measured


def _row(item: Prepared, measured: Measured) -> EvalRow:
    failed = [r.error or _first_failure(r) for r in (*measured.serial, *measured.parallel) if not r.ok]
    if failed:
        return _unrun(item, "failed", failed[0])
    prediction = item.parallel.prediction
    row = EvalRow(
        id=item.id, category=item.category, prompt=item.prompt, status="ok", auto_parallel=item.auto_parallel,
        auto_executed=item.auto_executed,
        subtasks=prediction.branches if prediction else item.parallel.graph.width(),
        serial_output=measured.serial[0].answer, parallel_output=measured.parallel[0].answer,
        serial_num_tokens=int(statistics.median(r.tokens for r in measured.serial)),
        parallel_num_tokens=int(statistics.median(r.tokens for r in measured.parallel)),
        serial_duration_ms=round(statistics.median(r.wall_s for r in measured.serial) * 1000, 2),
        parallel_duration_ms=round(statistics.median(r.wall_s for r in measured.parallel) * 1000, 2),
        predicted_speedup=prediction.speedup if prediction else None,
        predicted_serial_s=prediction.serial_s if prediction else None,
        predicted_parallel_s=prediction.parallel_s if prediction else None,
        cost_category=prediction.category if prediction else "",
        predicted_serial_tokens=prediction.serial_tokens if prediction else None,
        predicted_parallel_tokens=prediction.parallel_tokens if prediction else None,
        bound=prediction.bound if prediction else None, repeats=len(measured.serial),
    )
    return derive(row)


def calibration_samples(rows: list[EvalRow]) -> list[tuple[str, int, int, int, int]]:
    """What :func:`graphs.cost.calibrate` fits: measured against predicted tokens of every measured row."""
    return [(r.cost_category, r.serial_num_tokens, r.predicted_serial_tokens, r.parallel_num_tokens,
             r.predicted_parallel_tokens) for r in rows
            if r.status == "ok" and r.predicted_serial_tokens and r.predicted_parallel_tokens
            and r.auto_executed != "pasta"]  # lists mode's prediction is no graph's: it calibrates nothing here


def lists_samples(rows: list[EvalRow]) -> list[tuple[float, float]]:
    """(measured, predicted speedup) of every row auto ran as pasta lists mode: what lists mode calibrates on."""
    return [(r.speedup, r.predicted_speedup) for r in rows
            if r.status == "ok" and r.auto_executed == "pasta" and r.speedup and r.predicted_speedup]


def _first_failure(result: RunResult) -> str:
    node = next((n for n in result.nodes if n.error), None)
    return f"{node.name}: {node.error}" if node else "run did not finish"


def _unrun(item: Prepared, status: str, error: str) -> EvalRow:
    return EvalRow(id=item.id, category=item.category, prompt=item.prompt, status=status, error=error,
                   auto_parallel=item.auto_parallel, auto_executed=item.auto_executed)


def score(rows: list[EvalRow], prepared: list[Prepared], embedder: Embedder | None) -> list[EvalRow]:
    """Adherence of every parallel answer and, with an embedder, its fidelity to the serial answer."""
    scored = []
    for row, item in zip(rows, prepared):
        if row.status != "ok":
            scored.append(row)
            continue
        update = {}
        if item.expected is not None:
            result = check(row.parallel_output, item.expected)
            update = {"adherence": result.passed, "adherence_failed": ",".join(result.failed)}
        if embedder is not None:
            found = fidelity(row.serial_output, row.parallel_output, embedder, item.expected)
            update |= {"fidelity": found.score, "fidelity_mode": found.mode}
        scored.append(row.model_copy(update=update))
    return scored


async def judge_all(rows: list[EvalRow], complete: Completer, seed: int) -> list[EvalRow]:
    """The pairwise judge's preference for every row that ran; a reply that is no verdict leaves it empty."""
    rng = random.Random(seed)
    judged = []
    for row in rows:
        if row.status == "ok":
            try:
                outcome = await judge_pair(complete, row.prompt, row.serial_output, row.parallel_output, rng)
                row = row.model_copy(update={"judge_preference": outcome.winners["preference"]})
            except JudgeError:
                row = row.model_copy(update={"judge_preference": "no verdict"})
        judged.append(row)
    return judged


class EvalInputError(ForkjoinError):
    """``eval run`` was given flags that cannot work together. Caused by the user."""


async def run_eval(prepared: list[Prepared], config: EvalConfig, engine_options: EngineOptions,
                   runtime_config: RuntimeConfig, *, embed: bool = True, judge: Completer | None = None,
                   judge_on_pool: bool = False) -> tuple[list[EvalRow], dict]:
    """Measure on a fresh pool, score, judge; the rows and the summary."""
    progress = current_progress()
    runnable = sum(p.parallel is not None for p in prepared)
    with progress.status(f"starting the engine for {runnable} prompts"):
        opened = open_engine(engine_options)
        engine = await opened.__aenter__()
    try:
        with progress.task("measuring serial and parallel", total=len(prepared), unit="prompts") as task:
            rows = await measure_all(engine, prepared, config, runtime_config,
                                     lambda row: task.advance(1, failed=row.status == "failed"))
        if judge_on_pool:
            with progress.status("judging serial against parallel"):
                rows = await judge_all(rows, pool_completer(engine), config.seed)
    finally:
        await opened.__aexit__(None, None, None)
    if judge is not None:
        with progress.status("judging serial against parallel"):
            rows = await judge_all(rows, judge, config.seed)
    with progress.status("scoring adherence and fidelity"):
        rows = score(rows, prepared, Embedder() if embed else None)
    return rows, summarize(rows, min_speedup=config.min_speedup)
