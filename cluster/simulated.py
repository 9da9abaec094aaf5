"""A simulated multi-node Ray cluster on one machine, for tests.

Each node is a real raylet started by ``ray.cluster_utils.Cluster``; it
advertises one fake GPU (Ray only counts it, nothing uses it) and a custom
resource ``sim-node-<i>`` naming it, so tests can check where actors landed.
The driver connects for the duration of the context and every node is removed
at exit. ``RAY_TMPDIR`` points into a private short dir meanwhile, so the nodes'
sessions and Ray's "current cluster" address file never touch ``/tmp/ray``.
Nodes cost ~150 MB and a few processes each: keep the count small.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cluster.connect import NAMESPACE, ClusterInfo, describe, export_project_path
from cluster.errors import ClusterError


class SimulatedClusterConfig(BaseModel):
    """Shape of a simulated cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nodes: int = Field(3, ge=1, le=8, description="Nodes, head included.")
    cpus_per_node: int = Field(1, ge=1, description="CPUs each node advertises.")
    gpus_per_node: int = Field(1, ge=0, description="Fake GPUs each node advertises.")
    object_store_mb: int = Field(100, ge=75, description="Object store of each node in MiB.")
    wait_s: float = Field(60.0, gt=0, description="Bound on all nodes registering.")


def node_resource(index: int) -> str:
    """The custom resource that names simulated node ``index``."""
    return f"sim-node-{index}"


@contextmanager
def simulated_cluster(config: SimulatedClusterConfig | None = None) -> Iterator[ClusterInfo]:
    """Start the nodes, connect this process, and remove everything at exit."""
    import ray
    from ray.cluster_utils import Cluster

    config = config or SimulatedClusterConfig()
    if ray.is_initialized():
        raise ClusterError("a simulated cluster needs a process not yet connected to Ray")
    temp_dir = Path(f"/tmp/fj-{os.getpid()}-sim")
    (temp_dir / "ray").mkdir(parents=True, exist_ok=True)
    export_project_path()
    previous = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = str(temp_dir)  # every node and the address file stay in temp_dir
    cluster = Cluster(shutdown_at_exit=True)
    try:
        for index in range(config.nodes):
            cluster.add_node(**_node_args(config, index))
        cluster.wait_for_nodes(timeout=config.wait_s)
        ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    except Exception as exc:
        _stop(cluster, previous)  # the logs stay in temp_dir for the post-mortem
        raise ClusterError(f"simulated cluster did not start (logs in {temp_dir}): {exc}") from exc
    try:
        yield describe(embedded=True)
    finally:
        _stop(cluster, previous)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _stop(cluster: object, tmpdir: str | None) -> None:
    import ray

    ray.shutdown()
    cluster.shutdown()
    _restore("RAY_TMPDIR", tmpdir)


def _node_args(config: SimulatedClusterConfig, index: int) -> dict:
    args = {
        "num_cpus": config.cpus_per_node,
        "num_gpus": config.gpus_per_node,
        "resources": {node_resource(index): 1.0},
        "object_store_memory": config.object_store_mb * 1024 * 1024,
    }
    return args | ({"include_dashboard": False} if index == 0 else {})


def _restore(variable: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = value
