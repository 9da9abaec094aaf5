"""forkjoin serve and bench serve refuse bad input in one line, before any engine or Ray starts."""

from __future__ import annotations

import socket

import pytest

from orchestrator.cli import main
from orchestrator.cli.serve import ServeError, check_free


def test_a_port_in_use_is_refused_before_anything_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=f"^cannot listen on 127.0.0.1:{port}: Address already in use$"):
            check_free("127.0.0.1", port)


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["serve", "--port", "70000"], 2, "serve: argument --port: must be an integer from 1 to 65535, got '70000'"),
    (["serve", "--api-key", " "], 1, "--api-key (or $FORKJOIN_API_KEY) is empty"),
    (["serve", "--max-pending", "0"], 2, "serve: argument --max-pending: must be an integer from 1 to 100000, got '0'"),
    (["bench", "serve", "--lists", "/nonexistent.jsonl"], 2,
     "bench serve: argument --lists: no such file: /nonexistent.jsonl"),
    (["bench", "serve", "--clients", "0"], 2, "bench serve: argument --clients: must be an integer from 1 to 256, got '0'"),
])
def test_bad_flags_are_one_line_and_non_zero(argv: list[str], code: int, message: str, capsys) -> None:
    assert main(argv) == code
    assert capsys.readouterr().err == f"forkjoin: error: {message}\n"
