"""eval run --strategy pasta: every prompt runs serial and through the interpreter on one engine (library and command)."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import asynccontextmanager

import pyarrow.parquet as pq

from actors.engine import GenerateRequest
from actors.scripted import ScriptedEngine
from graphs.compiler import CompileOptions
from graphs.cost import DEFAULT_CURVE
from orchestrator import cli
from orchestrator.config import RuntimeConfig
from orchestrator.eval.runner import EvalConfig, load, measure_all, prepare, score
from orchestrator.strategies import Strategy

LIST = "Tips:\n1. Sleep: Rest well at night in a dark room.\n2. Food: Eat fruit at each meal of the day."


def respond(request: GenerateRequest) -> str:
    if "Why" in request.prompt:
        return "Because of Rayleigh scattering."
    last = request.assistant_prefix.rsplit("\n", 1)[-1]
    if request.assistant_prefix == "":
        return LIST
    if re.match(r"^1\. Sleep:$", last):
        return " Rest well at night in a dark room.\n2. Food:"
    if re.match(r"^2\. Food:$", last):
        return " Eat fruit at each meal of the day."
    if last == "2.":
        return " Food: Eat fruit"
    return ""


def test_pasta_runs_every_prompt_against_serial_and_records_no_adherence(tmp_path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [{"id": "tips", "prompt": "Give two tips."}, {"id": "why", "prompt": "Why is the sky blue?"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = EvalConfig(dataset=path, strategy="pasta")
    prepared = prepare(load(config), config, DEFAULT_CURVE, CompileOptions(serial_max_tokens=64))
    assert [item.parallel.executed for item in prepared] == [Strategy.PASTA, Strategy.PASTA]
    assert all(item.expected is None and item.auto_parallel is None for item in prepared)
    engine = ScriptedEngine(respond, token_delay_s=0.0)
    measured = asyncio.run(measure_all(engine, prepared, config, RuntimeConfig(), lambda row: None))
    assert [row.status for row in measured] == ["ok", "ok"]
    assert measured[0].serial_output == LIST and measured[0].parallel_output == LIST
    assert measured[1].parallel_output == "Because of Rayleigh scattering."
    forks = [call.request_id for call in engine.calls if "/fork-" in call.request_id]
    assert len(forks) == 2
    scored = score(measured, prepared, embedder=None)
    assert [row.adherence for row in scored] == [None, None]
    assert engine.active == set()



def test_the_eval_run_command_measures_pasta_and_writes_its_report(tmp_path, monkeypatch, capsys) -> None:
    engines: list[ScriptedEngine] = []

    @asynccontextmanager
    async def scripted(options):
        engines.append(ScriptedEngine(respond, token_delay_s=0.0))
        yield engines[-1]

    monkeypatch.setattr("orchestrator.eval.runner.open_engine", scripted)
    monkeypatch.setenv("FORKJOIN_CURVES", str(tmp_path / "curves"))
    path = tmp_path / "d.jsonl"
    rows = [{"id": "tips", "prompt": "Give two tips."}, {"id": "why", "prompt": "Why is the sky blue?"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"
    argv = ["eval", "run", "--dataset", str(path), "--strategy", "pasta", "--no-fidelity", "--out", str(out), "--json"]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(engines) == 1 and engines[0].active == set()
    forks = [call.request_id for call in engines[0].calls if "/fork-" in call.request_id]
    assert len(forks) == 2  # the list prompt forked its two items; the other answer is one request
    summary = printed["summary"]
    assert summary["not_run"] == {"rejected": [], "failed": []}
    assert (summary["decomposed"], summary["declined"]) == (0, 0)  # pasta is not auto's choice
    table = pq.read_table(printed["results"]).to_pylist()
    assert [(row["id"], row["status"]) for row in table] == [("tips", "ok"), ("why", "ok")]
    assert table[0]["parallel_output"] == LIST and table[0]["parallel_num_tokens"] > 0
    assert [row["adherence"] for row in table] == [None, None]
    assert printed["report"] == str(out / "report.md") and (out / "report.md").is_file()
