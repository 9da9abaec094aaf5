"""Per-prompt figures of ``eval run`` and the summary over them (pure arithmetic).

A row carries ParallelPrompt's per-prompt fields (``serial_output``,
``parallel_output``, ``serial_num_tokens``, ``parallel_num_tokens``,
``serial_duration_ms``, ``parallel_duration_ms``, ``speedup``,
``normalized_speedup``) plus ours. ``serial_*`` is always the one-request
graph and ``parallel_*`` the compiled graph, or the pasta decoding when that
is what auto runs (``auto_executed`` pasta: counted as ``forked``, never as
decomposed); ``chosen_speedup`` is what the strategy delivers (auto
declining runs the serial graph: 1.0).

``normalized_speedup = (serial_s / serial_tokens) / (parallel_s / parallel_tokens)``
per prompt; the dataset figure ``normalized_speedup_total`` is the ratio of
totals, as ParallelPrompt's suite computes it, beside the median of ratios.
Rows that did not run (``status`` rejected or failed) are counted and listed,
never part of the medians.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field


class EvalRow(BaseModel):
    """One prompt's outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="The dataset row's id (or its 1-based line number).")
    category: str = Field(description="The dataset's category ('' if none).")
    prompt: str = Field(description="The prompt.")
    status: str = Field(description="ok, rejected (no parallel plan) or failed (a run did not finish).")
    error: str = Field("", description="Why the row did not run.")
    auto_parallel: bool | None = Field(None, description="Whether auto chose the parallel graph (None: not asked).")
    auto_executed: str = Field("", description="What auto runs: serial, parallel or pasta ('' when not asked).")
    subtasks: int = Field(0, description="Branches of the parallel graph.")
    serial_output: str = Field("", description="The serial answer (first repeat).")
    parallel_output: str = Field("", description="The parallel answer (first repeat).")
    serial_num_tokens: int = Field(0, description="Tokens the serial run generated (median over repeats).")
    parallel_num_tokens: int = Field(0, description="Tokens all parallel generations wrote (median over repeats).")
    serial_duration_ms: float = Field(0.0, description="Median serial wall time.")
    parallel_duration_ms: float = Field(0.0, description="Median parallel wall time.")
    speedup: float | None = Field(None, description="serial_duration / parallel_duration.")
    normalized_speedup: float | None = Field(None, description="Per-token speedup (module doc).")
    chosen_speedup: float | None = Field(None, description="The strategy's speedup (auto declining: 1.0).")
    predicted_speedup: float | None = Field(None, description="The cost model's speedup.")
    predicted_serial_s: float | None = Field(None, description="The cost model's serial latency.")
    predicted_parallel_s: float | None = Field(None, description="The cost model's parallel latency.")
    cost_category: str = Field("", description="The compiled prompt's category, under which the cost model keeps its "
                               "token ratios.")
    predicted_serial_tokens: int | None = Field(None, description="Tokens the cost model expected the serial answer to write.")
    predicted_parallel_tokens: int | None = Field(None, description="Tokens the cost model expected all branches to write.")
    bound: float | None = Field(None, description="Physical bound for this many branches on the curve.")
    bound_fraction: float | None = Field(None, description="speedup / bound.")
    adherence: bool | None = Field(None, description="Whether the parallel answer passed every structural check.")
    adherence_failed: str = Field("", description="Failed checks, comma-separated.")
    fidelity: float | None = Field(None, description="Semantic similarity of parallel to serial.")
    fidelity_mode: str = Field("", description="pairwise, matched or text.")
    judge_preference: str = Field("", description="serial, parallel or tie (empty without a judge).")
    repeats: int = Field(0, description="Measured repeats (warm-up excluded).")


def derive(row: EvalRow) -> EvalRow:
    """Fill speedup, normalized_speedup, chosen_speedup and bound_fraction from the measured fields."""
    if row.status != "ok" or row.parallel_duration_ms <= 0 or row.serial_duration_ms <= 0:
        return row
    speedup = row.serial_duration_ms / row.parallel_duration_ms
    normalized = None
    if row.serial_num_tokens > 0 and row.parallel_num_tokens > 0:
        normalized = ((row.serial_duration_ms / row.serial_num_tokens)
                      / (row.parallel_duration_ms / row.parallel_num_tokens))
    chosen = speedup if _auto_ran_measured(row) in (None, True) else 1.0
    fraction = speedup / row.bound if row.bound else None
    return row.model_copy(update={"speedup": round(speedup, 4), "chosen_speedup": round(chosen, 4),
                                  "normalized_speedup": None if normalized is None else round(normalized, 4),
                                  "bound_fraction": None if fraction is None else round(fraction, 4)})


