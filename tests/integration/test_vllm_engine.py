"""VllmEngine in-process on the smallest embedded model (no Ray): the adapter's contract.

One engine serves the whole module (starting one costs ~1 minute on CPU); it
lives on an event loop in a background thread because vLLM's output handler is
bound to the loop that first used it. Every test ends with the leak check:
nothing running or waiting in the engine.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from actors.config import EngineConfig  # noqa: E402
from actors.engine import Chunk, EngineStartError, GenerateRequest, RequestError  # noqa: E402
from actors.models import TEST_MODEL  # noqa: E402
from actors.vllm_engine import VllmEngine  # noqa: E402
from graphs.params import SamplingParams  # noqa: E402

pytestmark = pytest.mark.integration

T = TypeVar("T")
CALL_TIMEOUT_S = 300.0
STORY = "Write a long story about a dragon who learns to fly. Use many details."


class LoopThread:
    """An event loop running in a daemon thread; ``run`` waits (bounded) for a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="engine-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_S) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def engine(loop: LoopThread, engine_ready: str) -> Iterator[VllmEngine]:
    config = EngineConfig(model=TEST_MODEL, max_model_len=2048, kv_cache_gib=1.0, enforce_eager=True)
    # start_timeout_s bounds the start; on a busy 2-core machine it can take minutes
    started = loop.run(VllmEngine.start(config, name="it-engine"), timeout=config.start_timeout_s + 30)
    yield started
    loop.run(started.aclose(), timeout=60)
    # Closed means gone: nothing may keep vLLM's AsyncLLM alive (its __del__ fails at interpreter exit).
    from vllm.v1.engine.async_llm import AsyncLLM

    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, AsyncLLM)]


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest, loop: LoopThread) -> Iterator[None]:
    yield
    if "engine" in request.fixturenames:
        stats = loop.run(request.getfixturevalue("engine").stats())
        assert (stats.running, stats.waiting) == (0, 0), stats


def ask(prompt: str, **params: Any) -> GenerateRequest:
    return GenerateRequest(request_id=uuid.uuid4().hex, prompt=prompt, params=SamplingParams(**params))


async def collect(engine: VllmEngine, request: GenerateRequest) -> list[Chunk]:
    return [chunk async for chunk in engine.generate(request)]


def text_of(chunks: list[Chunk]) -> str:
    return "".join(chunk.text for chunk in chunks)


def test_streams_deltas(engine: VllmEngine, loop: LoopThread) -> None:
    chunks = loop.run(collect(engine, ask(STORY, max_tokens=24)))
    assert len(chunks) > 3, "output should stream in several chunks"
    assert chunks[0].prompt_tokens and chunks[0].prompt_tokens > 10
    assert all(c.replica == "it-engine" for c in chunks)
    assert [c.finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].finish_reason in {"length", "stop"}
    assert 0 < sum(c.tokens for c in chunks) <= 24
    assert len(text_of(chunks).strip()) > 10


def test_stop_string_ends_output_before_it(engine: VllmEngine, loop: LoopThread) -> None:
    prompt = "Count from 1 to 30, separated by commas."
    unstopped = loop.run(collect(engine, ask(prompt, max_tokens=40, stop=("no such text",))))
    full = text_of(unstopped)
    assert "7" in full, full
    assert unstopped[-1].stop_reason is None  # ran out of tokens or ended by itself: no stop string
    # A second greedy run need not repeat the first (its prefill comes from the prefix cache):
    # the expectation comes from the stopped run itself.
    chunks = loop.run(collect(engine, ask(prompt, max_tokens=40, stop=("7",))))
    assert "7" not in text_of(chunks) and "6" in text_of(chunks), text_of(chunks)
    assert (chunks[-1].finish_reason, chunks[-1].stop_reason) == ("stop", "7")
    assert all(c.stop_reason is None for c in chunks[:-1])


def test_closing_the_stream_aborts_the_request(engine: VllmEngine, loop: LoopThread) -> None:
    async def read_three_then_close() -> list[Chunk]:
        stream = engine.generate(ask(STORY, max_tokens=1500))
        seen = [await anext(stream) for _ in range(3)]
        await stream.aclose()
        return seen

    seen = loop.run(read_three_then_close())
    assert all(c.finish_reason is None for c in seen)
    stats = loop.run(engine.stats())
    assert (stats.running, stats.waiting) == (0, 0)


