"""forkjoin's OpenAI endpoint on Ray Serve, driven by the real ``openai`` client, on the shared replica.

Serve runs in the session's Ray (controller, proxy and deployment at
num_cpus=0 beside the replica that reserves every CPU), attached to the
shared pool's replica by name, on a free loopback port; it is shut down at
the end of the module. Every test also passes the session's leak check: no
request left open in the replica. The disconnect tests read the engine's own
stats (vLLM's unfinished requests and generated tokens) through the replica.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types import Completion

from tests.integration.conftest import DRAIN_S, TEST_MODEL

pytestmark = pytest.mark.integration

KEY = "test-key"
MAX_PENDING = 3
LIST_PROMPT = "Give three short tips for staying focused while studying."
PLAIN_PROMPT = "What is the capital of France? Answer in one sentence."
CITIES = ("Paris", "Tokyo", "Cairo")
CITIES_PROMPT = f"Write one sentence about each of these cities: {', '.join(CITIES)}."


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def base_url(pool) -> Iterator[str]:
    from orchestrator.serving import ServiceConfig
    from orchestrator.serving.deployment import ServeSpec, start, stop

    spec = ServeSpec(service=ServiceConfig(model=TEST_MODEL, max_pending=MAX_PENDING, default_max_tokens=48),
                     pool=pool.config, replicas=pool.replicas, api_key=KEY)
    url = start(spec, host="127.0.0.1", port=_free_port())
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=240) as made:
        yield made


def open_requests(pool) -> list[str]:
    import ray

    found = ray.get([pool.handle(r.name).open_requests.remote() for r in pool.replicas], timeout=30)
    return [rid for ids in found for rid in ids]


def engine_load(pool) -> tuple[int, int]:
    """The replicas' engine stats, summed: (requests unfinished in vLLM, tokens generated since start)."""
    import ray

    stats = ray.get([pool.handle(r.name).stats.remote() for r in pool.replicas], timeout=30)
    return sum(s.running + s.waiting for s in stats), sum(s.generated_tokens for s in stats)


def test_chat_and_completion_answer_with_usage_and_forkjoin_fields(pool, client: openai.OpenAI) -> None:
    chat = client.chat.completions.create(model=TEST_MODEL, max_tokens=16, temperature=0,
                                          messages=[{"role": "user", "content": PLAIN_PROMPT}])
    assert chat.choices[0].message.content.strip()
    assert 0 < chat.usage.completion_tokens <= 16 and chat.usage.prompt_tokens > 0
    info = chat.model_extra["forkjoin"]
    assert (info["strategy"], info["requested"], info["generations"]) == ("serial", "auto", 1)
    assert info["latency_s"] > 0
    text = client.completions.create(model=TEST_MODEL, prompt=PLAIN_PROMPT, max_tokens=12, seed=1,
                                     extra_body={"forkjoin": {"strategy": "serial"}})
    assert text.choices[0].text.strip() and text.choices[0].finish_reason in ("stop", "length")
    assert 0 < text.usage.completion_tokens <= 12


def test_streamed_chat_and_completion_end_with_finish_and_usage(pool, client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model=TEST_MODEL, max_tokens=16, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": PLAIN_PROMPT}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].model_extra["forkjoin"]["strategy"] == "serial"
    assert chunks[-1].usage.completion_tokens > 0
    pieces = list(client.completions.create(model=TEST_MODEL, prompt=PLAIN_PROMPT, max_tokens=12, stream=True))
    assert "".join(p.choices[0].text for p in pieces).strip()


def test_a_list_prompt_streams_its_items_in_order(pool, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=TEST_MODEL, max_tokens=40, temperature=0, stream=True,
        messages=[{"role": "user", "content": LIST_PROMPT}], extra_body={"forkjoin": {"strategy": "parallel"}})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert re.findall(r"(?m)^(\d+)\. \S", text) == ["1", "2", "3"], text
    info = [c for c in chunks if c.choices and c.choices[0].finish_reason][0].model_extra["forkjoin"]
    assert (info["strategy"], info["generations"]) == ("parallel", 3)
    assert info["predicted_parallel_s"] is not None


def test_a_data_list_comes_back_one_item_per_entry_in_the_prompts_order(pool, client: openai.OpenAI) -> None:
    # No extra_body: what an unmodified client gets (auto, the cost model decides).
    request = {"model": TEST_MODEL, "max_tokens": 40, "temperature": 0,
               "messages": [{"role": "user", "content": CITIES_PROMPT}]}
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**request, stream=True)
                   if c.choices)
    whole = client.chat.completions.create(**request)
    for answer in (text, whole.choices[0].message.content):
        found = [answer.find(city) for city in CITIES]
        assert -1 not in found and found == sorted(found), answer
    assert (whole.model_extra["forkjoin"]["strategy"], whole.model_extra["forkjoin"]["generations"]) == ("parallel", 3)


