"""Plain vLLM, measured alone: the baseline ``forkjoin bench engine --baseline`` compares against.

Run as a child process (``python -m actors.baseline CONFIG_JSON OUT_FILE``) so that
nothing of forkjoin's (no Ray, no actor, no replica) shares the machine with
it, and so that its engine is gone before forkjoin's replica starts. It
writes one :class:`BaselineResult` JSON object to OUT_FILE.

This is the one module besides :mod:`actors.vllm_engine` that imports vLLM,
by design: the baseline must be vLLM's own ``AsyncLLM`` driven directly, with
the same engine arguments and environment (:func:`build_engine_args`,
:func:`apply_env`) but none of forkjoin's request path. It also measures the
machine's memory read bandwidth, which bounds single-stream decoding on CPU:
one decode step reads every weight once.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from actors.config import EngineConfig
from actors.models import resolve_model
from actors.proc_cpu import CpuWindow

BANDWIDTH_BYTES = 1 << 30
BANDWIDTH_REPEATS = 5


class BaselineConfig(BaseModel):
    """What the baseline child process measures (the fields of ``orchestrator.bench.BenchConfig`` it needs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: EngineConfig = Field(description="The engine, exactly as forkjoin's replica starts it.")
    streams: tuple[int, ...] = Field(min_length=1, description="Concurrent stream counts measured.")
    max_tokens: int = Field(ge=1, description="Tokens asked of each stream.")
    singles: int = Field(ge=1, description="Single-stream runs per round; the best rate and the median TTFT are kept.")
    rounds: int = Field(ge=1, description="Rounds of the whole sweep (singles, then each stream count); best kept.")
    prompt: str = Field(description="Prompt of every stream (suffixed with ' (stream i)' to make each distinct).")
    serial_prompt: str = Field(description="The prompt timed as one serial request.")


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
        "(actors.proc_cpu: engine, driver, replica, ray, other); empty without 8 streams or /proc.")


class RoundLimit(BaseModel):
    """One round's single stream beside the bandwidth read just before it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bandwidth_gb_s: float = Field(description="Read bandwidth just before the round's single streams, GB/s.")
    single_tok_s: float = Field(description="The round's best single stream, tokens/s.")


class BaselineResult(BaseModel):
    """What the child writes: plain vLLM's curve and the machine's memory bandwidth."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    curve: Curve = Field(description="Plain vLLM's figures.")
    memory_bandwidth_gb_s: float = Field(description="Best read bandwidth over all allowed cores, GB/s.")
    weight_bytes: int = Field(description="Bytes of weights one decode step reads, in the served dtype.")
    dtype: str = Field(description="The dtype the engine served.")
    rounds: list[RoundLimit] = Field(
        default_factory=list, description="Each round's single stream paired with the bandwidth read before it.")


def stream_prompt(prompt: str, index: int) -> str:
    """Stream ``index``'s prompt: both sides of the comparison send exactly these."""
    return f"{prompt} (stream {index})"


