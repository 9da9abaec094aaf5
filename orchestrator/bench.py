"""``bench engine``: the physical bound of ONE replica, measured through Ray.

Everything goes through the same path the runtime uses: a one-replica
:class:`~actors.pool.ReplicaPool`, Ray streaming generators, chunk by chunk.

What is measured (all after one warm-up request):
- ``single_tok_s``: one stream; generated tokens / seconds from sending the
  request to its last chunk (prefill included).
- ``aggregate_tok_s[n]``: ``n`` concurrent streams with distinct prompts;
  all generated tokens / seconds from sending the first to the last chunk of
  the slowest stream.
- ``dispatch_overhead_ms``: ``samples`` sequential 1-token requests; for each,
  the round trip seen by the pool minus the time the request spent inside the
  replica actor (engine stream and chunk hand-off, timed in the actor). It is
  the cost of one call through Ray: routing, actor task, streaming returns.
Engines may stop before ``max_tokens`` (end of sequence): rates count the
tokens actually generated.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from pydantic import BaseModel, ConfigDict, Field

from actors import GenerateRequest, ReplicaPool
from graphs.params import SamplingParams

PROMPT = "Count from 1 to 1000, separating the numbers with single spaces. Start now: 1 2 3"


class BenchConfig(BaseModel):
    """How hard and how long to measure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    streams: tuple[int, ...] = Field((1, 2, 4, 8, 16), min_length=1, description="Concurrent stream counts measured.")
    max_tokens: int = Field(128, ge=1, le=4096, description="Tokens asked of each stream.")
    samples: int = Field(50, ge=2, le=10000, description="1-token requests timed for the dispatch overhead.")
    prompt: str = Field(PROMPT, description="Prompt of every stream (suffixed to make each distinct).")


class Percentiles(BaseModel):
    """A latency distribution summary, in milliseconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    p50: float = Field(description="Median.")
    p99: float = Field(description="99th percentile (nearest rank).")


class EngineBench(BaseModel):
    """The figures ``forkjoin bench engine --json`` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: str = Field(description="What the replica hosts (model name, or 'scripted').")
    replica: str = Field(description="Name of the measured replica.")
    engine_start_s: float = Field(description="Seconds the replica's engine took to start.")
    max_tokens: int = Field(description="Tokens asked of each stream.")
    single_tok_s: float = Field(description="One stream: generated tokens per second.")
    aggregate_tok_s: dict[str, float] = Field(description="Concurrent streams -> total tokens per second.")
    dispatch_overhead_ms: Percentiles = Field(description="Per-call cost through Ray (see module doc).")


async def bench_engine(pool: ReplicaPool, config: BenchConfig, *, engine: str) -> EngineBench:
    """Measure the pool's single replica as the module doc says."""
    replica = pool.replicas[0]
    await _streams(pool, config, 1)  # warm-up: first-call paths, compile caches
    single = await _streams(pool, config, 1)
    aggregate = {str(n): await _streams(pool, config, n) for n in config.streams}
    overhead = await _dispatch_overhead(pool, config.samples)
    return EngineBench(
        engine=engine,
        replica=replica.name,
        engine_start_s=round(replica.start_s, 3),
        max_tokens=config.max_tokens,
        single_tok_s=round(single, 2),
        aggregate_tok_s={n: round(v, 2) for n, v in aggregate.items()},
        dispatch_overhead_ms=overhead,
    )


async def _streams(pool: ReplicaPool, config: BenchConfig, n: int) -> float:
    """Tokens per second of ``n`` concurrent streams."""
    params = SamplingParams(max_tokens=config.max_tokens)
    requests = [
        GenerateRequest(request_id=_rid(), prompt=f"{config.prompt} (stream {i})", params=params) for i in range(n)
    ]
    began = time.perf_counter()
    tokens = await asyncio.gather(*(_tokens(pool, r) for r in requests))
    return sum(tokens) / (time.perf_counter() - began)


async def _tokens(pool: ReplicaPool, request: GenerateRequest) -> int:
    return sum([chunk.tokens async for chunk in pool.generate(request)])


async def _dispatch_overhead(pool: ReplicaPool, samples: int) -> Percentiles:
    params = SamplingParams(max_tokens=1)
    overheads = []
    for i in range(samples):
        request = GenerateRequest(request_id=_rid(), prompt=f"Say yes. ({i})", params=params)
        began = time.perf_counter()
        chunks = [chunk async for chunk in pool.generate(request)]
        round_trip = time.perf_counter() - began
        inside = await pool.handle(chunks[-1].replica).elapsed.remote(request.request_id)
        overheads.append((round_trip - (inside or 0.0)) * 1000)
    return Percentiles(p50=round(percentile(overheads, 50), 3), p99=round(percentile(overheads, 99), 3))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _rid() -> str:
    return f"bench-{uuid.uuid4().hex[:10]}"
