"""Shared fixtures for tests on a real vLLM CPU replica: ONE embedded Ray and ONE pool for the session.

An engine start costs minutes on two cores, so every integration module that
asks for ``pool`` shares one replica of the smallest model, started eagerly
(no torch.compile: starting matters more than speed here) on one embedded
Ray (``runner``, an event loop bound to it). Tests that kill or restart the
replica are marked ``restarts_engine``; tests/conftest.py orders the session:
tests with a Ray of their own first, then the shared ones, then the restarts. At the end of the session no
replica actor may be left alive.

Without vLLM or the model the tests skip with the command that fixes it,
except under CI (``CI=true``), where a missing engine is a failure.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

TEST_MODEL = "smollm2-135m-instruct"
POOL_MAX_MODEL_LEN = 2048
DRAIN_S = 15.0
"""Longest a test's cancelled requests may take to leave the shared replica."""


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` unless it holds; under CI a missing engine fails instead."""
    if condition:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine_ready() -> str:
    """The test model's name, once vLLM imports and the model is prepared (else skip, or fail under CI)."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        require(False, "vLLM is not installed (run scripts/setup-venv.sh)")
    from actors.models import ModelError, resolve_model

    try:
        resolve_model(TEST_MODEL)
    except ModelError as exc:
        require(False, f"{TEST_MODEL} is not ready: {exc}")
    return TEST_MODEL


@pytest.fixture(scope="session")
def runner() -> Iterator[asyncio.Runner]:
    try:
        import ray
    except ImportError:
        require(False, "Ray is not installed (run scripts/setup-venv.sh)")
    from actors.models import ModelError, resolve_model
    from cluster import NAMESPACE, ClusterConfig, connect

    try:
        resolve_model(TEST_MODEL)
    except ModelError as exc:
        require(False, f"{TEST_MODEL} is not ready: {exc}")
    with connect(config=ClusterConfig(num_cpus=2)), asyncio.Runner() as loop:
        yield loop
        alive = [a for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE]
        assert alive == [], f"replica actors leaked: {alive}"


@pytest.fixture(scope="session")
def pool(runner: asyncio.Runner, engine_ready: str):
    from actors import PoolConfig, ReplicaPool, VllmSpec
    from actors.config import EngineConfig

    engine = EngineConfig(
        model=TEST_MODEL, max_model_len=POOL_MAX_MODEL_LEN, kv_cache_gib=0.5, max_num_seqs=8, enforce_eager=True
    )
    config = PoolConfig(spec=VllmSpec(engine=engine), replicas=1, name="it", first_chunk_timeout_s=240)
    started: ReplicaPool = runner.run(ReplicaPool.start(config))
    yield started
    runner.run(started.aclose())


@pytest.fixture(autouse=True)
def no_open_requests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that used the shared replica leaves no request open in it."""
    yield
    if "pool" not in request.fixturenames:
        return
    pool = request.getfixturevalue("pool")
    runner = request.getfixturevalue("runner")

    async def open_requests() -> list[str]:
        names = [r.name for r in pool.replicas]
        found = await asyncio.gather(*(pool.handle(n).open_requests.remote() for n in names))
        return [rid for ids in found for rid in ids]

    async def drained() -> list[str]:
        # A cancelled stream is aborted in the replica asynchronously (ray.cancel): allow it a bounded moment.
        deadline = asyncio.get_running_loop().time() + DRAIN_S
        while (left := await open_requests()) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
        return left

    assert runner.run(asyncio.wait_for(drained(), DRAIN_S + 30)) == []
