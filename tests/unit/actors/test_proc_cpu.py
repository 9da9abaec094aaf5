"""actors.proc_cpu: the process tree and per-role CPU a benchmark reports, on real processes."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from actors import proc_cpu
from actors.proc_cpu import CpuWindow, children, descendants, role
from cluster.processes import PROC, read_command

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")

SPIN = "import time\nend = time.perf_counter() + {seconds}\nwhile time.perf_counter() < end: pass\n"


def _named(argv0: str, seconds: float = 30) -> subprocess.Popen:
    """A sleeping child whose command line starts with ``argv0`` (as vLLM and Ray name theirs)."""
    return subprocess.Popen(["bash", "-c", f'exec -a "{argv0}" sleep {seconds}'])


def _wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_descendants_include_grandchildren_and_children_only_direct_ones() -> None:
    script = "import subprocess, time; subprocess.Popen(['sleep', '30']); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        _wait_for(lambda: len(descendants(child.pid)) == 1)
        grandchild = descendants(child.pid)[0]
        assert child.pid in children(os.getpid()) and grandchild not in children(os.getpid())
        assert {child.pid, grandchild} <= set(descendants(os.getpid()))
    finally:
        for pid in descendants(child.pid):
            os.kill(pid, 9)
        child.kill()
        child.wait()


def test_a_spawned_child_whose_title_was_never_set_is_the_engine() -> None:
    # As vLLM's EngineCore was seen once: still multiprocessing's spawn command (a resource tracker beside it).
    child = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,))
    child.start()
    try:
        _wait_for(lambda: proc_cpu.SPAWNED in (read_command(PROC / str(child.pid)) or ""))
        assert role(child.pid, os.getpid()) == proc_cpu.ENGINE
        others = [pid for pid in children(os.getpid()) if pid != child.pid]
        assert all(role(pid, os.getpid()) != proc_cpu.ENGINE for pid in others)  # the resource tracker is not
    finally:
        child.kill()
        child.join()


def test_roles_follow_what_vllm_and_ray_name_their_processes() -> None:
    named = {argv0: _named(argv0) for argv0 in ("VLLM::EngineCore", "ray::Replica", "ray::DashboardAgent", "plain")}
    try:
        _wait_for(lambda: all((read_command(PROC / str(p.pid)) or "").startswith(a) for a, p in named.items()))
        me = os.getpid()
        assert role(me, me) == proc_cpu.DRIVER
        assert role(named["VLLM::EngineCore"].pid, me) == proc_cpu.ENGINE
        assert role(named["ray::Replica"].pid, me) == proc_cpu.REPLICA
        assert role(named["ray::DashboardAgent"].pid, me) == proc_cpu.RAY
        assert role(named["plain"].pid, me) == proc_cpu.OTHER
    finally:
        for process in named.values():
            process.kill()
            process.wait()


def test_a_window_charges_a_busy_child_to_its_role_and_leaves_out_an_idle_one() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", SPIN.format(seconds=3)])
    idle = _named("ray::Idle")
    try:
        window = CpuWindow()
        assert window.shares() == {}
        window.start()
        time.sleep(1.0)  # the driver sleeps: it uses next to nothing
        window.stop()
        shares = window.shares()
        assert shares.get(proc_cpu.OTHER, 0.0) > 30  # a busy loop: most of a core
        assert proc_cpu.RAY not in shares and shares.get(proc_cpu.DRIVER, 0.0) < 10
    finally:
        for process in (spinner, idle):
            process.kill()
            process.wait()


def test_a_window_charges_the_side_it_measures_by_role_and_the_other_side_as_idle() -> None:
    measured, waiting = (subprocess.Popen([sys.executable, "-c", SPIN.format(seconds=3)]) for _ in range(2))
    try:
        theirs, ours = CpuWindow(measured=measured.pid), CpuWindow(idle=measured.pid)
        theirs.start(), ours.start()
        time.sleep(1.0)
        theirs.stop(), ours.stop()
        # measuring the child's tree: the child is that side's driver, everything else here waits
        assert theirs.shares()[proc_cpu.DRIVER] > 30 and theirs.shares()[proc_cpu.IDLE] > 30
        # measuring this process's side: the child's tree waits, the other busy child is just a process
        assert ours.shares()[proc_cpu.IDLE] > 30 and ours.shares()[proc_cpu.OTHER] > 30
        assert ours.shares().get(proc_cpu.DRIVER, 0.0) < 10
    finally:
        for process in (measured, waiting):
            process.kill()
            process.wait()
