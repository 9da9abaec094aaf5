"""Merging a stream's chunks inside the replica, so fewer objects cross Ray.

Every chunk a replica yields is one Ray object: serialized in the actor,
shipped, awaited and deserialized by the caller. On CPU that work runs on the
same cores as the engine's OpenMP threads, so each chunk costs decode speed.
:func:`coalesce` forwards the first chunk at once (time to first token is
untouched) and then merges chunks until ``interval_s`` has passed since the
previous one left or ``max_tokens`` tokens are pending; the final chunk (the
one with ``finish_reason``) flushes whatever is pending.

Invariants: the merged stream carries exactly the same text, the same total
token count, the same ``finish_reason``/``stop_reason`` and the same first
chunk's ``prompt_tokens``/``cached_tokens`` as the input stream. Closing the
merged stream closes the input stream (so the engine aborts the request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Chunk


class CoalesceConfig(BaseModel):
    """How a replica merges a stream's chunks before they cross Ray."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval_s: float = Field(
        0.25, ge=0, description="Longest a chunk waits for more text before it is sent (0: send each chunk)."
    )
    max_tokens: int = Field(64, ge=1, description="Pending tokens that send a chunk at once.")


def merge(first: Chunk, second: Chunk) -> Chunk:
    """One chunk holding ``first`` then ``second`` (the later one's end fields win)."""
    return Chunk(
        text=first.text + second.text,
        tokens=first.tokens + second.tokens,
        finish_reason=second.finish_reason,
        stop_reason=second.stop_reason,
        prompt_tokens=first.prompt_tokens if first.prompt_tokens is not None else second.prompt_tokens,
        cached_tokens=first.cached_tokens if first.cached_tokens is not None else second.cached_tokens,
        replica=second.replica or first.replica,
        queue_s=second.queue_s if second.queue_s is not None else first.queue_s,
        engine_ttft_s=second.engine_ttft_s if second.engine_ttft_s is not None else first.engine_ttft_s,
        spans=first.spans + second.spans,
    )


async def coalesce(stream: AsyncIterator[Chunk], config: CoalesceConfig) -> AsyncIterator[Chunk]:
    """The chunks of ``stream``, merged as the module doc says."""
    if config.interval_s == 0:
        async with aclosing(stream) as source:
            async for chunk in source:
                yield chunk
        return
    async with aclosing(_Merger(stream, config)) as merged:
        async for chunk in merged:
            yield chunk


_TIME_UP = object()
"""Returned by :meth:`_Merger._pull` when the pending chunk's interval ended first."""


class _Merger:
    """Pulls the source in its own task, so a pending chunk can leave when its interval ends."""

    def __init__(self, stream: AsyncIterator[Chunk], config: CoalesceConfig) -> None:
        self._source = stream
        self._config = config
        self._next: asyncio.Task[Chunk] | None = None
        self._pending: Chunk | None = None
        self._sent_at: float | None = None

    def __aiter__(self) -> _Merger:
        return self

    async def __anext__(self) -> Chunk:
        while True:
            chunk = await self._pull()
            if chunk is _TIME_UP:
                return self._flush()
            if chunk is None:
                if self._pending is not None:
                    return self._flush()
                raise StopAsyncIteration
            self._pending = chunk if self._pending is None else merge(self._pending, chunk)
            if self._sent_at is None or chunk.finish_reason is not None or self._full():
                return self._flush()

    async def _pull(self) -> Chunk | object | None:
        """The next source chunk, None at the source's end, or _TIME_UP when the pending one is due."""
        if self._next is None:
            self._next = asyncio.ensure_future(anext(self._source))
        timeout = None
        if self._pending is not None:
            timeout = max(0.0, (self._sent_at or 0.0) + self._config.interval_s - time.monotonic())
        done, _ = await asyncio.wait({self._next}, timeout=timeout)
        if not done:
            return _TIME_UP
        task, self._next = self._next, None
        try:
            return task.result()
        except StopAsyncIteration:
            return None

    def _full(self) -> bool:
        return self._pending is not None and self._pending.tokens >= self._config.max_tokens

    def _flush(self) -> Chunk:
        chunk, self._pending = self._pending, None
        assert chunk is not None, "flush without a pending chunk"
        self._sent_at = time.monotonic()
        return chunk

    async def aclose(self) -> None:
        """Stop pulling, then close the source (its ``finally`` aborts the request)."""
        if self._next is not None:
            self._next.cancel()
            with suppress(asyncio.CancelledError, StopAsyncIteration):
                await self._next
            self._next = None
        await self._source.aclose()
