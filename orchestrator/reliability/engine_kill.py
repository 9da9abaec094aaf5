"""Chaos cell: the vLLM EngineCore process killed under a replica (``bench chaos --fault engine-kill``).

The pool routes over two replicas: a real vLLM replica, and a scripted
stand-by in its own Ray actor (``num_cpus=0``: a CPU replica holds every CPU
of its node; one engine start is what a 2-core machine affords). Once
``kill_when_streaming`` requests stream on the vLLM replica, its EngineCore
(the child process of the replica actor that runs the model) gets SIGKILL.
vLLM's client sees the process die and fails every open request with
EngineDeadError; the replica drops the dead engine (the next call starts a
new one), and the pool fails each open request over to the stand-by, which
continues it after the text already streamed.

Retried: victims that got chunks from the stand-by after the kill. Duplicated:
finished nodes whose stand-by part is not the scripted answer cut to the
tokens left (a replayed prefix, a lost or doubled token). Time to recover:
the kill to the first chunk a victim got back. ``restart_s``: the kill to
the vLLM replica serving again with a new EngineCore (its first chunk to a
request routed there after the kill, else its ``ready`` after the batch). The
EngineCore is found through the actor's own process tree (``/proc``), so the
vLLM replica must run on this machine.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from pathlib import Path

from actors.pool import PoolConfig
from actors.proc_cpu import children, engine_process
from actors.replica import ReplicaInfo, ScriptedSpec
from orchestrator.reliability.chaos import ChaosConfig, ChaosReport, Fault, Watched, collect, leaked_requests
from orchestrator.reliability.chaos import wait_streaming
from orchestrator.reliability.workload import graph_stream, scripted_answer

MEMBERS = 4
MAX_TOKENS = 48
"""Each generate node's cap: short real answers, so the batch stays within a few minutes on a CPU."""
STANDBY_WORDS = 16
ENGINE_CORE = "EngineCore"
"""What vLLM names its engine process (``VLLM::EngineCore``); matched only among one actor's children."""
_TOKEN = re.compile(r"\s*\S+")


class EngineCoreMissing(RuntimeError):
    """The replica actor has no EngineCore child here (not a vLLM replica, or not on this machine)."""


def engine_core_pid(actor_pid: int, *, wait_s: float = 60.0) -> int:
    """The pid of the EngineCore process the replica actor ``actor_pid`` spawned.

    Waits up to ``wait_s`` for it: an engine that is (re)starting has no
    EngineCore yet. The child is known by its name or, when vLLM's title was
    never set, by multiprocessing's spawn command
    (:func:`actors.proc_cpu.engine_process`). A child's name is read from
    ``comm`` first (never blocks), then ``cmdline`` (can wait while the
    process maps memory). A miss names every child seen.
    """
    deadline = time.monotonic() + wait_s
    seen: dict[int, str] = {}
    while True:
        for child in children(actor_pid):
            seen[child] = _names(child)
            if engine_process(seen[child]):
                return child
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    alive = "" if Path(f"/proc/{actor_pid}").exists() else " (the process is gone)"
    found = "; ".join(f"{pid} {names}" for pid, names in seen.items()) or "none"
    raise EngineCoreMissing(
        f"replica process {actor_pid} has no {ENGINE_CORE} child on this machine after {wait_s:g} s{alive}; "
        f"children seen: {found}"
    )


def _names(pid: int) -> str:
    """``comm`` and then ``cmdline`` of ``pid`` ('' for what cannot be read)."""
    names = []
    for part in ("comm", "cmdline"):
        try:
            raw = Path(f"/proc/{pid}/{part}").read_bytes()
        except OSError:
            raw = b""
        names.append(raw.replace(b"\0", b" ").decode(errors="replace").strip())
    return " | ".join(names)


async def start_standby(spec: ScriptedSpec, name: str):
    """A scripted replica actor outside any placement group (``num_cpus=0``) and its info; kill it when done."""
    import ray

    from actors.replica import Replica
    from cluster import NAMESPACE

    handle = ray.remote(Replica).options(name=name, namespace=NAMESPACE, num_cpus=0, max_restarts=0).remote(
        name, spec
    )
    try:
        async with asyncio.timeout(60):
            return handle, await handle.ready.remote()
    except BaseException:
        ray.kill(handle, no_restart=True)
        raise