def _auto_ran_measured(row: EvalRow) -> bool | None:
    """Whether auto runs what ``parallel_*`` measured (the graph, or pasta); None: auto was not asked."""
    return True if row.auto_executed == "pasta" else row.auto_parallel


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


def _mean(values: Sequence[float | bool | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def _ratio_of_totals(rows: Sequence[EvalRow]) -> float | None:
    usable = [r for r in rows if r.serial_num_tokens > 0 and r.parallel_num_tokens > 0]
    if not usable:
        return None
    serial = sum(r.serial_duration_ms for r in usable) / sum(r.serial_num_tokens for r in usable)
    parallel = sum(r.parallel_duration_ms for r in usable) / sum(r.parallel_num_tokens for r in usable)
    return round(serial / parallel, 4) if parallel > 0 else None


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson correlation, None for fewer than 3 pairs or no spread."""
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    sy = math.sqrt(sum((y - my) ** 2 for y in ys))
    if sx == 0 or sy == 0:
        return None
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / (sx * sy), 4)


def _figures(rows: Sequence[EvalRow]) -> dict[str, float | int | None]:
    ok = [r for r in rows if r.status == "ok"]
    return {
        "prompts": len(ok),
        "median_speedup": _median([r.chosen_speedup for r in ok]),
        "median_parallel_speedup": _median([r.speedup for r in ok]),
        "median_normalized_speedup": _median([r.normalized_speedup for r in ok]),
        "normalized_speedup_total": _ratio_of_totals(ok),
        "structural_adherence": _mean([r.adherence for r in ok]),
        "semantic_fidelity": _mean([r.fidelity for r in ok]),
        "median_bound_fraction": _median([r.bound_fraction for r in ok]),
    }


def summarize(rows: Sequence[EvalRow], *, min_speedup: float = 1.2) -> dict:
    """The ``summary`` object: overall figures, the same by category, the cost model's record, unrun rows."""
    ok = [r for r in rows if r.status == "ok"]
    categories = sorted({r.category for r in rows})
    by_category = {c: _figures([r for r in rows if r.category == c]) for c in categories}
    predicted = [r for r in ok if r.predicted_speedup is not None and r.speedup is not None]
    wrong = [r.id for r in predicted if _is_wrong(r, min_speedup)]
    decided = [r for r in ok if r.auto_parallel is not None and r.auto_executed != "pasta"]
    forked = [r for r in ok if r.auto_executed == "pasta"]
    return {
        **_figures(rows),
        "by_category": by_category,
        "decomposed": sum(1 for r in decided if r.auto_parallel),
        "declined": sum(1 for r in decided if not r.auto_parallel),
        "median_speedup_decomposed": _median([r.speedup for r in decided if r.auto_parallel]),
        "min_speedup_declined": min((r.speedup for r in decided if not r.auto_parallel and r.speedup), default=None),
        "forked": len(forked),
        "median_speedup_forked": _median([r.speedup for r in forked]),
        "predicted_vs_measured": {
            "pairs": len(predicted),
            "correlation": correlation([r.predicted_speedup for r in predicted], [r.speedup for r in predicted]),
            "wrong_auto_choices": len(wrong),
            "wrong_ids": wrong,
            "median_serial_tokens_ratio": _median([_tokens_ratio(r.serial_num_tokens, r.predicted_serial_tokens)
                                                   for r in predicted]),
            "median_parallel_tokens_ratio": _median([_tokens_ratio(r.parallel_num_tokens, r.predicted_parallel_tokens)
                                                     for r in predicted]),
        },
        "not_run": {status: [{"id": r.id, "error": r.error} for r in rows if r.status == status]
                    for status in ("rejected", "failed")},
    }


def _tokens_ratio(measured: int, predicted: int | None) -> float | None:
    """Measured over predicted tokens (None when nothing was predicted)."""
    return round(measured / predicted, 3) if predicted else None


def _is_wrong(row: EvalRow, min_speedup: float) -> bool:
    """auto chose parallel (or pasta) and it was slower than serial, or declined where it reached the threshold."""
    ran = _auto_ran_measured(row)
    chose = ran if ran is not None else row.predicted_speedup >= min_speedup
    return (chose and row.speedup < 1.0) or (not chose and row.speedup >= min_speedup)


def by(rows: Sequence[EvalRow], key: Callable[[EvalRow], str]) -> dict[str, list[EvalRow]]:
    """Rows grouped by ``key``, groups in sorted order."""
    groups: dict[str, list[EvalRow]] = {}
    for row in sorted(rows, key=key):
        groups.setdefault(key(row), []).append(row)
    return groups
