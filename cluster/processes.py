"""The processes of one run, found by what belongs to that run only (Linux ``/proc``).

A run is identified by its session (a driver started with ``start_new_session``:
every process it starts inherits the session id unless it calls ``setsid``) and
by its Ray temp dir (every Ray process, and every vLLM process a Ray worker
spawns, holds a log file there open). Never by a process name, which other
runs share. Zombies are left out: they hold no memory and wait only for a reaper.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

PROC = Path("/proc")
NAME_CHARS = 80


class ProcessInfo(BaseModel):
    """One live process of a run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pid: int = Field(description="Process id.")
    ppid: int = Field(description="Parent process id (1 once orphaned).")
    session: int = Field(description="Session id.")
    name: str = Field(description="Command line (or title a process set), shortened.")


def run_processes(session: int | None = None, temp_dir: str | Path | None = None) -> list[ProcessInfo]:
    """Live processes in ``session``, or with a file open under ``temp_dir``, sorted by pid."""
    prefix = None if temp_dir is None else str(Path(temp_dir).resolve()).rstrip("/") + "/"
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        info = _read(entry)
        if info is None:
            continue
        if info.session == session or (prefix is not None and _holds_file_under(entry, prefix)):
            found.append(info)
    return sorted(found, key=lambda p: p.pid)


def _read(entry: Path) -> ProcessInfo | None:
    """The process behind ``/proc/<pid>``, or None when it is gone or a zombie."""
    stat = read_stat(entry)
    command = None if stat is None else read_command(entry)
    if stat is None or command is None:
        return None
    return ProcessInfo(pid=int(entry.name), ppid=stat.ppid, session=stat.session, name=command.strip()[:NAME_CHARS])


def read_command(entry: Path) -> str | None:
    """``/proc/<pid>/cmdline`` with its NULs as spaces (or the title a process set), or None when it is gone."""
    try:
        return (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class Stat:
    """What ``/proc/<pid>/stat`` says of a live process: its kernel name and the fields after it."""

    comm: str
    """The kernel's name for it (``comm``: at most 15 characters; a title set with setproctitle shows here too)."""
    fields: tuple[str, ...]
    """The fields after the name, from the state on (so ``fields[1]`` is the parent, ``fields[11]`` utime)."""

    @property
    def ppid(self) -> int:
        return int(self.fields[1])

    @property
    def session(self) -> int:
        return int(self.fields[3])


def read_stat(entry: Path) -> Stat | None:
    """``/proc/<pid>/stat`` of one process, or None when it is gone or a zombie.

    Unlike ``cmdline``, reading ``stat`` never waits on the target's memory-map
    lock, so a poll does not stall while a process maps memory (loading weights).
    """
    try:
        stat = (entry / "stat").read_text(errors="replace")
    except OSError:
        return None
    fields = tuple(stat[stat.rfind(")") + 2 :].split())
    if len(fields) < 4 or fields[0] in ("Z", "X"):
        return None
    return Stat(comm=stat[stat.find("(") + 1 : stat.rfind(")")], fields=fields)


def stat_table() -> dict[int, Stat]:
    """pid -> :class:`Stat` of every live process, zombies left out; empty where there is no ``/proc``."""
    try:
        entries = list(PROC.iterdir())
    except OSError:
        return {}
    found = {}
    for entry in entries:
        if entry.name.isdigit() and (stat := read_stat(entry)) is not None:
            found[int(entry.name)] = stat
    return found


def _holds_file_under(entry: Path, prefix: str) -> bool:
    try:
        fds = list((entry / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd).startswith(prefix):
                return True
        except OSError:
            continue
    return False
