"""The batch actor: compiles each row and runs the graphs on the replica pool.

A :class:`BatchWorker` is a Ray Data callable class (``map_batches`` with an
actor pool). Its ``__call__`` is a coroutine, so one actor has several blocks
in flight, and within a block :meth:`Runtime.arun_many` keeps many graphs
running; every graph of the actor shares its runtime's ``max_concurrency``
engine slots. The actor reaches the replicas the driver's pool started
through :meth:`ReplicaPool.attach` (the same routing and failover; the driver
keeps owning the replicas).

:func:`run_rows` is the engine-agnostic half (no Ray): it never raises for a
row. A row the compiler rejects is ``rejected``; a dead engine
(:class:`RunAborted`) fails the rows still running, not the block. With the
``llm`` or ``auto`` extractor, the rows that ask for it get their schema from
the model first (the same replicas, through the actor's pool); a reply that
cannot be used leaves the rules' schema, as in ``forkjoin run``.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from actors.engine import EngineError
from actors.pool import PoolConfig, ReplicaPool
from actors.replica import ReplicaInfo
from cluster import NAMESPACE
from graphs.compiler import CompileOptions, Schema, extract_rules, validate
from graphs.errors import ForkjoinError
from orchestrator.batch.budget import fit_budget
from orchestrator.batch.rows import RowResult, aborted, from_run, rejected, results_table
from orchestrator.batch.source import PROMPT, REJECT
from orchestrator.config import RuntimeConfig
from orchestrator.errors import RunAborted
from orchestrator.extract_llm import Extractor, extract_one, wants_engine
from orchestrator.runtime import Runtime
from orchestrator.strategies import Plan, Strategy, plan


class Job(BaseModel):
    """What every row of a job is run with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: Strategy = Field(Strategy.AUTO, description="auto, serial or parallel.")
    compile: CompileOptions = Field(default_factory=CompileOptions, description="Compiler knobs.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Scheduler knobs of each actor.")
    extractor: Extractor = Field(Extractor.RULES, description="rules, llm or auto: who gives each prompt its schema.")
    row_max_tokens: int | None = Field(
        None, ge=1, description="Most tokens one row's graph may write over all its nodes (the caps are split, "
        "see orchestrator.batch.budget); None: each node keeps its own cap."
    )

    def fitted(self, chosen: Plan) -> Plan:
        """``chosen`` with its graph held to the row budget (unchanged without one)."""
        if self.row_max_tokens is None:
            return chosen
        return chosen.model_copy(update={"graph": fit_budget(chosen.graph, self.row_max_tokens)})


class WorkerSpec(BaseModel):
    """Everything a batch actor needs, sent to it once when it starts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job: Job = Field(description="How rows are compiled and run.")
    pool: PoolConfig = Field(description="The driver's pool configuration (routing, timeouts, attempts).")
    replicas: list[ReplicaInfo] = Field(min_length=1, description="The replicas to attach to, by actor name.")


async def run_rows(
    runtime: Runtime, prompts: list[str | None], problems: list[str | None], job: Job
) -> list[RowResult]:
    """One result per row, in row order; ``problems[i]`` set means row ``i`` is rejected without running."""
    results: list[RowResult | None] = [None] * len(prompts)
    planned: list[tuple[int, Plan]] = []
    schemas = await _schemas(runtime, prompts, problems, job)
    for index, (prompt, problem) in enumerate(zip(prompts, problems, strict=True)):
        if problem is not None or prompt is None:
            results[index] = rejected(problem or "missing prompt", prompt)
            continue
        try:
            # Rows run as graphs through arun_many, which cannot decode pasta: auto keeps to serial or parallel.
            chosen = plan(prompt, job.strategy, job.compile, schema=schemas[index], auto_pasta=False)
            planned.append((index, job.fitted(chosen)))
        except ForkjoinError as exc:
            results[index] = rejected(f"compiler: {exc}", prompt)
        except Exception as exc:  # a compiler bug on one row must not stop the corpus; the row names it
            results[index] = rejected(f"compiler crashed: {type(exc).__name__}: {exc}", prompt)
    try:
        async with aclosing(runtime.arun_many(chosen.graph for _, chosen in planned)) as runs:
            async for k, result in runs:
                index, chosen = planned[k]
                results[index] = from_run(prompts[index], chosen, result)
    except RunAborted as exc:
        for index, chosen in planned:
            if results[index] is None:
                results[index] = aborted(prompts[index], chosen, str(exc))
    assert all(r is not None for r in results), "every row has a result"
    return results  # type: ignore[return-value]


async def _schemas(
    runtime: Runtime, prompts: list[str | None], problems: list[str | None], job: Job
) -> list[Schema | None]:
    """The model's schema for each row the extractor asks about (None: the rules' schema is used)."""
    schemas: list[Schema | None] = [None] * len(prompts)
    if job.extractor is Extractor.RULES or job.strategy is Strategy.SERIAL:
        return schemas
    asked = [i for i, (prompt, problem) in enumerate(zip(prompts, problems, strict=True))
             if problem is None and prompt is not None and _asks(prompt, job.extractor)]

    async def one(index: int) -> None:
        try:
            schemas[index] = (await extract_one(runtime.engine, prompts[index], mode=job.extractor)).result
        except EngineError:
            pass  # a dead engine fails the row's run next, with its own error

    async with asyncio.TaskGroup() as group:
        for index in asked:
            group.create_task(one(index))
    return schemas


def _asks(prompt: str, mode: Extractor) -> bool:
    try:
        return wants_engine(validate(extract_rules(prompt)), prompt, mode)
    except Exception:  # a prompt the rules crash on is rejected when it is planned, with the error
        return False


def output_block(batch: pa.Table, results: list[RowResult]) -> pa.Table:
    """The input block's carried columns and ``input_row``, then the result columns."""
    block = batch.drop_columns([PROMPT, REJECT])
    table = results_table(results)
    for name in table.column_names:
        block = block.append_column(table.schema.field(name), table.column(name))
    return block


class BatchWorker:
    """Ray Data callable class: one per map actor, attached to the job's replicas."""

    def __init__(self, spec: WorkerSpec) -> None:
        self._spec = spec
        self._runtime: Runtime | None = None

    async def __call__(self, batch: pa.Table) -> pa.Table:
        if self._runtime is None:  # attach in the loop that runs the requests
            self._runtime = Runtime(_attach(self._spec), self._spec.job.runtime)
        prompts = batch.column(PROMPT).to_pylist()
        problems = batch.column(REJECT).to_pylist()
        results = await run_rows(self._runtime, prompts, problems, self._spec.job)
        return output_block(batch, results)


def _attach(spec: WorkerSpec) -> ReplicaPool:
    """A pool over the job's replicas still alive: one that died since the job started is left out."""
    alive = [info for info in spec.replicas if _exists(info.name)]
    return ReplicaPool.attach(spec.pool, alive or spec.replicas)  # none alive: attach names the first missing


def _exists(name: str) -> bool:
    import ray

    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:  # Ray's answer for a name no live actor holds
        return False
    return True
