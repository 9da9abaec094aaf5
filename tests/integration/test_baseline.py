"""The plain vLLM baseline child on a real engine: it serves the bench's requests and leaves nothing behind.

Its own engine (vLLM alone, no Ray): this is the process ``bench engine
--baseline`` compares forkjoin against, so it runs here for real, once.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from cluster.processes import run_processes
from tests.integration.conftest import TEST_MODEL

pytestmark = pytest.mark.integration


def _session_members(session: int) -> list[int]:
    """Live processes of ``session`` (zombies left out)."""
    return [process.pid for process in run_processes(session=session)]


def test_the_child_serves_streams_serial_and_bandwidth_then_ends_with_its_engine(engine_ready: str) -> None:
    from actors.config import EngineConfig
    from orchestrator.baseline import PlainVllm
    from orchestrator.bench import BenchConfig

    engine = EngineConfig(model=TEST_MODEL, max_model_len=1024, kv_cache_gib=0.5, max_num_seqs=4, enforce_eager=True)
    config = BenchConfig(max_tokens=8)

    async def session() -> tuple:
        async with PlainVllm.started(engine, config, start_timeout_s=600) as plain:
            engine_alive = len(_session_members(plain.pid)) >= 2  # the child and vLLM's EngineCore
            return (plain.pid, plain.ready, engine_alive, await plain.run([0, 1]), await plain.serial(),
                    await plain.bandwidth())

    pid, ready, engine_alive, runs, (serial_s, serial_tokens), bandwidth = asyncio.run(session())
    assert engine_alive and ready["engine_start_s"] > 0 and ready["weight_bytes"] > 0
    assert ready["dtype"] in ("bfloat16", "float32")
    assert len(runs) == 2 and all(1 <= tokens <= 8 and 0 < first <= elapsed for tokens, first, elapsed in runs)
    assert 1 <= serial_tokens <= 8 and serial_s > 0 and bandwidth > 0
    deadline = time.monotonic() + 5.0  # a killed process takes a moment to go
    while _session_members(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_members(pid) == []  # the child and its EngineCore are gone
