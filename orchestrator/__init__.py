"""forkjoin's top floor: the runtime that executes graphs, and the command line.

Public API: :func:`run` / :func:`arun`, :class:`Runtime` (``run`` / ``arun``
/ ``arun_many``), its configuration, results, events and runtime errors.
"""

from orchestrator.api import arun, run
from orchestrator.config import RuntimeConfig
from orchestrator.errors import NodeFailed, NodeTimeout, RunAborted, RuntimeFailure
from orchestrator.results import NodeResult, NodeStatus, RunResult
from orchestrator.runtime import RunEvent, Runtime

__all__ = [
    "NodeFailed",
    "NodeResult",
    "NodeStatus",
    "NodeTimeout",
    "RunAborted",
    "RunEvent",
    "RunResult",
    "Runtime",
    "RuntimeConfig",
    "RuntimeFailure",
    "arun",
    "run",
]
