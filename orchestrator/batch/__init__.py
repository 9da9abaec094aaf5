"""Batch: forkjoin over a corpus of prompts, across every replica of the cluster.

Public API: :func:`batch` and its configuration and results. A corpus (JSONL,
CSV, Parquet file or directory, or a ``ray.data.Dataset``) is read and checked
on the driver, every row is compiled and its graph run by Ray Data actors on
the replica pool (:mod:`orchestrator.batch.worker`), and one output row per
input row comes back, with its status. Bad rows never stop the job; only an
unusable input or output (:class:`BatchInputError`) or a broken cluster or
pipeline (:class:`BatchJobError`) does. Output directories are written so a
killed job resumes exactly once (:mod:`orchestrator.batch.sink`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.pool import ReplicaPool
from orchestrator.batch.errors import BatchInputError, BatchJobError
from orchestrator.batch.job import BatchConfig, run_batch
from orchestrator.batch.pipeline import BatchSummary, PipelineConfig
from orchestrator.batch.rows import RESULT_SCHEMA, ROW_KEY, RowResult, RowStatus
from orchestrator.batch.sink import OutputFormat
from orchestrator.batch.source import Columns, read_input
from orchestrator.engines import EngineOptions

__all__ = [
    "RESULT_SCHEMA",
    "ROW_KEY",
    "BatchConfig",
    "BatchInputError",
    "BatchJobError",
    "BatchSummary",
    "Columns",
    "OutputFormat",
    "PipelineConfig",
    "RowResult",
    "RowStatus",
    "batch",
    "read_input",
]


def batch(
    source: str | Path | Any,
    output: str | Path | None = None,
    *,
    config: BatchConfig | None = None,
    pool: ReplicaPool | None = None,
    engine: EngineOptions | None = None,
    progress: Any = None,
) -> Any:
    """Run every row of ``source``; write ``output`` (-> BatchSummary) or return the lazy result Dataset.

    ``source``: a JSONL, CSV or Parquet file, a Parquet directory, or a
    ``ray.data.Dataset``. ``pool``: a started pool to run on (required without
    ``output``: the Dataset runs when consumed, while the pool lives);
    otherwise Ray and the replicas are opened from ``engine`` for the job.
    ``progress``: an :class:`orchestrator.progress.Progress` for the bar on stderr.
    """
    return run_batch(source, output, config=config, pool=pool, engine=engine, progress=progress)
