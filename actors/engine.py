"""The engine interface: what the runtime asks of anything that generates text.

An engine streams :class:`Chunk` objects for one :class:`GenerateRequest`.
Closing the stream early (the consumer stops iterating, is cancelled, or
raises) must abort the request inside the engine: implementations do it in a
``finally`` block. Errors are split as in vLLM's v1 engine: a
:class:`RequestError` means this one request failed and others may go on; an
:class:`EngineDeadError` means the engine can serve nothing more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from actors.tracing import SpanRecord
from graphs.errors import ForkjoinError
from graphs.params import SamplingParams


class EngineError(ForkjoinError):
    """Base of errors an engine raises."""


class RequestError(EngineError):
    """One request failed (bad prompt, too long, aborted); the engine is fine. Recoverable."""


class EngineDeadError(EngineError):
    """The engine or replica died and serves nothing more. Fatal for that engine."""


class EngineStartError(EngineError):
    """An engine could not start (bad model, no memory, bad config). Caused by configuration."""


class GenerateRequest(BaseModel):
    """One generation asked of an engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(description="Unique per request; used to abort it.")
    prompt: str = Field(description="The user message (or the whole raw text when raw=True).")
    params: SamplingParams = Field(default_factory=SamplingParams, description="Sampling parameters.")
    system: str | None = Field(None, description="System message placed before the prompt.")
    assistant_prefix: str = Field(
        "", description="Text the assistant already said; generation continues it (PASTA forks)."
    )
    raw: bool = Field(False, description="Send prompt as-is, without the model's chat template.")
    affinity_key: str | None = Field(
        None, description="Requests with the same key prefer the same replica (shared KV prefix)."
    )
    json_schema: dict | None = Field(
        None, description="Constrain the output to this JSON schema (structured output)."
    )
    trace_context: dict[str, str] | None = Field(
        None, description="W3C trace context (traceparent carrier) of the caller's span; engine spans are its children."
    )
    chunk_interval_s: float | None = Field(
        None, ge=0, description="Longest a replica holds text before sending it on (actors.coalesce); None: the "
        "replica's own setting. Longer for a stream no one reads as it comes: fewer chunks cross Ray."
    )


class Chunk(BaseModel):
    """A piece of streamed output. The last chunk of a stream has ``finish_reason`` set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(description="New text since the previous chunk.")
    tokens: int = Field(ge=0, description="New generated tokens since the previous chunk.")
    finish_reason: str | None = Field(None, description="'stop', 'length' or 'abort' on the last chunk.")
    stop_reason: str | None = Field(
        None,
        description="Last chunk: the stop string that ended generation (not in the text); "
        "None when the model ended by itself (end of sequence, stop token) or ran out of tokens.",
    )
    prompt_tokens: int | None = Field(None, description="Prompt length in tokens (first chunk).")
    cached_tokens: int | None = Field(None, description="Prompt tokens served from the prefix cache.")
    replica: str | None = Field(None, description="Which replica produced the chunk.")
    queue_s: float | None = Field(
        None, ge=0, description="Last chunk: seconds the request waited in the engine's queue, if the engine says."
    )
    engine_ttft_s: float | None = Field(
        None, ge=0, description="Last chunk: seconds from the engine's arrival of the request to its first token, "
        "as the engine measured it, if it says.",
    )
    spans: tuple[SpanRecord, ...] = Field(
        (), description="Last chunk: finished engine-side spans of the request, for the driver to export."
    )


class EngineStats(BaseModel):
    """A snapshot of an engine's load."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Engine or replica name.")
    running: int = Field(0, ge=0, description="Requests generating now.")
    waiting: int = Field(0, ge=0, description="Requests queued inside the engine.")
    prefix_cache_hit_rate: float | None = Field(None, description="Share of prompt tokens served from cache.")
    tokens_per_s: float | None = Field(None, description="Recent generation throughput.")
    generated_tokens: int = Field(0, ge=0, description="Tokens generated since start.")


@runtime_checkable
class Engine(Protocol):
    """Anything that streams generations: a scripted engine, a vLLM replica, a replica pool."""

    name: str

    def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        """Stream the request's output; closing the iterator aborts the request."""
        ...

    async def stats(self) -> EngineStats:
        """Current load."""
        ...

    async def aclose(self) -> None:
        """Release the engine; pending requests are aborted."""
        ...
