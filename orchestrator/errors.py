"""Errors raised while a graph runs.

A :class:`NodeFailed` is recoverable: one node failed, its dependents are
skipped, independent nodes finish, and the run's result says which is which.
A :class:`RunAborted` is fatal: the engine died (or the run was stopped) and
nothing more can run; it carries the partial result so no finished output is
lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphs.errors import ForkjoinError

if TYPE_CHECKING:
    from orchestrator.results import RunResult


class RuntimeFailure(ForkjoinError):
    """Base of errors raised while running a graph."""


class NodeFailed(RuntimeFailure):
    """A node's generation failed (engine error, bad template value). Recoverable: the run goes on."""

    def __init__(self, node: str, cause: str) -> None:
        super().__init__(f"node '{node}' failed: {cause}")
        self.node = node
        self.cause = cause


class NodeTimeout(NodeFailed):
    """A node ran longer than its timeout. Caused by a slow engine or a too-small timeout; recoverable."""

    def __init__(self, node: str, timeout_s: float) -> None:
        super().__init__(node, f"timed out after {timeout_s:g} s")
        self.timeout_s = timeout_s


class RunAborted(RuntimeFailure):
    """The run could not go on (engine dead, run timeout). Fatal; ``result`` holds what finished."""

    def __init__(self, message: str, result: RunResult | None = None) -> None:
        super().__init__(message)
        self.result = result
