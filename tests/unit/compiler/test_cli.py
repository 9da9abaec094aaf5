"""`forkjoin compile` and `forkjoin eval compile`: output shape and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry", reason="orchestrator needs the project venv (.venv/bin/python -m pytest)")

from orchestrator.cli import main

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
KEYS = ["parallelizable", "category", "language", "template", "context", "data", "n", "validation_tier",
        "reasons", "dependencies", "graph"]


def test_compile_json(capsys):
    assert main(["compile", "Generate 4 names for a dog.", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == KEYS
    assert out["n"] == 4 and out["parallelizable"] and len(out["graph"]["nodes"]) == 5


def test_compile_text(capsys):
    assert main(["compile", "Translate into French: cat, dog"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("parallel: high tier, Translation, language en, 2 items")
    assert "%answers = scope" in out


def test_compile_file_keeps_ids(tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "a", "prompt": "Write 3 jokes."}) + "\n\n"
                    + json.dumps({"id": 7, "prompt": "Hello there"}) + "\n")
    assert main(["compile", "--file", str(path), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines] == ["a", 7]
    assert list(lines[0])[1:] == KEYS and lines[1]["parallelizable"] is False


@pytest.mark.parametrize("argv, message", [
    (["compile", "--file", "/nonexistent/x.jsonl", "--json"], "no such file: /nonexistent/x.jsonl"),
    (["compile"], "nothing to compile"),
    (["compile", "x", "--file", __file__], "not both"),
    (["eval", "compile", "--dataset", "/nonexistent/d.jsonl"], "no such file"),
])
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["compile", "x", "--extractor", "magic"],
    ["eval", "compile", "--extractor", "magic", "--dataset", "d.jsonl"],
    ["run", "x", "--extractor", "magic"],
])
def test_unknown_extractor_is_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'magic'" in err and err.count("\n") == 1


def test_rules_extractor_needs_no_engine(capsys):
    assert main(["compile", "Generate 4 names for a dog.", "--json", "--extractor", "rules"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 4


def test_auto_starts_no_engine_when_the_rules_are_sure(monkeypatch, capsys):
    def no_engine(options):
        raise AssertionError("an engine was started")

    monkeypatch.setattr("orchestrator.cli.compile.open_engine", no_engine)
    assert main(["compile", "Translate into French: cat, dog, bird", "--json", "--extractor", "auto"]) == 0
    assert json.loads(capsys.readouterr().out)["data"] == ["cat", "dog", "bird"]


def test_bad_json_line_names_the_line(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt": "ok"}) + "\n{broken\n")
    assert main(["compile", "--file", str(path), "--json"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: not valid JSON" in err and err.count("\n") == 1


def test_eval_on_a_small_set(tmp_path, capsys):
    rows = [
        {"id": "1", "category": "Repeated Generation", "prompt": "Generate 5 names for a cat.",
         "template": "Generate {n} name(s) for a cat.", "data": None, "n": 5},
        {"id": "2", "category": "Keyword Extraction", "prompt": "Extract name, age and city from the text: Bo, 3, Oslo",
         "template": "Extract {data} from the text: {context}", "data": ["name", "age", "city"], "n": None},
    ]
    dataset, negatives = tmp_path / "d.jsonl", tmp_path / "neg.jsonl"
    dataset.write_text("\n".join(json.dumps(r) for r in rows))
    negatives.write_text(json.dumps({"id": "q", "prompt": "Write 3 jokes about owls."}) + "\n"
                         + json.dumps({"id": "r", "prompt": "Why is the sky blue?"}))
    assert main(["eval", "compile", "--dataset", str(dataset), "--negatives", str(negatives), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["overall"]["rows"] == 2 and report["overall"]["detected"] == 2
    assert report["overall"]["count_equal"] == 2 and report["overall"]["items_match"] == 1
    assert report["overall"]["template_compatible"] == 2
    assert [fp["id"] for fp in report["negatives"][str(negatives)]] == ["q"]


def test_eval_text_shows_tuning_and_check_side_by_side(tmp_path, capsys):
    rows = [{"id": row_id, "category": "Repeated Generation", "prompt": "Generate 5 names for a cat.",
             "template": "Generate {n} names for a cat.", "data": None, "n": 5} for row_id in "abcdef"]
    dataset = tmp_path / "d.jsonl"
    dataset.write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["eval", "compile", "--dataset", str(dataset)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "| tuning part" in lines[1] and "| check part" in lines[1]
    assert lines[2].count("detected") == 2
    overall = next(line for line in lines if line.startswith("overall"))
    assert overall.split("|")[1].split()[0] == "5" and overall.split("|")[2].split()[0] == "1"


def _needs(name: str):
    return pytest.mark.skipif(not (DATA / name).is_file(),
                              reason=f"../shared/data/{name} is absent (benchmark data lives outside the repo)")


@_needs("parallelprompt_dev.jsonl")
def test_check_part_meets_the_bar(capsys):
    assert main(["eval", "compile", "--dataset", str(DATA / "parallelprompt_dev.jsonl"), "--json"]) == 0
    rates = json.loads(capsys.readouterr().out)["part_rates"]["check"]["overall"]
    assert rates["detection"] >= 0.90 and rates["count_exact"] >= 0.85


@_needs("vicuna80.jsonl")
def test_no_false_positive_on_vicuna80(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    vicuna = str(DATA / "vicuna80.jsonl")
    assert main(["eval", "compile", "--dataset", str(empty), "--negatives", vicuna, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["negative_rows"][vicuna] == 80 and report["negatives"][vicuna] == []
