"""Queue wait and the engine's time to first token: read from vLLM's request metrics, carried to the engine span.

vLLM's side is a stand-in for ``RequestOutput`` (no vLLM import in unit
tests); the scripted engine with ``max_running`` plays a queue, and the
replica (in this process, no Ray) puts what the engine reports on its span.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from actors.engine import Chunk, GenerateRequest
from actors.replica import Replica, ScriptedSpec
from actors.scripted import ScriptedEngine
from actors.tracing import carrier
from actors.vllm_engine import VllmEngine, engine_timings
from graphs.params import SamplingParams

DELAY = 0.02
WORDS = "one two three four"


def _metrics(queued: float, scheduled: float, ttft: float) -> SimpleNamespace:
    """The fields of vLLM's RequestStateStats that engine_timings reads."""
    return SimpleNamespace(queued_ts=queued, scheduled_ts=scheduled, first_token_latency=ttft)


def _output(metrics: object, *, finished: bool) -> SimpleNamespace:
    completion = SimpleNamespace(text="x", token_ids=[1], finish_reason="stop" if finished else None, stop_reason=None)
    return SimpleNamespace(outputs=[completion], finished=finished, num_cached_tokens=0, metrics=metrics)


def test_queue_wait_is_scheduled_minus_queued_and_ttft_is_the_front_ends() -> None:
    assert engine_timings(_metrics(100.0, 100.25, 0.5)) == (0.25, 0.5)
    assert engine_timings(_metrics(0.0, 0.0, 0.0)) == (None, None), "nothing recorded"
    assert engine_timings(_metrics(100.0, 0.0, 0.0)) == (None, None), "queued, never scheduled"
    assert engine_timings(None) == (None, None), "stats off: no metrics"


def test_only_the_last_chunk_of_a_vllm_stream_carries_the_timings() -> None:
    engine = SimpleNamespace(name="replica-0")
    metrics = _metrics(10.0, 10.5, 0.75)
    last = VllmEngine._chunk(engine, _output(metrics, finished=True), None)
    assert (last.queue_s, last.engine_ttft_s) == (0.5, 0.75)
    middle = VllmEngine._chunk(engine, _output(metrics, finished=False), 3)
    assert (middle.queue_s, middle.engine_ttft_s) == (None, None)


def _request(rid: str, headers: dict[str, str] | None = None) -> GenerateRequest:
    return GenerateRequest(request_id=rid, prompt="x", params=SamplingParams(max_tokens=16), trace_context=headers)


async def _last(stream) -> Chunk:
    chunks = [chunk async for chunk in stream]
    return chunks[-1]


async def test_a_scripted_engine_with_one_slot_makes_the_second_request_queue() -> None:
    engine = ScriptedEngine({"x": WORDS}, token_delay_s=DELAY, max_running=1)
    first, second = await asyncio.gather(_last(engine.generate(_request("a"))), _last(engine.generate(_request("b"))))
    playing = len(WORDS.split()) * DELAY  # the first request holds the slot at least this long
    assert first.queue_s is not None and second.queue_s is not None
    assert second.queue_s >= playing > first.queue_s
    assert first.engine_ttft_s is not None and first.engine_ttft_s >= DELAY
    assert second.engine_ttft_s is not None and second.engine_ttft_s >= second.queue_s + DELAY


async def test_without_a_slot_limit_the_scripted_engine_reports_no_queue() -> None:
    last = await _last(ScriptedEngine({"x": WORDS}, token_delay_s=0.0).generate(_request("a")))
    assert (last.queue_s, last.engine_ttft_s) == (None, None)


async def test_the_replica_span_carries_the_engine_queue_wait_and_its_time_to_first_token() -> None:
    replica = Replica("r-1", ScriptedSpec(answers={"x": WORDS}, token_delay_s=DELAY, max_running=1))
    parent = TracerProvider().get_tracer("test").start_span("node x")
    headers = carrier(trace.set_span_in_context(parent))
    lasts = await asyncio.gather(*(_last(replica.generate(_request(rid, headers))) for rid in ("a", "b")))
    spans = {last.spans[0].attributes["forkjoin.request_id"]: last.spans[0].attributes for last in lasts}
    for rid, last in zip(("a", "b"), lasts, strict=True):
        assert spans[rid]["forkjoin.queue_wait_s"] == round(last.queue_s, 6)
        assert spans[rid]["forkjoin.engine_ttft_s"] == round(last.engine_ttft_s, 6)
    assert spans["b"]["forkjoin.queue_wait_s"] >= len(WORDS.split()) * DELAY
    assert spans["b"]["forkjoin.replica.open_requests"] == 1
