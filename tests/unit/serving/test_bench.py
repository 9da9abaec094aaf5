"""bench serve's pure parts, and its client driving the real app over a scripted engine (no Ray, no server)."""

from __future__ import annotations

import asyncio

import httpx

from actors import ScriptedEngine
from actors.config import EngineConfig
from orchestrator.serving import Service, ServiceConfig, build_app
from orchestrator.serving.bench import (BenchServeConfig, Sample, compare, drive, spread, summarize, vllm_serve_argv,
                                        workload)


def test_the_workload_interleaves_kinds_and_keeps_every_prompt() -> None:
    assert workload(["a", "b", "c"], ["p"]) == [("list", "a"), ("plain", "p"), ("list", "b"), ("list", "c")]


def test_prompts_are_picked_evenly_through_a_file_sorted_by_category() -> None:
    rows = [f"{kind}-{i}" for kind in "abcd" for i in range(5)]
    assert spread(rows, 4) == ["a-0", "b-0", "c-0", "d-0"]
    assert spread(rows, 3) == ["a-0", "b-1", "c-3"]
    assert spread(rows[:2], 5) == ["a-0", "a-1"]


def test_summaries_count_failures_apart_and_ratios_compare_p50s() -> None:
    samples = [Sample(kind="list", latency_s=s, ttft_s=s / 4, tokens=10) for s in (1.0, 2.0, 9.0)]
    samples += [Sample(kind="plain", latency_s=3.0, tokens=5), Sample(kind="list", latency_s=0.1, error="boom")]
    side = summarize("forkjoin", samples, wall_s=5.0)
    assert (side.failed, side.errors, side.tokens_per_s) == (1, ["boom"], 7.0)
    assert (side.kinds["list"].requests, side.kinds["list"].p50_s, side.kinds["list"].p95_s) == (3, 2.0, 9.0)
    assert side.kinds["list"].ttft_p50_s == 0.5 and side.kinds["plain"].ttft_p50_s is None
    slower = summarize("vllm", [Sample(kind="list", latency_s=5.0)], wall_s=5.0)
    assert compare(slower, side) == {"list": 2.5, "plain": None}
    assert compare(None, side) == {"list": None, "plain": None}


def test_vllm_serve_gets_the_replica_engine_settings() -> None:
    engine = EngineConfig(model="m", max_model_len=2048, kv_cache_gib=0.5, max_num_seqs=8, enforce_eager=True)
    argv = vllm_serve_argv(engine, "/models/m", "m", 8123, dtype="float32", block_size=32)
    assert argv[1:5] == ["-m", "vllm.entrypoints.openai.api_server", "--model", "/models/m"]
    pairs = dict(zip(argv[3::2], argv[4::2]))
    assert pairs["--max-model-len"] == "2048" and pairs["--kv-cache-memory-bytes"] == str(1 << 29)
    assert pairs["--dtype"] == "float32" and pairs["--max-num-seqs"] == "8" and pairs["--port"] == "8123"
    assert "--enforce-eager" in argv and "--enable-prefix-caching" in argv and argv[-3:-1] == ["--block-size", "32"]
    assert "--distributed-executor-backend" not in argv
    single = vllm_serve_argv(engine, "/models/m", "m", 8123, dtype="float32", block_size=None, one_process=True)
    assert single[-3:-1] == ["--distributed-executor-backend", "uni"]


def test_the_clients_measure_every_request_through_the_openai_client() -> None:
    engine = ScriptedEngine(token_delay_s=0.001)
    app = build_app(_provider(Service(engine, ServiceConfig(model="m"))))
    work = workload(["Give three short tips for staying focused."], ["What is the capital of France?"])

    async def run() -> tuple[list[Sample], float]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            return await drive("http://test/v1", "m", work, BenchServeConfig(clients=2, max_tokens=32),
                               http_client=http)

    samples, wall = asyncio.run(run())
    assert sorted(s.kind for s in samples) == ["list", "plain"]
    assert all(s.error is None and s.tokens > 0 and s.ttft_s is not None for s in samples)
    assert wall >= max(s.latency_s for s in samples)
    assert engine.active == set()


def _provider(service: Service):
    async def provide() -> Service:
        return service
    return provide
