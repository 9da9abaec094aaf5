"""A caller's end of a replica's feed (:mod:`actors.coalesce`): one Ray stream for all its requests.

The pool opens one :class:`Feed` per replica it sends to. A background reader
takes each message off the replica's ``feed`` generator and hands every
delivery to the queue of its stream, so requests wait on their own queue, not
on Ray. When the feed ends, however it ends (the replica died, restarted or
closed, the pool closed it), every stream still open gets one last delivery
carrying the error, so no stream waits for text that will never come; the
pool then opens a new feed for later requests.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from actors.coalesce import Delivery
from actors.engine import EngineDeadError, EngineError, RequestError
from graphs.errors import one_line


class ReplicaLost(EngineError):
    """Internal to actors: the replica (actor or engine) died under a request; the pool may retry elsewhere."""


class Feed:
    """A pool's end of one replica's feed: reads its messages and hands each stream its deliveries.

    ``lost`` is set once the feed ended (the replica died, restarted or closed;
    the pool closed it); every stream still open then gets a last delivery
    with that error, and the pool opens a new feed for later requests.
    """

    def __init__(self, handle: Any, replica: str) -> None:
        self.id = uuid.uuid4().hex
        self.replica = replica
        self.lost: EngineError | None = None
        self.messages = 0
        self._streams: dict[str, asyncio.Queue[Delivery]] = {}
        self._generator = handle.feed.options(num_returns="streaming").remote(self.id)
        self._reader = asyncio.create_task(self._read(), name=f"feed of {replica}")
        self._loop = asyncio.get_running_loop()

    def serves_here(self) -> bool:
        """Whether this feed is alive and reads in the running event loop (a pool may outlive a loop)."""
        return self.lost is None and self._loop is asyncio.get_running_loop() and not self._reader.done()

    def abandon(self) -> None:
        """Cancel the replica's side (which cancels its requests still running); enough where the loop is gone."""
        import ray

        ray.cancel(self._generator)

    def open(self, stream_id: str) -> asyncio.Queue[Delivery]:
        """The queue stream ``stream_id``'s deliveries arrive in."""
        queue: asyncio.Queue[Delivery] = asyncio.Queue()
        if self.lost is not None:
            queue.put_nowait(Delivery(stream_id, error=self.lost))
        self._streams[stream_id] = queue
        return queue

    def forget(self, stream_id: str) -> None:
        self._streams.pop(stream_id, None)

    async def aclose(self) -> None:
        """Cancel the replica's side and stop reading."""
        self.abandon()
        if self._loop is not asyncio.get_running_loop():
            return
        self._reader.cancel()
        await asyncio.wait({self._reader})
        if self.lost is None:  # the reader may not have begun: the cancel never reached its try
            self._lose(EngineDeadError(f"pool closed its feed of replica {self.replica}"))

    async def _read(self) -> None:
        import ray

        try:
            async for ref in self._generator:
                message = await ref
                self.messages += 1
                for delivery in message:
                    if (queue := self._streams.get(delivery.stream_id)) is not None:
                        queue.put_nowait(delivery)
            self._lose(ReplicaLost(f"replica {self.replica} closed"))
        except ray.exceptions.RayActorError:
            self._lose(ReplicaLost(f"replica {self.replica} died"))
        except ray.exceptions.RayTaskError as exc:
            self._lose(_task_error(exc, self.replica))
        except Exception as exc:  # noqa: BLE001 - every open stream must hear of it, not hang
            self.abandon()  # the replica's side may still run: its requests would go on for no one
            self._lose(RequestError(f"feed of replica {self.replica} failed: {one_line(exc)}"))

    def _lose(self, error: EngineError) -> None:
        self.lost = error
        for stream_id, queue in self._streams.items():
            queue.put_nowait(Delivery(stream_id, error=error))


def delivered_error(error: EngineError, replica: str) -> EngineError:
    """A stream's error as the pool raises it: a dead engine is a lost replica (the request fails over)."""
    if isinstance(error, EngineDeadError):
        return ReplicaLost(f"engine of {replica} died: {error}")
    return error


def _task_error(exc: Any, replica: str) -> EngineError:
    """The feed call's own failure (a ``RayTaskError``) as its streams' error."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, EngineError):
        return delivered_error(cause, replica)
    return RequestError(f"replica {replica} failed: {one_line(cause or exc)}")
