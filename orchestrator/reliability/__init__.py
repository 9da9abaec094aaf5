"""Reliability benchmarks: many graphs at once, faults injected on purpose, parsers soaked in noise.

Public API, one entry per ``forkjoin bench`` kind:

- ``bench load``: :func:`bench_load` (:mod:`~orchestrator.reliability.load`),
  1,000 graphs through one ``arun_many``, the driver's peak RSS;
- ``bench chaos``: the cells named by :class:`Fault` (:mod:`~orchestrator.reliability.chaos`
  and one module per fault), each returning a :class:`ChaosReport`;
- ``bench soak``: :func:`soak` (:mod:`~orchestrator.reliability.soak`), hypothesis inputs
  through the PASTA parser, the compiler and graph JSON.

Modules import Ray, vLLM and hypothesis only inside the functions that use them.
"""

from orchestrator.reliability.chaos import ChaosConfig, ChaosReport, Fault, format_report
from orchestrator.reliability.engine_kill import kill_engine_core_mid_stream
from orchestrator.reliability.load import LoadConfig, LoadReport, bench_load
from orchestrator.reliability.node_loss import lose_node_mid_batch
from orchestrator.reliability.replica_kill import kill_replica_mid_stream
from orchestrator.reliability.slow_replica import slow_replica_mid_batch
from orchestrator.reliability.soak import TARGETS, SoakReport, soak

__all__ = [
    "TARGETS",
    "ChaosConfig",
    "ChaosReport",
    "Fault",
    "LoadConfig",
    "LoadReport",
    "SoakReport",
    "bench_load",
    "format_report",
    "kill_engine_core_mid_stream",
    "kill_replica_mid_stream",
    "lose_node_mid_batch",
    "slow_replica_mid_batch",
    "soak",
]
