"""The driver side of a batch job: the Ray Data pipeline and the loop that commits its output.

Pipeline: the prepared rows go into the object store as blocks
(``from_blocks``: no read or metadata tasks), flow through ``map_batches`` to a fixed pool
of :class:`~orchestrator.batch.worker.BatchWorker` actors, and come back to
the driver, which commits them as parts (:mod:`orchestrator.batch.sink`).

Resources: on CPU a replica reserves every CPU of its node, so nothing else
of the pipeline may ask for a CPU, or it would wait for ever. There are no
read or write tasks, and the map actors ask for ``num_cpus=0`` explicitly
(their work is waiting on replicas). A Dataset passed in as the source is
materialized before the caller starts the replicas (see :func:`table_of`).

Exactly-once: the driver keeps the ``input_row`` of every row it committed;
a row coming back twice (a retried block) is dropped, and a row that never
came back is a :class:`BatchJobError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from actors.pool import ReplicaPool
from orchestrator.batch.errors import BatchJobError
from orchestrator.batch.rows import ROW_KEY, RowStatus
from orchestrator.batch.sink import Output
from orchestrator.batch.worker import BatchWorker, Job, WorkerSpec

Reporter = Callable[[pa.Table], None]


class PipelineConfig(BaseModel):
    """How rows flow through Ray Data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actors: int | None = Field(None, ge=1, description="Map actors; 2 per replica if unset.")
    batch_rows: int = Field(8, ge=1, description="Rows per map_batches call (several calls run per actor at once).")
    block_rows: int = Field(32, ge=1, description="Rows per input block.")
    part_rows: int = Field(256, ge=1, description="Rows per committed part (fewer at the end or after part_s).")
    part_s: float = Field(30.0, gt=0, description="Longest time results wait on the driver before a commit.")


class BatchSummary(BaseModel):
    """What a job did, over the whole output (earlier runs of a resumed job included)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int = Field(ge=0, description="Rows in the output.")
    ok: int = Field(ge=0, description="Rows with status ok.")
    failed: int = Field(ge=0, description="Rows with status failed.")
    rejected: int = Field(ge=0, description="Rows with status rejected.")
    ran: int = Field(ge=0, description="Rows this run processed (the rest were done before a resume).")
    wall_s: float = Field(ge=0, description="Wall time of this run's pipeline.")
    parts: int = Field(ge=0, description="Committed part files.")

    @property
    def exit_code(self) -> int:
        """0 when every row is ok, 1 when some are not."""
        return 0 if self.ok == self.rows else 1


def result_dataset(table: pa.Table, pool: ReplicaPool, job: Job, config: PipelineConfig) -> Any:
    """The lazy Ray Data pipeline from prepared rows to output rows, on ``pool``'s replicas."""
    import ray.data

    replicas = pool.replicas
    if not replicas:
        raise BatchJobError(f"pool {pool.name} has no replica to run the batch on")
    spec = WorkerSpec(job=job, pool=pool.config, replicas=replicas)
    blocks = [table.slice(start, config.block_rows) for start in range(0, table.num_rows, config.block_rows)]
    # from_blocks computes block metadata here; from_arrow would run a task needing a CPU the replicas hold.
    dataset = ray.data.from_blocks([block.combine_chunks() for block in blocks] or [table])
    dataset.context.enable_progress_bars = False  # the job draws its own bar
    dataset.context.print_on_execution_start = False
    return dataset.map_batches(
        BatchWorker,
        fn_constructor_kwargs={"spec": spec},
        batch_size=config.batch_rows,
        batch_format="pyarrow",
        zero_copy_batch=True,
        compute=ray.data.ActorPoolStrategy(size=config.actors or 2 * len(replicas)),
        num_cpus=0,
    )


def table_of(dataset: Any) -> pa.Table:
    """A Ray Dataset's rows on the driver, in its order (run this before replicas hold the CPUs)."""
    import ray

    tables = [pa.table(t) if not isinstance(t, pa.Table) else t for t in ray.get(dataset.to_arrow_refs())]
    return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})


