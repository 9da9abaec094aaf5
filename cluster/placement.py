"""Where replicas run: one placement group per replica, replicas spread over nodes.

A replica's resources are reserved before its actor exists:

* GPU: ``tensor_parallel_size`` bundles of one GPU each, ``STRICT_PACK`` so
  the replica sits on one node. With one GPU the actor takes that GPU; with
  more, the actor runs in bundle 0 and vLLM's Ray executor fills the bundles
  (child tasks are captured by the group).
* CPU: one bundle of ``cpus`` CPUs. A vLLM CPU replica asks for the cores its
  OpenMP threads bind to, so by default one replica fills one node.

Spreading: each group is pinned (label ``ray.io/node-id``) to the node that
holds the fewest replicas of the pool and has the resources in total; if the
reservation is not granted within ``per_node_wait_s`` the next node is tried.
The whole search is bounded by a timeout and ends in :class:`PlacementError`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cluster.errors import PlacementError

NODE_ID_LABEL = "ray.io/node-id"


class Accelerator(StrEnum):
    """What a replica computes on."""

    CPU = "cpu"
    GPU = "gpu"


class ReplicaResources(BaseModel):
    """What one replica reserves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accelerator: Accelerator = Field(Accelerator.CPU, description="CPU or GPU replica.")
    gpus: int = Field(0, ge=0, le=64, description="GPUs (the tensor-parallel size); 0 on CPU.")
    cpus: float = Field(1.0, gt=0, description="CPUs of the replica (per GPU bundle on GPU).")
    custom: dict[str, float] = Field(
        default_factory=dict, description="Extra custom resources every bundle asks for."
    )

    def bundles(self) -> list[dict[str, float]]:
        """The placement group's bundles."""
        match self.accelerator:
            case Accelerator.GPU:
                return [{"GPU": 1.0, "CPU": self.cpus, **self.custom} for _ in range(max(self.gpus, 1))]
            case Accelerator.CPU:
                return [{"CPU": self.cpus, **self.custom}]

    def fits(self, total: Mapping[str, float]) -> bool:
        """Whether a node with these total resources could ever host the replica."""
        return all(total.get(key, 0.0) >= amount for key, amount in _totals(self).items())


@dataclass(frozen=True)
class Reservation:
    """A granted placement group for one replica."""

    name: str
    node_id: str
    placement_group: Any
    resources: ReplicaResources

    def actor_options(self) -> dict[str, Any]:
        """Options for ``ActorClass.options(...)`` that put the actor into bundle 0."""
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        one_gpu = self.resources.accelerator is Accelerator.GPU and self.resources.gpus <= 1
        return {
            "num_cpus": self.resources.cpus,
            "num_gpus": 1 if one_gpu else 0,
            "resources": dict(self.resources.custom),
            "scheduling_strategy": PlacementGroupSchedulingStrategy(
                placement_group=self.placement_group,
                placement_group_bundle_index=0,
                placement_group_capture_child_tasks=True,
            ),
        }


def candidate_nodes(need: ReplicaResources, placed: Mapping[str, int]) -> list[str]:
    """Alive nodes able to host ``need``, fewest replicas of the pool first (then node id)."""
    import ray

    alive = [n for n in ray.nodes() if n.get("Alive")]
    able = [n["NodeID"] for n in alive if need.fits(n.get("Resources", {}))]
    return sorted(able, key=lambda node: (placed.get(node, 0), node))


def reserve(
    need: ReplicaResources,
    placed: Mapping[str, int],
    *,
    name: str,
    timeout_s: float,
    per_node_wait_s: float = 5.0,
) -> Reservation:
    """Reserve a placement group named ``name`` for one replica on the least-used able node (bounded)."""
    nodes = candidate_nodes(need, placed)
    if not nodes:
        raise PlacementError(f"no node of the cluster can host a replica needing {_describe(need)}")
    deadline = time.monotonic() + timeout_s
    while True:
        for node in nodes:
            wait = min(per_node_wait_s, deadline - time.monotonic())
            if wait <= 0:
                raise PlacementError(
                    f"no node granted {_describe(need)} within {timeout_s:g} s (cluster busy or too small)"
                )
            if (group := _try_node(need, node, wait, name)) is not None:
                return Reservation(name=name, node_id=node, placement_group=group, resources=need)


def release(reservation: Reservation) -> None:
    """Give the reservation's resources back (the actor in it must be gone or going)."""
    from ray.util.placement_group import remove_placement_group

    remove_placement_group(reservation.placement_group)


def _try_node(need: ReplicaResources, node: str, wait_s: float, name: str) -> Any | None:
    from ray.util.placement_group import placement_group, remove_placement_group

    bundles = need.bundles()
    group = placement_group(
        bundles,
        strategy="STRICT_PACK",
        name=name,
        bundle_label_selector=[{NODE_ID_LABEL: node} for _ in bundles],
    )
    if group.wait(timeout_seconds=wait_s):
        return group
    remove_placement_group(group)
    return None


def _describe(need: ReplicaResources) -> str:
    return " + ".join(f"{k}={v:g}" for k, v in sorted(_totals(need).items()))


def _totals(need: ReplicaResources) -> dict[str, float]:
    totals: dict[str, float] = {}
    for bundle in need.bundles():
        for key, amount in bundle.items():
            totals[key] = totals.get(key, 0.0) + amount
    return totals
