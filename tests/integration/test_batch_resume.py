"""A batch driver killed with SIGKILL mid-job, then resumed: every row is in the output exactly once.

The driver is a subprocess that joins the session's Ray and attaches to the
shared replica (so only one engine ever runs). It commits a part every two
rows; once some parts exist it is killed, its Ray Data actors must go with
it, and a second driver with ``resume`` finishes the rest.
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
ROWS = 24
ROOT = Path(__file__).resolve().parents[2]

DRIVER = """
import json, sys
from actors import PoolConfig, ReplicaInfo, ReplicaPool
from cluster import connect
from graphs.compiler import CompileOptions
from orchestrator.batch import BatchConfig, PipelineConfig, batch
from orchestrator.strategies import Strategy

address, pool_config, replicas, source, output, mode = sys.argv[1:]
config = BatchConfig(
    strategy=Strategy.SERIAL, resume=mode == "resume", compile=CompileOptions(serial_max_tokens=24),
    pipeline=PipelineConfig(actors=1, batch_rows=2, block_rows=2, part_rows=2),
)
with connect(address):
    pool = ReplicaPool.attach(PoolConfig.model_validate_json(pool_config),
                              [ReplicaInfo.model_validate(r) for r in json.loads(replicas)])
    summary = batch(source, output, config=config, pool=pool)
print(summary.model_dump_json(), flush=True)
"""


def driver(pool, source: Path, output: Path, mode: str) -> subprocess.Popen:
    import ray

    replicas = json.dumps([r.model_dump(mode="json") for r in pool.replicas])
    argv = [ray.get_runtime_context().gcs_address, pool.config.model_dump_json(), replicas, str(source), str(output), mode]
    return subprocess.Popen([sys.executable, "-c", DRIVER, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def wait_for_parts(output: Path, process: subprocess.Popen, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(list(output.glob("part-*.parquet"))) < count:
        assert process.poll() is None, "the driver ended before it was killed"
        assert time.monotonic() < deadline, f"no {count} parts within {timeout_s:g} s"
        time.sleep(0.1)  # the output is files: nothing to wait on but the directory


def map_workers() -> list:
    return [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[0].startswith("ray::MapWorker")]


def wait_gone(timeout_s: float) -> list[int]:
    """PIDs of Ray Data map actors still alive after ``timeout_s`` (there should be none)."""
    deadline = time.monotonic() + timeout_s
    while (alive := map_workers()) and time.monotonic() < deadline:
        time.sleep(0.5)  # Ray reaps a dead driver's actors on its own schedule
    return [p.pid for p in alive]


def test_a_killed_job_resumes_with_every_row_exactly_once(pool, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"q{k}", "prompt": f"Count from {k} to {k + 5}."}) + "\n"
                              for k in range(ROWS)))
    output = tmp_path / "out"
    first = driver(pool, source, output, "new")
    try:
        wait_for_parts(output, first, count=2, timeout_s=240)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert wait_gone(60) == [], "the killed driver's map actors outlived it"
    done_before = pq.read_table(output).num_rows
    assert 0 < done_before < ROWS

    second = driver(pool, source, output, "resume")
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["rows"], summary["ran"]) == (ROWS, ROWS - done_before)
    ids = pq.read_table(output).column("id").to_pylist()
    assert sorted(ids) == sorted(f"q{k}" for k in range(ROWS))  # every row, none twice
