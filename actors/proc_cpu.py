"""Where a benchmark's CPU goes: the processes this command started, by role, from ``/proc``.

On a small CPU machine every percent of a core that something else takes is
taken from the engine's OpenMP threads, so ``bench engine`` reports, for the
rounds that set its headline ratio, how much of a core each role used on both
sides: the engine (vLLM's EngineCore, which runs the model), the process that
drives the measurement (plain vLLM: its front end too), the replica actor
(forkjoin: vLLM's front end inside a Ray actor), Ray's own daemons and
workers, and anything else. When two systems share the machine and take
turns (``bench engine --baseline``), the one not measured is charged as
``idle``: what it costs while it waits.

Only this process and its descendants on this machine are counted (an
embedded Ray's raylet, GCS and workers descend from the driver; a joined
cluster's do not). Linux only: elsewhere every figure is empty.
"""

from __future__ import annotations

import os
import time

from cluster.processes import PROC, Stat, read_command, stat_table

ENGINE = "engine"
DRIVER = "driver"
REPLICA = "replica"
RAY = "ray"
OTHER = "other"
IDLE = "idle"
ROLES = (ENGINE, DRIVER, REPLICA, RAY, OTHER, IDLE)
SPAWNED = "--multiprocessing-fork"
"""The argument multiprocessing's ``spawn`` start method gives a child's command line."""


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (``/proc/<pid>/task/*/children`` may miss some)."""
    return [child for child, stat in stat_table().items() if stat.ppid == pid]


def descendants(pid: int, table: dict[int, Stat] | None = None) -> list[int]:
    """Every live process below ``pid`` (children, theirs, ...), from ``table`` (a :func:`stat_table`) or a fresh one."""
    below: dict[int, list[int]] = {}
    for child, stat in (stat_table() if table is None else table).items():
        below.setdefault(stat.ppid, []).append(child)
    found, frontier = [], [pid]
    while frontier:
        kids = below.get(frontier.pop(), [])
        found += kids
        frontier += kids
    return found


def engine_process(command: str) -> bool:
    """Whether a process's name or command line is vLLM's engine process (or one of its workers).

    vLLM names it ``VLLM::EngineCore`` (setproctitle). Once, in a full test
    suite, the title was never set: the process still showed
    multiprocessing's spawn command, which forkjoin's processes use for
    vLLM's processes alone (Ray does not spawn that way; the resource
    tracker's command differs).
    """
    return "EngineCore" in command or SPAWNED in command


def role(pid: int, root: int) -> str:
    """What process ``pid`` is in a benchmark rooted at ``root`` (see the module doc)."""
    if pid == root:
        return DRIVER
    command = read_command(PROC / str(pid)) or ""
    if engine_process(command):
        return ENGINE
    if command.startswith("ray::Replica"):
        return REPLICA
    if command.startswith("ray::") or "/ray/" in command:
        return RAY
    return OTHER


def cpu_seconds(root: int | None = None, *, measured: int | None = None,
                idle: int | None = None) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) so far of ``root`` (default: this process) and each descendant, with its role.

    ``measured`` (default ``root``) is the process whose tree is measured; it
    counts as the driver. Processes outside that tree, or inside ``idle``'s,
    count as ``idle``.
    """
    root = os.getpid() if root is None else root
    measured = root if measured is None else measured
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    table = stat_table()
    inside = {measured, *descendants(measured, table)}
    waiting = set() if idle is None else {idle, *descendants(idle, table)}
    seconds = {}
    for pid in [root, *descendants(root, table)]:
        fields = table[pid].fields if pid in table else ()
        if len(fields) >= 13:
            kind = IDLE if pid in waiting or pid not in inside else role(pid, measured)
            seconds[pid] = (kind, (int(fields[11]) + int(fields[12])) / tick)  # utime + stime
    return seconds


class CpuWindow:
    """Per-role CPU use between :meth:`start` and :meth:`stop`, summed over every window, in % of one core."""

    def __init__(self, root: int | None = None, *, measured: int | None = None, idle: int | None = None) -> None:
        self._root = os.getpid() if root is None else root
        self._sides = {"measured": measured, "idle": idle}  # see cpu_seconds
        self._used: dict[str, float] = {}
        self._wall = 0.0
        self._began: tuple[float, dict[int, tuple[str, float]]] | None = None

    def start(self) -> None:
        self._began = (time.perf_counter(), cpu_seconds(self._root, **self._sides))

    def stop(self) -> None:
        assert self._began is not None, "stop without start"
        began, before = self._began
        after = cpu_seconds(self._root, **self._sides)
        self._wall += time.perf_counter() - began
        for pid, (kind, used) in after.items():
            self._used[kind] = self._used.get(kind, 0.0) + used - before.get(pid, (kind, 0.0))[1]
        self._began = None

    def shares(self) -> dict[str, float]:
        """Role -> percent of one core over all windows (roles that used nothing are left out)."""
        if self._wall <= 0:
            return {}
        return {kind: round(100 * self._used[kind] / self._wall, 1) for kind in ROLES if self._used.get(kind, 0) > 0}
