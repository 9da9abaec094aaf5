"""``forkjoin run`` on a parallel graph prints the answer in final order; ``--json`` is unchanged."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from actors import ScriptedEngine
from graphs import Graph
from orchestrator import cli
from orchestrator.cli import run as run_cli


@pytest.fixture
def graph_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    engine = ScriptedEngine({"slow": "one two three four", "fast": "2. quick"}, token_delay_s=0.01)

    @asynccontextmanager
    async def fake_open(options):
        yield engine

    monkeypatch.setattr(run_cli, "open_engine", fake_open)
    g = Graph()
    with g.scope("answers", separator="\n", item_format="{index}. {output}", strip_markers=True) as s:
        s.generate("slow", name="item-1")
        s.generate("fast", name="item-2")
    path = tmp_path / "graph.json"
    path.write_text(g.to_json())
    return path


def test_a_parallel_answer_is_printed_in_final_order(graph_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--graph", str(graph_file)]) == 0
    out, err = capsys.readouterr()
    assert out == "1. one two three four\n2. quick\n"
    assert "| 3 nodes |" in err


def test_json_output_is_one_object_without_streamed_text(graph_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--graph", str(graph_file), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["answer"] == "1. one two three four\n2. quick"
