"""``cluster.processes``: the one ``/proc`` reader (Linux only)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster.processes import read_stat, run_processes, stat_table

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="no /proc (Linux only)")


def test_the_stat_table_knows_this_process_its_parent_and_session() -> None:
    me = stat_table()[os.getpid()]
    assert (me.ppid, me.session) == (os.getppid(), os.getsid(0))
    assert me.comm and ")" not in me.comm


def test_a_name_with_spaces_and_parentheses_is_read_whole(tmp_path: Path) -> None:
    odd = tmp_path / "py (odd) name"
    odd.symlink_to(sys.executable)  # the kernel names a process after the file it executed
    with subprocess.Popen([str(odd), "-c", "import time; time.sleep(30)"]) as child:
        try:
            stat = _until(lambda: read_stat(Path(f"/proc/{child.pid}")))
            assert stat.comm == "py (odd) name" and stat.ppid == os.getpid()
            assert child.pid in [p.pid for p in run_processes(session=os.getsid(0))]
        finally:
            child.kill()


def test_a_zombie_is_left_out() -> None:
    # The zombie is a helper's child, which the helper never reaps: no reaper in this process can take it.
    helper = subprocess.Popen([sys.executable, "-c", ZOMBIE_MAKER], stdout=subprocess.PIPE, text=True)
    try:
        zombie = int(helper.stdout.readline())
        _until(lambda: _state(zombie) == "Z")
        assert read_stat(Path(f"/proc/{zombie}")) is None and zombie not in stat_table()
        assert helper.pid in stat_table()
    finally:
        helper.kill()
        helper.wait()


ZOMBIE_MAKER = """
import os, sys, time
pid = os.fork()
if pid == 0:
    os._exit(0)
print(pid, flush=True)
time.sleep(30)
"""


def _state(pid: int) -> str:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rfind(")") + 2 :].split()[0]


def _until(value, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while not (result := value()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result
