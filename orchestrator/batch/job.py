"""A batch job end to end: check the source and the output, open the engine if asked, run, summarize.

The public function is :func:`batch`, exported as :func:`orchestrator.batch.batch`.
Everything that can be checked without Ray (input readable,
columns present, output directory usable) is checked before Ray or an engine
starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from actors.pool import ReplicaPool
from graphs.compiler import CompileOptions
from orchestrator.batch.errors import BatchInputError, BatchJobError
from orchestrator.batch.pipeline import BatchSummary, PipelineConfig, result_dataset, run_job, table_of
from orchestrator.batch.sink import Manifest, Output, OutputFormat, fingerprint
from orchestrator.batch.source import PROMPT, Columns, Prepared, prepare, read_input
from orchestrator.batch.worker import Job
from orchestrator.config import RuntimeConfig
from orchestrator.engines import EngineOptions, open_engine
from orchestrator.extract_llm import Extractor
from orchestrator.strategies import Strategy


_CAUSE = re.compile(r"^[\w.]*(Error|Exception)(\(.*\))?: ")


class BatchConfig(BaseModel):
    """A batch job: which columns, which strategy, where results go and how rows flow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: Strategy = Field(Strategy.AUTO, description="auto, serial or parallel (compare is not a batch strategy).")
    columns: Columns = Field(default_factory=Columns, description="The prompt and id columns.")
    limit: int | None = Field(None, ge=1, description="Only the first N rows of the input.")
    resume: bool = Field(False, description="Finish the job that wrote the output directory.")
    format: OutputFormat = Field(OutputFormat.PARQUET, description="Format of the output parts.")
    compile: CompileOptions = Field(default_factory=CompileOptions, description="Compiler knobs.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Scheduler knobs of each actor.")
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig, description="Ray Data knobs.")
    extractor: Extractor = Field(Extractor.RULES, description="rules, llm or auto: who gives each prompt its schema.")
    row_max_tokens: int | None = Field(
        None, ge=1, description="Most tokens one row's graph may write over all its nodes; None: each node's own cap."
    )

    def job(self) -> Job:
        """What every row runs with."""
        if self.strategy is Strategy.COMPARE:
            raise BatchInputError("strategy compare is not a batch strategy: use auto, serial or parallel")
        return Job(strategy=self.strategy, compile=self.compile, runtime=self.runtime, extractor=self.extractor,
                   row_max_tokens=self.row_max_tokens)


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
    ``ray.data.Dataset`` (materialized first, before replicas hold the
    cluster's CPUs). ``pool``: a started pool to run on (required without
    ``output``, since the returned Dataset runs when it is consumed); otherwise
    Ray and the replicas are opened from ``engine`` for the job and closed
    after it. ``progress``: an :class:`orchestrator.progress.Progress` for the
    bar on stderr. Synchronous: call it from a thread when inside an event loop.
    """
    config = config or BatchConfig()
    job = config.job()
    prepared = _prepared(source, config)
    if output is None:
        if pool is None:
            raise BatchInputError("batch() without an output returns a lazy Dataset: pass pool=, a started ReplicaPool")
        return result_dataset(prepared.table, pool, job, config.pipeline)
    manifest = _manifest(source, prepared, config)
    target = Output.open(Path(output), manifest, resume=config.resume)
    if pool is not None:
        return _run(prepared, target, pool, job, config, progress)
    with held_engine(engine or EngineOptions()) as started:
        return _run(prepared, target, started, job, config, progress)


def _run(
    prepared: Prepared, target: Output, pool: ReplicaPool, job: Job, config: BatchConfig, progress: Any
) -> BatchSummary:
    import ray

    try:
        return run_job(prepared.table, target, pool, job, config.pipeline, progress)
    except ray.exceptions.RayError as exc:
        raise BatchJobError(f"the batch pipeline failed: {_cause_line(exc)}") from exc


def _cause_line(exc: BaseException) -> str:
    """The line of a Ray error naming the exception that caused it (Ray Data ends its text with retry advice)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if _CAUSE.match(line)]
    return (named or lines or [type(exc).__name__])[-1]


def _prepared(source: str | Path | Any, config: BatchConfig) -> Prepared:
    if isinstance(source, str | Path):
        return read_input(Path(source), config.columns, config.limit)
    table = table_of(source)
    if config.columns.prompt not in table.column_names:
        raise BatchInputError(f"the dataset has no column {config.columns.prompt!r} (columns: {', '.join(table.column_names)})")
    if config.limit is not None:
        table = table.slice(0, config.limit)
    return prepare(table, [None] * table.num_rows, config.columns)


def _manifest(source: str | Path | Any, prepared: Prepared, config: BatchConfig) -> Manifest:
    if isinstance(source, str | Path):
        path = Path(source).resolve()
        name, identity = str(path), fingerprint(path)
    else:
        digest = hashlib.sha256()
        for prompt in prepared.table.column(PROMPT).to_pylist():
            digest.update((prompt or "").encode("utf-8", "surrogatepass") + b"\0")
        name, identity = "<ray.data.Dataset>", digest.hexdigest()
    return Manifest(input=name, fingerprint=identity, prompt_column=config.columns.prompt,
                    id_column=config.columns.id, format=config.format)


@contextmanager
def held_engine(options: EngineOptions) -> Iterator[ReplicaPool]:
    """Ray and the replicas opened from ``options``, held open while synchronous code (Ray Data) uses them."""
    with asyncio.Runner() as runner, _engine(runner, options) as pool:
        yield pool


@contextmanager
def _engine(runner: asyncio.Runner, options: EngineOptions) -> Iterator[ReplicaPool]:
    """Ray and the replicas for the job (open_engine shows its waits), closed at exit."""
    manager = open_engine(options)
    started = runner.run(manager.__aenter__())
    with _held(runner, manager, started) as pool:
        yield pool


@contextmanager
def _held(runner: asyncio.Runner, manager: AbstractAsyncContextManager[Any], value: Any) -> Iterator[Any]:
    """An entered async context manager held open by ``runner`` while synchronous code (Ray Data) runs."""
    try:
        yield value
    except BaseException:
        if not runner.run(manager.__aexit__(*sys.exc_info())):
            raise
    else:
        runner.run(manager.__aexit__(None, None, None))

