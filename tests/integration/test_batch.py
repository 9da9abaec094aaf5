"""Batch jobs on a real vLLM CPU replica: every input format, both output formats, every bad-row kind.

The replica reserves every CPU of the 2-CPU embedded node, as a CPU replica
does, so these jobs also prove the pipeline asks for no CPU it would wait
for (no read, metadata or write tasks; map actors with ``num_cpus=0``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graphs.compiler import CompileOptions
from orchestrator.batch import RESULT_SCHEMA, BatchConfig, Columns, OutputFormat, PipelineConfig, batch
from orchestrator.config import RuntimeConfig
from orchestrator.strategies import Strategy

pytestmark = pytest.mark.integration

LIST = "Give one word for each color:\n1. red\n2. green\n3. blue"
SHORT = CompileOptions(item_max_tokens=8, serial_max_tokens=12, final_max_tokens=12)


def config(**changes) -> BatchConfig:
    base = {"compile": SHORT, "runtime": RuntimeConfig(node_timeout_s=180), "pipeline": PipelineConfig(actors=1)}
    return BatchConfig(**(base | changes))


def read_output(path: Path, fmt: OutputFormat = OutputFormat.PARQUET) -> list[dict]:
    if fmt is OutputFormat.PARQUET:
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for part in sorted(path.glob("part-*.jsonl")) for line in part.read_text().splitlines()]


def test_jsonl_rows_good_and_bad_each_come_back_once_with_their_status(pool, tmp_path):
    source = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "list", "prompt": LIST, "category": "mine"}).encode(),
        json.dumps({"id": "plain", "prompt": "What is 2 + 2?", "category": "mine"}).encode(),
        json.dumps({"id": "empty", "prompt": "  "}).encode(),
        b'{"id": "bytes", "prompt": "caf\xe9"}',
        json.dumps({"id": "plain", "prompt": "Again?"}).encode(),
        json.dumps({"id": "long", "prompt": "word " * 3000}).encode(),  # past the pool's 2048-token context
        json.dumps({"id": "none"}).encode(),
        json.dumps({"prompt": "Who?"}).encode(),
    ]
    source.write_bytes(b"\n".join(lines) + b"\n")
    summary = batch(source, tmp_path / "out", config=config(), pool=pool)
    rows = {row["input_row"]: row for row in read_output(tmp_path / "out")}
    assert sorted(rows) == list(range(8))
    assert [rows[k]["status"] for k in range(8)] == ["ok", "ok", *["rejected"] * 6]
    assert (summary.rows, summary.ok, summary.failed, summary.rejected, summary.exit_code) == (8, 2, 0, 6, 1)
    listed, plain = rows[0], rows[1]
    assert listed["strategy"] == "parallel" and listed["nodes"] >= 4 and listed["answer"]
    assert plain["strategy"] == "serial" and plain["nodes"] == 1 and plain["output_tokens"] > 0
    assert plain["prompt_tokens"] > 0 and plain["wall_s"] > 0 and plain["ttft_s"] is not None
    assert listed["input_category"] == "mine" and listed["id"] == "list"
    assert rows[2]["error"] == "empty prompt"
    assert rows[3]["error"] == "line 4: not valid UTF-8 (byte 30)"
    assert rows[4]["error"] == "duplicate id 'plain' (first at input row 1)"
    assert "maximum context length is 2048 tokens" in rows[5]["error"]
    assert (rows[6]["error"], rows[7]["error"]) == ("missing prompt", "missing id")
    assert all(row["error"] is None for row in (listed, plain))


def test_csv_in_jsonl_out(pool, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("key,text,lang\nk1,What is 3 + 3?,en\nk2,Name a fruit.,en\n")
    cfg = config(columns=Columns(prompt="text", id="key"), format=OutputFormat.JSONL, strategy=Strategy.SERIAL)
    summary = batch(source, tmp_path / "out", config=cfg, pool=pool)
    rows = read_output(tmp_path / "out", OutputFormat.JSONL)
    assert summary.exit_code == 0 and sorted(r["key"] for r in rows) == ["k1", "k2"]
    assert {r["lang"] for r in rows} == {"en"} and all(r["strategy"] == "serial" for r in rows)
    assert set(rows[0]) == {"key", "lang", "input_row", *RESULT_SCHEMA.names}


def test_parquet_directory_in_parquet_out_has_the_schema(pool, tmp_path):
    (tmp_path / "in").mkdir()
    for k in range(2):
        pq.write_table(pa.table({"id": [k], "prompt": [f"Say the number {k}."]}), tmp_path / "in" / f"p{k}.parquet")
    summary = batch(tmp_path / "in", tmp_path / "out", config=config(), pool=pool)
    table = pq.read_table(tmp_path / "out")
    assert summary.exit_code == 0 and sorted(table.column("id").to_pylist()) == [0, 1]
    assert table.schema.names == ["id", "input_row", *RESULT_SCHEMA.names]
    assert all(table.schema.field(f.name).type == f.type for f in RESULT_SCHEMA)


def test_a_ray_dataset_in_a_lazy_dataset_out(pool):
    import ray.data

    source = ray.data.from_items([{"id": "a", "prompt": "What is 1 + 1?"}, {"id": "b", "prompt": ""}])
    rows = batch(source, config=config(), pool=pool).take_all()
    assert sorted((r["id"], r["status"]) for r in rows) == [("a", "ok"), ("b", "rejected")]


def test_a_compiler_rejection_is_a_row(pool, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "prompt": "Why is the sky blue?"}) + "\n")
    summary = batch(source, tmp_path / "out", config=config(strategy=Strategy.PARALLEL), pool=pool)
    [row] = read_output(tmp_path / "out")
    assert summary.rejected == 1 and row["error"].startswith("compiler: no parallel plan for this prompt")


def test_a_node_that_fails_on_the_engine_is_a_failed_row(pool, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "slow", "prompt": "Count from 1 to 100."}) + "\n"
                      + json.dumps({"id": "blank", "prompt": ""}) + "\n")
    slow = config(compile=CompileOptions(serial_max_tokens=200), runtime=RuntimeConfig(node_timeout_s=0.01))
    summary = batch(source, tmp_path / "out", config=slow, pool=pool)
    rows = {row["id"]: row for row in read_output(tmp_path / "out")}
    assert (summary.ok, summary.failed, summary.rejected, summary.exit_code) == (0, 1, 1, 1)
    assert (rows["slow"]["status"], rows["slow"]["answer"]) == ("failed", None)
    assert rows["slow"]["error"].startswith("node answer ") and "0.01" in rows["slow"]["error"]
    assert rows["blank"]["status"] == "rejected"
