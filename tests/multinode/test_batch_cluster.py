"""A batch job on the simulated 3-node cluster: rows are served on every node, and losing a replica loses no row.

Scripted replicas, one per node, placed as GPU replicas are (one fake GPU
each; see test_simulated_cluster.py). Each output row names the replicas that
served its generate nodes, so the test reads from the output which nodes
did the work. A replica killed while it streams costs its requests a retry on
another replica: every id still comes back exactly once, with status ok. A
node whose request fails is that row's ``failed`` status, not the job's end.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pq = pytest.importorskip("pyarrow.parquet")

from actors import PoolConfig, ReplicaPool, ScriptedSpec  # noqa: E402
from cluster import NAMESPACE, SimulatedClusterConfig, node_resource, simulated_cluster  # noqa: E402
from orchestrator.batch import BatchConfig, BatchSummary, PipelineConfig, batch  # noqa: E402

pytestmark = pytest.mark.multinode

NODES = 3
ROWS = 24
LIST = "Give one word for each of these colors:\n1. red\n2. green\n3. blue"


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    with simulated_cluster(SimulatedClusterConfig(nodes=NODES, cpus_per_node=2, gpus_per_node=1)) as info:
        assert info.nodes == NODES
        yield


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    yield
    alive = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE]
    assert alive == [], f"replica actors leaked: {alive}"


FAILING = "Say the word that breaks the engine."


@pytest.fixture
def pool() -> Iterator[ReplicaPool]:
    spec = ScriptedSpec(gpus=1, cpus=0.5, token_delay_s=0.05, fail_on=(FAILING,))
    config = PoolConfig(spec=spec, replicas=NODES, start_timeout_s=60, placement_timeout_s=10, max_restarts=0)
    with asyncio.Runner() as runner:
        started = runner.run(ReplicaPool.start(config))
        try:
            yield started
        finally:
            runner.run(started.aclose())


def corpus(path: Path) -> Path:
    """ROWS rows, every third a list prompt (a parallel graph), the rest plain (one node)."""
    rows = [{"id": f"r{k}", "prompt": LIST if k % 3 == 0 else f"Say the number {k} in words."} for k in range(ROWS)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def config() -> BatchConfig:
    return BatchConfig(pipeline=PipelineConfig(actors=NODES, batch_rows=2, block_rows=2, part_rows=4))


def node_of(pool: ReplicaPool) -> dict[str, str]:
    """Replica name -> the sim-node resource of the node it runs on."""
    labels = {n["NodeID"]: next(r for r in n["Resources"] if r.startswith("sim-node-")) for n in ray.nodes()}
    return {r.name: labels[r.node_id] for r in pool.replicas}


def assert_every_row_once_and_ok(output: Path, summary: BatchSummary) -> list[dict]:
    rows = pq.read_table(output).to_pylist()
    assert sorted(row["id"] for row in rows) == sorted(f"r{k}" for k in range(ROWS))  # every id, none twice
    assert [row["error"] for row in rows if row["status"] != "ok"] == []
    assert (summary.rows, summary.ok, summary.exit_code) == (ROWS, ROWS, 0)
    return rows


def test_a_batch_is_served_by_replicas_on_every_node(pool, tmp_path):
    where = node_of(pool)
    assert sorted(where.values()) == [node_resource(i) for i in range(NODES)]
    summary = batch(corpus(tmp_path / "in.jsonl"), tmp_path / "out", config=config(), pool=pool)
    rows = assert_every_row_once_and_ok(tmp_path / "out", summary)
    served = {where[name] for row in rows for name in row["replicas"]}
    assert served == {node_resource(i) for i in range(NODES)}
    parallel = [row for row in rows if row["strategy"] == "parallel"]
    assert len(parallel) == ROWS // 3 and all(row["nodes"] >= 4 for row in parallel)


def test_a_replica_killed_mid_batch_costs_retries_not_rows(pool, tmp_path):
    victim = pool.replicas[-1].name
    done: dict[str, BatchSummary] = {}
    job = threading.Thread(target=lambda: done.update(summary=batch(
        corpus(tmp_path / "in.jsonl"), tmp_path / "out", config=config(), pool=pool)))
    job.start()
    try:
        cut = kill_while_streaming(pool, victim, timeout_s=60)
    finally:
        job.join(timeout=120)
    assert not job.is_alive(), "the batch did not finish after the replica was killed"
    assert cut, "the victim was killed with no request open"
    rows = assert_every_row_once_and_ok(tmp_path / "out", done["summary"])
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == done["summary"].parts
    assert {name for row in rows for name in row["replicas"]} - {victim}, "no other replica took over"


def kill_while_streaming(pool: ReplicaPool, victim: str, timeout_s: float) -> list[str]:
    """Kill replica ``victim`` (no restart) once it has requests open; the ids it had open."""
    handle = pool.handle(victim)
    deadline = time.monotonic() + timeout_s
    while not (open_now := ray.get(handle.open_requests.remote())):
        assert time.monotonic() < deadline, f"{victim} took no request within {timeout_s:g} s"
        time.sleep(0.05)  # the replica has no event to wait on from outside
    ray.kill(handle, no_restart=True)
    return open_now


def test_a_failing_node_is_a_failed_row_and_the_job_goes_on(pool, tmp_path):
    source = corpus(tmp_path / "in.jsonl")
    rows = source.read_text().splitlines()
    rows[5] = json.dumps({"id": "r5", "prompt": FAILING})
    source.write_text("\n".join(rows) + "\n")
    summary = batch(source, tmp_path / "out", config=config(), pool=pool)
    out = {row["id"]: row for row in pq.read_table(tmp_path / "out").to_pylist()}
    assert sorted(out) == sorted(f"r{k}" for k in range(ROWS))
    assert (summary.rows, summary.ok, summary.failed, summary.rejected, summary.exit_code) == (ROWS, ROWS - 1, 1, 0, 1)
    failed = out["r5"]
    assert (failed["status"], failed["strategy"], failed["answer"]) == ("failed", "serial", None)
    assert failed["error"].startswith("node answer failed: ") and "scripted failure" in failed["error"]
    assert "\n" not in failed["error"]
