"""orchestrator.baseline.PlainVllm: the pipe protocol, failures as one line, nothing left behind (a fake child)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from actors.config import EngineConfig
from orchestrator.baseline import PlainVllm
from orchestrator.bench import BenchConfig, BenchError

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")

FAKE_CHILD = r'''
import json, subprocess, sys, time
mode, marker, config, log = sys.argv[1:5]
helper = subprocess.Popen(["sleep", "60"])  # as vLLM's EngineCore: a process of the child's own
open(marker, "w").write(f"{helper.pid}\n")
if mode == "dies":
    open(log, "w").write("loading the model\nRuntimeError: no memory left for the KV cache\n")
    sys.exit(3)
if mode == "hangs":
    time.sleep(60)
if mode == "garbage":
    print("ModuleNotFoundError: No module named 'vllm'", flush=True)
    sys.exit(1)
assert json.loads(config)["max_tokens"] == 8
print(json.dumps({"ready": True, "engine_start_s": 1.5, "dtype": "bfloat16", "weight_bytes": 100}), flush=True)
for line in sys.stdin:
    op = json.loads(line)["op"]
    if op == "streams":
        reply = {"runs": [[7, 0.01, 0.1 + i] for i in json.loads(line)["indices"]]}
    elif op == "bandwidth":
        reply = {"gb_s": 12.5}
    else:
        reply = {"error": "ValueError: the serial prompt is too long"}
    print(json.dumps(reply), flush=True)
open(marker, "a").write("stdin closed\n")
'''


def _command(tmp_path: Path, mode: str) -> tuple[list[str], Path]:
    script, marker = tmp_path / "fake_child.py", tmp_path / "marker"
    script.write_text(FAKE_CHILD)
    return [sys.executable, str(script), mode, str(marker)], marker


def _started(command: list[str], **kwargs) -> PlainVllm:
    return PlainVllm.started(EngineConfig(model="m"), BenchConfig(max_tokens=8), command=command, **kwargs)


def _gone(pid: int, timeout_s: float = 5.0) -> bool:
    """Whether ``pid`` ended (gone, or a zombie) within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_commands_get_their_replies_and_the_child_ends_with_its_stdin(tmp_path: Path) -> None:
    command, marker = _command(tmp_path, "ok")

    async def session() -> tuple:
        async with _started(command) as plain:
            return plain.ready, await plain.run([0, 2]), await plain.bandwidth(), plain.cpu_window()

    ready, runs, bandwidth, window = asyncio.run(session())
    assert ready["engine_start_s"] == 1.5 and ready["weight_bytes"] == 100
    assert runs == [(7, 0.01, 0.1), (7, 0.01, 2.1)] and bandwidth == 12.5
    helper, closed = marker.read_text().splitlines()
    assert closed == "stdin closed"  # it saw the end of its stdin and ended by itself
    assert _gone(int(helper))  # and what it started went with its process group


def test_an_error_reply_is_one_line(tmp_path: Path) -> None:
    command, _ = _command(tmp_path, "ok")

    async def session() -> None:
        async with _started(command) as plain:
            await plain.serial()

    with pytest.raises(BenchError, match=r"^plain vLLM baseline failed: ValueError: the serial prompt is too long$"):
        asyncio.run(session())


def test_a_child_that_dies_at_start_is_its_exit_and_last_error_line(tmp_path: Path) -> None:
    command, marker = _command(tmp_path, "dies")

    async def session() -> None:
        async with _started(command):
            pass

    with pytest.raises(BenchError, match=r"^plain vLLM baseline failed \(exit 3\): RuntimeError: no memory left"):
        asyncio.run(session())
    assert _gone(int(marker.read_text()))


def test_a_child_that_never_answers_is_stopped_after_its_bound(tmp_path: Path) -> None:
    command, marker = _command(tmp_path, "hangs")

    async def session() -> None:
        async with _started(command, start_timeout_s=1.0):
            pass

    began = time.monotonic()
    with pytest.raises(BenchError, match=r"^plain vLLM baseline did not start within 1 s$"):
        asyncio.run(session())
    assert time.monotonic() - began < 10  # the bound; after a failure the child is killed, not waited for
    assert _gone(int(marker.read_text()))


def test_a_line_that_is_not_the_protocol_is_the_failure_shown(tmp_path: Path) -> None:
    command, _ = _command(tmp_path, "garbage")

    async def session() -> None:
        async with _started(command):
            pass

    with pytest.raises(BenchError, match=r"^plain vLLM baseline failed: ModuleNotFoundError: No module named 'vllm'$"):
        asyncio.run(session())
