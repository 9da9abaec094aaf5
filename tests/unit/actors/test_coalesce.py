"""Chunk merging inside the replica: same text, tokens and ending; fewer chunks; abort on close."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from actors.coalesce import CoalesceConfig, coalesce, merge
from actors.engine import Chunk, GenerateRequest, RequestError
from actors.scripted import ScriptedEngine
from graphs.params import SamplingParams

ANSWER = " ".join(f"w{i}" for i in range(40))


def request(rid: str = "r1", max_tokens: int = 100, stop: tuple[str, ...] = ()) -> GenerateRequest:
    return GenerateRequest(request_id=rid, prompt="count", params=SamplingParams(max_tokens=max_tokens, stop=stop))


async def collect(engine: ScriptedEngine, req: GenerateRequest, config: CoalesceConfig) -> list[Chunk]:
    async with aclosing(coalesce(engine.generate(req), config)) as stream:
        return [chunk async for chunk in stream]


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


async def test_closing_the_merged_stream_aborts_the_request() -> None:
    engine = ScriptedEngine({"count": ANSWER}, token_delay_s=0.02)
    async with aclosing(coalesce(engine.generate(request("cut")), CoalesceConfig(interval_s=0.05))) as stream:
        async for _ in stream:
            break
    assert engine.aborted == ["cut"] and engine.active == set()


async def test_cancelling_the_consumer_aborts_the_request() -> None:
    engine = ScriptedEngine({"count": ANSWER}, token_delay_s=0.05)

    async def consume() -> None:
        async with aclosing(coalesce(engine.generate(request("cancelled")), CoalesceConfig(interval_s=1.0))) as s:
            async for _ in s:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.aborted == ["cancelled"] and engine.active == set()


async def test_errors_of_the_source_reach_the_consumer() -> None:
    def fail(req: GenerateRequest) -> str:
        raise RequestError("scripted failure for r1")

    failing = ScriptedEngine(fail)
    with pytest.raises(RequestError, match="scripted failure"):
        await collect(failing, request(), CoalesceConfig(interval_s=0.05))


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
