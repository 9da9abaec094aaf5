"""``bench engine``: ONE replica's curve through Ray, optionally beside plain vLLM's.

Everything on forkjoin's side goes through the path the runtime uses: a
one-replica :class:`~actors.pool.ReplicaPool`, Ray streaming generators,
chunk by chunk. The baseline (:mod:`actors.baseline`) is vLLM's own
``AsyncLLM`` in a child process with the same engine settings, measured the
same way, before forkjoin's replica starts; the two never share the machine.

What is measured (all after one warm-up request), identically on both sides
(:func:`actors.baseline.sweep`), in ``rounds`` rounds of the whole sweep:
- ``single_tok_s``: one stream, best of ``singles`` runs per round;
  generated tokens / seconds from sending the request to its last chunk
  (prefill included); ``ttft_ms``: the median time to its first chunk.
- ``aggregate_tok_s[n]``: ``n`` concurrent streams with distinct prompts,
  the best round; all generated tokens / seconds from sending the first to
  the last chunk of the slowest stream.
- ``cpu_share``: during the 8-stream rounds, the percent of one core each
  role used (:mod:`actors.proc_cpu`: vLLM's EngineCore, the measuring
  process, forkjoin's replica actor, Ray's daemons), which shows where a
  gap between the two sides' rates goes.
- forkjoin only: ``dispatch_overhead_ms``, ``samples`` sequential 1-token
  requests, each the round trip seen by the pool minus its time inside the
  replica actor (the cost of one call through Ray); ``serial_s``, the
  ``make run`` prompt as a one-node graph through :class:`Runtime`, against
  the same request sent to plain vLLM (each side's fastest of ``singles`` runs).
Engines may stop before ``max_tokens`` (end of sequence): rates count the
tokens actually generated.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from actors import GenerateRequest, ReplicaPool
from actors.baseline import BaselineConfig, BaselineResult, Curve, stream_prompt, sweep
from actors.config import EngineConfig
from graphs.errors import ForkjoinError
from graphs.params import SamplingParams

PROMPT = "Count from 1 to 1000, separating the numbers with single spaces. Start now: 1 2 3"
SERIAL_PROMPT = "Give three short tips for staying focused while studying."


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


class EngineBench(BaseModel):
    """The figures ``forkjoin bench engine --json`` prints for forkjoin's replica."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: str = Field(description="What the replica hosts (model name, or 'scripted').")
    replica: str = Field(description="Name of the measured replica.")
    engine_start_s: float = Field(description="Seconds the replica's engine took to start.")
    max_tokens: int = Field(description="Tokens asked of each stream.")
    single_tok_s: float = Field(description="One stream: generated tokens per second.")
    ttft_ms: float = Field(description="One stream: median milliseconds to the first chunk.")
    aggregate_tok_s: dict[str, float] = Field(description="Concurrent streams -> total tokens per second.")
    prefill_tok_s: float = Field(description="Prompt tokens per second of a long prompt (1 generated token).")
    dispatch_overhead_ms: Percentiles = Field(description="Per-call cost through Ray (see module doc).")
    serial_s: float = Field(description="Wall seconds of the serial prompt through the runtime (fastest of singles).")
    serial_tokens: int = Field(description="Tokens the serial prompt generated.")
    cpu_share: dict[str, float] = Field(
        default_factory=dict, description="Percent of one core per role during the 8-stream rounds (Curve.cpu_share).")

    def curve(self) -> Curve:
        """The figures the baseline comparison uses."""
        fields = ("engine_start_s", "single_tok_s", "ttft_ms", "aggregate_tok_s", "serial_s", "serial_tokens",
                  "cpu_share")
        return Curve(**{f: getattr(self, f) for f in fields})


async def bench_engine(pool: ReplicaPool, config: BenchConfig, *, engine: str) -> EngineBench:
    """Measure the pool's single replica as the module doc says."""
    replica = pool.replicas[0]
    await _stream(pool, config, 0)  # warm-up: first-call paths, compile caches
    swept = await sweep(lambda i: _stream(pool, config, i),
                        singles=config.singles, rounds=config.rounds, streams=config.streams)
    serial_s, serial_tokens = min([await _serial(pool, config) for _ in range(config.singles)])  # best of singles
    return EngineBench(
        engine=engine,
        replica=replica.name,
        engine_start_s=round(replica.start_s, 3),
        max_tokens=config.max_tokens,
        **swept,
        prefill_tok_s=round(await _prefill(pool), 1),
        dispatch_overhead_ms=await _dispatch_overhead(pool, config.samples),
        serial_s=round(serial_s, 3),
        serial_tokens=serial_tokens,
    )


