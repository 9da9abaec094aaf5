"""Engine-side spans: one span per request inside a replica, shipped back to the driver with the stream.

The driver puts the W3C trace context of a node's span on the request
(``GenerateRequest.trace_context``: a ``traceparent`` carrier, see
:func:`carrier` / :func:`parent_context`). The replica opens its span as a
child of it (:class:`RequestTrace`), notes the engine's view as chunks pass
(time to first token as the actor saw it, tokens, finish reason; and from
the last chunk, where the engine reports them, ``forkjoin.queue_wait_s``, the
time the request waited in the engine's queue before its first scheduling,
and ``forkjoin.engine_ttft_s``, the engine's own time to first token) and, on the
stream's last chunk, ends the span and ships it as plain data
(:class:`SpanRecord` in ``Chunk.spans``).

Why ship rather than export from the actor: the driver turns each record back
into an SDK span with its ids and parent intact (:func:`to_readable`) and
hands it to its own span processors, so every exporter the driver has (the
JSON-lines file, OTLP, in-memory in tests) sees the whole request as one
trace, and actors need no exporter configuration wherever they run. The cost
is one small record per request on a message that is sent anyway. A stream
that never reaches its last chunk (aborted, the replica died) ships nothing;
the node's span on the driver still says how it ended.

Without a trace context nothing is recorded, so tracing off costs nothing
here. Span times are the actor host's wall clock.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from actors.engine import Chunk, GenerateRequest

SCOPE = "forkjoin.replica"
_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None

Attribute = str | bool | int | float


class SpanEventRecord(BaseModel):
    """A point in time inside a span."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="What happened.")
    time_ns: int = Field(description="When, in ns since the epoch.")
    attributes: dict[str, Attribute] = Field(default_factory=dict, description="Details.")


class SpanRecord(BaseModel):
    """A finished span as plain data, to cross from an actor to the driver."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Span name.")
    trace_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="Trace id, 32 hex digits.")
    span_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="Span id, 16 hex digits.")
    parent_span_id: str | None = Field(None, pattern=r"^[0-9a-f]{16}$", description="Parent span id.")
    start_ns: int = Field(description="Start, ns since the epoch.")
    end_ns: int = Field(description="End, ns since the epoch.")
    attributes: dict[str, Attribute] = Field(default_factory=dict, description="Span attributes.")
    error: str | None = Field(None, description="Error status description; None when the span is not an error.")
    events: tuple[SpanEventRecord, ...] = Field((), description="Events in time order.")
    resource: dict[str, Attribute] = Field(default_factory=dict, description="The emitting process's resource.")


def carrier(ctx: otel_context.Context | None = None) -> dict[str, str] | None:
    """The W3C trace context of ``ctx`` (default: current) as headers; None when no span is recording."""
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers, context=ctx)
    return headers or None


def parent_context(headers: dict[str, str] | None) -> otel_context.Context | None:
    """The context a carrier names; None for no carrier."""
    return None if not headers else _PROPAGATOR.extract(headers)


def _tracer() -> trace.Tracer:
    """This process's replica tracer: an SDK provider without exporters (spans are shipped, see module doc)."""
    global _provider
    if _provider is None:
        resource = Resource.create({"service.name": "forkjoin-replica", "process.pid": os.getpid()})
        _provider = TracerProvider(resource=resource)
    return _provider.get_tracer(SCOPE)


