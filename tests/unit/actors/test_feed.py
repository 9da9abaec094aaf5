"""The pool's end of a replica's feed, over a stand-in for Ray's stream (no Ray started).

Each message is handed out to its streams' queues; when the feed ends,
however it ends, every stream still open hears of it, so none waits for text
that will never come.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import ray

from actors.coalesce import Delivery
from actors.engine import Chunk, EngineDeadError
from actors.feed import Feed, ReplicaLost

END = object()


class Stream:
    """Stands in for Ray's ObjectRefGenerator: each message as an awaitable, as Ray hands out refs."""

    def __init__(self) -> None:
        self.items: asyncio.Queue[object] = asyncio.Queue()

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> asyncio.Future[object]:
        item = await self.items.get()
        if item is END:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        ref = asyncio.get_running_loop().create_future()
        ref.set_result(item)
        return ref


def feed_over(stream: Stream) -> Feed:
    opened = SimpleNamespace(remote=lambda feed_id: stream)
    return Feed(SimpleNamespace(feed=SimpleNamespace(options=lambda **_: opened)), "r-1")


async def next_of(queue: asyncio.Queue[Delivery]) -> Delivery:
    async with asyncio.timeout(5):
        return await queue.get()


async def test_each_delivery_reaches_its_own_stream_and_strangers_are_dropped() -> None:
    stream = Stream()
    feed = feed_over(stream)
    a, b = feed.open("a"), feed.open("b")
    stream.items.put_nowait([Delivery("a", Chunk(text="x", tokens=1)), Delivery("gone", Chunk(text="?", tokens=1)),
                             Delivery("b", Chunk(text="y", tokens=1), end=True)])
    assert (await next_of(a)).chunk.text == "x"
    last = await next_of(b)
    assert last.chunk.text == "y" and last.end
    assert feed.messages == 1 and a.empty() and feed.lost is None


@pytest.mark.parametrize("ending, lost", [
    (END, ReplicaLost),
    (ray.exceptions.RayActorError(), ReplicaLost),
    (RuntimeError("unexpected"), Exception),
])
async def test_a_feed_that_ends_fails_every_open_stream_and_later_ones(ending: object, lost: type,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cancelled: list[object] = []
    monkeypatch.setattr(ray, "cancel", cancelled.append)
    stream = Stream()
    feed = feed_over(stream)
    open_before, done = feed.open("open"), feed.open("done")
    stream.items.put_nowait([Delivery("done", end=True)])
    assert (await next_of(done)).end
    feed.forget("done")
    stream.items.put_nowait(ending)
    failed = await next_of(open_before)
    assert isinstance(failed.error, lost) and failed.last
    assert feed.lost is failed.error and done.empty()
    opened_late = await next_of(feed.open("late"))  # a stream opened on a lost feed fails at once
    assert opened_late.error is feed.lost
    # a feed that failed on this side is cancelled on the replica's, where it may still run
    assert cancelled == ([stream] if isinstance(ending, RuntimeError) else [])


async def test_closing_the_feed_cancels_ray_side_and_fails_open_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    cancelled: list[object] = []
    monkeypatch.setattr(ray, "cancel", cancelled.append)
    stream = Stream()
    feed = feed_over(stream)
    waiting = feed.open("s")
    await feed.aclose()
    assert cancelled == [stream]
    failed = await next_of(waiting)
    assert isinstance(failed.error, EngineDeadError) and "pool closed" in str(failed.error)


def test_a_feed_serves_only_the_event_loop_it_reads_in(monkeypatch: pytest.MonkeyPatch) -> None:
    cancelled: list[object] = []
    monkeypatch.setattr(ray, "cancel", cancelled.append)
    stream = Stream()

    async def opened() -> Feed:
        feed = feed_over(stream)
        assert feed.serves_here()
        return feed

    feed = asyncio.run(opened())  # the loop ends: its tasks, the reader among them, are cancelled

    async def later() -> None:
        assert not feed.serves_here()
        await feed.aclose()  # lets go without touching the ended loop

    asyncio.run(later())
    assert cancelled == [stream]
