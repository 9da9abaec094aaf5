"""eval run --strategy pasta: every prompt runs serial and through the interpreter on the same engine."""

from __future__ import annotations

import asyncio
import json
import re

from actors.engine import GenerateRequest
from actors.scripted import ScriptedEngine
from graphs.compiler import CompileOptions
from graphs.cost import DEFAULT_CURVE
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

