"""bench batch: the figures from both sides' output rows, the report, and bad input before any engine."""

from __future__ import annotations

import json

import pytest

from orchestrator import cli
from orchestrator.batch import job as batch_job
from orchestrator.batch_bench import compare, report, side_figures


def row(index: int, wall_s: float, tokens: int, strategy: str = "serial", status: str = "ok",
        prompt: int = 10, cached: int = 0) -> dict:
    return {"input_row": index, "wall_s": wall_s, "output_tokens": tokens, "strategy": strategy, "status": status,
            "prompt_tokens": prompt, "cached_tokens": cached}


PLAIN = [row(0, 4.0, 10), row(1, 2.0, 20), row(2, 1.0, 30), row(3, 3.0, 40)]
FORKJOIN = [row(0, 1.0, 12, "parallel", prompt=45, cached=20), row(1, 2.0, 20), row(2, 0.5, 30, "parallel"),
            row(3, 0.0, 0, "parallel", "failed")]


def test_both_sides_are_measured_over_the_same_rows_and_the_parallel_ones_alone():
    result = compare(PLAIN, 10.0, FORKJOIN, 8.0, dataset="d.jsonl", model="m", replicas=1, row_max_tokens=64)
    assert result.parallel_rows == 2  # the failed parallel row is no latency sample
    plain, mine = result.plain, result.forkjoin
    assert (plain.rows, plain.ok, plain.rows_per_s, plain.output_tokens, plain.tokens_per_s) == (4, 4, 0.4, 100, 10.0)
    assert (plain.latency_p50_s, plain.latency_p90_s) == (2.5, 4.0)
    assert (plain.parallel_p50_s, plain.parallel_p90_s) == (2.5, 4.0)  # rows 0 and 2 only
    assert (mine.rows, mine.ok, mine.rows_per_s, mine.output_tokens, mine.tokens_per_s) == (4, 3, 0.5, 62, 7.75)
    assert (mine.latency_p50_s, mine.latency_p90_s) == (1.0, 2.0)
    assert (mine.parallel_p50_s, mine.parallel_p90_s) == (0.75, 1.0)
    assert (plain.tokens_per_row, mine.tokens_per_row) == (25.0, 15.5)
    assert (plain.parallel_output_tokens, mine.parallel_output_tokens) == (40, 42)  # rows 0 and 2 on each side
    assert (plain.prompt_tokens, plain.cached_tokens, mine.prompt_tokens, mine.cached_tokens) == (40, 0, 75, 20)
    assert (result.throughput_ratio, result.parallel_latency_speedup) == (1.25, 3.333)


def test_a_side_with_no_ok_row_has_no_latency_and_no_ratio():
    failed = [row(0, 0.0, 0, status="failed")]
    figures = side_figures(failed, 0.0, {0})
    assert (figures.rows, figures.ok, figures.rows_per_s, figures.latency_p50_s, figures.parallel_p90_s) == (
        1, 0, 0.0, None, None)
    result = compare(failed, 0.0, failed, 2.0, dataset="d", model="m", replicas=1, row_max_tokens=64)
    assert (result.parallel_rows, result.throughput_ratio, result.parallel_latency_speedup) == (0, None, None)


def test_the_report_puts_both_sides_side_by_side():
    text = report(compare(PLAIN, 10.0, FORKJOIN, 8.0, dataset="d.jsonl", model="m", replicas=1, row_max_tokens=64))
    lines = text.splitlines()
    assert lines[0] == "d.jsonl: 4 rows (2 ran parallel) on 1 replica(s) of m; at most 64 tokens per row on either side"
    assert "tokens written                   100        62" in lines
    assert "  on parallel rows                40        42" in lines
    assert "prompt tokens                     40        75" in lines
    assert "  from the prefix cache            0        20" in lines
    assert "tokens per row                25.000    15.500" in lines
    assert "rows/s                         0.400     0.500" in lines
    assert "parallel rows p50 (s)          2.500     0.750" in lines
    assert lines[-1] == ("throughput forkjoin/plain      1.250; "
                         "median latency on parallel rows plain/forkjoin      3.333")


def test_a_dataset_without_the_prompt_column_stops_before_any_engine(tmp_path, capsys, monkeypatch):
    def refuse(options):
        raise AssertionError("an engine was opened for a bench that cannot run")

    monkeypatch.setattr(batch_job, "open_engine", refuse)
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": "hi"}) + "\n")
    code = cli.main(["bench", "batch", "--dataset", str(tmp_path / "in.jsonl"), "--limit", "6"])
    assert code == 2
    assert capsys.readouterr().err == (f"forkjoin: error: {tmp_path}/in.jsonl: no column 'prompt' (columns: text); "
                                       "choose one with --prompt-column\n")


@pytest.mark.parametrize(("flag", "value"), [("--limit", "0"), ("--max-tokens", "-1")])
def test_bad_numbers_fail_at_parse_time(tmp_path, capsys, flag, value):
    (tmp_path / "in.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n")
    code = cli.main(["bench", "batch", "--dataset", str(tmp_path / "in.jsonl"), flag, value])
    assert code == 2
    assert capsys.readouterr().err == (f"forkjoin: error: bench batch: argument {flag}: "
                                       f"must be an integer >= 1, got '{value}'\n")


def test_max_tokens_is_one_budget_per_row_for_both_sides(tmp_path, capsys, monkeypatch):
    from orchestrator import batch_bench

    seen = []

    def measured(config, engine, progress=None):
        seen.append(config)
        return compare(PLAIN, 10.0, FORKJOIN, 8.0, dataset="d.jsonl", model="m", replicas=1,
                       row_max_tokens=config.budget)

    monkeypatch.setattr(batch_bench, "bench_batch", measured)
    (tmp_path / "in.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n")
    assert cli.main(["bench", "batch", "--dataset", str(tmp_path / "in.jsonl"), "--max-tokens", "96", "--json"]) == 0
    [config] = seen
    assert (config.budget, config.compile.item_max_tokens, config.compile.final_max_tokens) == (96, 96, 96)
    printed = json.loads(capsys.readouterr().out)
    assert printed["row_max_tokens"] == 96 and printed["forkjoin"]["output_tokens"] == 62
    assert cli.main(["bench", "batch", "--dataset", str(tmp_path / "in.jsonl")]) == 0
    assert seen[-1].budget == 2048 and seen[-1].row_max_tokens is None  # the compiler's serial cap