def stream_request(config: BenchConfig, index: int) -> GenerateRequest:
    """The bench's request number ``index`` (both sides send exactly these)."""
    params = SamplingParams(max_tokens=config.max_tokens)
    return GenerateRequest(request_id=_rid(), prompt=stream_prompt(config.prompt, index), params=params)


async def _stream(pool: ReplicaPool, config: BenchConfig, index: int) -> tuple[int, float, float]:
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


class BaselineComparison(BaseModel):
    """``bench engine --baseline``: plain vLLM and forkjoin's replica, one after the other."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(description="The model both served.")
    dtype: str = Field(description="The dtype both served.")
    baseline: Curve = Field(description="Plain vLLM (AsyncLLM in one process, no Ray).")
    forkjoin: EngineBench = Field(description="forkjoin's one-replica pool through Ray.")
    ratio_single: float = Field(description="forkjoin single_tok_s / baseline single_tok_s.")
    ratio_aggregate_8: float | None = Field(description="Same at 8 streams (None when 8 was not measured).")
    ttft_delta_ms: float = Field(description="forkjoin ttft_ms - baseline ttft_ms.")
    serial_ratio: float = Field(description="forkjoin serial_s / baseline serial_s (the run --compare serial path).")
    memory_bandwidth_gb_s: float = Field(description="Measured read bandwidth of the machine.")
    decode_bytes: int = Field(description="Weight bytes one decode step reads in the served dtype.")
    single_stream_limit_tok_s: float = Field(description="memory_bandwidth / decode_bytes: no stream decodes faster.")
    baseline_fraction_of_limit: float = Field(description="baseline single_tok_s / single_stream_limit_tok_s.")
    baseline_fraction_of_round_limit: float | None = Field(
        None, description="Median over plain vLLM's rounds of its best single stream over the limit implied by the "
        "bandwidth read just before that round (None when no round was paired).")
    passes: list[PassRatios] = Field(
        default_factory=list, description="--passes N > 1: each pass's paired ratios (the figures above take each "
        "side's best pass); empty for one pass.")


class PassRatios(BaseModel):
    """The ratios of one pass: plain vLLM, then forkjoin right after it (paired in time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ratio_single: float = Field(description="forkjoin single_tok_s / baseline single_tok_s in this pass.")
    ratio_aggregate_8: float | None = Field(description="Same at 8 streams.")
    ttft_delta_ms: float = Field(description="forkjoin ttft_ms - baseline ttft_ms in this pass.")
    serial_ratio: float = Field(description="forkjoin serial_s / baseline serial_s in this pass.")
    baseline_single_tok_s: float = Field(description="Plain vLLM's single stream in this pass (the machine's pace).")
    baseline_fraction_of_limit: float | None = Field(
        None, description="Plain vLLM's single stream over the limit its own pass's bandwidth implies.")
    baseline_fraction_of_round_limit: float | None = Field(
        None, description="This pass's baseline_fraction_of_round_limit (rounds paired with their bandwidth).")


def best_of(sides: list[BaselineResult] | list[EngineBench]) -> BaselineResult | EngineBench:
    """One side's passes as one measurement: each figure's best pass (interference only slows a pass down)."""
    curves = [side.curve if isinstance(side, BaselineResult) else side.curve() for side in sides]
    serial = min(curves, key=lambda c: c.serial_s)
    busiest = max(curves, key=lambda c: c.aggregate_tok_s.get("8", 0.0))
    best = {
        "engine_start_s": min(c.engine_start_s for c in curves),
        "single_tok_s": max(c.single_tok_s for c in curves),
        "ttft_ms": min(c.ttft_ms for c in curves),
        "aggregate_tok_s": {n: max(c.aggregate_tok_s[n] for c in curves) for n in curves[0].aggregate_tok_s},
        "serial_s": serial.serial_s,
        "serial_tokens": serial.serial_tokens,
        "cpu_share": busiest.cpu_share,  # the CPU of the pass whose 8-stream rate is kept
    }
    first = sides[0]
    if isinstance(first, BaselineResult):
        bandwidth = max(side.memory_bandwidth_gb_s for side in sides)
        rounds = [paired for side in sides for paired in side.rounds]
        return first.model_copy(update={"curve": Curve(**best), "memory_bandwidth_gb_s": bandwidth, "rounds": rounds})
    best["prefill_tok_s"] = max(side.prefill_tok_s for side in sides)
    best["dispatch_overhead_ms"] = min((side.dispatch_overhead_ms for side in sides), key=lambda p: p.p50)
    return first.model_copy(update=best)


def compare_passes(passes: list[tuple[BaselineResult, EngineBench]]) -> BaselineComparison:
    """Several plain-then-forkjoin passes: figures from each side's best pass, and each pass's own ratios."""
    if len(passes) == 1:
        return compare_with_baseline(*passes[0])
    paired = [compare_with_baseline(base, mine) for base, mine in passes]
    merged = compare_with_baseline(best_of([b for b, _ in passes]), best_of([m for _, m in passes]))
    return merged.model_copy(update={"passes": [
        PassRatios(ratio_single=c.ratio_single, ratio_aggregate_8=c.ratio_aggregate_8, ttft_delta_ms=c.ttft_delta_ms,
                   serial_ratio=c.serial_ratio, baseline_single_tok_s=c.baseline.single_tok_s,
                   baseline_fraction_of_limit=c.baseline_fraction_of_limit,
                   baseline_fraction_of_round_limit=c.baseline_fraction_of_round_limit) for c in paired]})


def compare_with_baseline(baseline: BaselineResult, forkjoin: EngineBench) -> BaselineComparison:
    """Ratios of forkjoin's figures to plain vLLM's, and the machine's single-stream limit."""
    base = baseline.curve
    limit = baseline.memory_bandwidth_gb_s * 1e9 / baseline.weight_bytes
    eight = "8" in base.aggregate_tok_s and "8" in forkjoin.aggregate_tok_s
    return BaselineComparison(
        model=forkjoin.engine,
        dtype=baseline.dtype,
        baseline=base,
        forkjoin=forkjoin,
        ratio_single=round(forkjoin.single_tok_s / base.single_tok_s, 3),
        ratio_aggregate_8=round(forkjoin.aggregate_tok_s["8"] / base.aggregate_tok_s["8"], 3) if eight else None,
        ttft_delta_ms=round(forkjoin.ttft_ms - base.ttft_ms, 1),
        serial_ratio=round(forkjoin.serial_s / base.serial_s, 3),
        memory_bandwidth_gb_s=baseline.memory_bandwidth_gb_s,
        decode_bytes=baseline.weight_bytes,
        single_stream_limit_tok_s=round(limit, 2),
        baseline_fraction_of_limit=round(base.single_tok_s / limit, 3),
        baseline_fraction_of_round_limit=round_fraction(baseline),
    )


def round_fraction(baseline: BaselineResult) -> float | None:
    """Median of each round's single stream over the limit its own bandwidth reading implies."""
    if not baseline.rounds:
        return None
    fractions = [r.single_tok_s / (r.bandwidth_gb_s * 1e9 / baseline.weight_bytes) for r in baseline.rounds]
    return round(statistics.median(fractions), 3)


def run_baseline(engine: EngineConfig, config: BenchConfig, *, timeout_s: float = 1800.0) -> BaselineResult:
    """Measure plain vLLM in a child process (its own session, killed with its group on any exit)."""
    child = BaselineConfig(
        engine=engine, streams=config.streams, max_tokens=config.max_tokens, singles=config.singles,
        rounds=config.rounds,
        prompt=config.prompt, serial_prompt=config.serial_prompt,
    )
    with tempfile.TemporaryDirectory(prefix="fj-baseline-") as tmp:
        out, log = Path(tmp) / "result.json", Path(tmp) / "vllm.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "actors.baseline", child.model_dump_json(), str(out)],
                stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
            try:
                code = process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired as exc:
                raise BenchError(f"plain vLLM baseline did not finish within {timeout_s:g} s") from exc
            finally:
                _kill_group(process)
        if code != 0 or not out.exists():
            raise BenchError(f"plain vLLM baseline failed (exit {code}): {_last_line(log)}")
        return BaselineResult.model_validate_json(out.read_text())


class BenchError(ForkjoinError):
    """A benchmark could not run (its engine failed to start or died). Caused by the setup."""


def _kill_group(process: subprocess.Popen) -> None:
    """End the child's whole process group (vLLM's EngineCore and worker included)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line]
    return (errors or lines or ["no output"])[-1][:300]
