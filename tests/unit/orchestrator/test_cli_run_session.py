"""``forkjoin run`` opens one engine per command: the LLM extractor and the run share it; ``--compare`` is traced."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from actors import ScriptedEngine
from actors.engine import GenerateRequest
from orchestrator import cli
from orchestrator.cli import run as run_cli
from orchestrator.tracing import read_trace, show

LIST_PROMPT = "Translate each of the following words into French:\n1. cat\n2. dog\n3. house"
UNSURE = "Put each of my two sentences into French please: the cat sleeps, and also the dog barks"
"""The rules reject it but it shows a parallel signal ('each'), so auto asks the model."""


def _respond(request: GenerateRequest) -> str:
    if request.json_schema is not None:
        return "not the schema"  # an unusable extraction reply: the rules' schema stands, with the reason
    return "le chat"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[ScriptedEngine]:
    """Every engine the command opened."""
    engines: list[ScriptedEngine] = []

    @asynccontextmanager
    async def fake_open(options):
        engines.append(ScriptedEngine(_respond, token_delay_s=0.0))
        yield engines[-1]

    monkeypatch.setattr(run_cli, "open_engine", fake_open)
    return engines


@pytest.mark.parametrize("extractor", ["llm", "auto"])
def test_the_llm_extractor_and_the_run_share_one_engine(opened, extractor: str, capsys) -> None:
    assert cli.main(["run", UNSURE, "--extractor", extractor, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(opened) == 1, "one engine start for the extraction and the run"
    ids = [call.request_id for call in opened[0].calls]
    assert ids[0].startswith("extract-") and len(ids) == 2, ids
    assert report["strategy"] == "serial" and report["answer"] == "le chat"
    assert report["compile"]["reasons"][-1].startswith("LLM-assisted extraction gave no usable schema")


def test_auto_asks_nothing_when_the_rules_are_sure(opened, capsys) -> None:
    assert cli.main(["run", LIST_PROMPT, "--extractor", "auto", "--strategy", "parallel", "--json"]) == 0
    assert len(opened) == 1 and not any(c.request_id.startswith("extract-") for c in opened[0].calls)


def test_a_prompt_without_a_parallel_plan_fails_before_the_engine_when_the_rules_decide(opened, capsys) -> None:
    assert cli.main(["run", "What is the capital of France?", "--strategy", "parallel"]) == 1
    assert capsys.readouterr().err.startswith("forkjoin: error: no parallel plan") and opened == []


def test_compare_writes_both_runs_in_one_trace(opened, tmp_path: Path, capsys) -> None:
    path = tmp_path / "spans.jsonl"
    assert cli.main(["run", LIST_PROMPT, "--compare", "--json", "--trace", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    (timeline,) = read_trace(path)
    children = {span.span_id: span for span in timeline.spans}
    runs = [span for span in timeline.spans if span.name == "forkjoin.run"]
    assert sorted(span.attributes["forkjoin.strategy"] for span in runs) == ["parallel", "serial"]
    (root,) = [span for span in timeline.spans if span.parent_id is None]
    assert root.name == "forkjoin.compare" and root.attributes["forkjoin.strategy"] == "compare"
    assert root.attributes["forkjoin.speedup"] == pytest.approx(report["speedup"], rel=1e-3)
    assert all(span.parent_id == root.span_id for span in runs)
    graphs = timeline.graphs()
    assert sorted(children[g.parent_id].attributes["forkjoin.strategy"] for g in graphs) == ["parallel", "serial"]
    text = show(timeline)
    assert "(serial)" in text and "(parallel)" in text, text


def _pasta_model(request: GenerateRequest) -> str:
    if request.assistant_prefix.endswith("<async>"):
        return " a passage the fork writes.</async>"
    if request.assistant_prefix == "":
        return "<scope>Coal is<promise/> Water is<promise/></scope> Done."
    return " Done."


def test_pasta_run_traces_its_threads_and_forks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    from orchestrator.cli import pasta as pasta_cli

    engine = ScriptedEngine(_pasta_model, token_delay_s=0.0)

    @asynccontextmanager
    async def fake_open(options):
        yield engine

    monkeypatch.setattr(pasta_cli, "open_engine", fake_open)
    path = tmp_path / "spans.jsonl"
    assert cli.main(["pasta", "run", "Classify coal and water", "--json", "--trace", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["forks"] == 2
    (timeline,) = read_trace(path)
    (root,) = [span for span in timeline.spans if span.parent_id is None]
    assert root.name == "pasta.answer" and root.attributes["forkjoin.pasta.forks"] == 2
    forks = [span for span in timeline.spans if span.name.startswith("pasta.fork")]
    assert len(forks) == 2 and all(span.start >= root.start and span.end <= root.end for span in forks)
