"""A ``forkjoin run`` driver on a stand-in engine, for test_signals.py (run as a script, never imported by pytest).

It runs the console script's own entry point (``orchestrator.cli.entry``: its
signal handling, the run command, the engine context managers) with
``open_engine`` replaced by an embedded Ray holding one scripted replica whose
engine spawns child processes the way vLLM does (``ScriptedSpec.subprocesses``).
The answer is WORDS words, one every DELAY seconds, printed live on stdout.
``--raise`` makes the answer's printer raise once word 200 is out (10 s in):
an unexpected exception mid-generation.

Usage: signal_driver.py WORDS DELAY [--raise]
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import orchestrator.cli.run as run_cli  # noqa: E402
from actors import PoolConfig, ReplicaPool  # noqa: E402
from actors.replica import ScriptedSpec  # noqa: E402
from cluster import connect  # noqa: E402
from orchestrator import cli  # noqa: E402

PROMPT = "Name three colors."


def stand_in_engine(words: int, delay_s: float):
    """An ``open_engine`` replacement: embedded Ray, one scripted replica with vLLM-like subprocesses."""

    @asynccontextmanager
    async def open_engine(options: object) -> AsyncIterator[ReplicaPool]:
        answer = " ".join(f"w{i}" for i in range(words))
        spec = ScriptedSpec(answers={"": answer}, token_delay_s=delay_s, subprocesses=True)
        with connect():
            pool = await ReplicaPool.start(PoolConfig(spec=spec, replicas=1, name="run"))
            async with pool:
                yield pool

    return open_engine


async def raising_streamer(answer) -> None:
    """Print the answer until word 200, then fail the way a bug would."""
    printed = ""
    async for text in answer:
        sys.stdout.write(text)
        sys.stdout.flush()
        printed += text
        if "w200 " in printed:
            raise RuntimeError("injected failure mid-generation")


def main() -> None:
    words, delay_s = int(sys.argv[1]), float(sys.argv[2])
    run_cli.open_engine = stand_in_engine(words, delay_s)
    if "--raise" in sys.argv[3:]:
        run_cli._streamer = raising_streamer
    sys.argv = ["forkjoin", "-q", "run", "--strategy", "serial", PROMPT]
    cli.entry()


if __name__ == "__main__":
    main()
