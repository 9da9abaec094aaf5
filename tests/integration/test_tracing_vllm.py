"""Engine spans on the real vLLM replica (the shared ``pool``): the engine's queue wait and time to first token.

Ten requests at once on a replica that runs at most eight sequences
(``max_num_seqs=8`` in the shared pool): every engine span carries vLLM's
own queue wait and time to first token (read from ``RequestOutput.metrics``),
and some request waited in the engine's queue. Skipped, with the reason, when
vLLM or the model is missing.
"""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors import ReplicaPool
from graphs import Graph
from orchestrator import Runtime
from orchestrator.config import RuntimeConfig
from orchestrator.tracing import Telemetry, run_span

pytestmark = pytest.mark.integration

REQUESTS = 10
"""More than the shared replica's eight sequences, so some request must queue."""


def test_engine_spans_carry_the_engines_queue_wait_and_time_to_first_token(
    runner: asyncio.Runner, pool: ReplicaPool
) -> None:
    exporter = InMemorySpanExporter()
    telemetry = Telemetry([SimpleSpanProcessor(exporter)])
    g = Graph()
    with g.scope("s") as s:
        for i in range(REQUESTS):
            s.generate(f"Count from {i} to {i + 20}.", name=f"n{i}", max_tokens=12)

    async def traced():
        with run_span(telemetry, {"forkjoin.strategy": "parallel"}):
            return await Runtime(pool, RuntimeConfig(max_concurrency=REQUESTS), telemetry=telemetry).arun(g)

    result = runner.run(traced())
    telemetry.shutdown()
    assert result.ok
    engines = [span.attributes for span in exporter.get_finished_spans() if span.name == "engine.generate"]
    assert len(engines) == REQUESTS
    for attributes in engines:
        assert attributes["forkjoin.queue_wait_s"] >= 0
        engine_ttft, actor_ttft = attributes["forkjoin.engine_ttft_s"], attributes["forkjoin.ttft_s"]
        assert 0 < engine_ttft <= actor_ttft, "the engine's time to first token lies inside the actor's"
    assert max(a["forkjoin.queue_wait_s"] for a in engines) > 0, "ten requests on eight sequences: one queued"
