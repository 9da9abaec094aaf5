"""eval run's arithmetic on hand-built rows: speedups, ratio of totals, summary by category, unrun rows."""

from __future__ import annotations

import pytest

from orchestrator.eval.metrics import EvalRow, correlation, derive, summarize


def row(rid: str, category: str, serial_ms: float, parallel_ms: float, serial_tokens: int = 100,
        parallel_tokens: int = 100, **fields) -> EvalRow:
    return derive(EvalRow(id=rid, category=category, prompt="p", status="ok", serial_duration_ms=serial_ms,
                          parallel_duration_ms=parallel_ms, serial_num_tokens=serial_tokens,
                          parallel_num_tokens=parallel_tokens, **fields))


def test_derive_computes_parallelprompts_per_prompt_figures():
    r = row("a", "x", 1000, 250, serial_tokens=100, parallel_tokens=200, bound=8.0)
    assert r.speedup == 4.0
    assert r.normalized_speedup == pytest.approx((1000 / 100) / (250 / 200))  # 8.0
    assert r.bound_fraction == 0.5
    assert r.chosen_speedup == 4.0


def test_auto_declining_delivers_the_serial_graph():
    assert row("a", "x", 1000, 500, auto_parallel=False).chosen_speedup == 1.0
    assert row("a", "x", 1000, 500, auto_parallel=True).chosen_speedup == 2.0


def test_the_dataset_normalized_speedup_is_a_ratio_of_totals_not_a_mean_of_ratios():
    rows = [row("a", "x", 1000, 100, 100, 100), row("b", "x", 100, 100, 10, 10)]
    summary = summarize(rows)
    assert summary["median_normalized_speedup"] == pytest.approx(5.5)  # median of 10 and 1
    rows = [row("a", "x", 1000, 100, 100, 100), row("b", "x", 100, 100, 100, 10)]
    summary = summarize(rows)
    assert summary["median_normalized_speedup"] == pytest.approx(5.05)
    assert summary["normalized_speedup_total"] == pytest.approx((1100 / 200) / (200 / 110))


def test_summary_by_category_and_quality_means():
    rows = [row("a", "RG", 900, 300, adherence=True, fidelity=0.9),
            row("b", "RG", 800, 400, adherence=False, adherence_failed="count", fidelity=0.7),
            row("c", "KE", 500, 500, adherence=True, fidelity=0.8)]
    summary = summarize(rows)
    assert summary["prompts"] == 3
    assert summary["median_speedup"] == 2.0
    assert summary["structural_adherence"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["semantic_fidelity"] == pytest.approx(0.8)
    assert summary["by_category"]["RG"]["median_speedup"] == 2.5
    assert summary["by_category"]["RG"]["structural_adherence"] == 0.5
    assert summary["by_category"]["KE"]["prompts"] == 1


def test_rows_that_did_not_run_are_counted_and_listed_not_averaged():
    rows = [row("a", "x", 900, 300),
            EvalRow(id="b", category="x", prompt="p", status="rejected", error="no parallel plan"),
            EvalRow(id="c", category="x", prompt="p", status="failed", error="item-2: timed out")]
    summary = summarize(rows)
    assert summary["prompts"] == 1 and summary["median_speedup"] == 3.0
    assert summary["not_run"] == {"rejected": [{"id": "b", "error": "no parallel plan"}],
                                  "failed": [{"id": "c", "error": "item-2: timed out"}]}


def test_predicted_against_measured_and_wrong_auto_choices():
    rows = [row("a", "x", 1000, 250, predicted_speedup=3.5, auto_parallel=True),
            row("b", "x", 1000, 1250, predicted_speedup=1.5, auto_parallel=True),  # chose parallel, slower: wrong
            row("c", "x", 1000, 500, predicted_speedup=1.1, auto_parallel=False),  # declined a 2x: wrong
            row("d", "x", 1000, 1100, predicted_speedup=0.8, auto_parallel=False)]
    summary = summarize(rows)
    record = summary["predicted_vs_measured"]
    assert record["pairs"] == 4 and record["wrong_auto_choices"] == 2 and record["wrong_ids"] == ["b", "c"]
    assert record["correlation"] > 0.5
    assert (summary["decomposed"], summary["declined"]) == (2, 2)
    assert summary["median_speedup_decomposed"] == pytest.approx((4.0 + 0.8) / 2)
    assert summary["min_speedup_declined"] == pytest.approx(1000 / 1100, abs=1e-4)


def test_correlation_needs_three_points_and_spread():
    assert correlation([1, 2], [1, 2]) is None
    assert correlation([1, 1, 1], [1, 2, 3]) is None
    assert correlation([1, 2, 3], [3, 2, 1]) == -1.0


def test_the_record_says_how_far_the_token_estimates_were_off():
    rows = [row("a", "x", 1000, 250, serial_tokens=50, parallel_tokens=300, predicted_speedup=2.0,
                predicted_serial_tokens=200, predicted_parallel_tokens=300),
            row("b", "x", 1000, 500, serial_tokens=100, parallel_tokens=150, predicted_speedup=2.0,
                predicted_serial_tokens=100, predicted_parallel_tokens=100),
            row("c", "x", 1000, 500, serial_tokens=30, parallel_tokens=90, predicted_speedup=2.0,
                predicted_serial_tokens=60, predicted_parallel_tokens=60)]
    record = summarize(rows)["predicted_vs_measured"]
    assert record["median_serial_tokens_ratio"] == 0.5  # 0.25, 1.0, 0.5
    assert record["median_parallel_tokens_ratio"] == 1.5  # 1.0, 1.5, 1.5
    assert summarize([row("d", "x", 1000, 500, predicted_speedup=2.0)])["predicted_vs_measured"][
        "median_serial_tokens_ratio"] is None
