"""Chaos cell: a node of the simulated cluster lost mid-batch (``bench chaos --fault node-loss``).

Runs inside :func:`cluster.simulated_cluster` (three nodes, one fake GPU
each): one scripted replica per node (``max_restarts=0``: a node's replica
is gone with it), and a batch job (:func:`orchestrator.batch.batch`, Ray
Data actors over the pool) over ``graphs`` rows, every third a list prompt
that runs as a parallel graph. Once the replica of a worker node (never the
head, which holds the driver) has requests open, that node's raylet gets
SIGKILL: the node is lost as a crashed machine is, its workers end with it,
and the GCS declares it dead when its health checks fail.

Reported per row, from the committed output: in flight (requests open on
the lost node's replica), completed (rows ok), retried (rows served by the
lost replica and another one: their requests failed over; a block whose Ray
Data actor was on the lost node is re-run whole instead, and its rows name
only live replicas, so they are not counted), lost (input rows missing or
not ok: must be 0), duplicated (rows written more than once: must be 0),
time to recover (the kill to the commit of the first part holding a retried
row; None without one).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

from orchestrator.reliability.chaos import ChaosConfig, ChaosReport, Fault

LIST_PROMPT = "Give one word for each of these colors:\n1. red\n2. green\n3. blue"
RAYLET = "raylet"
NODES = 3
BATCH_BOUND_S = 300.0
"""Longest the batch may take after the node is lost (the GCS's death detection included)."""


def corpus(path: Path, rows: int) -> Path:
    """``rows`` rows ``r0``..., every third a list prompt (a parallel graph), the rest plain (one node)."""
    lines = [{"id": f"r{k}", "prompt": LIST_PROMPT if k % 3 == 0 else f"Say the number {k} in words."}
             for k in range(rows)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def raylet_of(actor_pid: int) -> int:
    """The raylet that started worker ``actor_pid`` (its parent): the process that is the node."""
    fields = Path(f"/proc/{actor_pid}/stat").read_text().rsplit(")", 1)[1].split()
    parent = int(fields[1])
    command = Path(f"/proc/{parent}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    if RAYLET not in command:
        raise RuntimeError(f"the parent {parent} of worker {actor_pid} is not a raylet: {command[:80]}")
    return parent


def lose_node_mid_batch(config: ChaosConfig, work_dir: Path) -> ChaosReport:
    """Start the replicas, run the batch, kill a worker node's raylet mid-batch (see the module docstring)."""
    import ray

    from actors import PoolConfig, ReplicaPool, ScriptedSpec

    spec = ScriptedSpec(gpus=1, cpus=0.5, token_delay_s=max(config.token_delay_s, 0.05))
    pool_config = PoolConfig(spec=spec, replicas=NODES, name="node-loss", start_timeout_s=60,
                             placement_timeout_s=10, max_restarts=0)
    with asyncio.Runner() as runner:
        pool = runner.run(ReplicaPool.start(pool_config))
        try:
            head = ray.get_runtime_context().get_node_id()
            victim = next(r for r in pool.replicas if r.node_id != head)
            return _batch_with_loss(pool, victim, corpus(work_dir / "in.jsonl", config.graphs), work_dir / "out")
        finally:
            runner.run(pool.aclose())


def _batch_with_loss(pool, victim, source: Path, output: Path) -> ChaosReport:
    from orchestrator.batch import BatchConfig, PipelineConfig, batch

    config = BatchConfig(pipeline=PipelineConfig(actors=NODES, batch_rows=2, block_rows=2, part_rows=4))
    raylet = raylet_of(victim.pid)
    done: dict = {}
    job = threading.Thread(target=lambda: done.update(summary=batch(source, output, config=config, pool=pool)),
                           name="chaos-batch")
    began = time.perf_counter()
    job.start()
    try:
        open_ids = _open_when_busy(pool, victim.name)
        os.kill(raylet, signal.SIGKILL)
        killed = time.time()
    finally:
        job.join(timeout=BATCH_BOUND_S)
    if job.is_alive():
        raise TimeoutError(f"the batch did not end within {BATCH_BOUND_S:g} s of losing the node")
    if "summary" not in done:
        raise RuntimeError("the batch ended without a summary (its error is in the log above)")
    return _report(source, output, victim.name, len(open_ids), killed, time.perf_counter() - began)


def _open_when_busy(pool, replica: str, timeout_s: float = 60.0) -> list[str]:
    """The request ids open on ``replica`` once it has any (bounded; polled: no event reaches here)."""
    import ray

    handle = pool.handle(replica)
    deadline = time.monotonic() + timeout_s
    while not (open_now := ray.get(handle.open_requests.remote(), timeout=timeout_s)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{replica} took no request within {timeout_s:g} s")
        time.sleep(0.05)
    return open_now


def _report(source: Path, output: Path, victim: str, in_flight: int, killed: float, wall_s: float) -> ChaosReport:
    import pyarrow.parquet as pq

    wanted = [json.loads(line)["id"] for line in source.read_text().splitlines()]
    parts = sorted(output.glob("part-*.parquet"))
    rows = [(row, part) for part in parts for row in pq.read_table(part).to_pylist()]
    counts = Counter(row["id"] for row, _ in rows)
    retried = [(row, part) for row, part in rows if victim in row["replicas"] and set(row["replicas"]) - {victim}]
    first = min((part.stat().st_mtime for _, part in retried), default=None)
    return ChaosReport(
        fault=Fault.NODE_LOSS.value,
        in_flight=in_flight,
        requests=len(wanted),
        completed=sum(row["status"] == "ok" for row, _ in rows),
        retried=len(retried),
        lost=sum(counts[i] == 0 for i in wanted) + sum(row["status"] != "ok" for row, _ in rows),
        duplicated=sum(n - 1 for n in counts.values() if n > 1),
        recover_s=first - killed if first is not None else None,
        wall_s=wall_s,
    )
