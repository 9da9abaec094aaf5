"""``bench engine --baseline``: plain vLLM and forkjoin's replica, both up, measured in turn.

One pass starts plain vLLM (:mod:`actors.baseline`, a child process with no
Ray) and, once it is up and idle, Ray and forkjoin's one-replica pool. Then
:func:`orchestrator.bench.sweep` sends every point to both in turn, the order
reversed each round, and the serial prompt likewise: this VM's pace moves by a
quarter within minutes, and measuring one side after the other put that swing
into the ratio. Each round also pairs the two sides' own figures, whose
median ratios are printed beside the ratios of each side's best round. The
bandwidth is read (in the child) at the start of every round.

Invariants: every wait on the child is bounded; the child's whole process group
is killed when the pass ends, however it ends, and the child itself exits
when its stdin closes, so it never outlives this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from actors import ReplicaPool
from actors.baseline import BaselineConfig, Run
from actors.config import EngineConfig
from actors.proc_cpu import CpuWindow
from orchestrator.bench import BenchConfig, BenchError, Curve, EngineBench, ForkjoinSide, best_serials, engine_bench
from orchestrator.bench import sweep

START_TIMEOUT_S = 1800.0  # a first start on a fresh machine compiles kernels for minutes
COMMAND_TIMEOUT_S = 3600.0  # 16 streams of 4096 tokens on two slow cores
STOP_TIMEOUT_S = 30.0
EXIT_GRACE_S = 1.0
MESSAGE_CHARS = 300


class _Watched(asyncio.subprocess.SubprocessStreamProtocol):
    """The child's pipes, plus an event set when the child itself exits.

    A process the child started (vLLM's EngineCore, when forked) may hold its
    stdout open after the child is gone, so neither the pipe's end nor
    ``Process.wait()`` (which waits for the pipes too) says that it exited.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=1 << 20, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


class PlainVllm:
    """The plain vLLM child as a :class:`~orchestrator.bench.Side`; start it with :meth:`started`."""

    def __init__(self, process: asyncio.subprocess.Process, watched: _Watched, log: Path) -> None:
        self._process, self._watched, self._log = process, watched, log
        self.ready: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self._process.pid

    @classmethod
    @contextlib.asynccontextmanager
    async def started(cls, engine: EngineConfig, config: BenchConfig, *,
                      command: Sequence[str] = (sys.executable, "-m", "actors.baseline"),
                      start_timeout_s: float = START_TIMEOUT_S) -> AsyncIterator[PlainVllm]:
        """Start the child (its own session) and wait until its engine answered once; end it on exit."""
        child = BaselineConfig(engine=engine, max_tokens=config.max_tokens, prompt=config.prompt,
                               serial_prompt=config.serial_prompt)
        with tempfile.TemporaryDirectory(prefix="fj-baseline-") as tmp:
            log = Path(tmp) / "vllm.log"
            loop = asyncio.get_running_loop()
            transport, watched = await loop.subprocess_exec(
                lambda: _Watched(loop), *command, child.model_dump_json(), str(log), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )
            plain = cls(asyncio.subprocess.Process(transport, watched, loop), watched, log)
            try:
                plain.ready = await plain._reply(start_timeout_s, "did not start")
                yield plain
            except BaseException:
                await plain._stop(graceful=False)
                raise
            await plain._stop(graceful=True)

    async def run(self, indices: Sequence[int]) -> list[Run]:
        reply = await self._ask({"op": "streams", "indices": list(indices)})
        return [tuple(run) for run in reply["runs"]]

    async def serial(self) -> tuple[float, int]:
        (tokens, _, elapsed), = (await self._ask({"op": "serial"}))["runs"]
        return elapsed, tokens

    async def bandwidth(self) -> float:
        """The machine's read bandwidth now, GB/s (read in the child, which holds the buffer)."""
        return (await self._ask({"op": "bandwidth"}))["gb_s"]

    def cpu_window(self) -> CpuWindow:
        return CpuWindow(measured=self.pid)

    async def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write((json.dumps(command) + "\n").encode())
        try:
            await self._process.stdin.drain()
        except ConnectionError:
            pass  # it died: the reply read below says how
        return await self._reply(COMMAND_TIMEOUT_S, f"did not answer {command['op']!r}")

    async def _reply(self, timeout_s: float, doing: str) -> dict[str, Any]:
        """The child's next reply; a :class:`BenchError` saying why there is none."""
        line = await self._next_line(timeout_s)
        if line is None:
            raise BenchError(f"plain vLLM baseline {doing} within {timeout_s:g} s")
        if not line:
            raise BenchError(f"plain vLLM baseline failed (exit {self._process.returncode}): {self._last_log_line()}")
        try:
            reply = json.loads(line)
        except ValueError:
            reply = line.decode(errors="replace").strip()  # Python failed before the protocol began
        if not isinstance(reply, dict) or "error" in reply:
            error = reply.get("error") if isinstance(reply, dict) else reply
            raise BenchError(f"plain vLLM baseline failed: {str(error)[:MESSAGE_CHARS]}")
        return reply

    async def _next_line(self, timeout_s: float) -> bytes | None:
        """The child's next line; ``b""`` once it exited without one; None after ``timeout_s`` of silence."""
        assert self._process.stdout is not None
        reading = asyncio.ensure_future(self._process.stdout.readline())
        exiting = asyncio.ensure_future(self._watched.exited.wait())
        try:
            await asyncio.wait({reading, exiting}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            if exiting.done() and not reading.done():
                await asyncio.wait({reading}, timeout=EXIT_GRACE_S)  # a last line it wrote before exiting
            if reading.done() and not reading.result():
                await asyncio.wait({exiting}, timeout=STOP_TIMEOUT_S)  # its stdout ended: its exit follows
        finally:
            exiting.cancel()
            reading.cancel()
        if reading.done() and not reading.cancelled() and reading.result():
            return reading.result()
        return b"" if exiting.done() and not exiting.cancelled() else None

    def _last_log_line(self) -> str:
        try:
            lines = [line.strip() for line in self._log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        errors = [line for line in lines if "Error" in line]
        return (errors or lines or ["no output"])[-1][:MESSAGE_CHARS]

    async def _stop(self, *, graceful: bool) -> None:
        """Close its stdin (it shuts vLLM down and exits; after a failure, no wait), then kill what is left."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        if graceful:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await self._watched.exited.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        await self._process.wait()


class RoundLimit(BaseModel):
    """One round's single stream beside the bandwidth read just before it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bandwidth_gb_s: float = Field(description="Read bandwidth just before the round's single streams, GB/s.")
    single_tok_s: float = Field(description="The round's best single stream, tokens/s.")


class BaselineResult(BaseModel):
    """Plain vLLM's side of a pass: its curve and the machine's memory bandwidth."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    curve: Curve = Field(description="Plain vLLM's figures.")
    memory_bandwidth_gb_s: float = Field(description="Best read bandwidth over all allowed cores, GB/s.")
    weight_bytes: int = Field(description="Bytes of weights one decode step reads, in the served dtype.")
    dtype: str = Field(description="The dtype the engine served.")
    rounds: list[RoundLimit] = Field(
        default_factory=list, description="Each round's single stream paired with the bandwidth read before it.")


async def measure_pass(pool: ReplicaPool, plain: PlainVllm, config: BenchConfig, *,
                       engine: str) -> tuple[BaselineResult, EngineBench]:
    """Both sides, every point in turn (see the module doc): plain vLLM's result and forkjoin's."""
    mine = ForkjoinSide(pool, config, idle=plain.pid)
    await mine.run([0])  # warm-up, as the child did before it said it was ready
    bandwidths: list[float] = []

    async def read_bandwidth() -> None:
        bandwidths.append(await plain.bandwidth())

    theirs, ours = await sweep([plain, mine], singles=config.singles, rounds=config.rounds,
                               streams=config.streams, before_round=read_bandwidth)
    (plain_serial_s, plain_tokens), serial = await best_serials([plain, mine], config.singles)
    curve = Curve(engine_start_s=plain.ready["engine_start_s"], **theirs, serial_s=round(plain_serial_s, 3),
                  serial_tokens=plain_tokens)
    baseline = BaselineResult(
        curve=curve, memory_bandwidth_gb_s=max(bandwidths), weight_bytes=plain.ready["weight_bytes"],
        dtype=plain.ready["dtype"],
        rounds=[RoundLimit(bandwidth_gb_s=bw, single_tok_s=rate)
                for bw, rate in zip(bandwidths, curve.round_single_tok_s, strict=True)],
    )
    return baseline, await engine_bench(pool, config, engine=engine, swept=ours, serial=serial)


class PassRatios(BaseModel):
    """The ratios of one pass (both engines up, measured in turn)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ratio_single: float = Field(description="forkjoin single_tok_s / baseline single_tok_s in this pass.")
    ratio_aggregate_8: float | None = Field(description="Same at 8 streams.")
    round_ratio_single: float | None = Field(None, description="This pass's BaselineComparison.round_ratio_single.")
    round_ratio_aggregate_8: float | None = Field(
        None, description="This pass's BaselineComparison.round_ratio_aggregate_8.")
    ttft_delta_ms: float = Field(description="forkjoin ttft_ms - baseline ttft_ms in this pass.")
    serial_ratio: float = Field(description="forkjoin serial_s / baseline serial_s in this pass.")
    baseline_single_tok_s: float = Field(description="Plain vLLM's single stream in this pass (the machine's pace).")
    baseline_fraction_of_limit: float | None = Field(
        None, description="Plain vLLM's single stream over the limit its own pass's bandwidth implies.")
    baseline_fraction_of_round_limit: float | None = Field(
        None, description="This pass's baseline_fraction_of_round_limit (rounds paired with their bandwidth).")


class BaselineComparison(BaseModel):
    """``bench engine --baseline``: plain vLLM and forkjoin's replica, measured in turn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(description="The model both served.")
    dtype: str = Field(description="The dtype both served.")
    baseline: Curve = Field(description="Plain vLLM (AsyncLLM in one process, no Ray).")
    forkjoin: EngineBench = Field(description="forkjoin's one-replica pool through Ray.")
    ratio_single: float = Field(description="forkjoin single_tok_s / baseline single_tok_s (each side's best round).")
    ratio_aggregate_8: float | None = Field(description="Same at 8 streams (None when 8 was not measured).")
    round_ratio_single: float | None = Field(
        None, description="Median over rounds of forkjoin's best single stream in the round over plain vLLM's in "
        "the same round (None without paired rounds).")
    round_ratio_aggregate_8: float | None = Field(
        None, description="The same median of each round's 8-stream aggregates (None without 8 streams).")
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
        default_factory=list, description="--passes N > 1: each pass's ratios (the figures above take each side's "
        "best pass, the round ratios every pass's rounds); empty for one pass.")


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
        "round_single_tok_s": [rate for c in curves for rate in c.round_single_tok_s],
        "round_aggregate_8_tok_s": [rate for c in curves for rate in c.round_aggregate_8_tok_s],
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
    """Several passes: figures from each side's best pass, round ratios over every round, each pass's ratios."""
    if len(passes) == 1:
        return compare_with_baseline(*passes[0])
    paired = [compare_with_baseline(base, mine) for base, mine in passes]
    merged = compare_with_baseline(best_of([b for b, _ in passes]), best_of([m for _, m in passes]))
    fields = tuple(PassRatios.model_fields.keys() - {"baseline_single_tok_s"})
    return merged.model_copy(update={"passes": [
        PassRatios(baseline_single_tok_s=c.baseline.single_tok_s, **{f: getattr(c, f) for f in fields})
        for c in paired]})


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
        round_ratio_single=median_ratio(forkjoin.round_single_tok_s, base.round_single_tok_s),
        round_ratio_aggregate_8=median_ratio(forkjoin.round_aggregate_8_tok_s, base.round_aggregate_8_tok_s),
        ttft_delta_ms=round(forkjoin.ttft_ms - base.ttft_ms, 1),
        serial_ratio=round(forkjoin.serial_s / base.serial_s, 3),
        memory_bandwidth_gb_s=baseline.memory_bandwidth_gb_s,
        decode_bytes=baseline.weight_bytes,
        single_stream_limit_tok_s=round(limit, 2),
        baseline_fraction_of_limit=round(base.single_tok_s / limit, 3),
        baseline_fraction_of_round_limit=round_fraction(baseline),
    )


def median_ratio(mine: list[float], theirs: list[float]) -> float | None:
    """Median of round-by-round ratios (None unless both sides have the same, non-zero number of rounds)."""
    if not mine or len(mine) != len(theirs):
        return None
    return round(statistics.median(a / b for a, b in zip(mine, theirs, strict=True)), 3)


def round_fraction(baseline: BaselineResult) -> float | None:
    """Median of each round's single stream over the limit its own bandwidth reading implies."""
    if not baseline.rounds:
        return None
    fractions = [r.single_tok_s / (r.bandwidth_gb_s * 1e9 / baseline.weight_bytes) for r in baseline.rounds]
    return round(statistics.median(fractions), 3)