def run_job(
    table: pa.Table, output: Output, pool: ReplicaPool, job: Job, config: PipelineConfig, progress: Any = None
) -> BatchSummary:
    """Run the rows not yet in ``output`` and commit them; the summary covers the whole output.

    ``progress``: an :class:`orchestrator.progress.Progress` (or None); a bar
    of rows done, failures and tokens/s while results arrive.
    """
    began = time.perf_counter()
    done = output.done_rows()
    todo = table.filter(pc.invert(pc.is_in(table.column(ROW_KEY), pa.array(sorted(done), pa.int64()))))
    seen: set[int] = set()
    if todo.num_rows:
        blocks = result_dataset(todo, pool, job, config).iter_batches(batch_size=None, batch_format="pyarrow")
        with _bar(progress, todo.num_rows, skipped=len(done)) as report:
            for part in _parts(_reported(_new_rows(blocks, seen), report), config):
                output.write(part)
    missing = set(todo.column(ROW_KEY).to_pylist()) - seen
    if missing:
        raise BatchJobError(f"{len(missing)} rows never came back from the pipeline (first: input row {min(missing)})")
    return summarize(output, ran=todo.num_rows, wall_s=time.perf_counter() - began)


def summarize(output: Output, *, ran: int, wall_s: float) -> BatchSummary:
    """The job's counts, read back from the committed parts."""
    counts = output.statuses()
    return BatchSummary(
        rows=sum(counts.values()), ok=counts[RowStatus.OK.value], failed=counts[RowStatus.FAILED.value],
        rejected=counts[RowStatus.REJECTED.value], ran=ran, wall_s=wall_s, parts=len(output.parts()),
    )


def _new_rows(blocks: Iterator[pa.Table], seen: set[int]) -> Iterator[pa.Table]:
    """Each block without rows already seen (a retried block may repeat some)."""
    for block in blocks:
        keys = block.column(ROW_KEY).to_pylist()
        fresh = [i for i, key in enumerate(keys) if key not in seen]
        seen.update(keys)
        if fresh:
            yield block if len(fresh) == len(keys) else block.take(fresh)


@contextmanager
def _bar(progress: Any, total: int, *, skipped: int) -> Iterator[Reporter]:
    """A reporter advancing the progress bar by each block of results (a no-op without progress)."""
    if progress is None:
        yield lambda block: None
        return
    if skipped:
        progress.note(f"resuming: {skipped} rows already done, {total} to run")
    began, failures, tokens = time.perf_counter(), 0, 0

    with progress.task("batch", total=total, unit="rows") as task:

        def report(block: pa.Table) -> None:
            nonlocal failures, tokens
            failures += _not_ok(block)
            tokens += pc.sum(block.column("output_tokens")).as_py() or 0
            rate = tokens / max(time.perf_counter() - began, 1e-9)
            task.advance(block.num_rows, failures=failures, tokens_per_s=round(rate, 1))

        yield report


def _reported(blocks: Iterator[pa.Table], report: Reporter) -> Iterator[pa.Table]:
    for block in blocks:
        report(block)
        yield block


def _parts(blocks: Iterator[pa.Table], config: PipelineConfig) -> Iterator[pa.Table]:
    """Blocks coalesced to parts of about ``part_rows`` rows, or whatever came within ``part_s``."""
    pending: list[pa.Table] = []
    rows, since = 0, time.monotonic()
    for block in blocks:
        pending.append(block)
        rows += block.num_rows
        if rows >= config.part_rows or time.monotonic() - since >= config.part_s:
            yield pa.concat_tables(pending, promote_options="default")
            pending, rows, since = [], 0, time.monotonic()
    if pending:
        yield pa.concat_tables(pending, promote_options="default")


def _not_ok(part: pa.Table) -> int:
    return part.num_rows - pc.sum(pc.equal(part.column("status"), RowStatus.OK.value)).as_py()
