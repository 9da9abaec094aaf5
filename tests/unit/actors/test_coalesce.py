"""Chunk merging inside the replica: same text, tokens and ending per stream; fewer messages for all of them."""

from __future__ import annotations

import asyncio

import pytest

from actors.coalesce import CoalesceConfig, Delivery, Outbox, merge
from actors.engine import Chunk, GenerateRequest, RequestError
from actors.scripted import ScriptedEngine
from graphs.params import SamplingParams

ANSWER = " ".join(f"w{i}" for i in range(40))


def request(rid: str = "r1", max_tokens: int = 100, stop: tuple[str, ...] = ()) -> GenerateRequest:
    return GenerateRequest(request_id=rid, prompt="count", params=SamplingParams(max_tokens=max_tokens, stop=stop))


async def pump(engine: ScriptedEngine, req: GenerateRequest, outbox: Outbox, stream_id: str) -> None:
    """What the replica does for one request: its chunks into the outbox, then its end or its error."""
    try:
        async for chunk in engine.generate(req):
            outbox.put(stream_id, chunk)
    except RequestError as error:
        outbox.finish(stream_id, error)
    else:
        outbox.finish(stream_id)


async def run(engine: ScriptedEngine, requests: list[GenerateRequest], config: CoalesceConfig,
              intervals: dict[str, float] | None = None) -> list[list[Delivery]]:
    """Every message of one outbox serving ``requests`` at once (stream id: the request id)."""
    outbox = Outbox(config)
    for req in requests:
        outbox.open(req.request_id, (intervals or {}).get(req.request_id))
    pumps = [asyncio.create_task(pump(engine, req, outbox, req.request_id)) for req in requests]
    messages: list[list[Delivery]] = []
    left = {req.request_id for req in requests}
    async with asyncio.timeout(30):
        async for message in outbox.messages():
            messages.append(message)
            left -= {d.stream_id for d in message if d.last}
            if not left:
                outbox.close()
    await asyncio.gather(*pumps)
    return messages


def stream(messages: list[list[Delivery]], stream_id: str) -> list[Delivery]:
    return [d for message in messages for d in message if d.stream_id == stream_id]


async def collect(engine: ScriptedEngine, req: GenerateRequest, config: CoalesceConfig) -> list[Chunk]:
    deliveries = stream(await run(engine, [req], config), req.request_id)
    assert deliveries[-1].end and [d for d in deliveries[:-1] if d.last] == []
    return [d.chunk for d in deliveries if d.chunk is not None]


def joined(chunks: list[Chunk]) -> tuple[str, int]:
    return "".join(c.text for c in chunks), sum(c.tokens for c in chunks)


@pytest.mark.parametrize("interval_s, max_tokens", [(0.05, 64), (10.0, 7), (10.0, 1000), (0.0, 64)])
async def test_merged_stream_keeps_text_tokens_and_ending(interval_s: float, max_tokens: int) -> None:
    engine = ScriptedEngine({"count": ANSWER}, token_delay_s=0.005)
    plain = [c async for c in engine.generate(request("plain"))]
    merged = await collect(engine, request("merged"), CoalesceConfig(interval_s=interval_s, max_tokens=max_tokens))
    assert joined(merged) == joined(plain) == (ANSWER, 40)
    assert merged[-1].finish_reason == plain[-1].finish_reason == "stop"
    assert merged[0].prompt_tokens == plain[0].prompt_tokens == 1
    assert [c for c in merged[:-1] if c.finish_reason] == []
    if interval_s:
        assert len(merged) < len(plain)


async def test_first_chunk_leaves_at_once_then_chunks_wait_for_the_interval() -> None:
    engine = ScriptedEngine({"count": ANSWER}, token_delay_s=0.01)
    merged = await collect(engine, request(), CoalesceConfig(interval_s=0.1, max_tokens=1000))
    assert merged[0].tokens == 1  # time to first token is untouched
    # 40 words at 10 ms: about 0.4 s of stream, one chunk per 0.1 s after the first
    assert 3 <= len(merged) <= 8


async def test_token_cap_sends_a_chunk_before_the_interval_ends() -> None:
    engine = ScriptedEngine({"count": ANSWER}, token_delay_s=0.001)
    merged = await collect(engine, request(), CoalesceConfig(interval_s=60.0, max_tokens=10))
    assert [c.tokens for c in merged] == [1, 10, 10, 10, 9]
    assert merged[-1].finish_reason == "stop"


async def test_stop_reason_and_length_ending_survive_merging() -> None:
    engine = ScriptedEngine({"count": ANSWER + " END more"}, token_delay_s=0.001)
    stopped = await collect(engine, request(stop=("END",)), CoalesceConfig(interval_s=60.0, max_tokens=1000))
    assert stopped[-1].finish_reason == "stop" and stopped[-1].stop_reason == "END"
    assert joined(stopped)[1] == 40
    capped = await collect(engine, request("capped", max_tokens=12), CoalesceConfig(interval_s=60.0, max_tokens=1000))
    assert capped[-1].finish_reason == "length" and joined(capped)[1] == 12


