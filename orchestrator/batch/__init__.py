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

from orchestrator.batch.errors import BatchInputError, BatchJobError
from orchestrator.batch.job import BatchConfig, batch
from orchestrator.batch.pipeline import BatchSummary, PipelineConfig
from orchestrator.batch.rows import RESULT_SCHEMA, ROW_KEY, RowResult, RowStatus
from orchestrator.batch.sink import OutputFormat
from orchestrator.batch.source import Columns, read_input

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

