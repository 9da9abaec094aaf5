"""Chaos cell: a replica slowed down mid-batch (``bench chaos --fault slow-replica``).

Two or more scripted replicas run the batch; every generate node has its own
timeout (``node_timeout_s``). Once ``kill_when_streaming`` requests stream on
the victim, its actor process is throttled from outside: stopped and
continued (``SIGSTOP``/``SIGCONT``) so that it runs ``slow_run_share`` of the
time, as a CPU quota or a noisy neighbour would; nothing inside the replica
knows. Its answers now take longer than the timeout, so:

- the runtime's per-node timeouts fire (``timed_out``), each after its
  configured time (``timeout_late_s``: how late at most), and no replica has
  a request left open afterwards (``leaked``: the timed-out streams were aborted);
- the router, which counts requests in flight, sends most new work to the
  healthy replicas (``victim_share``: the victim's share of requests started
  after the fault; 1/replicas before it).

Lost: graphs that failed for any reason but a node's own timeout (must be 0).
Duplicated: finished node texts that are not exactly the scripted answer.
Time to recover: the fault to the moment the last request stuck on the
victim at that moment was released (done, or timed out).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from orchestrator.reliability.chaos import ChaosConfig, ChaosReport, Fault, Watched, collect, generate_texts
from orchestrator.reliability.chaos import leaked_requests, wait_streaming
from orchestrator.reliability.workload import graph_stream, scripted_answer

MEMBERS = 4
WORDS = 12
"""Words of each scripted answer here: short, so a healthy replica answers well within the timeout."""
THROTTLE_PERIOD_S = 0.25
"""One stop/continue cycle of the throttle. A replica that mostly waits (a scripted one sleeps between
words) catches up on every wake-up, so the cycle, not only the share, sets how slow it gets."""
TIMEOUT_MESSAGE = "timed out after"


async def throttle(pid: int, run_share: float, period_s: float = THROTTLE_PERIOD_S) -> None:
    """Keep process ``pid`` running ``run_share`` of the time until cancelled; it is left running."""
    try:
        while True:
            os.kill(pid, signal.SIGSTOP)
            await asyncio.sleep(period_s * (1 - run_share))
            os.kill(pid, signal.SIGCONT)
            await asyncio.sleep(period_s * run_share)
    finally:
        os.kill(pid, signal.SIGCONT)


async def slow_replica_mid_batch(config: ChaosConfig) -> ChaosReport:
    """Run the batch on a scripted pool and throttle one replica while it streams (see the module docstring)."""
    from actors import PoolConfig, ReplicaPool, ScriptedSpec
    from orchestrator.config import RuntimeConfig
    from orchestrator.runtime import Runtime

    answer = scripted_answer(WORDS)
    spec = ScriptedSpec(answers={"": answer}, token_delay_s=config.token_delay_s)
    replicas = max(config.replicas, 2)
    async with await ReplicaPool.start(PoolConfig(spec=spec, replicas=replicas, name="slow")) as pool:
        watched, victim = Watched(pool), pool.replicas[0]
        runtime = Runtime(watched, RuntimeConfig(max_concurrency=4 * replicas, max_graphs_in_flight=config.graphs))
        graphs = graph_stream(config.graphs, members=MEMBERS, label="Slow graph", timeout_s=config.node_timeout_s)
        began = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            batch = group.create_task(collect(runtime, graphs))
            await wait_streaming(watched, victim.name, config.kill_when_streaming)
            open_ids = await pool.handle(victim.name).open_requests.remote()
            slowed = group.create_task(throttle(victim.pid, config.slow_run_share))
            watched.faulted(victim.name, open_ids)
            await asyncio.wait([batch])
            slowed.cancel()
        wall_s = time.perf_counter() - began
        leaked = await leaked_requests(pool)
        served_by_victim = await _served_by(pool, victim.name, list(watched.seen))
    report = _report(watched, batch.result(), served_by_victim, answer, config, wall_s)
    return report.model_copy(update={"leaked": leaked})


async def _served_by(pool, replica: str, request_ids: list[str]) -> set[str]:
    """The requests that ran on ``replica`` (it remembers the recent ones it served)."""
    handle = pool.handle(replica)
    elapsed = await asyncio.gather(*(handle.elapsed.remote(rid) for rid in request_ids))
    return {rid for rid, seconds in zip(request_ids, elapsed, strict=True) if seconds is not None}


def _report(watched: Watched, results: list, on_victim: set[str], answer: str, config: ChaosConfig,
            wall_s: float) -> ChaosReport:
    nodes = [n for r in results for n in r.nodes if n.kind == "generate"]
    expired = [n for n in nodes if n.error is not None and TIMEOUT_MESSAGE in n.error]
    late = [n.end_s - n.start_s - config.node_timeout_s for n in expired if n.start_s is not None and n.end_s]
    failed_otherwise = sum(not r.ok and not any(n.error and TIMEOUT_MESSAGE in n.error for n in r.nodes)
                           for r in results)
    after = [rid for rid, s in watched.seen.items() if s.opened > watched.fault_at]
    released = [watched.seen[rid].closed for rid in watched.victims]
    return ChaosReport(
        fault=Fault.SLOW_REPLICA.value,
        in_flight=len(watched.victims),
        requests=len(watched.seen),
        completed=sum(r.ok for r in results),
        retried=sum(len({a.replica for a in s.chunks}) > 1 for s in watched.seen.values()),
        lost=failed_otherwise + config.graphs - len(results),
        duplicated=sum(text != answer for text in generate_texts(results)),
        recover_s=max(released) - watched.fault_at if released and None not in released else None,
        wall_s=wall_s,
        timed_out=len(expired),
        timeout_late_s=max(late) if late else None,
        victim_share=sum(rid in on_victim for rid in after) / len(after) if after else None,
    )
