"""Errors of a batch job: only those that stop the whole job (a bad row is a row, never an error)."""

from __future__ import annotations

from graphs.errors import ForkjoinError


class BatchInputError(ForkjoinError):
    """The input or the output location cannot be used (unreadable, no prompt column, a different job's output).

    Caused by the user; raised before Ray or an engine starts, so the job does not run (exit 2).
    """


class BatchJobError(ForkjoinError):
    """The job could not finish: the cluster, the engine or the pipeline failed. Not recoverable by the job (exit 2)."""
