"""``bench engine``: ONE replica's curve through Ray, optionally beside plain vLLM's.

Everything on forkjoin's side goes through the path the runtime uses: a
one-replica :class:`~actors.pool.ReplicaPool`, its chunks merged and sent
through the replica's feed (:mod:`actors.coalesce`). The baseline (:mod:`orchestrator.baseline`) is vLLM's own
``AsyncLLM`` in a child process with the same engine settings; both engines
are up at once and :func:`sweep` sends every point to each in turn, so that a
change in the machine's pace falls on both alike.

What is measured (all after one warm-up request), identically on every side,
in ``rounds`` rounds of the whole sweep:
- ``single_tok_s``: one stream, best of ``singles`` runs per round;
  generated tokens / seconds from sending the request to its last chunk
  (prefill included); ``ttft_ms``: the median time to its first chunk.
- ``aggregate_tok_s[n]``: ``n`` concurrent streams with distinct prompts,
  the best round; all generated tokens / seconds from sending them to the
  last chunk of the slowest stream.
- ``round_single_tok_s``, ``round_aggregate_8_tok_s``: each round's own
  figures, which pair the two sides round by round.
- ``cpu_share``: during the 8-stream rounds, the percent of one core each
  role used (:mod:`actors.proc_cpu`: vLLM's EngineCore, the measuring
  process, forkjoin's replica actor, Ray's daemons, the other side idle),
  which shows where a gap between the two sides' rates goes.
- forkjoin only: ``dispatch_overhead_ms``, ``samples`` sequential 1-token
  requests, each the round trip seen by the pool minus its time inside the
  replica actor (the cost of one call through Ray); ``serial_s``, the
  ``make run`` prompt as a one-node graph through :class:`Runtime`, against
  the same request sent to plain vLLM (each side's fastest of ``singles`` runs).
Engines may stop before ``max_tokens`` (end of sequence): rates count the
tokens actually generated.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from actors import GenerateRequest, ReplicaPool
from actors.baseline import Run, stream_prompt
from actors.proc_cpu import CpuWindow
from graphs.errors import ForkjoinError
from graphs.params import SamplingParams

PROMPT = "Count from 1 to 1000, separating the numbers with single spaces. Start now: 1 2 3"
SERIAL_PROMPT = "Give three short tips for staying focused while studying."
CPU_STREAMS = 8


class BenchConfig(BaseModel):
    """How hard and how long to measure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    streams: tuple[int, ...] = Field((1, 2, 4, 8, 16), min_length=1, description="Concurrent stream counts measured.")
    max_tokens: int = Field(128, ge=1, le=4096, description="Tokens asked of each stream.")
    samples: int = Field(50, ge=2, le=10000, description="1-token requests timed for the dispatch overhead.")
    singles: int = Field(3, ge=1, le=100, description="Single-stream runs per round; the best rate and median TTFT are kept.")
    rounds: int = Field(3, ge=1, le=100, description="Rounds of the sweep (singles, then each stream count); best kept.")
    prompt: str = Field(PROMPT, description="Prompt of every stream (suffixed to make each distinct).")
    serial_prompt: str = Field(SERIAL_PROMPT, description="The prompt timed as a serial request on both sides.")


class Percentiles(BaseModel):
    """A latency distribution summary, in milliseconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    p50: float = Field(description="Median.")
    p99: float = Field(description="99th percentile (nearest rank).")


class Curve(BaseModel):
    """One engine's figures as a ``bench engine --baseline`` side reports them (plain vLLM, forkjoin)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine_start_s: float = Field(description="Seconds the engine took to start (plain vLLM: to its first answer).")
    single_tok_s: float = Field(description="One stream: generated tokens per second (prefill included).")
    ttft_ms: float = Field(description="One stream: median milliseconds from sending to the first chunk.")
    aggregate_tok_s: dict[str, float] = Field(description="Concurrent streams -> total tokens per second.")
    serial_s: float = Field(description="Wall seconds of the serial prompt (the fastest of ``singles`` runs).")
    serial_tokens: int = Field(description="Tokens the serial prompt generated.")
    cpu_share: dict[str, float] = Field(
        default_factory=dict, description="During the 8-stream rounds: percent of one core each role used "
        "(actors.proc_cpu: engine, driver, replica, ray, other, idle); empty without 8 streams or /proc.")
    round_single_tok_s: list[float] = Field(
        default_factory=list, description="Each round's best single stream, tokens/s, in order.")
    round_aggregate_8_tok_s: list[float] = Field(
        default_factory=list, description="Each round's 8-stream aggregate, tokens/s, in order (empty without 8).")


