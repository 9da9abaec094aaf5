"""A real vLLM CPU replica in a Ray actor, behind the pool, on the smallest model.

One embedded Ray and one replica serve the module (a vLLM start costs tens of
seconds on two cores); the tests share one event loop so the pool lives
across them. Skipped, with the reason, when vLLM or the model is missing.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("vllm")

from actors import GenerateRequest, ReplicaPool  # noqa: E402
from graphs.params import SamplingParams  # noqa: E402

pytestmark = pytest.mark.integration

LONG_PREFIX = "You are a careful assistant. Answer in one short sentence. " * 12
POOL_MAX_MODEL_LEN = 1024


def ask(prompt: str, **params: object) -> GenerateRequest:
    return GenerateRequest(request_id=uuid.uuid4().hex[:8], prompt=prompt, params=SamplingParams(**params))


async def collect(pool: ReplicaPool, request: GenerateRequest) -> list:
    return [chunk async for chunk in pool.generate(request)]


def test_streams_deltas_and_honours_stop_strings(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    chunks = runner.run(collect(pool, ask("List five fruits, one per line.", max_tokens=48)))
    text = "".join(c.text for c in chunks)
    assert len(chunks) > 3 and chunks[-1].finish_reason in ("stop", "length")
    assert {c.replica for c in chunks} == {pool.replicas[0].name}
    assert 0 < sum(c.tokens for c in chunks) <= 48
    stop = text.split()[len(text.split()) // 2]
    stopped = runner.run(collect(pool, ask("List five fruits, one per line.", max_tokens=48, stop=(stop,))))
    assert "".join(c.text for c in stopped) == text[: text.index(stop)]
    assert stopped[-1].finish_reason == "stop"


def test_closing_the_stream_aborts_the_request_in_the_engine(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    replica = pool.handle(pool.replicas[0].name)

    async def scenario() -> None:
        stream = pool.generate(ask("Write a long story about a lighthouse.", max_tokens=600))
        for _ in range(3):
            await anext(stream)
        await stream.aclose()
        deadline = time.monotonic() + 20
        while (await replica.stats.remote()).running or await replica.open_requests.remote():
            assert time.monotonic() < deadline, "the request still runs in the replica"
            await asyncio.sleep(0.1)

    runner.run(scenario())


def test_concurrent_requests_finish_faster_than_serial(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    prompts = [f"Name a color and a number ({i})." for i in range(4)]

    async def serial() -> float:
        began = time.perf_counter()
        for p in prompts:
            await collect(pool, ask(p, max_tokens=24))
        return time.perf_counter() - began

    async def together() -> float:
        began = time.perf_counter()
        await asyncio.gather(*(collect(pool, ask(p, max_tokens=24)) for p in prompts))
        return time.perf_counter() - began

    one_by_one, at_once = runner.run(serial()), runner.run(together())
    assert at_once < 0.8 * one_by_one, (at_once, one_by_one)


def test_forks_sharing_a_prefix_hit_the_prefix_cache(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    runner.run(collect(pool, ask(LONG_PREFIX + "What is 2+2?", max_tokens=4)))
    fork = runner.run(collect(pool, ask(LONG_PREFIX + "What is 3+3?", max_tokens=4)))
    assert fork[0].cached_tokens and fork[0].cached_tokens >= 128


def test_replica_restart_mid_request_completes_the_request(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    async def scenario() -> list:
        chunks = []
        async for chunk in pool.generate(ask("Explain how tides work.", max_tokens=64)):
            chunks.append(chunk)
            if len(chunks) == 3:
                ray.kill(pool.handle(chunk.replica), no_restart=False)
        return chunks

    chunks = runner.run(scenario())
    assert chunks[-1].finish_reason in ("stop", "length")
    assert sum(c.tokens for c in chunks) <= 64
    after = runner.run(collect(pool, ask("Say hello.", max_tokens=8)))
    assert after[-1].finish_reason in ("stop", "length")
