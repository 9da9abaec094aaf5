"""Chaos cell: a replica actor killed while it streams (``bench chaos --fault replica-kill``).

A pool of scripted replicas (real Ray actors and streams; answers that
continue an assistant prefix, as a model does) runs the batch; once
``kill_when_streaming`` requests stream on one replica it is killed
(``ray.kill``, Ray restarts it). Retried: victims that got chunks after the
kill from another replica (a pool of one: from the restarted one).
Duplicated: node texts that are not exactly the scripted answer. Time to
recover: the kill to the first chunk a victim got back.
"""

from __future__ import annotations

import asyncio
import time

from orchestrator.reliability.chaos import ChaosConfig, ChaosReport, Fault, Watched, collect, generate_texts
from orchestrator.reliability.chaos import leaked_requests, wait_streaming
from orchestrator.reliability.workload import graph_stream, scripted_answer

MEMBERS = 4
"""Generate items in each graph's scope (a summary reads them)."""


async def kill_replica_mid_stream(config: ChaosConfig) -> ChaosReport:
    """Run the batch on a scripted pool and kill one replica while it streams (see the module docstring)."""
    import ray

    from actors import PoolConfig, ReplicaPool, ScriptedSpec
    from orchestrator.config import RuntimeConfig
    from orchestrator.runtime import Runtime

    answer = scripted_answer(config.words)
    spec = ScriptedSpec(answers={"": answer}, token_delay_s=config.token_delay_s, continues=True)
    async with await ReplicaPool.start(PoolConfig(spec=spec, replicas=config.replicas, name="chaos")) as pool:
        watched, victim = Watched(pool), pool.replicas[0].name
        limits = RuntimeConfig(max_concurrency=4 * config.replicas, max_graphs_in_flight=config.graphs)
        runtime = Runtime(watched, limits)
        graphs = graph_stream(config.graphs, members=MEMBERS, label="Chaos graph", max_tokens=4096)
        began = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            batch = group.create_task(collect(runtime, graphs))
            await wait_streaming(watched, victim, config.kill_when_streaming)
            open_ids = await pool.handle(victim).open_requests.remote()
            ray.kill(pool.handle(victim), no_restart=False)
            watched.faulted(victim, open_ids)
        wall_s = time.perf_counter() - began
        leaked = await leaked_requests(pool)
    results = batch.result()
    retried, recover_s = watched.recovery(victim, alone=config.replicas == 1)
    return ChaosReport(
        fault=Fault.REPLICA_KILL.value,
        in_flight=len(watched.victims),
        requests=len(watched.seen),
        completed=sum(r.ok for r in results),
        retried=retried,
        lost=config.graphs - sum(r.ok for r in results),
        duplicated=sum(text != answer for text in generate_texts(results)),
        recover_s=recover_s,
        wall_s=wall_s,
        leaked=leaked,
    )