class EngineBench(Curve):
    """The figures ``forkjoin bench engine --json`` prints for forkjoin's replica: its :class:`Curve` and more."""

    engine: str = Field(description="What the replica hosts (model name, or 'scripted').")
    replica: str = Field(description="Name of the measured replica.")
    max_tokens: int = Field(description="Tokens asked of each stream.")
    prefill_tok_s: float = Field(description="Prompt tokens per second of a long prompt (1 generated token).")
    dispatch_overhead_ms: Percentiles = Field(description="Per-call cost through Ray (see module doc).")

    def curve(self) -> Curve:
        """The figures the baseline comparison uses."""
        return Curve(**{name: getattr(self, name) for name in Curve.model_fields})


class Side(Protocol):
    """One engine the sweep measures: it sends the bench's streams and knows which processes are its own."""

    async def run(self, indices: Sequence[int]) -> list[Run]:
        """Streams ``indices`` at once (prompts from :func:`~actors.baseline.stream_prompt`)."""

    async def serial(self) -> tuple[float, int]:
        """The serial prompt once: (wall seconds, tokens)."""

    def cpu_window(self) -> CpuWindow:
        """A window that charges this side's processes by role and the other side's as idle."""


class ForkjoinSide:
    """forkjoin's one-replica pool as a :class:`Side`; ``idle`` is the pid of a plain vLLM child waiting meanwhile."""

    def __init__(self, pool: ReplicaPool, config: BenchConfig, *, idle: int | None = None) -> None:
        self.pool, self.config, self.idle = pool, config, idle

    async def run(self, indices: Sequence[int]) -> list[Run]:
        return list(await asyncio.gather(*(_stream(self.pool, self.config, i) for i in indices)))

    async def serial(self) -> tuple[float, int]:
        return await _serial(self.pool, self.config)

    def cpu_window(self) -> CpuWindow:
        return CpuWindow(idle=self.idle)


@dataclass
class Tally:
    """What the sweep saw of one side."""

    window: CpuWindow
    singles: list[Run] = field(default_factory=list)
    aggregate: dict[str, float] = field(default_factory=dict)
    round_single: list[float] = field(default_factory=list)
    round_eight: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "single_tok_s": round(max(rate(run) for run in self.singles), 2),
            "ttft_ms": round(statistics.median(first for _, first, _ in self.singles) * 1000, 1),
            "aggregate_tok_s": self.aggregate,
            "cpu_share": self.window.shares(),
            "round_single_tok_s": self.round_single,
            "round_aggregate_8_tok_s": self.round_eight,
        }


def rate(run: Run) -> float:
    """Tokens per second of one run."""
    tokens, _, elapsed = run
    return tokens / elapsed


async def sweep(sides: Sequence[Side], *, singles: int, rounds: int, streams: tuple[int, ...],
                before_round: Callable[[], Awaitable[object]] | None = None) -> list[dict]:
    """Each side's :class:`Curve` figures but the start and serial ones, over ``rounds`` rounds, in ``sides`` order.

    Each round runs ``singles`` single streams, then every stream count once.
    Every point runs on each side in turn, the order reversed each round (A B,
    then B A), so a slow moment falls on both. Rates keep the best round
    (interference only ever slows a run down), TTFT the median of all single
    runs; each round's own single and 8-stream figures are kept too.
    ``cpu_share`` covers the 8-stream points only. ``before_round`` is awaited
    at the start of each round.
    """
    tallies = [Tally(side.cpu_window()) for side in sides]
    for number in range(rounds):
        turn = list(zip(sides, tallies, strict=True))[:: -1 if number % 2 else 1]
        if before_round is not None:
            await before_round()
        for index in range(singles):
            for side, tally in turn:
                tally.singles += await side.run([index])
        for tally in tallies:
            tally.round_single.append(round(max(rate(run) for run in tally.singles[-singles:]), 2))
        for n in streams:
            for side, tally in turn:
                await _point(side, tally, n)
    return [tally.summary() for tally in tallies]


