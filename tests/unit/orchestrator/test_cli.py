"""The command line: output shapes, and one-line errors with non-zero exits for user mistakes."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from actors import ScriptedEngine
from orchestrator import cli
from orchestrator.cli import run as run_cli

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "flammable.json"


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    scripted = ScriptedEngine({"Summarize": "Two burn.", "coal": "Yes.", "wood": "Yes.", "glass": "No."}, token_delay_s=0.0)

    @asynccontextmanager
    async def fake_open(options):
        yield scripted

    monkeypatch.setattr(run_cli, "open_engine", fake_open)
    return scripted


def test_run_prompt_streams_the_answer(engine, capsys) -> None:
    assert cli.main(["run", "Is coal flammable?"]) == 0
    out, err = capsys.readouterr()
    assert out == "Yes.\n"
    assert "[serial | qwen2.5-coder-0.5b-instruct | 1 nodes | 1 tokens | wall" in err
    assert engine.calls[0].prompt == "Is coal flammable?"


def test_run_prompt_with_braces_is_literal(engine, capsys) -> None:
    assert cli.main(["run", "Return {coal} as {\"json\": 1}"]) == 0
    assert engine.calls[0].prompt == "Return {coal} as {\"json\": 1}"


def test_run_json_has_the_documented_keys(engine, capsys) -> None:
    assert cli.main(["run", "--graph", str(EXAMPLE), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"answer", "strategy", "model", "nodes", "timings", "graph"} <= report.keys()
    assert report["answer"] == "Two burn."
    assert report["strategy"] == "graph"
    assert {"wall_s", "ttft_s"} == report["timings"].keys()
    node = report["nodes"][0]
    assert {"name", "replica", "tokens", "start_s", "end_s"} <= node.keys()
    assert [n["name"] for n in report["nodes"]] == ["coal", "wood", "glass", "classify", "summary"]


def test_run_writes_a_trace(engine, capsys, tmp_path) -> None:
    trace_file = tmp_path / "spans.jsonl"
    assert cli.main(["run", "--graph", str(EXAMPLE), "--trace", str(trace_file)]) == 0
    names = [json.loads(line)["name"] for line in trace_file.read_text().splitlines()]
    assert sorted(names) == [
        "forkjoin.graph", "forkjoin.run", "generate coal", "generate glass", "generate summary", "generate wood",
        "scope classify",
    ]


def test_graph_show_on_the_committed_example(capsys) -> None:
    assert cli.main(["graph", "show", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "5 nodes (4 generate, 1 scope), 4 edges" in out
    assert "n_classify --> n_summary" in out
    assert cli.main(["graph", "show", str(EXAMPLE), "--format", "dot", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["width"] == 3 and data["drawing"].startswith("digraph")


@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        (["run"], "nothing to run: give a PROMPT or --graph FILE", 1),
        (["run", "hi", "--graph", str(EXAMPLE)], "give either a PROMPT or --graph FILE, not both", 1),
        (["run", "--graph", "/no/such.json"], "run: argument --graph: no such file: /no/such.json", 2),
        (["graph", "show", "/no/such.json"], "graph show: argument file: no such file: /no/such.json", 2),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'", 2),
        (["run", "hi", "--max-tokens", "many"], "run: argument --max-tokens: must be an integer >= 1, got 'many'", 2),
        (["run", "hi", "--max-tokens", "0"], "run: argument --max-tokens: must be an integer >= 1, got '0'", 2),
        (["run", "hi", "--max-concurrency", "0"], "argument --max-concurrency: must be an integer from 1 to 4096, got '0'", 2),
        (["run", "hi", "--replicas", "0"], "run: argument --replicas: must be an integer >= 1, got '0'", 2),
        (["run", "hi", "--node-timeout", "-1"], "run: argument --node-timeout: must be a finite number > 0, got '-1'", 2),
        (["run", "hi", "--kv-cache-gib", "inf"], "argument --kv-cache-gib: must be a finite number > 0 and <= 1024, got 'inf'", 2),
        (["pasta", "run", "hi", "--max-tokens", "0"], "pasta run: argument --max-tokens: must be an integer >= 1, got '0'", 2),
        (["bench", "engine", "--streams", "1,x"], "bench engine: argument --streams: must be comma-separated integers", 2),
        (["--quiet", "run", "hi", "--max-tokens", "0"], "run: argument --max-tokens: must be an integer >= 1", 2),
    ],
)
def test_user_mistakes_get_one_line(engine, capsys, argv, message, code) -> None:
    assert cli.main(argv) == code
    out, err = capsys.readouterr()
    assert err.startswith("forkjoin: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_malformed_graph_file_is_one_line(engine, capsys, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nodes": [{"kind": "generate", "name": "a", "prompt": "{b}"}]}))
    assert cli.main(["run", "--graph", str(bad)]) == 1
    assert capsys.readouterr().err == "forkjoin: error: node 'a': placeholder {b} names no node\n"
    assert engine.calls == []


LIST_PROMPT = "Translate each of the following words into French:\n1. cat\n2. dog\n3. house"


def test_run_auto_compiles_a_list_prompt_into_parallel_nodes(engine, capsys, tmp_path) -> None:
    assert cli.main(["run", LIST_PROMPT, "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["strategy"] == "parallel"
    generated = [n for n in report["nodes"] if n["kind"] == "generate"]
    assert len(generated) == 3 and len(engine.calls) == 3
    assert report["compile"]["validation_tier"] in {"high", "medium"}
    saved = tmp_path / "run.json"
    saved.write_text(out)
    assert cli.main(["graph", "show", str(saved)]) == 0
    assert "3 generate" in capsys.readouterr().out


def test_run_serial_strategy_forces_one_node(engine, capsys) -> None:
    assert cli.main(["run", LIST_PROMPT, "--strategy", "serial", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["strategy"] == "serial" and len(report["nodes"]) == 1
    assert engine.calls[0].prompt == LIST_PROMPT


def test_run_compare_reports_both_and_the_speedup(engine, capsys) -> None:
    assert cli.main(["run", LIST_PROMPT, "--compare", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["serial"]["strategy"] == "serial" and report["parallel"]["strategy"] == "parallel"
    assert report["speedup"] == pytest.approx(report["serial"]["timings"]["wall_s"] / report["parallel"]["timings"]["wall_s"])
    assert len(engine.calls) == 1 + 3


def test_run_parallel_without_structure_is_one_line(engine, capsys) -> None:
    assert cli.main(["run", "What is the capital of France?", "--strategy", "parallel"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("forkjoin: error: no parallel plan for this prompt") and err.count("\n") == 1
    assert engine.calls == []


def test_a_validation_error_is_its_first_field_and_message() -> None:
    from pydantic import ValidationError

    from graphs.errors import one_line
    from orchestrator.config import RuntimeConfig

    with pytest.raises(ValidationError) as caught:
        RuntimeConfig(max_concurrency=0, node_timeout_s=-1)
    assert one_line(caught.value) == "max_concurrency: Input should be greater than or equal to 1 (got 0)"
    assert one_line(RuntimeError("first\n\n  second")) == "first"
    assert one_line(RuntimeError("")) == "RuntimeError"
    assert one_line(RuntimeError("x" * 500), limit=10) == "xxxxxxx..."


def test_a_validation_error_from_a_command_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from orchestrator.config import RuntimeConfig

    def handler(args) -> int:
        RuntimeConfig(run_timeout_s=0)
        return 0

    monkeypatch.setattr(run_cli, "run_command", handler)
    assert cli.main(["run", "hi"]) == 1
    assert capsys.readouterr().err == "forkjoin: error: run_timeout_s: Input should be greater than 0 (got 0)\n"