async def test_streams_sharing_an_outbox_share_its_messages() -> None:
    engine = ScriptedEngine({"count": ANSWER}, token_delay_s=0.01)
    requests = [request(f"s{i}") for i in range(8)]
    messages = await run(engine, requests, CoalesceConfig(interval_s=0.1, max_tokens=1000))
    for req in requests:
        chunks = [d.chunk for d in stream(messages, req.request_id) if d.chunk]
        assert joined(chunks) == (ANSWER, 40) and chunks[-1].finish_reason == "stop"
        assert chunks[0].tokens == 1 and chunks[0].prompt_tokens == 1
    each_alone = sum(len(stream(messages, req.request_id)) for req in requests)
    # about 0.4 s of stream each: alone, every stream would send one message per 0.1 s
    assert len(messages) < each_alone / 2, (len(messages), each_alone)


async def test_each_stream_keeps_its_own_interval() -> None:
    engine = ScriptedEngine({"count": ANSWER}, token_delay_s=0.01)
    messages = await run(engine, [request("held"), request("fast")], CoalesceConfig(interval_s=0.05),
                         intervals={"held": 10.0})
    held = [d.chunk for d in stream(messages, "held") if d.chunk]
    assert joined(held) == (ANSWER, 40)
    # the held stream rides along the fast one's messages, yet never waits past its end
    assert len([d for d in stream(messages, "fast") if d.chunk]) >= 4
    assert held[-1].finish_reason == "stop"


async def test_an_error_ends_only_its_own_stream_after_what_it_sent() -> None:
    def answer(req: GenerateRequest) -> str:
        if req.request_id == "bad":
            raise RequestError("scripted failure for bad")
        return ANSWER

    engine = ScriptedEngine(answer, token_delay_s=0.005)
    messages = await run(engine, [request("bad"), request("good")], CoalesceConfig(interval_s=0.05))
    bad = stream(messages, "bad")
    assert len(bad) == 1 and isinstance(bad[0].error, RequestError) and not bad[0].end
    good = stream(messages, "good")
    assert good[-1].end and joined([d.chunk for d in good if d.chunk]) == (ANSWER, 40)


async def test_a_discarded_stream_sends_nothing_more_and_close_sends_what_is_pending() -> None:
    outbox = Outbox(CoalesceConfig(interval_s=60.0, max_tokens=1000))
    for key in ("kept", "dropped"):
        outbox.open(key)
        outbox.put(key, Chunk(text="a", tokens=1))
    first = await anext(outbox.messages())  # both first chunks leave at once
    assert [d.stream_id for d in first] == ["kept", "dropped"]
    outbox.put("kept", Chunk(text="b", tokens=1))
    outbox.put("dropped", Chunk(text="x", tokens=1))
    outbox.discard("dropped")
    outbox.close()
    rest = [message async for message in outbox.messages()]
    assert rest == [[Delivery("kept", Chunk(text="b", tokens=1))]]
    assert outbox.streams() == ["kept"]


def test_merge_keeps_first_prompt_fields_and_last_ending() -> None:
    first = Chunk(text="a", tokens=1, prompt_tokens=5, cached_tokens=3, replica="r")
    last = Chunk(text="b", tokens=2, finish_reason="stop", stop_reason="X", replica="r", queue_s=0.5,
                 engine_ttft_s=0.7)
    assert merge(first, last) == Chunk(
        text="ab", tokens=3, finish_reason="stop", stop_reason="X", prompt_tokens=5, cached_tokens=3, replica="r",
        queue_s=0.5, engine_ttft_s=0.7,
    )
    assert set(Chunk.model_fields) == {
        "text", "tokens", "finish_reason", "stop_reason", "prompt_tokens", "cached_tokens", "replica", "queue_s",
        "engine_ttft_s", "spans",
    }, "a new Chunk field must be merged here too"


async def test_a_stream_discarded_while_due_sends_no_empty_message() -> None:
    outbox = Outbox(CoalesceConfig(interval_s=0.05, max_tokens=1000))
    outbox.open("gone")
    outbox.put("gone", Chunk(text="a", tokens=1))
    messages = outbox.messages()
    assert [d.stream_id for d in await anext(messages)] == ["gone"]
    outbox.put("gone", Chunk(text="b", tokens=1))  # due in 0.05 s
    outbox.discard("gone")
    outbox.open("late")
    outbox.put("late", Chunk(text="c", tokens=1))
    assert await anext(messages) == [Delivery("late", Chunk(text="c", tokens=1))]
    outbox.close()
    assert [m async for m in messages] == []
