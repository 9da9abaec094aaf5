"""``ray job submit ... -- forkjoin batch IN OUT`` against a real head node started with ``ray start``.

The head runs on loopback with its own temp dir and ports, token auth on
(a token of its own, passed as ``RAY_AUTH_TOKEN`` to the head and to the job
client, which sends it as a bearer header), and the dashboard's job server.
The job's driver is the venv's ``forkjoin`` (the head's PATH starts with the
venv), the working dir is this checkout without the venv or caches, and the
driver starts one vLLM replica of the smallest model inside that cluster.
The head is ``ray start --block`` in a child process, stopped by its PID
(SIGTERM: it stops every process it started); never ``ray stop``.

This test runs its own Ray and engine: it asks for no ``runner``, so
tests/conftest.py runs it before the session's shared replica starts.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.integration

psutil = pytest.importorskip("psutil")
ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
EXCLUDES = [".venv", ".git", "**/__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info", ".forkjoin"]
PROMPTS = ["What is 2 + 2?", "Name one fruit.", "Give one word for each color:\n1. red\n2. green"]
PORTS = ("port", "dashboard-port", "ray-client-server-port", "node-manager-port", "object-manager-port",
         "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port", "metrics-export-port")
WORKER_PORTS = 24
WORKING_DIRS = "runtime_resources/working_dir_files"
"""Where a node unpacks a job's working dir, inside its session dir."""
HEAD_UP_S = 120
JOB_S = 900


@dataclass(frozen=True)
class Head:
    """A running head node: where its job server listens and the environment that may talk to it."""

    url: str
    env: dict[str, str]
    temp_dir: Path


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on loopback now (held open together, so none repeats)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(closing(socket.socket())) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def head_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return env | {
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),  # this cluster's own token; nothing written to ~/.ray
        "HF_HUB_OFFLINE": "1",
        "RAY_enable_worker_prestart": "0",
    }


def head_command(temp_dir: Path) -> tuple[list[str], int]:
    """``ray start --head --block`` on loopback with every port its own; and the dashboard's port."""
    ports = free_ports(len(PORTS) + WORKER_PORTS)
    named = dict(zip(PORTS, ports, strict=False))
    command = [str(VENV_BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
               "--dashboard-host=127.0.0.1", "--include-dashboard=true", "--num-cpus=2", "--num-gpus=0",
               f"--object-store-memory={200 * 1024 * 1024}", f"--temp-dir={temp_dir}", "--disable-usage-stats",
               f"--worker-port-list={','.join(map(str, ports[len(PORTS):]))}"]
    command += [f"--{name}={port}" for name, port in named.items()]
    return command, named["dashboard-port"]


def wait_for_job_server(url: str, env: dict[str, str], process: subprocess.Popen) -> None:
    """Until the job server answers an authenticated request (bounded); the head must not die meanwhile."""
    request = urllib.request.Request(f"{url}/api/version", headers={"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"})
    deadline = time.monotonic() + HEAD_UP_S
    while True:
        assert process.poll() is None, f"ray start exited with {process.returncode}"
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        assert time.monotonic() < deadline, f"the job server at {url} did not answer within {HEAD_UP_S} s"
        time.sleep(0.5)  # the head has no readiness signal to wait on from outside


def processes_under(temp_dir: Path) -> list[int]:
    """PIDs of processes whose command line names the head's temp dir (its Ray processes)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(temp_dir) in part for part in process.info["cmdline"] or ()):
            found.append(process.pid)
    return found


@pytest.fixture
def head(tmp_path_factory: pytest.TempPathFactory, engine_ready: str) -> Iterator[Head]:
    temp_dir = tmp_path_factory.mktemp("rayhead")  # short: Ray's socket paths are length limited
    env = head_env()
    command, dashboard = head_command(temp_dir)
    log = (temp_dir / "ray-start.log").open("w")
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{dashboard}"
    try:
        wait_for_job_server(url, env, process)
        yield Head(url=url, env=env, temp_dir=temp_dir)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
        deadline = time.monotonic() + 30
        while (left := processes_under(temp_dir)) and time.monotonic() < deadline:
            time.sleep(0.5)  # the raylet's workers leave after it on their own schedule
        assert left == [], f"the head's processes outlived it: {left}"


def submit(head: Head, source: Path, output: Path, engine: str) -> subprocess.CompletedProcess:
    runtime_env = {"excludes": EXCLUDES}
    command = [str(VENV_BIN / "ray"), "job", "submit", "--address", head.url, "--working-dir", str(ROOT),
               "--runtime-env-json", json.dumps(runtime_env), "--",
               "forkjoin", "-q", "batch", str(source), str(output), "--model", engine, "--replicas", "1",
               "--max-model-len", "2048", "--kv-cache-gib", "0.5", "--max-tokens", "12", "--json"]
    return subprocess.run(command, env=head.env, cwd=ROOT, capture_output=True, text=True, timeout=JOB_S)


def test_a_batch_submitted_as_a_ray_job_writes_every_row(head, tmp_path, engine_ready):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"j{k}", "prompt": p}) + "\n" for k, p in enumerate(PROMPTS)))
    job = submit(head, source, tmp_path / "out", engine_ready)
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    summary = json.loads(next(line for line in job.stdout.splitlines() if line.startswith('{"rows"')))
    assert (summary["rows"], summary["ok"], summary["ran"]) == (len(PROMPTS), len(PROMPTS), len(PROMPTS))
    rows = pq.read_table(tmp_path / "out").to_pylist()
    assert sorted(row["id"] for row in rows) == [f"j{k}" for k in range(len(PROMPTS))]
    assert all(row["status"] == "ok" and row["answer"] for row in rows)
    assert {row["strategy"] for row in rows} == {"serial", "parallel"}
    [unpacked] = [p for p in head.temp_dir.glob(f"session_2*/{WORKING_DIRS}/_ray_pkg_*") if p.is_dir()]
    assert (unpacked / "orchestrator" / "batch" / "job.py").is_file()
    assert not [p for p in unpacked.rglob("*") if p.name in (".venv", ".git", "__pycache__")]
    size = sum(p.stat().st_size for p in unpacked.rglob("*") if p.is_file())
    assert size < 10 * 2**20, f"the working dir upload is {size / 2**20:.1f} MiB"
