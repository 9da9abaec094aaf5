"""One request is one trace across a real Ray replica actor (scripted engine inside; no model).

The node's span is made in the driver; its trace context crosses into the
actor with the request; the actor's engine span comes back on the last chunk
and is exported by the driver as the node span's child. The module ends with
no replica actor alive and Ray shut down.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import PoolConfig, ReplicaPool, ScriptedSpec
from cluster import NAMESPACE, ClusterConfig, connect
from graphs import Graph
from orchestrator import Runtime
from orchestrator.tracing import Telemetry, run_span

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    with connect(config=ClusterConfig(num_cpus=2)):
        yield
        alive = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE]
        assert alive == [], f"replica actors leaked: {alive}"
    assert not ray.is_initialized()


async def test_the_engine_span_from_the_actor_is_a_child_of_the_node_span() -> None:
    exporter = InMemorySpanExporter()
    telemetry = Telemetry([SimpleSpanProcessor(exporter)])
    g = Graph()
    with g.scope("s") as s:
        s.generate("first", name="a")
        s.generate("second", name="b")
    spec = ScriptedSpec(answers={"first": "one two", "second": "three"}, token_delay_s=0.01)
    config = PoolConfig(spec=spec, replicas=2, name="trace", start_timeout_s=60, placement_timeout_s=10)
    async with await ReplicaPool.start(config) as pool:
        with run_span(telemetry, {"forkjoin.strategy": "parallel"}):
            result = await Runtime(pool, telemetry=telemetry).arun(g)
        pids = {info.name: info.pid for info in pool.replicas}
    assert result.ok
    spans = exporter.get_finished_spans()
    assert len({span.context.trace_id for span in spans}) == 1, "one request, one trace"
    nodes = {span.attributes["forkjoin.node"]: span for span in spans if "forkjoin.node" in span.attributes}
    engines = [span for span in spans if span.name == "engine.generate"]
    assert len(engines) == 2
    for engine_span in engines:
        node = engine_span.attributes["forkjoin.request_id"].rsplit("/", 1)[1]
        assert engine_span.parent.span_id == nodes[node].context.span_id
        replica = engine_span.attributes["forkjoin.replica"]
        assert replica == nodes[node].attributes["forkjoin.replica"]
        assert engine_span.resource.attributes["process.pid"] == pids[replica], "the span was made in the actor"
        assert nodes[node].start_time <= engine_span.start_time <= engine_span.end_time <= nodes[node].end_time
