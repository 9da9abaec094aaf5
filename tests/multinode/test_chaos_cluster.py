"""A node of the simulated 3-node cluster lost mid-batch: every row comes back exactly once, all ok.

Its own simulated cluster (a module fixture): the raylet of a worker node
that serves the batch gets SIGKILL while that node's replica has requests
open (orchestrator/reliability/node_loss.py). The batch's own replica-kill
test is test_batch_cluster.py; this one loses the whole node.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow.parquet")

from cluster import NAMESPACE, SimulatedClusterConfig, simulated_cluster  # noqa: E402
from orchestrator.reliability import ChaosConfig, lose_node_mid_batch  # noqa: E402
from orchestrator.reliability.node_loss import NODES  # noqa: E402

pytestmark = pytest.mark.multinode

ROWS = 24


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    with simulated_cluster(SimulatedClusterConfig(nodes=NODES, cpus_per_node=2, gpus_per_node=1)) as info:
        assert info.nodes == NODES
        yield


def test_a_node_lost_mid_batch_costs_retries_not_rows(tmp_path) -> None:
    report = lose_node_mid_batch(ChaosConfig(graphs=ROWS), tmp_path)
    assert report.in_flight >= 1  # the node was lost while its replica had requests open
    assert (report.requests, report.completed, report.lost, report.duplicated) == (ROWS, ROWS, 0, 0)
    # Rows whose requests failed over name the lost replica and another (retried); a block whose map actor
    # was on the lost node is re-run whole by Ray Data instead, and its rows name only live replicas.
    assert (report.recover_s is not None) == (report.retried > 0)
    alive = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE]
    assert alive == [], f"replica actors leaked: {alive}"
    assert alive_nodes_within(NODES - 1, timeout_s=60)  # the GCS saw the node die (its health checks failed)


def alive_nodes_within(count: int, timeout_s: float) -> bool:
    """Whether the GCS counts ``count`` live nodes within ``timeout_s`` (it declares a death after missed checks)."""
    deadline = time.monotonic() + timeout_s
    while len([n for n in ray.nodes() if n["Alive"]]) != count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)  # the GCS has no event to wait on from a driver
    return True