async def _point(side: Side, tally: Tally, n: int) -> None:
    """``n`` streams at once on ``side``: all tokens over the slowest stream's time."""
    if n == CPU_STREAMS:
        tally.window.start()
    runs = await side.run(range(n))
    if n == CPU_STREAMS:
        tally.window.stop()
    aggregate = round(sum(tokens for tokens, _, _ in runs) / max(elapsed for _, _, elapsed in runs), 2)
    tally.aggregate[str(n)] = max(tally.aggregate.get(str(n), 0.0), aggregate)
    if n == CPU_STREAMS:
        tally.round_eight.append(aggregate)


async def best_serials(sides: Sequence[Side], times: int) -> list[tuple[float, int]]:
    """Each side's fastest of ``times`` serial runs (wall seconds, tokens), the sides taking turns."""
    runs: list[list[tuple[float, int]]] = [[] for _ in sides]
    for number in range(times):
        for position in range(len(sides))[:: -1 if number % 2 else 1]:
            runs[position].append(await sides[position].serial())
    return [min(side_runs) for side_runs in runs]


async def bench_engine(pool: ReplicaPool, config: BenchConfig, *, engine: str) -> EngineBench:
    """Measure the pool's single replica alone, as the module doc says."""
    mine = ForkjoinSide(pool, config)
    await mine.run([0])  # warm-up: first-call paths, compile caches
    (swept,) = await sweep([mine], singles=config.singles, rounds=config.rounds, streams=config.streams)
    (serial,) = await best_serials([mine], config.singles)
    return await engine_bench(pool, config, engine=engine, swept=swept, serial=serial)


async def engine_bench(pool: ReplicaPool, config: BenchConfig, *, engine: str, swept: dict,
                       serial: tuple[float, int]) -> EngineBench:
    """The sweep's figures with the forkjoin-only ones (prefill, Ray's per-call cost) measured now."""
    return EngineBench(
        engine=engine,
        replica=pool.replicas[0].name,
        engine_start_s=round(pool.replicas[0].start_s, 3),
        max_tokens=config.max_tokens,
        **swept,
        prefill_tok_s=round(await _prefill(pool), 1),
        dispatch_overhead_ms=await _dispatch_overhead(pool, config.samples),
        serial_s=round(serial[0], 3),
        serial_tokens=serial[1],
    )


def stream_request(config: BenchConfig, index: int) -> GenerateRequest:
    """The bench's request number ``index`` (both sides send exactly these)."""
    params = SamplingParams(max_tokens=config.max_tokens)
    return GenerateRequest(request_id=_rid(), prompt=stream_prompt(config.prompt, index), params=params)


async def _stream(pool: ReplicaPool, config: BenchConfig, index: int) -> Run:
    """(tokens, seconds to the first chunk, seconds to the last) of stream ``index``."""
    began = time.perf_counter()
    first, tokens = None, 0
    async for chunk in pool.generate(stream_request(config, index)):
        first = first if first is not None else time.perf_counter() - began
        tokens += chunk.tokens
    elapsed = time.perf_counter() - began
    return tokens, first if first is not None else elapsed, elapsed


async def _serial(pool: ReplicaPool, config: BenchConfig) -> tuple[float, int]:
    """The serial prompt as a one-node graph through the runtime: (wall seconds, tokens)."""
    from graphs.compiler import CompileOptions, serial_graph
    from orchestrator.runtime import Runtime

    graph = serial_graph(config.serial_prompt, CompileOptions(serial_max_tokens=config.max_tokens))
    result = await Runtime(pool).arun(graph)
    return result.wall_s, result.tokens


async def _prefill(pool: ReplicaPool) -> float:
    """Prompt tokens per second of a long, uncached prompt with one generated token."""
    words = " ".join(f"item{i}" for i in range(200))  # about 800 tokens
    request = GenerateRequest(request_id=_rid(), prompt=f"{uuid.uuid4().hex} {words}",
                              params=SamplingParams(max_tokens=1))
    began = time.perf_counter()
    chunks = [chunk async for chunk in pool.generate(request)]
    prompt_tokens = next((c.prompt_tokens for c in chunks if c.prompt_tokens), 0)
    return prompt_tokens / (time.perf_counter() - began)


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


class BenchError(ForkjoinError):
    """A benchmark could not run (its engine failed to start or died). Caused by the setup."""
