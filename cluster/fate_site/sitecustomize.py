"""Parent-death fate sharing for the processes of an embedded forkjoin Ray (imported as ``sitecustomize``).

``cluster.connect`` puts this directory on the ``PYTHONPATH`` of the Ray it
starts, so every Python process of that cluster runs this file first. Two kinds
ask the kernel to SIGKILL them the moment their parent dies
(``prctl(PR_SET_PDEATHSIG)``, what Ray already does for the GCS and the raylet
it starts from the driver), so a SIGKILLed driver takes its whole tree along:

* the raylet's agents (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``, any
  process whose parent is ``RAY_RAYLET_PID``): Ray's own check notices the
  raylet gone, then blocks about 60 s reporting it to the GCS, which died with
  the driver, and SIGTERM waits behind that blocked event loop;
* multiprocessing ``spawn`` children (vLLM's EngineCore and its
  ``VLLM::Worker``): vLLM's worker watches its parent only once its model has
  loaded, so an interrupted start-up would leave it running.

Invariants: PR_SET_PDEATHSIG fires when the creating *thread* exits, so it is
set only where that thread lives as long as its process (the raylet's main
loop, vLLM's spawning threads); everything else is untouched. A parent already
gone before the call (the process was orphaned while its interpreter started)
ends it too. Standard library only,
nothing printed, Linux only; another ``sitecustomize`` later on the path still runs.
"""

import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _expected_parent() -> int | None:
    """The parent this process must not outlive, or None when it should not share fate."""
    raylet = os.environ.get("RAY_RAYLET_PID", "")
    if raylet.isdigit() and os.getppid() == int(raylet):
        return int(raylet)
    if "--multiprocessing-fork" in sys.argv:
        return os.getppid()
    return None


def share_parent_fate() -> None:
    """SIGKILL this process when its parent dies (see the module docstring for which processes)."""
    parent = _expected_parent()
    if parent is None or not sys.platform.startswith("linux"):
        return
    if parent == 1:  # orphaned while the interpreter started: whoever spawned it is gone
        os._exit(1)
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _run_next_sitecustomize() -> None:
    """Run the ``sitecustomize`` this one shadows, if any (this module stays the registered one)."""
    from importlib.machinery import PathFinder
    from importlib.util import module_from_spec

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(module_from_spec(spec))


share_parent_fate()
_run_next_sitecustomize()