class BandwidthProbe:
    """Read bandwidth on demand with every allowed core: the best of a few sums over one 1 GiB float32 buffer."""

    def __init__(self) -> None:
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        self._data = torch.ones(BANDWIDTH_BYTES // 4, dtype=torch.float32)
        self._data.sum()  # touch every page once

    def __call__(self) -> float:
        best = float("inf")
        for _ in range(BANDWIDTH_REPEATS):
            began = time.perf_counter()
            self._data.sum()
            best = min(best, time.perf_counter() - began)
        return BANDWIDTH_BYTES / best / 1e9


async def measure(config: BaselineConfig, probe: BandwidthProbe | None = None) -> tuple[Curve, list[RoundLimit]]:
    """Start plain vLLM with forkjoin's settings, then time what ``orchestrator.bench`` times.

    With ``probe``, the bandwidth is also read just before each round's single
    streams, which are paired with it (:class:`RoundLimit`): this VM's
    bandwidth moves by half within minutes.
    """
    from actors.vllm_engine import apply_env, build_engine_args
    from vllm.v1.engine.async_llm import AsyncLLM

    model_path = resolve_model(config.engine.model).path
    apply_env(config.engine)
    began = time.perf_counter()
    llm = AsyncLLM.from_engine_args(build_engine_args(config.engine, str(model_path), is_cpu=True))
    try:
        await _stream(llm, config, stream_prompt(config.prompt, 0))  # warm-up, as forkjoin's bench does
        start_s = time.perf_counter() - began
        bandwidths: list[float] = []
        singles: list[float] = []
        swept = await sweep(lambda i: _stream(llm, config, stream_prompt(config.prompt, i)),
                            singles=config.singles, rounds=config.rounds, streams=config.streams,
                            before_round=(lambda: bandwidths.append(probe())) if probe else None,
                            after_singles=singles.append if probe else None)
        serials = [await _stream(llm, config, config.serial_prompt) for _ in range(config.singles)]
        serial_tokens, _, serial_s = min(serials, key=lambda run: run[2])  # best of singles, as forkjoin's side
    finally:
        llm.shutdown()
    curve = Curve(engine_start_s=round(start_s, 2), **swept, serial_s=round(serial_s, 3), serial_tokens=serial_tokens)
    return curve, [RoundLimit(bandwidth_gb_s=round(bw, 2), single_tok_s=round(rate, 2))
                   for bw, rate in zip(bandwidths, singles, strict=True)]


Stream = Callable[[int], Awaitable[tuple[int, float, float]]]
"""Send stream ``i``'s request: (tokens, seconds to first output, seconds to the end)."""


async def sweep(stream: Stream, *, singles: int, rounds: int, streams: tuple[int, ...],
                before_round: Callable[[], object] | None = None,
                after_singles: Callable[[float], object] | None = None) -> dict:
    """``single_tok_s``, ``ttft_ms``, ``aggregate_tok_s`` and ``cpu_share`` over ``rounds`` rounds, alike on both sides.

    Each round runs ``singles`` single streams, then every stream count once;
    rates keep the best round (interference only ever slows a run down), TTFT
    the median of all single runs. Rounds spread each point over the whole
    measurement, so a slow moment costs one sample, not a point. ``cpu_share``
    is each role's CPU (this process and its descendants, :mod:`actors.proc_cpu`)
    over all rounds of 8 streams (empty when 8 is not measured). ``before_round``
    runs at the start of each round, ``after_singles`` gets the round's best
    single-stream rate.
    """
    runs: list[tuple[int, float, float]] = []
    aggregate: dict[str, float] = {}
    cpu, cpu_streams = CpuWindow(), 8
    for _ in range(rounds):
        if before_round is not None:
            before_round()
        round_runs = [await stream(i) for i in range(singles)]
        if after_singles is not None:
            after_singles(max(tokens / elapsed for tokens, _, elapsed in round_runs))
        runs += round_runs
        for n in streams:
            if n == cpu_streams:
                cpu.start()
            began = time.perf_counter()
            results = await asyncio.gather(*(stream(i) for i in range(n)))
            rate = sum(tokens for tokens, _, _ in results) / (time.perf_counter() - began)
            if n == cpu_streams:
                cpu.stop()
            aggregate[str(n)] = max(aggregate.get(str(n), 0.0), round(rate, 2))
    return {
        "single_tok_s": round(max(tokens / elapsed for tokens, _, elapsed in runs), 2),
        "ttft_ms": round(statistics.median(first for _, first, _ in runs) * 1000, 1),
        "aggregate_tok_s": aggregate,
        "cpu_share": cpu.shares(),
    }


async def _stream(llm, config: BaselineConfig, prompt: str) -> tuple[int, float, float]:
    """(tokens, seconds to first output, seconds to the end) of one streamed request."""
    from actors.engine import GenerateRequest
    from actors.vllm_engine import render_prompt, to_vllm_params
    from graphs.params import SamplingParams
    from vllm.inputs import TokensPrompt

    request = GenerateRequest(
        request_id=f"baseline-{uuid.uuid4().hex[:10]}", prompt=prompt,
        params=SamplingParams(max_tokens=config.max_tokens),
    )
    ids = render_prompt(llm.get_tokenizer(), request)
    began = time.perf_counter()
    first, tokens = None, 0
    stream = llm.generate(TokensPrompt(prompt_token_ids=ids), to_vllm_params(request.params), request.request_id)
    async for out in stream:
        first = first if first is not None else time.perf_counter() - began
        tokens += len(out.outputs[0].token_ids)
    elapsed = time.perf_counter() - began
    return tokens, first if first is not None else elapsed, elapsed


def main(argv: list[str]) -> int:
    """``CONFIG_JSON OUT_FILE``: measure, write the result to OUT_FILE (vLLM logs go to stdout)."""
    from actors.vllm_engine import served_dtype, weight_bytes

    config = BaselineConfig.model_validate_json(argv[0])
    probe = BandwidthProbe()
    bandwidth = probe()
    curve, rounds = asyncio.run(measure(config, probe))
    result = BaselineResult(
        curve=curve,
        rounds=rounds,
        memory_bandwidth_gb_s=round(max([bandwidth, *(r.bandwidth_gb_s for r in rounds)]), 2),
        weight_bytes=weight_bytes(
            resolve_model(config.engine.model).path, served_dtype(config.engine, is_cpu=True), per_decode_step=True
        ),
        dtype=served_dtype(config.engine, is_cpu=True),
    )
    Path(argv[1]).write_text(result.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
