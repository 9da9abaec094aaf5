"""``eval compile --extractor llm|auto``: rules alone beside rules + the LLM extractor on the same rows, with the cost.

The engine is a scripted one whose structured-output replies are a fixed
extraction, so what the LLM adds (a prompt the rules missed, a false positive
the rules avoided) is known.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from actors import ScriptedEngine
from actors.engine import GenerateRequest
from orchestrator.cli import main
from orchestrator.evaluate import Part, select_rows, split_part

UNSURE = "Put each of my two sentences into French please, the cat sleeps and also the dog barks"
REPLY = json.dumps({
    "parallelizable": True, "category": "Translation", "template": "Translate into French: {data}",
    "context": "", "data": ["the cat sleeps", "the dog barks"], "n": None,
})
ROWS = [
    {"id": "1", "category": "Translation", "prompt": UNSURE, "template": "Translate into French: {data}",
     "data": ["the cat sleeps", "the dog barks"], "n": None},
    {"id": "2", "category": "Repeated Generation", "prompt": "Generate 5 names for a cat.",
     "template": "Generate {n} names for a cat.", "data": None, "n": 5},
    {"id": "3", "category": "Repeated Generation", "prompt": "Generate 4 names for a dog.",
     "template": "Generate {n} names for a dog.", "data": None, "n": 4},
]
NEGATIVES = [{"id": "q", "prompt": "Tell me about each of the planets, please"}, {"id": "r", "prompt": "Why is the sky blue?"}]


def _respond(request: GenerateRequest) -> str:
    assert request.json_schema is not None, "eval compile only asks for schemas"
    return REPLY


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, list[ScriptedEngine]]:
    opened: list[ScriptedEngine] = []

    @asynccontextmanager
    async def fake_open(options):
        opened.append(ScriptedEngine(_respond, token_delay_s=0.0))
        yield opened[-1]

    monkeypatch.setattr("orchestrator.cli.compile.open_engine", fake_open)
    dataset, negatives = tmp_path / "d.jsonl", tmp_path / "neg.jsonl"
    dataset.write_text("\n".join(json.dumps(r) for r in ROWS))
    negatives.write_text("\n".join(json.dumps(r) for r in NEGATIVES))
    return dataset, negatives, opened


def test_the_text_puts_rules_alone_beside_rules_plus_llm(files, capsys) -> None:
    dataset, negatives, opened = files
    argv = ["eval", "compile", "--dataset", str(dataset), "--negatives", str(negatives), "--extractor", "auto",
            "--limit", "2", "--quiet"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("(both parts, first 2 rows per file): rules alone against rules + LLM (auto)")
    overall = next(line for line in lines if line.startswith("overall")).split("|")
    assert overall[0].split() == ["overall", "2"]
    assert overall[1].split()[:2] == ["50.0%", "50.0%"] and overall[2].split()[:2] == ["100.0%", "100.0%"]
    assert f"false positives on {negatives}: rules alone 0 of 2, rules + LLM 1 of 2" in lines
    cost = lines[-1]
    assert cost.startswith("LLM extractor: asked 2 of 4 prompts, 0 fell back to the rules; "
                           "extra latency per call with up to 8 in flight ")
    assert len(opened) == 1 and len(opened[0].calls) == 2


def test_the_json_holds_both_reports_and_the_latency(files, capsys) -> None:
    dataset, negatives, _ = files
    argv = ["eval", "compile", "--dataset", str(dataset), "--negatives", str(negatives), "--extractor", "llm", "--json"]
    assert main(argv) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["extractor"] == "llm" and body["rules_alone"]["extractor"] == "rules"
    assert body["rules_alone"]["overall"]["detected"] == 2 and body["overall"]["detected"] == 3
    cost = body["extractor_cost"]
    assert cost["prompts"] == cost["asked"] == 5
    assert cost["seconds_p50"] <= cost["seconds_p90"] and cost["seconds_per_prompt"] == pytest.approx(
        cost["seconds_total"] / 5)


def test_rules_alone_prints_one_report_and_starts_no_engine(files, capsys) -> None:
    dataset, negatives, opened = files
    assert main(["eval", "compile", "--dataset", str(dataset), "--part", "check", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert "rules_alone" not in body and body["extractor_cost"] is None and opened == []
    checked = [row for row in ROWS if split_part(row["id"]) is Part.CHECK]
    assert body["part"] == "check" and body["overall"]["rows"] == len(checked)


def test_select_rows_takes_the_part_then_the_limit() -> None:
    rows = [{"id": str(i), "prompt": f"p{i}"} for i in range(30)]
    check = [row for row in rows if split_part(row["id"]) is Part.CHECK]
    assert 0 < len(check) < 30
    assert select_rows(rows, Part.CHECK, 2) == check[:2]
    assert select_rows(rows, None, 3) == rows[:3] and select_rows(rows) == rows


def test_a_call_out_of_time_falls_back_and_is_counted(files, capsys) -> None:
    dataset, negatives, opened = files
    argv = ["eval", "compile", "--dataset", str(dataset), "--extractor", "auto", "--llm-timeout", "0.000001",
            "--llm-concurrency", "1", "--json", "--quiet"]
    assert main(argv) == 0
    cost = json.loads(capsys.readouterr().out)["extractor_cost"]
    assert (cost["asked"], cost["fell_back"], cost["timed_out"], cost["concurrency"]) == (1, 1, 1, 1)