async def kill_engine_core_mid_stream(config: ChaosConfig, engine: ReplicaInfo, pool_config: PoolConfig) -> ChaosReport:
    """Run the batch over the vLLM replica ``engine`` and a stand-by; SIGKILL its EngineCore mid-stream.

    ``pool_config``: the vLLM replica's pool configuration (timeouts, attempts); the
    stand-by is stopped before this returns, the vLLM replica is left serving.
    """
    import ray

    from actors import ReplicaPool
    from orchestrator.config import RuntimeConfig
    from orchestrator.runtime import Runtime

    answer = scripted_answer(STANDBY_WORDS)
    spec = ScriptedSpec(answers={"": answer}, token_delay_s=config.token_delay_s)
    handle, standby = await start_standby(spec, f"standby-{uuid.uuid4().hex[:6]}")
    try:
        pool = ReplicaPool.attach(pool_config, [engine, standby])
        engine = await pool.handle(engine.name).ready.remote()  # where it runs now (Ray may have restarted it)
        watched = Watched(pool)
        runtime = Runtime(watched, RuntimeConfig(max_concurrency=8, max_graphs_in_flight=config.graphs))
        graphs = graph_stream(config.graphs, members=MEMBERS, label="Engine graph", max_tokens=MAX_TOKENS)
        began = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            batch = group.create_task(collect(runtime, graphs))
            await wait_streaming(watched, engine.name, config.kill_when_streaming, timeout_s=300)
            core = engine_core_pid(engine.pid, wait_s=0)  # streaming, so its EngineCore is up: never block the loop
            open_ids = await pool.handle(engine.name).open_requests.remote()
            os.kill(core, signal.SIGKILL)
            watched.faulted(engine.name, open_ids)
        wall_s = time.perf_counter() - began
        leaked = await leaked_requests(pool)
        async with asyncio.timeout(pool_config.start_timeout_s):
            await pool.handle(engine.name).ready.remote()  # restarts the engine unless a request already did
        ready_at = time.perf_counter()
        await pool.aclose()  # attached: lets go of both replicas, stops neither
    finally:
        ray.kill(handle, no_restart=True)
    report = _report(watched, batch.result(), engine.name, answer, config.graphs, wall_s, ready_at)
    return report.model_copy(update={"leaked": leaked})


def standby_part_ok(chunks: list, engine: str, answer: str) -> bool:
    """The stand-by's text is the scripted answer cut to the tokens the vLLM part left of MAX_TOKENS."""
    said = sum(a.tokens for a in chunks if a.replica == engine)
    part = "".join(a.text for a in chunks if a.replica != engine)
    if not any(a.replica != engine for a in chunks):
        return True
    words = _TOKEN.findall(answer)
    expected = "".join(words[: max(MAX_TOKENS - said, 0)])
    return part in (expected, expected.lstrip()) and said + len(_TOKEN.findall(part)) <= MAX_TOKENS


def _report(watched: Watched, results: list, engine: str, answer: str, graphs: int, wall_s: float,
            ready_at: float) -> ChaosReport:
    retried, recover_s = watched.recovery(engine, alone=False)
    others = [s for rid, s in watched.seen.items() if rid not in watched.victims]
    again = [a.at for s in others for a in s.chunks if a.replica == engine and a.at > watched.fault_at]
    return ChaosReport(
        fault=Fault.ENGINE_KILL.value,
        in_flight=len(watched.victims),
        requests=len(watched.seen),
        completed=sum(r.ok for r in results),
        retried=retried,
        lost=graphs - sum(r.ok for r in results),
        duplicated=sum(not standby_part_ok(s.chunks, engine, answer) for s in watched.seen.values()),
        recover_s=recover_s,
        wall_s=wall_s,
        restart_s=min(again + [ready_at]) - watched.fault_at,
    )
