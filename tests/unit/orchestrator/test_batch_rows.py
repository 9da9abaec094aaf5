"""Batch rows without Ray: reading and classifying input rows, building output rows, the schema, resume bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from actors.engine import RequestError
from orchestrator import Runtime, RuntimeConfig
from orchestrator.batch import RESULT_SCHEMA, BatchInputError, Columns, RowStatus, read_input
from orchestrator.batch.rows import is_context_error, one_line, prompt_hash
from orchestrator.batch.sink import MANIFEST, Manifest, Output, OutputFormat
from orchestrator.batch.source import PROMPT, REJECT
from orchestrator.batch.worker import Job, output_block, run_rows
from orchestrator.extract_llm import Extractor
from orchestrator.strategies import Strategy

LIST = "Give one word for each:\n1. red\n2. green\n3. blue"


def write_jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def problems(path: Path, columns: Columns | None = None) -> dict[object, str | None]:
    prepared = read_input(path, columns or Columns())
    table = prepared.table
    return dict(zip(table.column("input_row").to_pylist(), table.column(REJECT).to_pylist(), strict=True))


def test_every_bad_row_kind_is_kept_with_its_problem(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [
        b'{"id": 1, "prompt": "fine"}',
        b'{"id": 2, "prompt": ""}',
        b'{"id": 3}',
        b'{"id": 4, "prompt": "caf\xe9"}',
        b'{"id": 1, "prompt": "again"}',
        b'{"prompt": "no id"}',
        b'{"id": 7, "prompt": 42}',
        b'not json',
        b'[1, 2]',
    ])
    assert problems(path) == {
        0: None,
        1: "empty prompt",
        2: "missing prompt",
        3: "line 4: not valid UTF-8 (byte 24)",
        4: "duplicate id 1 (first at input row 0)",
        5: "missing id",
        6: "prompt is not text (int)",
        7: "line 8: invalid JSON: Expecting value at column 1",
        8: "line 9: a JSON list, not an object",
    }


def test_invalid_utf8_is_replaced_in_the_prompt_kept(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [b'{"id": "a", "prompt": "caf\xe9 au lait"}'])
    assert read_input(path, Columns()).table.column(PROMPT).to_pylist() == ["caf\ufffd au lait"]


def test_csv_rows_read_with_their_problems(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"id,prompt,lang\na,hello,en\nb,,en\nc,ol\xe1,es\nd,x,y,extra\n")
    assert problems(path) == {0: None, 1: "empty prompt", 2: "line 4: not valid UTF-8", 3: "line 5: 1 more fields than the header"}


def test_parquet_prompt_bytes_are_checked_for_utf8(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [1, 2], "text": pa.array([b"ok", b"\xff"], pa.binary())}), path)
    assert problems(path, Columns(prompt="text")) == {0: None, 1: "prompt is not valid UTF-8 (byte 0)"}


def test_a_parquet_directory_is_one_input(tmp_path):
    (tmp_path / "in").mkdir()
    for k in range(2):
        pq.write_table(pa.table({"id": [k], "prompt": [f"p{k}"]}), tmp_path / "in" / f"part-{k}.parquet")
    assert read_input(tmp_path / "in", Columns()).rows == 2


def test_carried_columns_keep_their_values_and_colliding_names_move(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [
        b'{"id": "x", "prompt": "p", "category": "brainstorming", "meta": {"k": 1}, "n": 1}',
        b'{"id": "y", "prompt": "q", "category": "qa", "meta": {"k": 2}, "n": "two"}',
    ])
    prepared = read_input(path, Columns())
    assert prepared.renamed == {"category": "input_category"}
    table = prepared.table
    assert table.column_names == ["id", "input_category", "meta", "n", "input_row", PROMPT, REJECT]
    assert table.column("meta").to_pylist() == [{"k": 1}, {"k": 2}]
    assert table.column("n").to_pylist() == ["1", "two"]  # mixed types are kept as JSON text


def test_ids_are_row_positions_when_the_input_has_none(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [b'{"prompt": "a"}', b'{"prompt": "b"}'])
    prepared = read_input(path, Columns())
    assert prepared.id_generated and prepared.table.column("id").to_pylist() == [0, 1]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("in.txt", b"x", r"in.txt: unknown input format \(use .jsonl, .csv, .parquet or a Parquet directory\)"),
    ("in.jsonl", b'{"text": "x"}\n', r"in.jsonl: no column 'prompt' \(columns: text\); choose one with --prompt-column"),
    ("in.csv", b"", r"in.csv: empty CSV \(no header line\)"),
    ("in.parquet", b"not parquet", r"in.parquet: cannot read it as parquet: "),
])
def test_an_unusable_input_stops_the_job_before_it_starts(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(BatchInputError, match=message):
        read_input(tmp_path / name, Columns())


def test_limit_takes_the_first_rows(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [json.dumps({"prompt": f"p{k}"}).encode() for k in range(5)])
    assert read_input(path, Columns(), limit=2).rows == 2


def test_errors_are_one_short_line():
    assert one_line("first\nsecond") == "first"
    assert one_line("x" * 400).endswith("...") and len(one_line("x" * 400)) == 300
    assert is_context_error("The decoder prompt (length 5000) is longer than the maximum model length of 2048.")
    assert not is_context_error("replica r1 died")


async def test_rows_run_and_each_ends_in_one_status(make):
    def respond(request):
        if "explode" in request.prompt:
            raise RequestError("The decoder prompt (length 9999) is longer than the maximum model length of 2048")
        if "broken" in request.prompt:
            raise RequestError("engine hiccup")
        return "word"

    _, runtime = make(respond, token_delay_s=0.001, config=RuntimeConfig(max_concurrency=4))
    prompts = [LIST, "Why is the sky blue?", "explode please", "broken please", None, "Why?"]
    issues = [None, None, None, None, "missing prompt", "duplicate id 3 (first at input row 1)"]
    results = await run_rows(runtime, prompts, issues, Job())
    assert [r.status for r in results] == [RowStatus.OK, RowStatus.OK, RowStatus.REJECTED, RowStatus.FAILED,
                                           RowStatus.REJECTED, RowStatus.REJECTED]
    parallel, serial = results[0], results[1]
    assert (parallel.strategy, parallel.nodes, parallel.output_tokens) == ("parallel", len(parallel.answer.split("\n")) + 1, 3)
    assert serial.strategy == "serial" and serial.answer == "word" and serial.error is None
    assert serial.prompt_hash == prompt_hash("Why is the sky blue?") and serial.wall_s > 0
    assert parallel.replicas == serial.replicas == ["scripted"] and results[4].replicas == []
    assert results[2].error == ("node answer failed: The decoder prompt (length 9999) is longer "
                                "than the maximum model length of 2048")
    assert results[3].error == "node answer failed: engine hiccup" and results[3].answer is None
    assert results[4].error == "missing prompt" and results[4].prompt_hash is None
    assert results[5].error == "duplicate id 3 (first at input row 1)" and results[5].strategy is None


async def test_a_compiler_rejection_is_a_rejected_row(make):
    _, runtime = make(token_delay_s=0.001)
    [result] = await run_rows(runtime, ["Why is the sky blue?"], [None], Job(strategy=Strategy.PARALLEL))
    assert result.status is RowStatus.REJECTED
    assert result.error.startswith("compiler: no parallel plan for this prompt: ")


async def test_a_dead_engine_fails_the_rows_still_running(make):
    engine, runtime = make(token_delay_s=0.001)
    await engine.aclose()
    results = await run_rows(runtime, ["Why?", "How?"], [None, None], Job())
    assert [r.status for r in results] == [RowStatus.FAILED, RowStatus.FAILED]
    assert all(r.error.startswith("engine failed: ") for r in results)


async def test_output_block_has_the_schema_and_carries_the_rest(make):
    _, runtime = make(token_delay_s=0.001)
    block = pa.table({"id": ["a", "b"], "lang": ["en", "fr"], "input_row": pa.array([0, 1], pa.int64()),
                      PROMPT: ["Why?", None], REJECT: [None, "missing prompt"]})
    results = await run_rows(runtime, block.column(PROMPT).to_pylist(), block.column(REJECT).to_pylist(), Job())
    out = output_block(block, results)
    assert out.schema.names == ["id", "lang", "input_row", *RESULT_SCHEMA.names]
    assert out.schema.field("nodes").type == pa.int32() and out.schema.field("ttft_s").type == pa.float64()
    assert out.column("replicas").to_pylist() == [["scripted"], []]
    assert out.column("lang").to_pylist() == ["en", "fr"]
    assert out.column("status").to_pylist() == ["ok", "rejected"]


def manifest(**changes) -> Manifest:
    return Manifest(**({"input": "/in.jsonl", "fingerprint": "f", "prompt_column": "prompt", "id_column": "id",
                        "format": OutputFormat.PARQUET} | changes))


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_resume_sees_exactly_the_committed_rows(tmp_path, fmt):
    out = Output.open(tmp_path / "out", manifest(format=fmt), resume=False)
    out.write(pa.table({"input_row": [0, 1], "status": ["ok", "failed"]}))
    (tmp_path / "out" / f".part-000002.{fmt.value}.tmp").write_bytes(b"half a part")
    again = Output.open(tmp_path / "out", manifest(format=fmt), resume=True)
    assert again.done_rows() == {0, 1}
    assert not list((tmp_path / "out").glob(".part-*"))
    assert again.write(pa.table({"input_row": [2], "status": ["ok"]})).name == f"part-000002.{fmt.value}"
    assert again.statuses() == {"ok": 2, "failed": 1}


def test_an_existing_output_needs_resume_and_the_same_job(tmp_path):
    Output.open(tmp_path / "out", manifest(), resume=False)
    with pytest.raises(BatchInputError, match=r"out: output exists \(1 files\); add --resume to finish that job"):
        Output.open(tmp_path / "out", manifest(), resume=False)
    with pytest.raises(BatchInputError, match=r"out: written by another job \(its fingerprint, prompt_column differ\)"):
        Output.open(tmp_path / "out", manifest(fingerprint="g", prompt_column="text"), resume=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(BatchInputError, match=f"other: not a forkjoin batch output \\(no {MANIFEST}\\)"):
        Output.open(tmp_path / "other", manifest(), resume=True)


EXTRACTED = json.dumps({"parallelizable": True, "category": "Translation", "template": "Translate into French: {data}",
                        "context": "", "data": ["the cat sleeps", "the dog barks"], "n": None})
UNSURE = "Put each of my two sentences into French please, the cat sleeps and also the dog barks"


async def test_the_llm_extractor_gives_rows_the_rules_reject_a_parallel_graph(make):
    engine, runtime = make(lambda r: EXTRACTED if r.json_schema is not None else "mot", token_delay_s=0.001)
    prompts = [UNSURE, "Why is the sky blue?"]
    rules = await run_rows(runtime, prompts, [None, None], Job(strategy=Strategy.PARALLEL))
    assert [r.status for r in rules] == [RowStatus.REJECTED, RowStatus.REJECTED] and engine.calls == []
    auto = await run_rows(runtime, prompts, [None, None], Job(strategy=Strategy.PARALLEL, extractor=Extractor.AUTO))
    assert [r.status for r in auto] == [RowStatus.OK, RowStatus.REJECTED]
    assert (auto[0].strategy, auto[0].nodes, auto[0].category) == ("parallel", 3, "Translation")
    asked = [c.prompt for c in engine.calls if c.request_id.startswith("extract-")]
    assert len(asked) == 1 and UNSURE in asked[0]  # the plain question shows no parallel signal: not asked
    serial = await run_rows(runtime, [UNSURE], [None], Job(strategy=Strategy.SERIAL, extractor=Extractor.LLM))
    assert serial[0].status is RowStatus.OK
    assert len([c for c in engine.calls if c.request_id.startswith("extract-")]) == 1  # serial needs no schema
