"""A replica actor killed while it streams, under a batch of graphs on scripted replicas: nothing lost or doubled.

Its own embedded Ray (no shared fixture: the ordering in tests/conftest.py
runs it before the session's shared Ray starts). The real-engine version of
the same fault is test_vllm_pool.py's restart test.
"""

from __future__ import annotations

import asyncio

import pytest

from cluster import ClusterConfig, connect
from orchestrator.chaos import ChaosConfig, kill_replica_mid_stream

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("replicas", [2, 1])
def test_a_replica_killed_mid_stream_loses_and_doubles_nothing(replicas: int) -> None:
    config = ChaosConfig(graphs=12, replicas=replicas, kill_when_streaming=3)
    with connect(config=ClusterConfig(num_cpus=2)):
        report = asyncio.run(kill_replica_mid_stream(config))
    assert report.in_flight >= 3  # the kill landed while requests streamed on the victim
    assert report.retried == report.in_flight  # every one of them went on after the kill
    assert (report.completed, report.lost, report.duplicated) == (12, 0, 0)
    assert report.recover_s is not None and report.requests >= 12 * 5
