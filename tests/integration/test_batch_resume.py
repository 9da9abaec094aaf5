"""A batch driver killed with SIGKILL mid-job, then resumed: every row is in the output exactly once.

The driver is a subprocess with its own embedded Ray and one eager vLLM
replica of the smallest model (this module uses no shared pool, so only one
engine runs at a time). It commits a part every two rows; once some parts
exist it is killed, every process it started must go with it, and a second
driver with ``resume`` finishes the rest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.integration

psutil = pytest.importorskip("psutil")
TEST_MODEL = "smollm2-135m-instruct"
ROWS = 16
ROOT = Path(__file__).resolve().parents[2]

DRIVER = f"""
import asyncio, sys
from actors import PoolConfig, ReplicaPool, VllmSpec
from actors.config import EngineConfig
from cluster import ClusterConfig, connect
from graphs.compiler import CompileOptions
from orchestrator.batch import BatchConfig, PipelineConfig, batch
from orchestrator.strategies import Strategy

source, output, resume = sys.argv[1], sys.argv[2], sys.argv[3] == "resume"
engine = EngineConfig(model="{TEST_MODEL}", max_model_len=512, kv_cache_gib=0.5, max_num_seqs=8, enforce_eager=True)
config = BatchConfig(
    strategy=Strategy.SERIAL, resume=resume, compile=CompileOptions(serial_max_tokens=24),
    pipeline=PipelineConfig(actors=1, batch_rows=2, block_rows=2, part_rows=2),
)
with connect(config=ClusterConfig(num_cpus=2)), asyncio.Runner() as loop:
    spec = VllmSpec(engine=engine)
    pool = loop.run(ReplicaPool.start(PoolConfig(spec=spec, replicas=1, name="resume", first_chunk_timeout_s=240)))
    try:
        summary = batch(source, output, config=config, pool=pool)
    finally:
        loop.run(pool.aclose())
print(summary.model_dump_json(), flush=True)
"""


def driver(source: Path, output: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(source), str(output), mode], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def wait_for_parts(output: Path, process: subprocess.Popen, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(list(output.glob("part-*.parquet"))) < count:
        assert process.poll() is None, "the driver ended before it was killed"
        assert time.monotonic() < deadline, f"no {count} parts within {timeout_s:g} s"
        time.sleep(0.2)  # the output is files: nothing to wait on but the directory


def kill_with_everything_it_started(process: subprocess.Popen) -> list[str]:
    """SIGKILL the driver; return the names of its processes still alive 60 s later (then killed)."""
    children = psutil.Process(process.pid).children(recursive=True)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    _, alive = psutil.wait_procs(children, timeout=60)
    names = [p.name() for p in alive if p.is_running()]
    for leftover in alive:
        leftover.kill()
    return names


def test_a_killed_job_resumes_with_every_row_exactly_once(tmp_path):
    try:
        from actors.models import ModelError, resolve_model

        resolve_model(TEST_MODEL)
    except ModelError as exc:
        pytest.skip(f"{TEST_MODEL} is not ready: {exc}")
    pytest.importorskip("vllm")
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"q{k}", "prompt": f"Count from {k} to {k + 5}."}) + "\n"
                              for k in range(ROWS)))
    output = tmp_path / "out"
    first = driver(source, output, "new")
    try:
        wait_for_parts(output, first, count=2, timeout_s=400)
    finally:
        leaked = kill_with_everything_it_started(first)
    assert leaked == [], f"processes outlived the killed driver: {leaked}"
    done_before = len(pq.read_table(output).column("id"))
    assert 0 < done_before < ROWS

    second = driver(source, output, "resume")
    out, _ = second.communicate(timeout=500)
    assert second.returncode == 0, out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["rows"] == ROWS and summary["ran"] == ROWS - done_before
    ids = pq.read_table(output).column("id").to_pylist()
    assert sorted(ids) == sorted(f"q{k}" for k in range(ROWS))  # every row, none twice