def test_models_health_and_the_key(pool, client: openai.OpenAI, base_url: str) -> None:
    assert [m.id for m in client.models.list()] == [TEST_MODEL]
    health = httpx.get(base_url.removesuffix("/v1") + "/health", timeout=30)
    assert health.status_code == 200 and health.json()["live_replicas"] == 1
    hello = [{"role": "user", "content": "hi"}]
    with openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0) as stranger:
        with pytest.raises(openai.AuthenticationError) as wrong:
            stranger.chat.completions.create(model=TEST_MODEL, messages=hello)
    with pytest.raises(openai.AuthenticationError) as keyless:  # no Authorization header at all
        client.completions.create(model=TEST_MODEL, prompt="hi", extra_headers={"Authorization": openai.omit})
    for caught in (wrong, keyless):
        assert (caught.value.status_code, caught.value.code) == (401, "invalid_api_key")
    assert keyless.value.response.request.headers.get("authorization") is None


def test_a_flood_beyond_the_queue_depth_gets_429_with_retry_after(pool, base_url: str) -> None:
    async def flood() -> list[object]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=240) as c:
            calls = [c.completions.create(model=TEST_MODEL, prompt=f"Count to {i + 5}.", max_tokens=24)
                     for i in range(MAX_PENDING * 3)]
            return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(flood())
    refused = [o for o in outcomes if isinstance(o, openai.RateLimitError)]
    answered = [o for o in outcomes if isinstance(o, Completion)]
    assert len(refused) + len(answered) == len(outcomes), outcomes
    assert refused and len(answered) >= MAX_PENDING
    assert all(r.response.headers["retry-after"] == "1" for r in refused)


STORY = "Write a long story about a lighthouse keeper."
ANIMAL_STORIES = "Write a long story about each of these animals: a cat, a dog, a horse."


@pytest.mark.parametrize(("strategy", "prompt", "branches"), [("serial", STORY, 1), ("parallel", ANIMAL_STORIES, 3)])
def test_a_client_that_disconnects_leaves_no_engine_request_running(
        pool, client: openai.OpenAI, strategy: str, prompt: str, branches: int) -> None:
    stream = client.chat.completions.create(
        model=TEST_MODEL, max_tokens=400, temperature=0, stream=True, extra_body={"forkjoin": {"strategy": strategy}},
        messages=[{"role": "user", "content": prompt}])
    seen = 0
    for chunk in stream:
        seen += bool(chunk.choices and chunk.choices[0].delta.content)
        if seen >= 2:
            break
    unfinished, generated = engine_load(pool)
    assert unfinished == branches and len(open_requests(pool)) == branches, "every branch should still be generating"
    stream.close()
    deadline = time.monotonic() + DRAIN_S
    while (engine_load(pool)[0] or open_requests(pool)) and time.monotonic() < deadline:
        time.sleep(0.2)
    unfinished_after, generated_after = engine_load(pool)
    assert (unfinished_after, open_requests(pool)) == (0, [])
    # Aborted, not finished: the branches stopped well short of the tokens they still had (>= 100 each).
    assert generated_after - generated < 50 * branches, (generated, generated_after)
