"""The replica in this process (no Ray): its feed, its own cancel keyed by the caller's stream id, and ``ready``.

A caller reads every request it submits through one feed. Ray runs an async
actor's calls concurrently, so a ``cancel`` can overtake its ``submit``;
``Replica.cancel`` must hold either way: a stream cancelled before it starts
never reaches the engine, one cancelled while it runs ends and aborts its
request. The Ray side is tests/integration/test_pool.py's. ``ready``
replaces an engine that died while idle, so a replica that says it is ready
serves.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from actors import replica as replica_module
from actors.coalesce import CoalesceConfig, Delivery
from actors.engine import GenerateRequest, RequestError
from actors.replica import Replica, ScriptedSpec
from graphs.params import SamplingParams

WORDS = " ".join(f"w{i}" for i in range(40))


def request(rid: str, *, prompt: str = "say the words", interval_s: float | None = None) -> GenerateRequest:
    return GenerateRequest(request_id=rid, prompt=prompt, params=SamplingParams(max_tokens=100),
                           chunk_interval_s=interval_s)


def replica(delay_s: float = 0.0, merging: CoalesceConfig | None = None) -> Replica:
    spec = ScriptedSpec(answers={"words": WORDS}, token_delay_s=delay_s, fail_on=("fail",))
    return Replica("r0", spec, merging)


class Caller:
    """One caller's end of a replica's feed, read in this process as the pool reads it over Ray."""

    def __init__(self, host: Replica, feed_id: str = "f1") -> None:
        self.host = host
        self.feed_id = feed_id
        self.messages: list[list[Delivery]] = []
        self.got: dict[str, list[Delivery]] = defaultdict(list)
        self._arrived = asyncio.Event()
        self._feed = host.feed(feed_id)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._feed:
            self.messages.append(message)
            for delivery in message:
                self.got[delivery.stream_id].append(delivery)
            self._arrived.set()

    async def submit(self, req: GenerateRequest, stream_id: str) -> None:
        await self.host.submit(req, stream_id, self.feed_id)

    async def until(self, stream_id: str, enough: Callable[[list[Delivery]], bool],
                    timeout_s: float = 10.0) -> list[Delivery]:
        """The stream's deliveries, once they are ``enough``."""
        async with asyncio.timeout(timeout_s):
            while not enough(self.got[stream_id]):
                self._arrived.clear()
                await self._arrived.wait()
        return self.got[stream_id]

    async def last(self, stream_id: str) -> list[Delivery]:
        """The stream's deliveries, once its last one came."""
        return await self.until(stream_id, lambda got: bool(got) and got[-1].last)

    async def text(self, req: GenerateRequest, stream_id: str) -> str:
        await self.submit(req, stream_id)
        return "".join(d.chunk.text for d in await self.last(stream_id) if d.chunk)

    async def close(self) -> None:
        self._reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._reader
        await self._feed.aclose()


async def settled(host: Replica) -> None:
    for _ in range(100):
        if not host._running and await host.open_requests() == []:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"requests still running: {sorted(host._running)}")


async def streaming() -> tuple[Replica, Caller]:
    """A replica with one slow stream, "s1", that has sent its first delivery."""
    host = replica(delay_s=0.05)
    caller = Caller(host)
    await caller.submit(request("long"), "s1")
    await caller.until("s1", bool)
    return host, caller


async def test_a_stream_cancelled_before_it_starts_never_reaches_the_engine() -> None:
    host = replica()
    caller = Caller(host)
    await host.cancel("s1")
    await caller.submit(request("a"), "s1")
    await asyncio.sleep(0.05)
    assert caller.got["s1"] == [] and (await host.stats()).generated_tokens == 0
    assert await host.open_requests() == []
    # The key is spent: the next call, keyed anew, streams the whole answer.
    assert await caller.text(request("b"), "s2") == WORDS
    assert (await host.stats()).generated_tokens == 40
    await caller.close()


async def test_a_running_stream_cancelled_by_key_ends_and_aborts_its_request() -> None:
    host = replica(delay_s=0.02, merging=CoalesceConfig(interval_s=0))
    caller = Caller(host)
    await caller.submit(request("long"), "s1")
    await caller.until("s1", lambda got: len(got) >= 3)
    await host.cancel("s1")
    await settled(host)
    stats = await host.stats()
    assert stats.running == 0 and stats.generated_tokens < 40, "the engine went on after the cancel"
    assert not any(d.last for d in caller.got["s1"]), "a cancelled stream sends no end: its caller left"
    # A cancel for a stream that already ended leaves no mark on later streams.
    await host.cancel("s1")
    assert await caller.text(request("next"), "s3") == WORDS
    await caller.close()


