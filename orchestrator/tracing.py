"""OpenTelemetry spans for graph runs.

A finished run becomes one ``forkjoin.run`` span with a child span per node
that started (name, kind, status, tokens, replica, time to first token).
Spans are written from the run state when the run ends, so tracing costs
nothing on the token path; a run that aborts or is cancelled is traced too.
Without a configured tracer provider, OpenTelemetry's no-op tracer makes
this free.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from orchestrator.results import NodeStatus
from orchestrator.state import RunState

_CLOCK_OFFSET_NS = time.time_ns() - time.perf_counter_ns()


def _ns(perf_seconds: float) -> int:
    return _CLOCK_OFFSET_NS + int(perf_seconds * 1e9)


def record_run(state: RunState, run_id: str, provider: trace.TracerProvider | None = None) -> None:
    """Emit the run's spans (the run span, then one child per node that started)."""
    tracer = trace.get_tracer("forkjoin.orchestrator", tracer_provider=provider)
    end = time.perf_counter()
    root = tracer.start_span(
        "forkjoin.run",
        start_time=_ns(state.t0),
        attributes={"forkjoin.run_id": run_id, "forkjoin.nodes": len(state.records)},
    )
    context = trace.set_span_in_context(root)
    for node in state.graph.nodes():
        record = state.records[node.name]
        if record.start is None:
            root.add_event("node not started", {"forkjoin.node": node.name, "forkjoin.status": record.status.value})
            continue
        attributes = {
            "forkjoin.node": node.name,
            "forkjoin.kind": node.kind.value,
            "forkjoin.status": record.status.value,
            "forkjoin.tokens": record.tokens,
        }
        if record.replica:
            attributes["forkjoin.replica"] = record.replica
        if record.ttft is not None:
            attributes["forkjoin.ttft_s"] = round(record.ttft - record.start, 6)
        span = tracer.start_span(f"{node.kind.value} {node.name}", context=context, start_time=_ns(record.start), attributes=attributes)
        if record.status is not NodeStatus.DONE:
            span.set_status(Status(StatusCode.ERROR, record.error or record.status.value))
        span.end(end_time=_ns(record.end or end))
    failed = any(r.status is not NodeStatus.DONE for r in state.records.values())
    if failed:
        root.set_status(Status(StatusCode.ERROR, "not every node finished"))
    root.end(end_time=_ns(end))


def file_tracer_provider(out: Path | IO[str], service: str = "forkjoin") -> TracerProvider:
    """A provider writing each span as JSON to ``out`` as soon as it ends."""
    stream = out.open("a", encoding="utf-8") if isinstance(out, Path) else out
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = ConsoleSpanExporter(out=stream, formatter=lambda span: span.to_json(indent=None) + "\n")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider
