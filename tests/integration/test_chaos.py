"""Chaos cells on a real pool: what a replica killed, slowed or left without its engine costs.

The scripted cells (a replica actor killed mid-stream, a replica throttled
mid-batch) start an embedded Ray of their own; tests/conftest.py runs them
before the session's shared Ray starts. The EngineCore cell kills the engine
process under the session's shared vLLM replica (``restarts_engine``: it runs
last, and its restart is the one engine start it adds). The actor-kill
version on the real engine is test_vllm_pool.py's restart test; a node lost
mid-batch is tests/multinode/test_chaos_cluster.py.
"""

from __future__ import annotations

import asyncio

import pytest

from cluster import ClusterConfig, connect
from orchestrator.reliability import ChaosConfig, kill_engine_core_mid_stream, kill_replica_mid_stream
from orchestrator.reliability import slow_replica_mid_batch
from orchestrator.reliability.engine_kill import engine_core_pid

pytestmark = pytest.mark.integration

TIMEOUT_SLACK_S = 0.5
"""How late a node's timeout may fire (event loop and Ray hand-off on a loaded 2-core machine)."""


@pytest.mark.parametrize("replicas", [2, 1])
def test_a_replica_killed_mid_stream_loses_and_doubles_nothing(replicas: int) -> None:
    config = ChaosConfig(graphs=12, replicas=replicas, kill_when_streaming=3)
    with connect(config=ClusterConfig(num_cpus=2)):
        report = asyncio.run(kill_replica_mid_stream(config))
    assert report.in_flight >= 3  # the kill landed while requests streamed on the victim
    assert report.retried == report.in_flight  # every one of them went on after the kill
    assert (report.completed, report.lost, report.duplicated) == (12, 0, 0)
    assert report.recover_s is not None and report.requests >= 12 * 5


def test_a_slow_replica_gets_less_work_and_its_nodes_time_out_as_configured() -> None:
    config = ChaosConfig(graphs=16, replicas=2, kill_when_streaming=2, node_timeout_s=1.0, slow_run_share=0.05)
    with connect(config=ClusterConfig(num_cpus=2)):
        report = asyncio.run(slow_replica_mid_batch(config))
    assert report.in_flight >= 2 and report.timed_out >= 1
    assert report.timeout_late_s is not None and -0.05 <= report.timeout_late_s <= TIMEOUT_SLACK_S  # as configured
    assert report.recover_s is not None and report.recover_s <= 1.0 + TIMEOUT_SLACK_S  # stuck ones released
    assert report.victim_share is not None and report.victim_share < 0.5  # new work went mostly elsewhere
    assert (report.lost, report.duplicated, report.retried) == (0, 0, 0)
    assert report.completed >= 1 and report.requests >= 16 * 4  # a graph whose item timed out skips its summary


def where(pool, name: str):
    """The replica's ReplicaInfo as it is now (its engine started if it was not)."""
    import ray

    return ray.get(pool.handle(name).ready.remote(), timeout=300)


@pytest.mark.restarts_engine
def test_engine_core_killed_mid_stream_fails_over_and_the_replica_restarts(runner: asyncio.Runner, pool) -> None:
    engine = where(pool, pool.replicas[0].name)  # its process now (a restart changes it)
    core_before = engine_core_pid(engine.pid)
    config = ChaosConfig(graphs=6, kill_when_streaming=2)
    report = runner.run(kill_engine_core_mid_stream(config, engine, pool.config))
    assert report.in_flight >= 2 and report.retried == report.in_flight  # open on the engine, then on the stand-by
    assert (report.completed, report.lost, report.duplicated) == (6, 0, 0)
    assert report.recover_s is not None and report.recover_s < 30
    assert report.restart_s is not None and engine_core_pid(engine.pid) != core_before  # a new EngineCore serves
    assert where(pool, engine.name).pid == engine.pid  # the same actor: only its engine died
