"""Shared fixtures for tests on a real vLLM CPU replica: one embedded Ray and one pool per module.

Each module gets a fresh embedded Ray (``runner``, an event loop bound to it)
and, when it asks for ``pool``, one replica of the smallest model, started
eagerly (no torch.compile: starting matters more than speed here). A module
may set ``POOL_MAX_MODEL_LEN``. At the end of the module no replica actor may
be left alive. Without the model prepared, the module is skipped with the
command that prepares it (``make test`` prepares it first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

TEST_MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    ray = pytest.importorskip("ray")
    from actors.models import ModelError, resolve_model
    from cluster import NAMESPACE, ClusterConfig, connect

    try:
        resolve_model(TEST_MODEL)
    except ModelError as exc:
        pytest.skip(f"{TEST_MODEL} is not ready: {exc}")
    with connect(config=ClusterConfig(num_cpus=2)), asyncio.Runner() as loop:
        yield loop
        alive = [a for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE]
        assert alive == [], f"replica actors leaked: {alive}"


@pytest.fixture(scope="module")
def pool(runner: asyncio.Runner, request: pytest.FixtureRequest):
    pytest.importorskip("vllm")
    from actors import PoolConfig, ReplicaPool, VllmSpec
    from actors.config import EngineConfig

    max_model_len = getattr(request.module, "POOL_MAX_MODEL_LEN", 2048)
    engine = EngineConfig(
        model=TEST_MODEL, max_model_len=max_model_len, kv_cache_gib=0.5, max_num_seqs=8, enforce_eager=True
    )
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    config = PoolConfig(spec=VllmSpec(engine=engine), replicas=1, name=name, first_chunk_timeout_s=240)
    started: ReplicaPool = runner.run(ReplicaPool.start(config))
    yield started
    runner.run(started.aclose())
