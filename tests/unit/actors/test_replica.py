"""The replica in this process (no Ray): its own cancel, keyed by the caller's stream id, and ``ready``.

Ray can lose a ``ray.cancel`` sent before the actor task runs; ``Replica.cancel``
must hold either way: a stream cancelled before it starts never reaches the
engine, one cancelled while it runs ends and aborts its request. The Ray race
itself is tests/integration/test_pool.py's. ``ready`` replaces an engine
that died while idle, so a replica that says it is ready serves.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from actors import replica as replica_module
from actors.engine import GenerateRequest
from actors.replica import Replica, ScriptedSpec
from graphs.params import SamplingParams

WORDS = " ".join(f"w{i}" for i in range(40))


def request(rid: str) -> GenerateRequest:
    return GenerateRequest(request_id=rid, prompt="say the words", params=SamplingParams(max_tokens=100))


def replica(delay_s: float = 0.0) -> Replica:
    return Replica("r0", ScriptedSpec(answers={"words": WORDS}, token_delay_s=delay_s))


async def text(stream) -> str:
    return "".join([chunk.text async for chunk in stream])


async def test_a_stream_cancelled_before_it_starts_never_reaches_the_engine() -> None:
    host = replica()
    await host.cancel("s1")
    assert await text(host.generate(request("a"), "s1")) == ""
    assert (await host.stats()).generated_tokens == 0
    assert await host.open_requests() == []
    # The key is spent: the next call, keyed anew, streams the whole answer.
    assert await text(host.generate(request("b"), "s2")) == WORDS
    assert (await host.stats()).generated_tokens == 40


async def test_a_running_stream_cancelled_by_key_ends_and_aborts_its_request() -> None:
    host = replica(delay_s=0.02)
    got: list[str] = []

    async def consume() -> None:
        async for chunk in host.generate(request("long"), "s1"):
            got.append(chunk.text)

    task = asyncio.create_task(consume())
    while len(got) < 3:
        await asyncio.sleep(0.01)
    await host.cancel("s1")
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = await host.stats()
    assert stats.running == 0 and await host.open_requests() == []
    assert stats.generated_tokens < 40, "the engine went on after the cancel"
    # A cancel for a stream that already ended leaves no mark on later streams.
    assert await text(host.generate(request("next"), "s3")) == WORDS


async def test_the_oldest_unstarted_cancels_are_forgotten_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replica_module, "CANCELLED_KEPT", 2)
    host = replica()
    for key in ("k1", "k2", "k3"):
        await host.cancel(key)
    assert await text(host.generate(request("a"), "k1")) == WORDS  # forgotten
    assert await text(host.generate(request("b"), "k2")) == ""
    assert await text(host.generate(request("c"), "k3")) == ""


async def test_a_call_without_a_key_streams_as_before() -> None:
    host = replica()
    await host.cancel("unrelated")
    assert await text(host.generate(request("a"))) == WORDS


async def test_ready_replaces_an_engine_that_died_while_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    # ready() names its Ray node; outside Ray that would start one.
    monkeypatch.setattr(ray, "get_runtime_context", lambda: SimpleNamespace(get_node_id=lambda: "node-1"))
    host = replica()
    await host.ready()
    dead = host._engine
    dead.dead = True  # as when vLLM's EngineCore process dies with no request open
    await host.ready()
    assert host._engine is not dead and host._engine is not None
    assert await text(host.generate(request("after"), "s1")) == WORDS


async def test_a_request_sets_its_own_chunk_interval() -> None:
    host = replica(delay_s=0.01)  # 40 words in about 0.4 s; the replica's own interval is 0.25 s

    async def chunks(interval_s: float | None) -> list:
        request = GenerateRequest(request_id=f"i{interval_s}", prompt="say the words",
                                  params=SamplingParams(max_tokens=100), chunk_interval_s=interval_s)
        return [chunk async for chunk in host.generate(request)]

    held = await chunks(5.0)
    assert len(held) == 2  # the first at once, the rest with the end
    assert "".join(c.text for c in held) == WORDS and sum(c.tokens for c in held) == 40
    assert held[-1].finish_reason == "stop"
    every = await chunks(0.0)
    assert "".join(c.text for c in every) == WORDS and len(every) > 40 // 2
    assert len(await chunks(None)) > 2  # the replica's own 0.25 s