def test_cancelling_the_consumer_aborts_the_request(engine: VllmEngine, loop: LoopThread) -> None:
    async def cancel_midway() -> int:
        received = 0

        async def consume() -> None:
            nonlocal received
            async for _ in engine.generate(ask(STORY, max_tokens=1500)):
                received += 1

        task = asyncio.create_task(consume())
        while received < 3:
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return received

    assert loop.run(cancel_midway()) >= 3
    stats = loop.run(engine.stats())
    assert (stats.running, stats.waiting) == (0, 0)
    # the engine still serves after aborts
    assert text_of(loop.run(collect(engine, ask("Say hi.", max_tokens=8))))


def test_concurrent_requests_finish_faster_than_serial(engine: VllmEngine, loop: LoopThread) -> None:
    n, tokens = 6, 24

    async def serial() -> int:
        total = 0
        for _ in range(n):
            total += sum(c.tokens for c in await collect(engine, ask(STORY, max_tokens=tokens)))
        return total

    async def together() -> int:
        results = await asyncio.gather(*(collect(engine, ask(STORY, max_tokens=tokens)) for _ in range(n)))
        return sum(sum(c.tokens for c in chunks) for chunks in results)

    def timed(run: Any) -> tuple[int, float]:
        start = time.perf_counter()
        produced = loop.run(run())
        return produced, time.perf_counter() - start

    ratios = []
    for _ in range(2):  # other work on a shared 2-core machine adds noise: best of two
        serial_tokens, serial_s = timed(serial)
        together_tokens, together_s = timed(together)
        assert serial_tokens == together_tokens == n * tokens
        ratios.append(together_s / serial_s)
        if ratios[-1] < 0.75:
            break
    assert min(ratios) < 0.75, f"together/serial wall-time ratios {ratios}"


def test_json_schema_output_parses(engine: VllmEngine, loop: LoopThread) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "legs": {"type": "integer"},
            "can_fly": {"type": "boolean"},
        },
        "required": ["name", "legs", "can_fly"],
        "additionalProperties": False,
    }
    request = GenerateRequest(
        request_id=uuid.uuid4().hex,
        prompt="Describe a dragon as JSON with its name, number of legs and whether it can fly.",
        params=SamplingParams(max_tokens=120),
        json_schema=schema,
    )
    chunks = loop.run(collect(engine, request))
    value = json.loads(text_of(chunks))
    assert set(value) == {"name", "legs", "can_fly"}
    assert isinstance(value["legs"], int) and isinstance(value["can_fly"], bool)


def test_system_and_assistant_prefix_reach_the_prompt(engine: VllmEngine, loop: LoopThread) -> None:
    def prompt_tokens(**fields: Any) -> int:
        request = GenerateRequest(
            request_id=uuid.uuid4().hex, prompt="Name a color.", params=SamplingParams(max_tokens=2), **fields
        )
        first = loop.run(collect(engine, request))[0]
        assert first.prompt_tokens is not None
        return first.prompt_tokens

    base = prompt_tokens(system="Be brief.")
    assert prompt_tokens(system="Be brief.", assistant_prefix="The color is") > base
    assert prompt_tokens(system="Be brief. Answer with exactly one lowercase English word.") > base


def test_too_long_prompt_is_a_request_error(engine: VllmEngine, loop: LoopThread) -> None:
    with pytest.raises(RequestError, match="request .* failed"):
        loop.run(collect(engine, ask("dragon " * 4000, max_tokens=8)))
    # the engine is fine afterwards
    assert text_of(loop.run(collect(engine, ask("Say hi.", max_tokens=8))))


def test_stats_report_prefix_cache_hits_and_throughput(engine: VllmEngine, loop: LoopThread) -> None:
    shared = "You are a careful assistant. " * 20
    loop.run(collect(engine, ask(shared + "Name a fruit.", max_tokens=8)))
    chunks = loop.run(collect(engine, ask(shared + "Name a tree.", max_tokens=8)))
    assert chunks[0].cached_tokens and chunks[0].cached_tokens >= 64
    stats = loop.run(engine.stats())
    assert stats.prefix_cache_hit_rate is not None and stats.prefix_cache_hit_rate > 0
    assert stats.generated_tokens > 0


def test_bad_config_fails_to_start_with_one_line(loop: LoopThread, engine_ready: str) -> None:
    config = EngineConfig(model=TEST_MODEL, max_model_len=100_000, enforce_eager=True)
    with pytest.raises(EngineStartError, match=r"failed to start: User-specified max_model_len \(100000\)") as info:
        loop.run(VllmEngine.start(config, name="bad"), timeout=120)
    assert "\n" not in str(info.value)
