"""Span files read back: the text timeline (golden), the critical path, ``forkjoin trace show/plot``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from actors.replica import Replica, ScriptedSpec
from graphs import Graph
from orchestrator import Runtime, cli
from orchestrator.tracing import Telemetry, read_trace, run_span, show

DATA = Path(__file__).parent / "data"
SPANS = DATA / "trace.jsonl"


def test_the_timeline_of_a_hand_made_span_file_matches_the_golden_text() -> None:
    (timeline,) = read_trace(SPANS)
    assert show(timeline) == (DATA / "trace_show.txt").read_text(encoding="utf-8")


def test_the_critical_path_follows_the_dependency_that_ended_last() -> None:
    (timeline,) = read_trace(SPANS)
    (graph,) = timeline.graphs()
    assert [span.node for span in timeline.critical_path(graph)] == ["item-2", "answers"]


def test_trace_show_prints_the_timeline_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["trace", "show", str(SPANS)]) == 0
    assert capsys.readouterr().out == (DATA / "trace_show.txt").read_text(encoding="utf-8")
    assert cli.main(["trace", "show", str(SPANS), "--json"]) == 0
    (data,) = json.loads(capsys.readouterr().out)
    assert data["critical_paths"] == {"3f2a9c1b7d4e": ["item-2", "answers"]} and data["wall_s"] == 2.0


def test_trace_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "timeline.png"
    assert cli.main(["trace", "plot", str(SPANS), str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert capsys.readouterr().out == f"wrote {out} (trace 5b8aa5a2d2c872e8, 9 spans)\n"


@pytest.mark.parametrize(
    ("lines", "argv", "message"),
    [
        (['{"name": "x"', ""], [], r"trace.jsonl:1: "),
        ([json.dumps({"name": "x", "context": {}, "start_time": "soon", "end_time": "later"})], [],
         r"trace.jsonl: span 1: not a span written by --trace"),
        ([], [], r"trace.jsonl: no spans"),
        ([SPANS.read_text().splitlines()[0]], ["--trace-id", "abc"], r"trace.jsonl: no trace id starts with abc"),
    ],
)
def test_a_bad_span_file_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], argv: list[str], message: str
) -> None:
    bad = tmp_path / "trace.jsonl"
    bad.write_text("\n".join(lines))
    assert cli.main(["trace", "show", str(bad), *argv]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


async def test_a_real_run_reads_back_with_its_engine_spans(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    telemetry = Telemetry.from_env(trace_file=path)
    assert telemetry is not None
    g = Graph()
    with g.scope("s") as s:
        s.generate("a", name="a")
        s.generate("b b", name="b")
    g.generate("sum {s}", name="sum")
    replica = Replica("r-1", ScriptedSpec(token_delay_s=0.005))
    with run_span(telemetry, {"forkjoin.strategy": "parallel"}):
        await Runtime(replica, telemetry=telemetry).arun(g)
    telemetry.shutdown()
    (timeline,) = read_trace(path)
    (graph,) = timeline.graphs()
    assert [span.node for span in timeline.critical_path(graph)][-2:] == ["s", "sum"]
    names = [(depth, span.name) for depth, span in timeline.rows()]
    assert names[:2] == [(0, "forkjoin.run"), (1, "forkjoin.graph")]
    assert sum(name == "engine.generate" and depth == 3 for depth, name in names) == 3
    assert "critical path: " in show(timeline)
