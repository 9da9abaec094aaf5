"""The fate-sharing ``sitecustomize``: which processes die with their SIGKILLed parent, and which do not.

No Ray here: a parent process plays the raylet (its children see ``RAY_RAYLET_PID``)
or vLLM (multiprocessing ``spawn`` children and grandchildren), prints its
descendants' pids, and is SIGKILLed; the test then looks the descendants up by
their session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.connect import FATE_SITE_DIR
from cluster.processes import run_processes

GONE_WITHIN_S = 10.0

PARENT = r"""
import multiprocessing as mp, os, subprocess, sys, time

def grandchild(queue):
    queue.put(os.getpid())  # up: its sitecustomize has run
    time.sleep(120)

def child(queue):
    mp.get_context("spawn").Process(target=grandchild, args=(queue,)).start()
    time.sleep(120)

if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "spawn":
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        c = ctx.Process(target=child, args=(queue,))
        c.start()
        print(c.pid, queue.get(), flush=True)
    else:
        env = dict(os.environ, RAY_RAYLET_PID=str(os.getpid()) if kind == "agent" else "1")
        code = "import time; print('up', flush=True); time.sleep(120)"  # up: sitecustomize has run
        c = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        c.stdout.readline()
        print(c.pid, flush=True)
    time.sleep(120)
"""


def kill_parent_and_wait(kind: str, tmp_path: Path, *, fate_site: bool) -> tuple[list[int], list[int]]:
    """Start the parent, SIGKILL it once its descendants run; (descendant pids, pids still alive after)."""
    env = dict(os.environ, PYTHONPATH=str(FATE_SITE_DIR) if fate_site else "")
    script = tmp_path / "parent.py"  # a file: spawn children import their target from it
    script.write_text(PARENT, encoding="utf-8")
    parent = subprocess.Popen(
        [sys.executable, str(script), kind], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert pids, "the parent printed no descendants"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + GONE_WITHIN_S
        while (alive := [p.pid for p in run_processes(session=parent.pid)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        return pids, alive
    finally:
        for process in run_processes(session=parent.pid):
            os.kill(process.pid, signal.SIGKILL)


@pytest.mark.parametrize("kind", ["spawn", "agent"])
def test_fate_sharing_children_die_with_their_sigkilled_parent(kind: str, tmp_path: Path) -> None:
    pids, alive = kill_parent_and_wait(kind, tmp_path, fate_site=True)
    assert len(pids) == (2 if kind == "spawn" else 1)
    assert alive == []


@pytest.mark.parametrize(("kind", "fate_site"), [("spawn", False), ("agent", False), ("other", True)])
def test_other_children_outlive_their_parent(kind: str, fate_site: bool, tmp_path: Path) -> None:
    pids, alive = kill_parent_and_wait(kind, tmp_path, fate_site=fate_site)
    assert set(pids) <= set(alive)
