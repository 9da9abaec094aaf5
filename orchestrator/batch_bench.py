"""``bench batch``: the same rows as plain batch serving and as forkjoin's compiled graphs, on one engine start.

Both sides run the whole batch pipeline (Ray Data actors on the same pool of
replicas, started once):

* plain: strategy ``serial``, each prompt as one request, as a batch server sends it;
* forkjoin: strategy ``auto``, the compiled graph where the prompt has one.

Equal work: both sides hold each row to the same token budget
(``row_max_tokens``): plain's one request has that cap, and forkjoin's graph
has its nodes' caps split from it (:func:`orchestrator.batch.budget.fit_budget`),
so a graph of ten branches cannot write ten answers' worth of tokens. The
tokens each side actually wrote are reported beside its rates, overall and on
the rows forkjoin ran parallel.

A warm-up of a few rows (not counted) runs first, then plain, then forkjoin.
The figures are computed by :func:`side_figures` (pure): rows/s and output
tokens/s over the side's pipeline wall time; median and p90 per-row latency
(the row's graph run, its wait for an engine slot inside the actor included)
over the side's ok rows, and over the rows forkjoin ran as parallel graphs
(where forkjoin's latency gain is expected). Results go to a scratch directory
removed at the end; nothing is left behind.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from actors.pool import ReplicaPool
from graphs.compiler import CompileOptions
from orchestrator.batch import BatchConfig, BatchSummary, Columns, batch, read_input
from orchestrator.batch.job import held_engine
from orchestrator.bench import percentile
from orchestrator.config import RuntimeConfig
from orchestrator.engines import EngineOptions
from orchestrator.strategies import Strategy

WARMUP_ROWS = 2


class BatchBenchConfig(BaseModel):
    """What ``bench batch`` runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Path = Field(description="JSONL, CSV or Parquet rows with a prompt column.")
    columns: Columns = Field(default_factory=Columns, description="The prompt and id columns.")
    limit: int | None = Field(None, ge=1, description="Only the first N rows.")
    compile: CompileOptions = Field(default_factory=CompileOptions, description="Compiler knobs (token budgets).")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Scheduler knobs of each actor.")
    warmup_rows: int = Field(WARMUP_ROWS, ge=0, description="Rows run (plain) before measuring, not counted.")
    row_max_tokens: int | None = Field(
        None, ge=1, description="Tokens each row may write on either side (plain's cap; the sum of a graph's "
        "caps); None: the compiler's serial_max_tokens."
    )

    @property
    def budget(self) -> int:
        """The per-row token budget both sides run under."""
        return self.row_max_tokens or self.compile.serial_max_tokens


def equal_budget(max_tokens: int | None) -> dict[str, Any]:
    """``BatchBenchConfig`` fields for a per-row budget of ``max_tokens`` (None: the compiler's defaults).

    Every cap of the compiler is set to the budget, so no single node is capped below it, and the row
    budget splits it among a graph's nodes.
    """
    if max_tokens is None:
        return {}
    caps = CompileOptions(item_max_tokens=max_tokens, serial_max_tokens=max_tokens, final_max_tokens=max_tokens)
    return {"compile": caps, "row_max_tokens": max_tokens}


class SideFigures(BaseModel):
    """One side's figures over the same rows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int = Field(ge=0, description="Rows run.")
    ok: int = Field(ge=0, description="Rows that ended ok (the latencies are over these).")
    wall_s: float = Field(ge=0, description="Wall time of the side's pipeline.")
    rows_per_s: float = Field(ge=0, description="Rows over the wall time.")
    output_tokens: int = Field(ge=0, description="Generated tokens over all rows.")
    tokens_per_row: float = Field(ge=0, description="Generated tokens per row, on average.")
    parallel_output_tokens: int = Field(0, ge=0, description="Generated tokens over the rows forkjoin ran parallel.")
    prompt_tokens: int = Field(0, ge=0, description="Prompt tokens over all requests (a graph prefills each branch).")
    cached_tokens: int = Field(0, ge=0, description="Of the prompt tokens, those served from the prefix cache.")
    tokens_per_s: float = Field(ge=0, description="Generated tokens over the wall time.")
    latency_p50_s: float | None = Field(None, description="Median per-row latency of the ok rows.")
    latency_p90_s: float | None = Field(None, description="p90 per-row latency of the ok rows.")
    parallel_p50_s: float | None = Field(None, description="Median latency over the rows forkjoin ran parallel.")
    parallel_p90_s: float | None = Field(None, description="p90 latency over the rows forkjoin ran parallel.")


class BatchBench(BaseModel):
    """``bench batch``: both sides side by side, and how forkjoin compares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str = Field(description="The dataset measured.")
    model: str = Field(description="The model both sides ran on.")
    replicas: int = Field(ge=1, description="Replicas both sides shared.")
    row_max_tokens: int = Field(ge=1, description="Tokens each row could write at most, on either side.")
    rows: int = Field(ge=0, description="Rows each side ran.")
    parallel_rows: int = Field(ge=0, description="Rows forkjoin ran as parallel graphs.")
    plain: SideFigures = Field(description="Each prompt as one request.")
    forkjoin: SideFigures = Field(description="The compiled graphs.")
    throughput_ratio: float | None = Field(None, description="forkjoin rows/s over plain rows/s.")
    parallel_latency_speedup: float | None = Field(
        None, description="plain over forkjoin median latency, on the rows forkjoin ran parallel."
    )


