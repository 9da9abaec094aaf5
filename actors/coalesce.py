"""Merging chunks inside the replica, so fewer objects cross Ray.

Every message a replica sends is one Ray object: serialized in the actor,
shipped, awaited and deserialized by the caller. On CPU that work runs on the
same cores as the engine's OpenMP threads, so each message costs decode speed.
A replica therefore sends one caller's streams through one :class:`Outbox`:
every engine chunk of every stream the caller submitted is put there, and a
message (a list of :class:`Delivery`, one per stream with something new)
leaves when one of them is due:
- at once for a stream's first chunk (time to first token is untouched), its
  last one (``finish_reason``), its end or its error, and for a stream with
  ``max_tokens`` tokens pending;
- otherwise when the oldest pending stream's interval (``interval_s``, or the
  request's own ``chunk_interval_s``) has passed since that stream last sent.
An interval of 0 sends each chunk as it came (unmerged, yet sharing
messages). A message carries whatever every stream has pending, so streams that share an
outbox share its messages: eight streams at a 0.25 s interval send about four
messages a second, not thirty-two.

Invariants: a stream's deliveries carry exactly the text, the total token
count, the ``finish_reason``/``stop_reason`` and the first chunk's
``prompt_tokens``/``cached_tokens`` its engine stream had, in order; its last
delivery (``end`` or ``error``) comes after all of them, and nothing of the
stream follows it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from functools import reduce

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Chunk, EngineError


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


@dataclass(slots=True)
class Delivery:
    """One stream's part of an outbox message: its new text, then maybe its end."""

    stream_id: str
    chunk: Chunk | None = None
    """The stream's chunks since its last delivery, merged; None when only the end is new."""
    error: EngineError | None = None
    """The stream failed (after ``chunk``); nothing of it follows."""
    end: bool = False
    """The stream ended (after ``chunk``); nothing of it follows."""

    @property
    def last(self) -> bool:
        return self.end or self.error is not None


@dataclass(slots=True)
class _Stream:
    interval_s: float
    pending: list[Chunk] = field(default_factory=list)
    tokens: int = 0
    sent_at: float | None = None  # None: nothing sent yet, so the first chunk is due at once
    error: EngineError | None = None
    end: bool = False


class Outbox:
    """The pending chunks of one caller's streams, sent as the module doc says.

    State: ``_ready`` holds the streams with something to send, in the order
    they got it; ``_urgent`` says one of them is due now, ``_due`` when the
    earliest of the others is (monotonic seconds). A message sends everything
    ready, so each put and each wait costs the same however many streams
    share the outbox.
    """

    def __init__(self, config: CoalesceConfig) -> None:
        self._config = config
        self._streams: dict[str, _Stream] = {}
        self._ready: dict[str, None] = {}
        self._urgent = False
        self._due: float | None = None
        self._wake = asyncio.Event()
        self._closed = False

    def open(self, stream_id: str, interval_s: float | None = None) -> None:
        """Make room for a stream (its interval: ``interval_s``, else the config's)."""
        self._streams[stream_id] = _Stream(self._config.interval_s if interval_s is None else interval_s)

    def put(self, stream_id: str, chunk: Chunk) -> None:
        """Queue one engine chunk of an open stream."""
        stream = self._streams[stream_id]
        stream.pending.append(chunk)
        stream.tokens += chunk.tokens
        self._ready[stream_id] = None
        if (stream.sent_at is None or chunk.finish_reason is not None or stream.interval_s == 0
                or stream.tokens >= self._config.max_tokens):
            self._send_now()
        elif len(stream.pending) == 1:
            due = stream.sent_at + stream.interval_s
            if self._due is None or due < self._due:
                self._due = due
                self._wake.set()

    def finish(self, stream_id: str, error: EngineError | None = None) -> None:
        """End an open stream, with ``error`` if it failed; it leaves with the next message (at once)."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.end, stream.error = error is None, error
        self._ready[stream_id] = None
        self._send_now()

    def discard(self, stream_id: str) -> None:
        """Forget a stream and whatever it has pending (its caller cancelled it)."""
        self._streams.pop(stream_id, None)
        self._ready.pop(stream_id, None)

    def streams(self) -> list[str]:
        """The streams not yet ended."""
        return list(self._streams)

    def close(self) -> None:
        """Send what is pending, then end :meth:`messages`."""
        self._closed = True
        self._wake.set()

    async def messages(self) -> AsyncIterator[list[Delivery]]:
        """Every message of this outbox, until :meth:`close`."""
        while True:
            wait = self._wait_s()
            if wait == 0:
                yield self._flush()
                continue
            if wait is None and self._closed:
                return
            self._wake.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def _send_now(self) -> None:
        self._urgent = True
        self._wake.set()

    def _wait_s(self) -> float | None:
        """Seconds until the next message is due: 0 now, None when nothing is pending."""
        if not self._ready:
            return None
        if self._urgent or self._closed or self._due is None:
            return 0.0
        return max(0.0, self._due - time.monotonic())

    def _flush(self) -> list[Delivery]:
        now = time.monotonic()
        message: list[Delivery] = []
        for stream_id in self._ready:
            stream = self._streams[stream_id]
            if stream.interval_s == 0:  # each chunk as it came
                message.extend(Delivery(stream_id, chunk) for chunk in stream.pending[:-1])
                chunk = stream.pending[-1] if stream.pending else None
            else:
                chunk = reduce(merge, stream.pending) if stream.pending else None
            message.append(Delivery(stream_id, chunk, stream.error, stream.end))
            if stream.end or stream.error:
                del self._streams[stream_id]
            else:
                stream.pending, stream.tokens, stream.sent_at = [], 0, now
        self._ready.clear()
        self._urgent, self._due = False, None
        return message
