"""A simulated 3-node cluster: replicas spread one per node, work uses all of them.

Each node advertises 1 fake GPU and 2 CPUs; the replicas are scripted (three
vLLM replicas do not fit on this machine) but placed exactly as GPU replicas:
one placement group per replica, one GPU bundle each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

ray = pytest.importorskip("ray")

from actors import GenerateRequest, PoolConfig, ReplicaPool, ScriptedSpec, fitting_replicas  # noqa: E402
from cluster import NAMESPACE, PlacementError, SimulatedClusterConfig, node_resource, simulated_cluster  # noqa: E402
from graphs import Graph  # noqa: E402
from orchestrator import Runtime  # noqa: E402

pytestmark = pytest.mark.multinode

NODES = 3


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    with simulated_cluster(SimulatedClusterConfig(nodes=NODES, cpus_per_node=2, gpus_per_node=1)) as info:
        assert info.nodes == NODES and info.gpus == NODES
        yield


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    yield
    alive = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE]
    assert alive == [], f"replica actors leaked: {alive}"


def gpu_pool(replicas: int = NODES) -> PoolConfig:
    spec = ScriptedSpec(gpus=1, cpus=0.5, token_delay_s=0.02)
    return PoolConfig(spec=spec, replicas=replicas, start_timeout_s=60, placement_timeout_s=5)


def node_names() -> dict[str, str]:
    """Ray node id -> the sim-node resource naming it."""
    names = {}
    for node in ray.nodes():
        labels = [r for r in node["Resources"] if r.startswith("sim-node-")]
        names[node["NodeID"]] = labels[0]
    return names


def test_one_gpu_replica_fits_per_node() -> None:
    assert fitting_replicas(gpu_pool().spec) == NODES


async def test_replicas_spread_one_per_node() -> None:
    async with await ReplicaPool.start(gpu_pool()) as pool:
        nodes = [node_names()[r.node_id] for r in pool.replicas]
    assert sorted(nodes) == [node_resource(i) for i in range(NODES)]


async def collect(pool: ReplicaPool, request: GenerateRequest) -> list:
    return [chunk async for chunk in pool.generate(request)]


async def test_six_independent_requests_use_all_three_replicas() -> None:
    async with await ReplicaPool.start(gpu_pool()) as pool:
        requests = [GenerateRequest(request_id=f"n{i}", prompt=f"independent task {i}") for i in range(6)]
        runs = await asyncio.gather(*(collect(pool, r) for r in requests))
        names = {r.name for r in pool.replicas}
    used = {run[0].replica for run in runs}
    assert used == names and len(used) == NODES
    assert all(run[-1].finish_reason == "stop" for run in runs)


async def test_a_graph_of_six_independent_nodes_runs_on_all_three_replicas() -> None:
    graph = Graph()
    for i in range(6):
        graph.generate(f"Independent question number {i}?", name=f"q{i}", max_tokens=16)
    async with await ReplicaPool.start(gpu_pool()) as pool:
        result = await Runtime(pool).arun(graph)
        names = {r.name for r in pool.replicas}
    assert result.ok
    assert {node.replica for node in result.nodes} == names


async def test_a_fourth_gpu_replica_does_not_fit() -> None:
    # The three that fit get the usual bound (the previous test's groups may
    # still be going); only the fourth, which cannot fit, gets a short one.
    async with await ReplicaPool.start(gpu_pool()) as pool:
        pool.config = pool.config.model_copy(update={"placement_timeout_s": 1.5})
        with pytest.raises(PlacementError, match="GPU=1"):
            await pool.grow(1)
        assert len(pool.replicas) == NODES
    groups = ray.util.placement_group_table().values()
    assert all(g["state"] == "REMOVED" for g in groups), "placement groups leaked"