def side_figures(rows: Sequence[dict[str, Any]], wall_s: float, parallel: set[int]) -> SideFigures:
    """One side's figures from its output rows (``input_row``, ``status``, ``output_tokens``, ``wall_s``).

    ``parallel``: ``input_row`` of the rows forkjoin ran as parallel graphs (their latencies are also reported alone).
    """
    ok = [row for row in rows if row["status"] == "ok"]
    latencies = [row["wall_s"] for row in ok]
    subset = [row["wall_s"] for row in ok if row["input_row"] in parallel]
    tokens = sum(row["output_tokens"] or 0 for row in rows)
    rate = 1 / wall_s if wall_s > 0 else 0.0
    return SideFigures(
        rows=len(rows), ok=len(ok), wall_s=round(wall_s, 3), rows_per_s=round(len(rows) * rate, 3),
        output_tokens=tokens, tokens_per_s=round(tokens * rate, 2),
        tokens_per_row=round(tokens / len(rows), 1) if rows else 0.0,
        parallel_output_tokens=sum(row["output_tokens"] or 0 for row in rows if row["input_row"] in parallel),
        prompt_tokens=sum(row.get("prompt_tokens") or 0 for row in rows),
        cached_tokens=sum(row.get("cached_tokens") or 0 for row in rows),
        latency_p50_s=_median(latencies), latency_p90_s=_p90(latencies),
        parallel_p50_s=_median(subset), parallel_p90_s=_p90(subset),
    )


def compare(plain: list[dict[str, Any]], plain_wall_s: float, forkjoin: list[dict[str, Any]],
            forkjoin_wall_s: float, *, dataset: str, model: str, replicas: int, row_max_tokens: int) -> BatchBench:
    """Both sides' figures over the same rows, and the two ratios the issue's aims are stated in."""
    parallel = {row["input_row"] for row in forkjoin if row["strategy"] == "parallel" and row["status"] == "ok"}
    mine, base = side_figures(forkjoin, forkjoin_wall_s, parallel), side_figures(plain, plain_wall_s, parallel)
    return BatchBench(
        dataset=dataset, model=model, replicas=replicas, row_max_tokens=row_max_tokens,
        rows=len(forkjoin), parallel_rows=len(parallel),
        plain=base, forkjoin=mine,
        throughput_ratio=round(mine.rows_per_s / base.rows_per_s, 3) if base.rows_per_s else None,
        parallel_latency_speedup=(round(base.parallel_p50_s / mine.parallel_p50_s, 3)
                                  if base.parallel_p50_s and mine.parallel_p50_s else None),
    )


def bench_batch(config: BatchBenchConfig, engine: EngineOptions, progress: Any = None) -> BatchBench:
    """Check the dataset, start the engine once, run the warm-up, plain and forkjoin; the comparison."""
    read_input(config.dataset, config.columns, config.limit)  # a bad dataset fails before the engine starts
    with held_engine(engine) as pool, tempfile.TemporaryDirectory(prefix="fj-bench-batch-") as scratch:
        if config.warmup_rows:
            _side(pool, config, Strategy.SERIAL, Path(scratch) / "warmup", progress, limit=config.warmup_rows)
        plain, plain_summary = _side(pool, config, Strategy.SERIAL, Path(scratch) / "plain", progress)
        mine, mine_summary = _side(pool, config, Strategy.AUTO, Path(scratch) / "forkjoin", progress)
        replicas = len(pool.replicas)
    return compare(plain, plain_summary.wall_s, mine, mine_summary.wall_s,
                   dataset=str(config.dataset), model=engine.model_name, replicas=replicas,
                   row_max_tokens=config.budget)


def _side(pool: ReplicaPool, config: BatchBenchConfig, strategy: Strategy, output: Path, progress: Any,
          *, limit: int | None = None) -> tuple[list[dict[str, Any]], BatchSummary]:
    job = BatchConfig(strategy=strategy, columns=config.columns, limit=limit or config.limit,
                      compile=config.compile, runtime=config.runtime, row_max_tokens=config.budget)
    label = "warm-up" if limit else ("plain batch serving" if strategy is Strategy.SERIAL else "forkjoin graphs")
    if progress is not None:
        progress.note(f"bench batch: {label}")
    summary = batch(config.dataset, output, config=job, pool=pool, progress=progress)
    return pq.read_table(output).to_pylist(), summary


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _p90(values: list[float]) -> float | None:
    return round(percentile(values, 90), 3) if values else None


def report(result: BatchBench) -> str:
    """The comparison as a small table."""
    lines = [f"{result.dataset}: {result.rows} rows ({result.parallel_rows} ran parallel) on "
             f"{result.replicas} replica(s) of {result.model}; at most {result.row_max_tokens} tokens per row "
             "on either side",
             f"{'':26}{'plain':>10}{'forkjoin':>10}"]
    for label, field in (("tokens written", "output_tokens"), ("  on parallel rows", "parallel_output_tokens"),
                         ("prompt tokens", "prompt_tokens"), ("  from the prefix cache", "cached_tokens")):
        lines.append(f"{label:26}{getattr(result.plain, field):>10}{getattr(result.forkjoin, field):>10}")
    for label, field in (("tokens per row", "tokens_per_row"), ("rows/s", "rows_per_s"),
                         ("tokens/s", "tokens_per_s"), ("wall (s)", "wall_s"),
                         ("latency p50 (s)", "latency_p50_s"), ("latency p90 (s)", "latency_p90_s"),
                         ("parallel rows p50 (s)", "parallel_p50_s"), ("parallel rows p90 (s)", "parallel_p90_s")):
        lines.append(f"{label:26}{_cell(getattr(result.plain, field))}{_cell(getattr(result.forkjoin, field))}")
    lines.append(f"{'ok rows':26}{result.plain.ok:>10}{result.forkjoin.ok:>10}")
    lines.append(f"throughput forkjoin/plain {_cell(result.throughput_ratio)}; "
                 f"median latency on parallel rows plain/forkjoin {_cell(result.parallel_latency_speedup)}")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return f"{value:>10.3f}" if value is not None else f"{'-':>10}"
