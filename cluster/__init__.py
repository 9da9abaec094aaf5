"""Where forkjoin runs: starting or joining Ray, placing replicas, test clusters.

The only package that calls ``ray.init``. Ray is imported lazily, so importing
``cluster`` costs nothing until a cluster is used.
"""

from cluster.connect import NAMESPACE, ClusterConfig, ClusterInfo, connect, describe, resolve_address
from cluster.errors import ClusterError, PlacementError
from cluster.placement import Accelerator, ReplicaResources, Reservation, release, reserve
from cluster.simulated import SimulatedClusterConfig, node_resource, simulated_cluster

__all__ = [
    "NAMESPACE",
    "Accelerator",
    "ClusterConfig",
    "ClusterError",
    "ClusterInfo",
    "PlacementError",
    "ReplicaResources",
    "Reservation",
    "SimulatedClusterConfig",
    "connect",
    "describe",
    "node_resource",
    "release",
    "reserve",
    "resolve_address",
    "simulated_cluster",
]
