"""Nothing outlives a ``forkjoin run`` driver, whatever ends it.

Each test starts a driver in a session of its own and ends it: SIGTERM or
SIGKILL while the real vLLM engine (smallest model) is starting, the moment
that used to leave a ``VLLM::Worker`` (SIGTERM) or Ray's agents (SIGKILL)
behind; and, on a stand-in engine whose replica spawns processes the way vLLM
does (tests/integration/signal_driver.py), Ctrl-C, SIGHUP, SIGTERM and SIGKILL
mid-generation, an exception mid-generation and a normal exit. Then no process
of that run may remain within 30 s: the run's processes are found by its
session and its own Ray temp dir (``cluster.processes``), never by a name.

These tests start a Ray of their own, so they use no shared fixture: the test
ordering (tests/conftest.py) runs them before the session's shared Ray starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from actors.proc_cpu import descendants
from cluster.processes import ProcessInfo, run_processes, stat_table

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FORKJOIN = ROOT / ".venv" / "bin" / "forkjoin"
DRIVER = Path(__file__).with_name("signal_driver.py")
GONE_WITHIN_S = 30.0
ENGINE_START_S = 400.0
STAND_IN_START_S = 120.0
STAND_IN_TITLES = ("forkjoin::ScriptedCore", "forkjoin::ScriptedWorker")
SPAWN_COMMAND = "from multiprocessing.spawn import spawn_main"
"""What a spawned stand-in shows if its title did not take (seen once with vLLM's EngineCore: actors.proc_cpu)."""
RAY_SIGTERM_EXIT = signal.SIGTERM
"""Once Ray is up, SIGTERM meets the handler ray.init installs: sys.exit(15), which unwinds like Ctrl-C does."""


class Run:
    """One driver in its own session, its stdout collected by a thread."""

    def __init__(self, argv: list[str]) -> None:
        self._stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty driver never blocks on it
        self.process = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            start_new_session=True,
        )
        self.stdout = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := os.read(self.process.stdout.fileno(), 4096):
            self.stdout += chunk

    @property
    def temp_dir(self) -> str:
        return f"/tmp/fj-{self.process.pid}"

    def processes(self) -> list[ProcessInfo]:
        """Every live process of this run but the driver."""
        found = run_processes(session=self.process.pid, temp_dir=self.temp_dir)
        return [p for p in found if p.pid != self.process.pid]

    def wait_until(self, ready, timeout_s: float, what: str, seen=lambda: "") -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if self.process.poll() is not None:
                pytest.fail(f"the driver exited ({self.process.returncode}) before {what} ({seen()}): {self.stderr()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout_s:g} s ({seen()}): {self.stderr()}")
            time.sleep(0.2)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def leftovers(self) -> list[ProcessInfo]:
        """The run's processes still alive GONE_WITHIN_S after the driver ended (then killed, not leaked)."""
        self.process.wait(timeout=120)
        deadline = time.monotonic() + GONE_WITHIN_S
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for process in left:
            os.kill(process.pid, signal.SIGKILL)
        return left


def stand_in_engine(run: Run) -> list[str]:
    """The stand-in engine's processes (its EngineCore and worker), by title or by the spawn command."""
    return [p.name for p in run.processes() if p.name.startswith(STAND_IN_TITLES) or SPAWN_COMMAND in p.name]


class EngineWatch:
    """Whether the run's engine process exists yet, from ``/proc/<pid>/stat`` alone, with what each scan saw.

    :func:`cluster.processes.stat_table` gives the parent, the session and the
    name without waiting on a process that maps memory (loading weights), as a
    ``cmdline`` read would. The engine counts from the moment the replica actor (``ray::Replica``,
    in the run's session or below its driver) has a child: vLLM spawns
    EngineCore, which imports vLLM for seconds before it renames itself
    ``VLLM::EngineCore``. Waiting for that name alone left a window of about
    10 s, which fresh-clone suites missed twice; the scans' count and the
    longest one go into the failure message, so a miss says whether the poll stalled.
    """

    def __init__(self, run: Run) -> None:
        self.run = run
        self.scans = 0
        self.longest_s = 0.0
        self.names: list[str] = []

    def __call__(self) -> bool:
        began = time.monotonic()
        table = stat_table()
        driver = self.run.process.pid
        ours = {pid for pid, stat in table.items() if stat.session == driver} | set(descendants(driver, table))
        self.names = sorted(table[pid].comm for pid in ours)
        self.scans += 1
        self.longest_s = max(self.longest_s, time.monotonic() - began)
        replicas = {pid for pid in ours if table[pid].comm.startswith("ray::Replica")}
        return any(table[pid].ppid in replicas for pid in ours)

    def __str__(self) -> str:
        return f"{self.scans} scans, the longest {self.longest_s:.2f} s, the last saw {self.names}"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_real_run_ended_while_its_engine_starts_leaves_nothing(engine_ready: str, signum: int) -> None:
    run = Run([str(FORKJOIN), "-q", "run", "--model", engine_ready, "Name three colors."])
    # With one rank the model loads inside EngineCore (EngineConfig.one_process): no VLLM::Worker process.
    # The signal lands while EngineCore imports vLLM or loads the model.
    watch = EngineWatch(run)
    run.wait_until(watch, ENGINE_START_S, "the replica spawning vLLM's engine", lambda: str(watch))
    names = [p.name for p in run.processes()]
    for role in ("ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::Replica"):  # the actor's title names its method
        assert any(name.startswith(role) for name in names), (role, names)
    os.kill(run.process.pid, signum)
    assert run.leftovers() == []
    expected = RAY_SIGTERM_EXIT if signum == signal.SIGTERM else -signal.SIGKILL
    assert run.process.returncode == expected, run.stderr()


def stand_in(words: int, delay_s: float, *extra: str) -> Run:
    run = Run([sys.executable, str(DRIVER), str(words), str(delay_s), *extra])
    run.wait_until(lambda: len(stand_in_engine(run)) >= len(STAND_IN_TITLES) and b"w0" in run.stdout,
                   STAND_IN_START_S, "stand-in engine processes and a first word",
                   lambda: f"first word out: {b'w0' in run.stdout}; processes: {[p.name for p in run.processes()]}")
    return run


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGHUP, 130), (signal.SIGTERM, RAY_SIGTERM_EXIT), (signal.SIGKILL, -signal.SIGKILL)],
    ids=["ctrl-c", "SIGHUP", "SIGTERM", "SIGKILL"],
)
def test_a_run_ended_mid_generation_leaves_nothing(signum: int, code: int) -> None:
    # The driver alone gets the signal (a terminal's Ctrl-C reaches the whole group: not tested here).
    run = stand_in(2000, 0.05)
    os.kill(run.process.pid, signum)
    assert run.leftovers() == []
    assert run.process.returncode == code, run.stderr()  # a driver that aborted says why
    assert b"w1999" not in run.stdout


def test_an_exception_mid_generation_leaves_nothing() -> None:
    run = stand_in(2000, 0.05, "--raise")
    assert run.leftovers() == []
    assert run.process.returncode == 1
    assert "RuntimeError: injected failure mid-generation" in run.stderr()


def test_a_finished_run_leaves_nothing() -> None:
    run = stand_in(200, 0.05)
    assert run.leftovers() == []
    assert run.process.returncode == 0
    assert b"w199" in run.stdout
