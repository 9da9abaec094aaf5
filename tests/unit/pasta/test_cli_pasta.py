"""``forkjoin pasta``: check, strip, graph, bench and annotate on a scripted engine."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from actors.engine import GenerateRequest
from actors.scripted import ScriptedEngine
from orchestrator import cli
from orchestrator.cli import pasta as pasta_cli

VALID = "<scope>\nCoal is<promise/><async> flammable.</async>\nWater is<promise/><async> not.</async>\n</scope>\nDone.\n"


def test_check_prints_the_scope_tree(tmp_path: Path, capsys) -> None:
    path = tmp_path / "a.txt"
    path.write_text(VALID)
    assert cli.main(["pasta", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("document (original)\n  scope 1:1 forks=2\n")


def test_check_reports_line_column_and_rule(tmp_path: Path, capsys) -> None:
    path = tmp_path / "b.txt"
    path.write_text("ok\n<scope>\nA<async>x\n</scope>\n")
    assert cli.main(["pasta", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"{path}:4:1: mismatched-close: </scope> closes a scope while <async> at line 3, column 2 is open\n"


def test_strip_prints_the_text_without_tags(tmp_path: Path, capsys) -> None:
    path = tmp_path / "a.txt"
    path.write_text(VALID)
    assert cli.main(["pasta", "strip", str(path)]) == 0
    assert capsys.readouterr().out == "\nCoal is flammable.\nWater is not.\n\nDone.\n"


def test_graph_is_readable_by_graph_show(tmp_path: Path, capsys) -> None:
    path = tmp_path / "a.txt"
    path.write_text(VALID)
    assert cli.main(["pasta", "graph", str(path)]) == 0
    graph_file = tmp_path / "g.json"
    graph_file.write_text(capsys.readouterr().out)
    assert cli.main(["graph", "show", str(graph_file)]) == 0
    assert "4 nodes (2 generate, 1 scope, 1 combine)" in capsys.readouterr().out


def pasta_model(request: GenerateRequest) -> str:
    if request.assistant_prefix.endswith("<async>"):
        return " a long passage of text that the fork writes in parallel.</async>"
    if request.system is None:  # the sequential baseline
        return "Coal is a long passage of text. Water is a long passage of text."
    if request.assistant_prefix == "":
        return "<scope>Coal is<promise/> Water is<promise/></scope> Done."
    return " Done."


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    engine = ScriptedEngine(pasta_model, token_delay_s=0.005)

    @asynccontextmanager
    async def fake_open(options):
        yield engine

    monkeypatch.setattr(pasta_cli, "open_engine", fake_open)
    return engine


def test_bench_json_ends_with_a_summary(tmp_path: Path, capsys, scripted: ScriptedEngine) -> None:
    dataset = tmp_path / "d.jsonl"
    dataset.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"q{i}"}) + "\n" for i in range(3)))
    assert cli.main(["pasta", "bench", "--dataset", str(dataset), "--limit", "2", "--repeat", "2", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["id"] for row in lines[:-1]] == ["p0", "p1"]
    assert all(row["applied"] and row["forks"] == 2 for row in lines[:-1])
    summary = lines[-1]["summary"]
    assert summary["prompts"] == 2 and summary["applied"] == 2
    assert summary["tokens_per_s_ratio"] > 1.0
    walls = [row["sequential_wall_s"] / row["pasta_wall_s"] for row in lines[:-1]]
    assert summary["median_wall_speedup_applied"] == pytest.approx(sorted(walls)[0] / 2 + sorted(walls)[1] / 2)
    assert scripted.active == set()


def test_annotate_without_a_predictor_applies_the_latency_filter(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FORKJOIN_CURVES", str(tmp_path))  # no stored curve: the built-in one
    rows = [
        {"id": "a", "prompt": "tips", "response": "Tips:\n1. Sleep: " + "rest " * 30 + "\n2. Food: " + "eat " * 30},
        {"id": "b", "prompt": "hi", "response": "Hello there."},
    ]
    data = tmp_path / "r.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert cli.main(["pasta", "annotate", str(data), "--predictor", "none", "--quiet"]) == 0
    out, err = capsys.readouterr()
    examples = [json.loads(line) for line in out.splitlines()]
    assert examples[0]["accepted"] and examples[0]["annotated"].count("<async>") == 2
    assert examples[0]["predicted_speedup"] > 1.25
    assert not examples[1]["accepted"] and examples[1]["annotated"] is None
    assert [example["split"] for example in examples] == ["test", "train"]  # 'tips' hashes into the held-out 10%
    assert err == "2 responses, 1 with lists annotated, 1 accepted; 1 in the test split\n"
    # A curve on which streams share one speed: forking the list no longer pays.
    (tmp_path / "qwen2.5-coder-0.5b-instruct.json").write_text(json.dumps({"streams": {"1": 10.0, "2": 10.0}}))
    assert cli.main(["pasta", "annotate", str(data), "--predictor", "none", "--quiet"]) == 0
    assert not json.loads(capsys.readouterr().out.splitlines()[0])["accepted"]


def test_annotate_leaves_benchmark_prompts_out_and_records_each_split(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FORKJOIN_CURVES", str(tmp_path))
    rows = [{"id": name, "prompt": name, "response": "Tips:\n1. Sleep: rest well.\n2. Food: eat well."}
            for name in ("tips", "hi", "a")]
    data, bench = tmp_path / "r.jsonl", tmp_path / "bench.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    bench.write_text(json.dumps({"id": "v1", "prompt": " HI "}) + "\n")
    argv = ["pasta", "annotate", str(data), "--predictor", "none", "--quiet", "--exclude", str(bench)]
    assert cli.main([*argv, "--test-share", "0"]) == 0
    out, err = capsys.readouterr()
    splits = [(row["id"], row["split"]) for row in map(json.loads, out.splitlines())]
    assert splits == [("tips", "train"), ("a", "train")]
    assert err == "2 responses, 2 with lists annotated, 0 accepted; 1 left out as benchmark prompts\n"
    assert cli.main([*argv, "--test-share", "0.95"]) == 2
    assert "argument --test-share: must be a finite number >= 0 and <= 0.9, got '0.95'" in capsys.readouterr().err


def test_annotate_with_the_engine_predictor(tmp_path: Path, capsys, scripted: ScriptedEngine) -> None:
    data = tmp_path / "r.jsonl"
    data.write_text(json.dumps({"id": "a", "prompt": "tips", "response": "Tips:\n1. Sleep: rest well.\n2. Food: eat well."}) + "\n")
    assert cli.main(["pasta", "annotate", str(data)]) == 0
    example = json.loads(capsys.readouterr().out)
    assert example["changed_ratio"] is not None and 0.0 <= example["changed_ratio"] <= 1.0
    assert any(call.request_id.startswith("predict-") for call in scripted.calls)


def test_annotate_without_responses_needs_generate(tmp_path: Path, capsys) -> None:
    data = tmp_path / "r.jsonl"
    data.write_text(json.dumps({"id": "a", "prompt": "tips"}) + "\n")
    assert cli.main(["pasta", "annotate", str(data), "--predictor", "none"]) == 1
    assert "has no 'response' (use --generate" in capsys.readouterr().err


def test_run_json_is_a_trace_graph_show_can_read(tmp_path: Path, capsys, scripted: ScriptedEngine) -> None:
    assert cli.main(["pasta", "run", "Classify coal and water", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["forks"] == 2 and result["text"].startswith("Coal is a long passage")
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps(result))
    assert cli.main(["graph", "show", str(trace)]) == 0
    assert "scope-1-fork-1" in capsys.readouterr().out


def test_run_prints_the_answer_and_a_summary_line(capsys, scripted: ScriptedEngine) -> None:
    assert cli.main(["pasta", "run", "Classify coal and water"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Coal is a long passage of text that the fork writes in parallel.")
    starting, started, summary = err.splitlines()
    assert starting == "starting the engine (qwen2.5-coder-0.5b-instruct) ..."
    assert started.startswith("starting the engine (qwen2.5-coder-0.5b-instruct): done in ")
    assert summary.startswith("[pasta | 2 forks | ")
