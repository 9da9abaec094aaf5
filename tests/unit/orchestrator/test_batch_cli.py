"""forkjoin batch: a job that cannot run is one line on stderr and exit 2, before Ray or an engine starts."""

from __future__ import annotations

import json

import pytest

from orchestrator import cli
from orchestrator.batch import job as batch_job
from orchestrator.batch.sink import MANIFEST


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(options):
        raise AssertionError("an engine was opened for a job that cannot run")

    monkeypatch.setattr(batch_job, "open_engine", refuse)


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(["batch", *argv])
    return code, capsys.readouterr().err


def test_a_missing_input_is_a_usage_error(tmp_path, capsys):
    code, err = run([str(tmp_path / "none.jsonl"), str(tmp_path / "out")], capsys)
    assert (code, err) == (2, f"forkjoin: error: batch: argument input: no such file or directory: {tmp_path}/none.jsonl\n")


def test_a_missing_prompt_column_stops_the_job(tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": "hi"}) + "\n")
    code, err = run([str(tmp_path / "in.jsonl"), str(tmp_path / "out")], capsys)
    assert code == 2
    assert err == (f"forkjoin: error: {tmp_path}/in.jsonl: no column 'prompt' (columns: text); "
                   "choose one with --prompt-column\n")
    assert not (tmp_path / "out").exists()


def test_an_existing_output_needs_resume(tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "part-000001.parquet").write_bytes(b"")
    code, err = run([str(tmp_path / "in.jsonl"), str(tmp_path / "out")], capsys)
    assert (code, err) == (2, f"forkjoin: error: {tmp_path}/out: output exists (1 files); add --resume to finish that job\n")
    code, err = run([str(tmp_path / "in.jsonl"), str(tmp_path / "out"), "--resume"], capsys)
    assert (code, err) == (2, f"forkjoin: error: {tmp_path}/out: not a forkjoin batch output (no {MANIFEST}); "
                              "choose another path\n")


def test_bad_numbers_fail_at_parse_time(tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n")
    code, err = run([str(tmp_path / "in.jsonl"), str(tmp_path / "out"), "--batch-rows", "0"], capsys)
    assert (code, err) == (2, "forkjoin: error: batch: argument --batch-rows: must be an integer >= 1, got '0'\n")


def test_a_pipeline_failure_names_its_cause_not_ray_datas_retry_advice():
    text = ("ray.exceptions.RayTaskError(ValueError): ray::MapWorker(BatchWorker).submit()\n  File \"w.py\", line 3\n"
            "ValueError: Failed to look up actor with name 'pool-3'\n\n"
            "To change retry attempts, backoff, or which errors are retried, configure it")
    assert batch_job._cause_line(RuntimeError(text)) == "ValueError: Failed to look up actor with name 'pool-3'"
    assert batch_job._cause_line(RuntimeError("")) == "RuntimeError"
