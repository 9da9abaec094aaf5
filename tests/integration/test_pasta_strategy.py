"""``forkjoin run --strategy pasta`` on the shared replica: the whole command, the interpreter on the real model.

The command runs in a child process that joins the session's Ray and reaches
the shared replica through ``ReplicaPool.attach`` (``open_engine`` replaced),
so no second engine starts. Lists mode (the smallest model writes no tags):
the answer is the interpreter's, its requests are the report's nodes, and
the whole answer stays within the serial cap ``--max-tokens``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DRIVER = """
import json, sys
from contextlib import asynccontextmanager
from actors import PoolConfig, ReplicaInfo, ReplicaPool
from cluster import connect
from orchestrator import cli
from orchestrator.cli import run as run_cli

address, pool_config, replicas, *argv = sys.argv[1:]


@asynccontextmanager
async def attached(options):
    infos = [ReplicaInfo.model_validate(r) for r in json.loads(replicas)]
    yield ReplicaPool.attach(PoolConfig.model_validate_json(pool_config), infos)


with connect(address):
    run_cli.open_engine = attached
    sys.argv = ["forkjoin", "-q", *argv]
    cli.entry()
"""
PROMPT = "List three tips for sleeping better. Give each tip a title and one sentence of explanation."


def run_on_shared_replica(pool, *argv: str) -> subprocess.CompletedProcess:
    import ray

    replicas = json.dumps([r.model_dump(mode="json") for r in pool.replicas])
    command = [sys.executable, "-c", DRIVER, ray.get_runtime_context().gcs_address, pool.config.model_dump_json(),
               replicas, *argv]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_run_strategy_pasta_decodes_through_the_interpreter(pool, engine_ready) -> None:
    done = run_on_shared_replica(pool, "run", "--strategy", "pasta", "--max-tokens", "160", "--model", engine_ready,
                                 "--json", PROMPT)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["strategy"] == "pasta" and report["decision"] == "pasta asked for: lists mode within 160 tokens"
    assert report["answer"].strip() and "<promise/>" not in report["answer"]
    names = [node["name"] for node in report["nodes"]]
    assert names[0] == "main-1" and all(name.startswith(("main-", "fork-")) for name in names)
    assert sum(name.startswith("fork-") for name in names) >= 2, report["nodes"]  # the list's items were forked
    assert sum(node["tokens"] for node in report["nodes"]) == report["tokens"] <= 160
