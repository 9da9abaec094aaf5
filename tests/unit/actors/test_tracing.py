"""Engine-side spans: a replica's span is a child of the caller's context and leaves on the last chunk.

The replica runs in this process (no Ray): its ``generate`` is an ordinary
async generator, so the span logic is the same as inside an actor.
"""

from __future__ import annotations

from contextlib import aclosing

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

from actors.engine import GenerateRequest
from actors.replica import Replica, ScriptedSpec
from actors.tracing import carrier, to_readable, to_record
from graphs.params import SamplingParams


def replica() -> Replica:
    return Replica("r-1", ScriptedSpec(answers={"x": "a b c"}, token_delay_s=0.0))


async def test_the_replica_span_is_a_child_of_the_carried_context_and_ships_on_the_last_chunk() -> None:
    parent = TracerProvider().get_tracer("test").start_span("node x")
    headers = carrier(trace.set_span_in_context(parent))
    assert headers is not None and set(headers) == {"traceparent"}
    request = GenerateRequest(request_id="run/x", prompt="x", trace_context=headers)
    chunks = [chunk async for chunk in replica().generate(request)]
    assert [len(c.spans) for c in chunks] == [0] * (len(chunks) - 1) + [1] and chunks[-1].finish_reason == "stop"
    record = chunks[-1].spans[0]
    context = parent.get_span_context()
    assert (record.trace_id, record.parent_span_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert record.name == "engine.generate" and record.error is None
    attributes = record.attributes
    assert attributes["forkjoin.replica"] == "r-1" and attributes["forkjoin.request_id"] == "run/x"
    assert (attributes["forkjoin.tokens"], attributes["forkjoin.prompt_tokens"]) == (3, 1)
    assert attributes["forkjoin.finish_reason"] == "stop" and attributes["forkjoin.replica.open_requests"] == 0
    assert 0 <= attributes["forkjoin.ttft_s"] and [e.name for e in record.events] == ["first token"]
    assert record.resource["service.name"] == "forkjoin-replica"


def test_a_record_becomes_a_span_with_its_ids_and_parent() -> None:
    parent = TracerProvider().get_tracer("test").start_span("node")
    span = TracerProvider().get_tracer("t").start_span("engine", context=trace.set_span_in_context(parent))
    span.set_attribute("k", 1)
    span.set_status(trace.Status(StatusCode.ERROR, "broke"))
    span.end()
    back = to_readable(to_record(span))
    assert back.context.span_id == span.context.span_id and back.context.trace_id == span.context.trace_id
    assert back.parent.span_id == parent.get_span_context().span_id
    assert (back.start_time, back.end_time) == (span.start_time, span.end_time)
    assert back.attributes == {"k": 1} and back.status.description == "broke"


async def test_without_a_trace_context_nothing_is_recorded() -> None:
    request = GenerateRequest(request_id="run/x", prompt="x")
    chunks = [chunk async for chunk in replica().generate(request)]
    assert all(c.spans == () for c in chunks) and chunks[-1].finish_reason == "stop"


async def test_a_stream_closed_early_ships_nothing_and_frees_the_request() -> None:
    parent = TracerProvider().get_tracer("test").start_span("node x")
    request = GenerateRequest(
        request_id="run/x", prompt="x", params=SamplingParams(max_tokens=8),
        trace_context=carrier(trace.set_span_in_context(parent)),
    )
    host = replica()
    async with aclosing(host.generate(request)) as stream:
        first = await anext(stream)
    assert first.spans == () and await host.open_requests() == []
