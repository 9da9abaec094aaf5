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

import ray  # noqa: E402

from actors import GenerateRequest, ReplicaPool  # noqa: E402
from graphs.params import SamplingParams  # noqa: E402

pytestmark = pytest.mark.integration

LONG_PREFIX = "You are a careful assistant. Answer in one short sentence. " * 12


def ask(prompt: str, **params: object) -> GenerateRequest:
    return GenerateRequest(request_id=uuid.uuid4().hex[:8], prompt=prompt, params=SamplingParams(**params))


async def collect(pool: ReplicaPool, request: GenerateRequest) -> list:
    return [chunk async for chunk in pool.generate(request)]


async def collect_counted(pool: ReplicaPool, request: GenerateRequest) -> tuple[list, int, float]:
    """The request's chunks, the tokens the first replica's engine generated meanwhile, and the seconds it took."""
    replica = pool.handle(pool.replicas[0].name)
    before = (await replica.stats.remote()).generated_tokens
    began = time.perf_counter()
    chunks = await collect(pool, request)
    took = time.perf_counter() - began
    return chunks, (await replica.stats.remote()).generated_tokens - before, took


def test_streams_deltas_and_honours_stop_strings(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    # Greedy decoding here is not bitwise reproducible between a cached and an uncached
    # prefill, so no expectation may come from a second run: each comes from the same request.
    chunks = runner.run(collect(pool, ask("List five fruits, one per line.", max_tokens=48)))
    assert "".join(c.text for c in chunks).strip()
    assert len(chunks) >= 2 and chunks[-1].finish_reason in ("stop", "length")
    assert {c.replica for c in chunks} == {pool.replicas[0].name}
    assert 0 < sum(c.tokens for c in chunks) <= 48
    stopped = runner.run(collect(pool, ask("Name three animals, one per line.", max_tokens=48, stop=("\n",))))
    stopped_text = "".join(c.text for c in stopped)
    assert stopped_text.strip() and "\n" not in stopped_text
    assert (stopped[-1].finish_reason, stopped[-1].stop_reason) == ("stop", "\n")
    assert [c for c in stopped[:-1] if c.finish_reason] == []


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


@pytest.mark.restarts_engine
def test_replica_restart_mid_request_completes_the_request(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    """The kill lands while tokens stream; the restarted replica continues the text instead of starting over."""
    name = pool.replicas[0].name

    async def scenario() -> tuple[list, int, int, int]:
        chunks, killed_at, pid = [], 0, (await pool.handle(name).ready.remote()).pid
        async for chunk in pool.generate(ask("Explain how tides work, in detail.", max_tokens=64)):
            chunks.append(chunk)
            if not killed_at and sum(c.tokens for c in chunks) >= 6 and chunk.finish_reason is None:
                killed_at = len(chunks)
                ray.kill(pool.handle(chunk.replica), no_restart=False)
        return chunks, killed_at, pid, (await pool.handle(name).ready.remote()).pid

    chunks, killed_at, pid_before, pid_after = runner.run(scenario())
    before, after = chunks[:killed_at], chunks[killed_at:]
    assert killed_at and pid_after != pid_before  # the kill landed mid-stream and Ray restarted the actor
    assert after and after[-1].finish_reason in ("stop", "length")
    prefix, continued = "".join(c.text for c in before), "".join(c.text for c in after)
    assert prefix.strip() and continued.strip()
    assert not continued.lstrip().startswith(prefix.strip()[:12])  # continued from the prefix, not restarted
    assert sum(c.tokens for c in chunks) <= 64
    assert after[0].prompt_tokens is None  # a resumed attempt does not report its prompt again
    again = runner.run(collect(pool, ask("Say hello.", max_tokens=8)))
    assert again[-1].finish_reason in ("stop", "length")


def test_merged_chunks_keep_every_token_and_the_stop_reason(runner: asyncio.Runner, pool: ReplicaPool) -> None:
    story = ask("Write a long story about a lighthouse keeper.", max_tokens=80)
    chunks, generated, took = runner.run(collect_counted(pool, story))
    tokens = sum(c.tokens for c in chunks)
    assert tokens == generated > 20  # the engine's own count: no token lost or doubled by merging
    assert chunks[0].tokens <= 2 and chunks[0].prompt_tokens  # the first chunk is not held back
    # Merged: after the first, a chunk leaves once per interval (or when 64 tokens wait, or at the end),
    # however fast the engine decodes; unmerged, every token would be its own chunk.
    interval_s = pool.config.merging.interval_s
    assert len(chunks) <= 3 + took / interval_s, (len(chunks), tokens, took)
    stopped = runner.run(collect(pool, ask("Count from 1 to 40, separated by commas.", max_tokens=80, stop=("9",))))
    assert (stopped[-1].finish_reason, stopped[-1].stop_reason) == ("stop", "9")
    assert "9" not in "".join(c.text for c in stopped)


def test_a_request_that_holds_its_chunks_longer_gets_two_with_every_token(runner: asyncio.Runner,
                                                                           pool: ReplicaPool) -> None:
    held = ask("Write a long story about a lighthouse keeper.", max_tokens=40).model_copy(
        update={"chunk_interval_s": 600.0})  # what an unwatched run asks for, far longer than the answer takes
    chunks, generated, _ = runner.run(collect_counted(pool, held))
    assert len(chunks) == 2  # the first token at once, the rest with the end
    assert chunks[0].tokens <= 2 and chunks[0].prompt_tokens
    assert 2 < sum(c.tokens for c in chunks) == generated <= 40  # the engine's own count, none lost
    assert chunks[-1].finish_reason in ("stop", "length") and chunks[1].text.strip()
