"""Property: bad input to any command is one line on stderr and a non-zero exit, before any engine starts.

Argument lists are generated from the CLI's own parsers: every leaf command,
its positionals and options, valid values where a value is needed, and at
least one fault: a numeric value its parse-time check rejects, a missing file,
or a row file with a bad line. Starting Ray, an engine or a model conversion
raises :class:`EngineReached`, which no handler catches, so a command that
gets that far with bad input fails the test loudly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import cli
from orchestrator.cli import args as cli_args

FILE_TYPES = (cli_args.input_file, cli_args.input_file_or_stdin, cli_args.dataset_file)
CANDIDATES = ["0", "1", "2", "3", "-1", "0.5", "1.5", "64", "300", "4096", "5000", "1e9", "nan", "inf", "-inf",
              "x", "", " ", "1,2", "1,x", "0,1", "2,4,8", "256", "2048", "1024.5", "10001"]


class EngineReached(Exception):
    """Raised by every patched entry to Ray, an engine or a model conversion."""


def _reached(*args, **kwargs):
    raise EngineReached("a command started an engine (or Ray, or a conversion) although its input was bad")


@pytest.fixture(autouse=True)
def no_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    import actors.models
    import actors.pool
    import cluster
    import orchestrator.engines

    monkeypatch.setattr(orchestrator.engines, "open_engine", _reached)
    monkeypatch.setattr(cluster, "connect", _reached)
    monkeypatch.setattr(sys.modules["cluster.connect"], "connect", _reached)
    monkeypatch.setattr(actors.pool.ReplicaPool, "start", _reached)
    monkeypatch.setattr(actors.models, "prepare_model", _reached)
    cli.build_parser()  # imports every command module, so the names they imported can be patched too
    for name, module in list(sys.modules.items()):
        if name.startswith("orchestrator.cli.") and module is not None:
            for attribute in ("open_engine", "connect", "prepare_model"):
                if hasattr(module, attribute):
                    monkeypatch.setattr(module, attribute, _reached)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("cli-inputs")
    good = {"id": "a", "prompt": "List three colors.", "response": "1. red\n2. green\n3. blue"}
    contents: dict[str, bytes] = {
        "good.jsonl": (json.dumps(good) + "\n").encode(),
        "broken.jsonl": (json.dumps(good) + "\n{broken\n").encode(),
        "no-prompt.jsonl": (json.dumps(good) + "\n" + json.dumps({"id": "b", "response": "r"}) + "\n").encode(),
        "list.jsonl": b'["not", "an", "object"]\n',
        "not-utf8.jsonl": (json.dumps(good) + "\n").encode() + b'{"prompt": "\xff\xfe"}\n',
        "no-prompt.csv": b"id,response\n1,r\n",
    }
    for name, data in contents.items():
        (root / name).write_bytes(data)
    return {
        "good": [str(root / "good.jsonl")],
        "bad": [str(root / name) for name in contents if name != "good.jsonl"],
        "missing": [str(root / "missing.jsonl"), "/nonexistent/dir/file.jsonl"],
    }


def _accepts(parse, text: str) -> bool:
    try:
        parse(text)
    except argparse.ArgumentTypeError:
        return False
    return True


def _is_numeric(action: argparse.Action) -> bool:
    return getattr(action.type, "__module__", None) == cli_args.__name__ and action.type not in FILE_TYPES


def _commands() -> list[tuple[tuple[str, ...], list[argparse.Action]]]:
    """Leaf commands with at least one argument a fault can go into (a checked number or a file)."""
    found = []
    for words, parser in cli_args.subcommands(cli.build_parser()):
        actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
        if any(_is_numeric(a) or a.type in FILE_TYPES for a in actions):
            found.append((words, actions))
    return found


COMMANDS = _commands()


def _value(data: st.DataObject, action: argparse.Action, files: dict[str, list[str]], fault: str | None) -> list[str]:
    if fault == "number":
        return [data.draw(st.sampled_from([c for c in CANDIDATES if not _accepts(action.type, c)]))]
    if fault == "missing":
        return [data.draw(st.sampled_from(files["missing"]))]
    if fault == "bad":
        return [data.draw(st.sampled_from(files["bad"]))]
    if action.type in FILE_TYPES:
        return list(files["good"])
    if _is_numeric(action):
        return [data.draw(st.sampled_from([c for c in CANDIDATES if _accepts(action.type, c)]))]
    if action.choices:
        return [str(data.draw(st.sampled_from(sorted(action.choices))))]
    return ["some text"]


def _faults(action: argparse.Action) -> list[str]:
    if _is_numeric(action):
        return ["number"]
    if action.type is cli_args.dataset_file:
        return ["missing", "bad"]
    return ["missing"] if action.type in FILE_TYPES else []


def _argv(data: st.DataObject, words: tuple[str, ...], actions: list[argparse.Action], files) -> list[str]:
    faulty = [a for a in actions if _faults(a)]
    target = data.draw(st.sampled_from(faulty), label="fault in")
    fault = data.draw(st.sampled_from(_faults(target)), label="fault")
    argv = list(words)
    for action in actions:
        wanted = action is target or action.required or (not action.option_strings and action.nargs is None)
        if not wanted and not data.draw(st.booleans()):
            continue
        if isinstance(action, argparse._StoreTrueAction):
            argv.append(action.option_strings[-1])
            continue
        values = _value(data, action, files, fault if action is target else None)
        argv += [action.option_strings[-1], *values] if action.option_strings else values
    return argv


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_input_is_one_line_before_any_engine(data: st.DataObject, files, capsys) -> None:
    words, actions = data.draw(st.sampled_from(COMMANDS), label="command")
    argv = _argv(data, words, actions, files)
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code != 0, argv
    assert err.startswith("forkjoin: error: ") and err.endswith("\n") and err.count("\n") == 1, (argv, err)
    assert "Traceback" not in err and out == "", (argv, out)


def test_the_generator_covers_the_engine_commands() -> None:
    names = {" ".join(words) for words, _ in COMMANDS}
    assert {"run", "pasta run", "pasta bench", "pasta annotate", "bench engine", "bench pasta", "compile",
            "eval compile", "graph show"} <= names


def test_every_numeric_flag_is_checked_at_parse_time() -> None:
    unchecked = []
    for words, parser in cli_args.subcommands(cli.build_parser()):
        for action in parser._actions:
            numeric_default = isinstance(action.default, int | float) and not isinstance(action.default, bool)
            if action.type in (int, float) or (numeric_default and action.type is None and action.nargs != 0):
                unchecked.append(f"{' '.join(words)} {'/'.join(action.option_strings) or action.dest}")
    assert unchecked == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("broken.jsonl", r"broken.jsonl:2: not valid JSON"),
        ("no-prompt.jsonl", r"no-prompt.jsonl:2: the row has no 'prompt'"),
        ("not-utf8.jsonl", r"not-utf8.jsonl:2: not valid UTF-8"),
    ],
)
@pytest.mark.parametrize(
    "argv", [["bench", "pasta", "--dataset"], ["pasta", "bench", "--dataset"], ["pasta", "annotate"]]
)
def test_bad_rows_name_file_and_line_before_the_engine(files, capsys, argv: list[str], name: str, message: str) -> None:
    path = next(p for p in files["bad"] if Path(p).name == name)
    assert cli.main([*argv, path]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"forkjoin: error: {Path(path).parent}/") and message.replace("\\", "") in err
