"""The scripted engine's stand-in for vLLM's process tree: a core child, its worker grandchild, both ended by aclose."""

from __future__ import annotations

import asyncio

import psutil

from actors.scripted import ScriptedEngine

APPEAR_S = 30.0


async def _worker_of(core: psutil.Process) -> psutil.Process:
    """The core's worker once it has spawned it (bounded)."""
    async with asyncio.timeout(APPEAR_S):
        while not (children := core.children()):
            await asyncio.sleep(0.05)
    return children[0]


async def test_the_stand_in_spawns_a_core_and_a_worker_and_aclose_ends_both() -> None:
    engine = ScriptedEngine(subprocesses=True)
    assert engine.core is not None
    core = psutil.Process(engine.core.pid)
    worker = await _worker_of(core)
    assert core.ppid() == psutil.Process().pid and worker.ppid() == core.pid
    await engine.aclose()
    gone, alive = await asyncio.to_thread(psutil.wait_procs, [core, worker], 10)
    assert alive == [] and len(gone) == 2


async def test_a_plain_scripted_engine_spawns_nothing() -> None:
    before = set(psutil.Process().children())
    engine = ScriptedEngine()
    assert engine.core is None and set(psutil.Process().children()) <= before
    await engine.aclose()
