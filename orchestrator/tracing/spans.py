"""Live spans of a graph run: ``forkjoin.graph``, then one span per node, opened and ended as the run goes.

The graph span is a child of whatever span is current when the run starts
(``forkjoin.run`` of the command line, a serving request); node spans are
children of the graph span, given explicitly (node tasks are started by
other nodes' tasks, so the current context would name the wrong parent). A
generate node's request carries its span's trace context, and the engine's
span (from the replica) comes back as its child. A node span opens when the
node is ready: for a generate node the time before ``forkjoin.slot_wait_s``
is spent waiting for an engine slot. Nodes that never started (skipped,
cancelled before start) are events on the graph span.

Without a :class:`~orchestrator.tracing.telemetry.Telemetry` every span is
OpenTelemetry's non-recording span: no cost, no trace context sent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from actors.engine import Chunk, Engine, EngineStats, GenerateRequest
from actors.tracing import carrier
from graphs import Graph, Node, NodeKind
from orchestrator.results import NodeStatus
from orchestrator.state import NodeRecord, RunState
from orchestrator.tracing.telemetry import Telemetry

_OFF = trace.NoOpTracer()


class GraphTrace:
    """The spans of one graph run."""

    def __init__(self, telemetry: Telemetry | None, graph: Graph, run_id: str) -> None:
        self._telemetry = telemetry
        self._tracer = telemetry.tracer if telemetry is not None else _OFF
        generates = sum(node.kind is NodeKind.GENERATE for node in graph.nodes())
        self._root = self._tracer.start_span(
            "forkjoin.graph",
            attributes={"forkjoin.run_id": run_id, "forkjoin.nodes": len(graph), "forkjoin.generate_nodes": generates},
        )
        self._context = trace.set_span_in_context(self._root)
        self._open: dict[str, tuple[Span, float]] = {}
        self._opened: set[str] = set()

    def open(self, node: Node) -> None:
        """A node became ready."""
        attributes = {"forkjoin.node": node.name, "forkjoin.kind": node.kind.value}
        if node.dependencies:
            attributes["forkjoin.dependencies"] = list(node.dependencies)
        span = self._tracer.start_span(f"{node.kind.value} {node.name}", context=self._context, attributes=attributes)
        self._open[node.name] = (span, time.perf_counter())
        self._opened.add(node.name)

    def carrier(self, name: str) -> dict[str, str] | None:
        """The trace context a node's engine request carries."""
        return carrier(trace.set_span_in_context(self._open[name][0]))

    def chunk(self, chunk: Chunk) -> None:
        """Export the engine spans a chunk brought back."""
        if chunk.spans and self._telemetry is not None:
            self._telemetry.export_remote(chunk.spans)

    def close(self, name: str, kind: NodeKind, record: NodeRecord) -> None:
        """A node ended (any final status)."""
        span, ready = self._open.pop(name)
        span.set_attributes(_attributes(record, ready))
        if record.status is not NodeStatus.DONE:
            span.set_status(Status(StatusCode.ERROR, record.error or record.status.value))
        span.end()
        if self._telemetry is not None:
            self._telemetry.metrics.node(kind, record)

    def finish(self, state: RunState) -> None:
        """The run ended: close what is still open, note what never started, end the graph span."""
        for name in list(self._open):
            self.close(name, state.graph.node(name).kind, state.records[name])
        for name, record in state.records.items():
            if name not in self._opened:
                where = {"forkjoin.node": name, "forkjoin.status": record.status.value}
                self._root.add_event("node not started", where)
        if any(r.status is not NodeStatus.DONE for r in state.records.values()):
            self._root.set_status(Status(StatusCode.ERROR, "not every node finished"))
        self._root.end()


def _attributes(record: NodeRecord, ready: float) -> dict[str, str | int | float]:
    out: dict[str, str | int | float] = {"forkjoin.status": record.status.value, "forkjoin.tokens": record.tokens}
    if record.start is not None:
        out["forkjoin.slot_wait_s"] = round(max(0.0, record.start - ready), 6)
        if record.ttft is not None:
            out["forkjoin.ttft_s"] = round(record.ttft - record.start, 6)
    optional = {
        "forkjoin.prompt_tokens": record.prompt_tokens,
        "forkjoin.cached_tokens": record.cached_tokens,
        "forkjoin.replica": record.replica,
        "forkjoin.finish_reason": record.finish_reason,
    }
    out.update({key: value for key, value in optional.items() if value is not None})
    return out


@contextmanager
def run_span(
    telemetry: Telemetry | None, attributes: dict[str, str | int | float], *, name: str = "forkjoin.run"
) -> Iterator[Span]:
    """The span of one request (``forkjoin.run``: a prompt, its strategy); graph runs inside are its children.

    ``name`` names a span that holds several runs (``forkjoin.compare``: the serial and the parallel run).
    """
    tracer = telemetry.tracer if telemetry is not None else _OFF
    with tracer.start_as_current_span(name, attributes=attributes) as span:
        yield span


class TracedEngine:
    """An engine whose requests carry the current span's trace context and whose engine spans get exported.

    For callers that trace with the current context (the PASTA interpreter):
    each request's engine span becomes a child of the span open where the
    request is made.
    """

    def __init__(self, engine: Engine, telemetry: Telemetry) -> None:
        self.name = engine.name
        self._engine = engine
        self._telemetry = telemetry

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        if request.trace_context is None:
            request = request.model_copy(update={"trace_context": carrier()})
        async with aclosing(self._engine.generate(request)) as stream:
            async for chunk in stream:
                if chunk.spans:
                    self._telemetry.export_remote(chunk.spans)
                yield chunk

    async def stats(self) -> EngineStats:
        return await self._engine.stats()

    async def aclose(self) -> None:
        await self._engine.aclose()
