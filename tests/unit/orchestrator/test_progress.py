"""The progress facility: stderr only, silent when quiet, plain lines when stderr is not a terminal."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from actors.scripted import ScriptedEngine
from orchestrator import cli
from orchestrator.cli import pasta as pasta_cli
from orchestrator.progress import Progress, current_progress, using


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_quiet_prints_nothing(capsys) -> None:
    progress = Progress(quiet=True)
    with progress.status("starting") as status:
        status.update("loading")
    with progress.task("rows", total=3) as task:
        task.advance(3, failures=0)
    progress.note("hello")
    assert capsys.readouterr() == ("", "")


def test_plain_status_is_one_line_per_step(capsys) -> None:
    clock = Clock()
    progress = Progress(live=False, clock=clock)
    with progress.status("starting the engine") as status:
        clock.now += 2.0
        status.update("loading weights")
        clock.now += 1.5
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "starting the engine ...\nloading weights ...\nloading weights: done in 3.5 s\n"


def test_plain_task_writes_at_most_a_line_per_interval_and_a_final_line(capsys) -> None:
    clock = Clock()
    progress = Progress(live=False, clock=clock, interval_s=5.0)
    with progress.task("compiling prompts", total=10, unit="rows") as task:
        for _ in range(4):
            clock.now += 1.0
            task.advance(1, failures=0)
        clock.now += 1.0
        task.advance(1, failures=1, tokens_per_s=12.34)
        task.advance(5)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "compiling prompts: 5/10 rows, 1 rows/s, ETA 5 s, failures=1, tokens_per_s=12.3",
        "compiling prompts: 10 rows in 5.0 s, failures=1, tokens_per_s=12.3",
    ]


def test_a_task_in_bytes_shows_mebibytes(capsys) -> None:
    clock = Clock()
    progress = Progress(live=False, clock=clock, interval_s=0.0)
    with progress.task("checking sha256", total=4 << 20, unit="bytes") as task:
        clock.now += 1.0
        task.advance(1 << 20)
    assert capsys.readouterr().err.splitlines()[0] == "checking sha256: 1.0/4.0 MiB, 1.0 MiB/s, ETA 3 s"


def test_a_failed_block_leaves_no_final_line(capsys) -> None:
    progress = Progress(live=False)
    with pytest.raises(RuntimeError, match="boom"), progress.task("rows", total=2) as task:
        task.advance(1)
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"), progress.status("starting"):
        raise RuntimeError("boom")
    assert capsys.readouterr() == ("", "starting ...\n")


def test_live_display_writes_to_stderr_only(capsys) -> None:
    progress = Progress(live=True)
    with progress.status("starting the engine"), progress.task("annotating", total=2, unit="rows") as task:
        task.advance(2, accepted=1)
    progress.note("all done")
    out, err = capsys.readouterr()
    assert out == ""
    assert "annotating: 2 rows in" in err and "accepted=1" in err and "all done" in err


def test_using_installs_and_restores_the_current_instance() -> None:
    outer = current_progress()
    quiet = Progress(quiet=True)
    with using(quiet):
        assert current_progress() is quiet
    assert current_progress() is outer


def test_quiet_flag_is_accepted_before_and_after_the_command(tmp_path: Path, capsys) -> None:
    data = tmp_path / "r.jsonl"
    data.write_text(json.dumps({"id": "a", "prompt": "hi", "response": "Hello."}) + "\n")
    for argv in (["--quiet", "pasta", "annotate", str(data)], ["pasta", "annotate", str(data), "-q"]):
        assert cli.main([*argv, "--predictor", "none"]) == 0
        assert capsys.readouterr().err == "1 responses, 0 with lists annotated, 0 accepted\n"
    assert cli.main(["pasta", "annotate", str(data), "--predictor", "none"]) == 0
    assert capsys.readouterr().err.startswith("annotating responses: 1 rows in ")


def test_progress_never_reaches_stdout_with_json(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = ScriptedEngine(lambda request: "An answer.", token_delay_s=0.0)

    @asynccontextmanager
    async def fake_open(options):
        yield engine

    monkeypatch.setattr(pasta_cli, "open_engine", fake_open)
    dataset = tmp_path / "d.jsonl"
    dataset.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"q{i}"}) + "\n" for i in range(2)))
    assert cli.main(["bench", "pasta", "--dataset", str(dataset), "--json", "--mode", "lists"]) == 0
    out, err = capsys.readouterr()
    assert [list(json.loads(line))[0] for line in out.splitlines()] == ["id", "id", "summary"]
    assert "starting the engine" in err and "benchmarking prompts: 2 prompts in " in err


def test_a_slow_task_shows_its_rate_per_minute(capsys) -> None:
    clock = Clock()
    progress = Progress(live=False, clock=clock, interval_s=0.0)
    with progress.task("measuring", total=12, unit="prompts") as task:
        clock.now += 50.0
        task.advance(2)
    assert capsys.readouterr().err.splitlines()[0] == "measuring: 2/12 prompts, 2.4 prompts/min, ETA 250 s"
