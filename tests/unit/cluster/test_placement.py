"""What a replica reserves, without Ray."""

from __future__ import annotations

from actors.config import EngineConfig
from actors.replica import ScriptedSpec, VllmSpec
from cluster import Accelerator, ReplicaResources


def test_gpu_replicas_get_one_bundle_per_tensor_parallel_gpu() -> None:
    spec = VllmSpec(engine=EngineConfig(tensor_parallel_size=2), accelerator=Accelerator.GPU)
    need = spec.resources(node_cpus=16)
    assert need.bundles() == [{"GPU": 1.0, "CPU": 1.0}, {"GPU": 1.0, "CPU": 1.0}]
    assert need.fits({"GPU": 2, "CPU": 2}) and not need.fits({"GPU": 1, "CPU": 8})


def test_cpu_replicas_take_the_engine_threads_or_the_whole_node() -> None:
    assert VllmSpec().resources(node_cpus=8).bundles() == [{"CPU": 8.0}]
    threaded = VllmSpec(engine=EngineConfig(cpu_threads=2))
    assert threaded.resources(node_cpus=8).bundles() == [{"CPU": 2.0}]
    assert VllmSpec(cpus=3).resources(node_cpus=8).bundles() == [{"CPU": 3.0}]


def test_scripted_replicas_can_pretend_to_need_a_gpu() -> None:
    need = ScriptedSpec(gpus=1, cpus=0.5).resources(node_cpus=1)
    assert need == ReplicaResources(accelerator=Accelerator.GPU, gpus=1, cpus=0.5)
    assert not need.fits({"CPU": 4})