class RequestTrace:
    """The span of one request in a replica; a no-op when the request carries no trace context."""

    def __init__(self, request: GenerateRequest, replica: str, *, open_requests: int) -> None:
        self._began = time.perf_counter()
        self._tokens = 0
        parent = parent_context(request.trace_context)
        self._span = None if parent is None else _tracer().start_span(
            "engine.generate",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "forkjoin.request_id": request.request_id,
                "forkjoin.replica": replica,
                "forkjoin.replica.open_requests": open_requests,
                "forkjoin.max_tokens": request.params.max_tokens,
            },
        )

    def tag(self, chunk: Chunk) -> Chunk:
        """Note a chunk on its way out; the last one leaves carrying the finished span."""
        if self._span is None:
            return chunk
        self._note(chunk)
        if chunk.finish_reason is None:
            return chunk
        self._span.end()
        record = to_record(self._span)  # type: ignore[arg-type]
        self._span = None
        return chunk.model_copy(update={"spans": (*chunk.spans, record)})

    def close(self, error: BaseException | None = None) -> None:
        """End a span the stream left before its last chunk (aborted, failed); it is not shipped."""
        if self._span is None:
            return
        reason = type(error).__name__ if error is not None else "stream closed before the end"
        self._span.set_status(Status(StatusCode.ERROR, reason))
        self._span.end()
        self._span = None

    def _note(self, chunk: Chunk) -> None:
        span = self._span
        assert span is not None
        if chunk.tokens and not self._tokens:
            span.set_attribute("forkjoin.ttft_s", round(time.perf_counter() - self._began, 6))
            span.add_event("first token")
        self._tokens += chunk.tokens
        if chunk.prompt_tokens is not None:
            span.set_attribute("forkjoin.prompt_tokens", chunk.prompt_tokens)
            span.set_attribute("forkjoin.cached_tokens", chunk.cached_tokens or 0)
        if chunk.finish_reason is not None:
            span.set_attribute("forkjoin.tokens", self._tokens)
            span.set_attribute("forkjoin.finish_reason", chunk.finish_reason)
            if chunk.stop_reason is not None:
                span.set_attribute("forkjoin.stop_reason", chunk.stop_reason)
            if chunk.queue_s is not None:
                span.set_attribute("forkjoin.queue_wait_s", round(chunk.queue_s, 6))
            if chunk.engine_ttft_s is not None:
                span.set_attribute("forkjoin.engine_ttft_s", round(chunk.engine_ttft_s, 6))


def to_record(span: ReadableSpan) -> SpanRecord:
    """A finished SDK span as plain data."""
    ctx = span.context
    assert ctx is not None and span.start_time is not None and span.end_time is not None
    error = (span.status.description or "error") if span.status.status_code is StatusCode.ERROR else None
    return SpanRecord(
        name=span.name,
        trace_id=f"{ctx.trace_id:032x}",
        span_id=f"{ctx.span_id:016x}",
        parent_span_id=f"{span.parent.span_id:016x}" if span.parent else None,
        start_ns=span.start_time,
        end_ns=span.end_time,
        attributes=dict(span.attributes or {}),
        error=error,
        events=tuple(
            SpanEventRecord(name=e.name, time_ns=e.timestamp, attributes=dict(e.attributes or {})) for e in span.events
        ),
        resource=dict(span.resource.attributes),
    )


def to_readable(record: SpanRecord) -> ReadableSpan:
    """A shipped record as an SDK span, ids and parent intact, ready for a span processor's ``on_end``."""
    trace_id, flags = int(record.trace_id, 16), TraceFlags(TraceFlags.SAMPLED)
    parent = None
    if record.parent_span_id is not None:
        parent = SpanContext(trace_id, int(record.parent_span_id, 16), is_remote=True, trace_flags=flags)
    status = Status(StatusCode.ERROR, record.error) if record.error is not None else Status(StatusCode.UNSET)
    return ReadableSpan(
        name=record.name,
        context=SpanContext(trace_id, int(record.span_id, 16), is_remote=False, trace_flags=flags),
        parent=parent,
        resource=Resource(record.resource),
        attributes=record.attributes,
        events=[Event(e.name, e.attributes, timestamp=e.time_ns) for e in record.events],
        kind=SpanKind.SERVER,
        status=status,
        start_time=record.start_ns,
        end_time=record.end_ns,
        instrumentation_scope=InstrumentationScope(SCOPE),
    )
