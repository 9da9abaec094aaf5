"""Every command that runs a model reads and checks its whole input before Ray or an engine starts.

Ray's own ``ray.init``, the vLLM engine's start and model conversion are
replaced by a function that fails the test, whichever wrapper a command goes
through; each command then gets a file that is bad only on its LAST row (so a
command that reads lazily would have started first), and must exit non-zero
with one line on stderr naming the file. ``batch`` is the exception by design:
a bad row is written out with its status and never stops the job, so it is
given a file no job can run (no prompt column in any row).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import cli

GOOD = {"id": "a", "prompt": "List three colors.", "response": "1. red\n2. green\n3. blue", "category": "list"}


class Started(AssertionError):
    """Ray, an engine or a model conversion was reached."""


@pytest.fixture(autouse=True)
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    import actors.models
    from actors.vllm_engine import VllmEngine

    def started(*args, **kwargs):
        raise Started("Ray or an engine started although the input was bad")

    monkeypatch.setattr(ray, "init", started)
    monkeypatch.setattr(VllmEngine, "start", started)
    monkeypatch.setattr(actors.models, "prepare_model", started)


def rows_file(tmp_path: Path, last: str) -> Path:
    """Fifty good rows, then ``last`` as the final line."""
    path = tmp_path / "rows.jsonl"
    good = [json.dumps(dict(GOOD, id=str(i))) for i in range(50)]
    path.write_text("\n".join([*good, last]) + "\n", encoding="utf-8")
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = cli.main(argv)
    return code, capsys.readouterr().err.splitlines()


NO_PROMPT = json.dumps({"id": "last", "response": "r", "category": "list"})
COMMANDS = {
    "pasta annotate": lambda f, out: ["pasta", "annotate", str(f)],
    "bench pasta": lambda f, out: ["bench", "pasta", "--dataset", str(f)],
    "eval run": lambda f, out: ["eval", "run", "--dataset", str(f), "--out", str(out)],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(("last", "says"), [(NO_PROMPT, "prompt"), ("{broken", "rows.jsonl:51")], ids=["no-prompt", "json"])
def test_a_bad_last_row_stops_the_command_in_one_line(command, last, says, tmp_path, capsys) -> None:
    argv = COMMANDS[command](rows_file(tmp_path, last), tmp_path / "out")
    code, err = run(argv, capsys)
    assert code != 0
    assert len(err) == 1 and err[0].startswith("forkjoin: error: ")
    assert says in err[0]


def test_run_with_a_bad_graph_file_stops_in_one_line(tmp_path, capsys) -> None:
    graph = tmp_path / "g.json"
    graph.write_text('{"nodes": [', encoding="utf-8")
    code, err = run(["run", "--graph", str(graph)], capsys)
    assert code == 1 and len(err) == 1 and err[0].startswith("forkjoin: error: ")


def test_run_with_an_unknown_model_stops_in_one_line(capsys) -> None:
    code, err = run(["run", "--model", "no-such-model", "--strategy", "serial", "Name three colors."], capsys)
    assert code == 1 and len(err) == 1
    assert err[0].startswith("forkjoin: error: ") and "no-such-model" in err[0]


def test_batch_of_a_file_without_prompts_stops_in_one_line(tmp_path, capsys) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": str(i), "text": "hi"}) + "\n" for i in range(50)), encoding="utf-8")
    code, err = run(["batch", str(rows), str(tmp_path / "out")], capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith("forkjoin: error: ") and "no column 'prompt'" in err[0]
    assert not (tmp_path / "out").exists()
