"""forkjoin eval run and compile --explain: bad input is one line before any engine starts."""

from __future__ import annotations

import json

import pytest

from orchestrator.cli import main


@pytest.fixture
def no_engine(monkeypatch):
    def refuse(*_, **__):
        raise AssertionError("an engine was started")

    monkeypatch.setattr("orchestrator.eval.runner.open_engine", refuse)


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "{tmp}/missing.jsonl"], "missing.jsonl"),
    (["--dataset", "{tmp}/d.jsonl", "--repeat", "0"], "argument --repeat: must be an integer from 1 to 50, got '0'"),
    (["--dataset", "{tmp}/d.jsonl", "--limit", "x"], "argument --limit: must be an integer >= 1, got 'x'"),
    (["--dataset", "{tmp}/d.jsonl", "--strategy", "serial"], "argument --strategy: invalid choice: 'serial'"),
    (["--dataset", "{tmp}/d.jsonl", "--judge-url", "http://localhost:1"], "--judge-url needs --judge-model"),
    (["--dataset", "{tmp}/d.jsonl", "--judge-model", "other"], "without --judge-url must be the pool's model"),
    (["--dataset", "{tmp}/bad.jsonl"], "bad.jsonl:2"),
    (["--dataset", "{tmp}/empty.jsonl"], "row 1: empty prompt"),
    (["--dataset", "{tmp}/d.jsonl", "--out", "{tmp}/d.jsonl"], "exists and is not a directory"),
])
def test_bad_input_is_one_line_and_no_engine(tmp_path, capsys, no_engine, argv, message):
    (tmp_path / "d.jsonl").write_text(json.dumps({"prompt": "Translate into French: cat, dog"}) + "\n")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"prompt": "ok"}) + "\n{not json\n")
    (tmp_path / "empty.jsonl").write_text(json.dumps({"prompt": " "}) + "\n")
    code = main(["eval", "run", *(a.format(tmp=tmp_path) for a in argv)])
    err = capsys.readouterr().err
    assert code != 0
    assert message in err and len(err.strip().splitlines()) == 1


def test_compile_explain_prints_both_predictions_and_the_reason(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FORKJOIN_CURVES", str(tmp_path))
    assert main(["compile", "Translate into French: cat, dog, bird, fish", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "auto runs parallel: parallel: predicted" in out
    assert "predicted serial" in out and "predicted parallel" in out and "reason: 4 branches" in out


def test_compile_explain_json_has_the_prediction(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FORKJOIN_CURVES", str(tmp_path))
    assert main(["compile", "Translate into French: cat, dog, bird, fish", "--explain", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["prediction"]["branches"] == 4 and body["prediction"]["curve"] == "default"
    assert body["decision"].startswith("parallel: predicted")