async def test_the_oldest_unstarted_cancels_are_forgotten_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replica_module, "CANCELLED_KEPT", 2)
    host = replica()
    caller = Caller(host)
    for key in ("k1", "k2", "k3"):
        await host.cancel(key)
    assert await caller.text(request("a"), "k1") == WORDS  # forgotten
    await caller.submit(request("b"), "k2")
    await caller.submit(request("c"), "k3")
    await asyncio.sleep(0.05)
    assert caller.got["k2"] == caller.got["k3"] == []
    assert (await host.stats()).generated_tokens == 40
    await caller.close()


async def test_streams_of_one_feed_share_its_messages_and_keep_every_word() -> None:
    host = replica(delay_s=0.01, merging=CoalesceConfig(interval_s=0.1))
    caller = Caller(host)
    keys = [f"s{i}" for i in range(8)]
    for i, key in enumerate(keys):
        await caller.submit(request(f"r{i}"), key)
    for key in keys:
        got = await caller.last(key)
        assert "".join(d.chunk.text for d in got if d.chunk) == WORDS
        assert sum(d.chunk.tokens for d in got if d.chunk) == 40
        assert got[-1].end and got[-1].error is None
        assert [d.chunk.finish_reason for d in got if d.chunk][-1] == "stop"
        assert got[0].chunk is not None and got[0].chunk.tokens == 1, "the first word leaves at once"
    per_stream = sum(len(caller.got[key]) for key in keys)
    # 40 words at 10 ms each: about 0.4 s, so each stream alone would send about 6 messages.
    assert len(caller.messages) < per_stream / 2, (len(caller.messages), per_stream)
    await caller.close()


async def test_a_failed_request_is_its_own_streams_error_and_the_others_go_on() -> None:
    host = replica(delay_s=0.005)
    caller = Caller(host)
    await caller.submit(request("ok"), "good")
    await caller.submit(request("bad", prompt="please fail"), "bad")
    failed = await caller.last("bad")
    assert isinstance(failed[-1].error, RequestError) and "scripted failure" in str(failed[-1].error)
    good = await caller.last("good")
    assert good[-1].end and "".join(d.chunk.text for d in good if d.chunk) == WORDS
    await caller.close()


async def test_a_feed_that_ends_cancels_its_requests_and_takes_no_more() -> None:
    host, caller = await streaming()
    await caller.close()
    await settled(host)
    assert (await host.stats()).generated_tokens < 40
    await host.submit(request("late"), "s2", caller.feed_id)  # a submit that arrives after its feed ended
    await asyncio.sleep(0.05)
    assert not host._running and (await host.stats()).generated_tokens < 40


async def test_a_submit_before_its_feed_opens_is_delivered() -> None:
    host = replica()
    await host.submit(request("early"), "s1", "f9")  # Ray may run the submit before the feed call
    caller = Caller(host, "f9")
    got = await caller.last("s1")
    assert "".join(d.chunk.text for d in got if d.chunk) == WORDS
    await caller.close()


async def test_closing_the_replica_ends_its_feeds() -> None:
    host, caller = await streaming()
    await host.aclose()
    async with asyncio.timeout(5):
        await caller._reader  # the feed ended: the caller's reader returns
    assert await host.open_requests() == []


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
    caller = Caller(host)
    assert await caller.text(request("after"), "s1") == WORDS
    await caller.close()


async def test_a_request_sets_its_own_chunk_interval() -> None:
    host = replica(delay_s=0.01)  # 40 words in about 0.4 s; the replica's own interval is 0.25 s
    caller = Caller(host)

    async def chunks(key: str, interval_s: float | None) -> list:
        await caller.submit(request(key, interval_s=interval_s), key)
        return [d.chunk for d in await caller.last(key) if d.chunk]

    held = await chunks("held", 5.0)
    assert len(held) == 2  # the first at once, the rest with the end
    assert "".join(c.text for c in held) == WORDS and sum(c.tokens for c in held) == 40
    assert held[-1].finish_reason == "stop"
    every = await chunks("every", 0.0)
    assert "".join(c.text for c in every) == WORDS and len(every) > 40 // 2
    assert len(await chunks("own", None)) > 2  # the replica's own 0.25 s
    await caller.close()
