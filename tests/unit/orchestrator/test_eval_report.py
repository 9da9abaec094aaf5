"""eval run's report from hand-built rows: Parquet with ParallelPrompt's fields, Markdown, plots."""

from __future__ import annotations

import pyarrow.parquet as pq

from orchestrator.eval.metrics import EvalRow, derive, summarize
from orchestrator.eval.report import PLOTS, markdown, write_report

PP_FIELDS = ("serial_output", "parallel_output", "serial_num_tokens", "parallel_num_tokens", "serial_duration_ms",
             "parallel_duration_ms", "speedup", "normalized_speedup")


def rows() -> list[EvalRow]:
    ok = [derive(EvalRow(id=f"r{k}", category=cat, prompt="p", status="ok", subtasks=k + 2,
                         serial_output="1. a\n2. b", parallel_output="1. a\n2. b", serial_num_tokens=100,
                         parallel_num_tokens=110, serial_duration_ms=1000.0 * (k + 1), parallel_duration_ms=400.0,
                         adherence=k != 1, adherence_failed="" if k != 1 else "count", fidelity=0.8 + k / 100,
                         predicted_speedup=2.0 + k, bound=4.0, auto_parallel=True))
          for k, cat in enumerate(("Repeated Generation", "Keyword Extraction", "Repeated Generation"))]
    return [*ok, EvalRow(id="bad", category="Keyword Extraction", prompt="q", status="rejected",
                         error="no parallel plan for this prompt")]


def test_report_files_and_parquet_fields(tmp_path):
    data = rows()
    report = write_report(summarize(data), data, tmp_path / "out", command="forkjoin eval run --dataset d.jsonl")
    table = pq.read_table(tmp_path / "out" / "results.parquet")
    assert table.num_rows == 4
    assert set(PP_FIELDS) <= set(table.column_names)
    assert table.column("speedup").to_pylist()[:3] == [2.5, 5.0, 7.5]
    assert table.column("status").to_pylist()[3] == "rejected"
    for plot in PLOTS:
        assert (tmp_path / "out" / plot).read_bytes()[:4] == b"\x89PNG"
    text = report.read_text()
    assert "forkjoin eval run --dataset d.jsonl" in text


def test_markdown_has_categories_checks_and_unrun_rows():
    data = rows()
    text = markdown(summarize(data), data)
    lines = text.splitlines()
    assert any(line.startswith("| Repeated Generation | 2 | 5.00 |") for line in lines)
    assert any(line.startswith("| all | 3 | 5.00 |") for line in lines)
    assert "- r1: count" in lines
    assert "## Not run: rejected (1)" in lines and "- bad: no parallel plan for this prompt" in lines
    assert "## Not run: failed (0)" in lines
    assert "3 pairs, correlation 1.00, 0 wrong auto choices" in text


def test_an_empty_run_still_writes_a_report(tmp_path):
    report = write_report(summarize([]), [], tmp_path)
    assert pq.read_table(tmp_path / "results.parquet").num_rows == 0
    assert "| all | 0 |" in report.read_text()


def test_markdown_names_the_strategy_measured():
    data = rows()
    assert "Strategy `pasta` measured against serial" in markdown({**summarize(data), "strategy": "pasta"}, data)
    assert "Strategy `" not in markdown(summarize(data), data)
