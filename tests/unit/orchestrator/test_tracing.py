"""OpenTelemetry: a run span with one child per started node, carrying status and tokens."""

from __future__ import annotations

import io
import json

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from actors import GenerateRequest, RequestError, ScriptedEngine
from graphs import Graph
from orchestrator import Runtime
from orchestrator.tracing import file_tracer_provider


def graph() -> Graph:
    g = Graph()
    with g.scope("s") as s:
        s.generate("good", name="good")
        s.generate("bad", name="bad")
    g.generate("after {s}", name="after")
    return g


def respond(request: GenerateRequest) -> str:
    if request.prompt == "bad":
        raise RequestError("nope")
    return "a b c"


async def test_spans_mirror_the_run() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = Runtime(ScriptedEngine(respond, token_delay_s=0.001), tracer_provider=provider)
    await runtime.arun(graph())
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"forkjoin.run", "generate good", "generate bad"}
    root = spans["forkjoin.run"]
    assert root.status.status_code is StatusCode.ERROR
    assert [e.attributes["forkjoin.node"] for e in root.events] == ["s", "after"]
    good, bad = spans["generate good"], spans["generate bad"]
    assert good.parent.span_id == root.context.span_id
    assert good.attributes["forkjoin.tokens"] == 3 and good.attributes["forkjoin.status"] == "done"
    assert bad.status.status_code is StatusCode.ERROR and bad.status.description == "nope"
    assert root.start_time <= good.start_time <= good.end_time <= root.end_time


async def test_file_provider_writes_json_lines() -> None:
    out = io.StringIO()
    runtime = Runtime(ScriptedEngine({"x": "y"}, token_delay_s=0.0), tracer_provider=file_tracer_provider(out))
    g = Graph()
    g.generate("x", name="x")
    await runtime.arun(g)
    spans = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [s["name"] for s in spans] == ["generate x", "forkjoin.run"]
    assert spans[0]["attributes"]["forkjoin.node"] == "x"
