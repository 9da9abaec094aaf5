"""What every chaos cell shares: the workload knobs, the report, and the runtime-side watch on requests.

A cell (``forkjoin bench chaos --fault ...``) runs a batch of
:func:`~orchestrator.reliability.workload.fan_in_graph` graphs through
``Runtime.arun_many`` on a real replica pool, injects one fault while
requests stream, and reports what a user would see (:class:`ChaosReport`).
Requests are watched from the runtime's side (:class:`Watched`, an engine
wrapper): when each chunk came and from which replica, and when each stream
opened and closed. The cells:

- :mod:`~orchestrator.reliability.replica_kill`: a replica actor killed mid-stream;
- :mod:`~orchestrator.reliability.engine_kill`: the vLLM EngineCore process killed under a replica;
- :mod:`~orchestrator.reliability.slow_replica`: a replica slowed down (its process throttled);
- :mod:`~orchestrator.reliability.node_loss`: a node of the simulated cluster lost mid-batch.

Invariant of every cell: ``lost`` and ``duplicated`` must be 0.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Chunk, EngineStats, GenerateRequest
from graphs import Graph


class Fault(StrEnum):
    """The faults ``bench chaos`` injects."""

    REPLICA_KILL = "replica-kill"
    ENGINE_KILL = "engine-kill"
    SLOW_REPLICA = "slow-replica"
    NODE_LOSS = "node-loss"


class ChaosConfig(BaseModel):
    """The workload a fault lands in (each cell reads the fields it names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    graphs: int = Field(24, ge=1, description="Graphs of a scope of four generate items and a summary.")
    replicas: int = Field(2, ge=1, description="Scripted replicas (engine-kill: one vLLM replica and these).")
    words: int = Field(60, ge=4, description="Words each scripted answer streams.")
    token_delay_s: float = Field(0.02, gt=0, description="Seconds per scripted word.")
    kill_when_streaming: int = Field(3, ge=1, description="Inject once this many requests stream on the victim.")
    node_timeout_s: float = Field(1.5, gt=0, description="slow-replica: every generate node's own timeout.")
    slow_run_share: float = Field(
        0.1, gt=0, le=1, description="slow-replica: share of wall time the throttled replica may run."
    )
    model: str = Field("smollm2-135m-instruct", min_length=1, description="engine-kill: the vLLM replica's model.")


class ChaosReport(BaseModel):
    """What one fault cost, as the runtime saw it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fault: str = Field(description="What was injected.")
    in_flight: int = Field(description="Requests streaming on the victim when the fault began.")
    requests: int = Field(description="Generate requests (or rows, node-loss) the run made.")
    completed: int = Field(description="Graphs (rows) that completed.")
    retried: int = Field(description="In-flight requests (rows) that went on after the fault elsewhere.")
    lost: int = Field(description="Graphs (rows) that neither completed nor failed as configured: must be 0.")
    duplicated: int = Field(description="Texts (rows) repeated, cut or doubled: must be 0.")
    recover_s: float | None = Field(description="Fault to recovery, s (what recovery means: the cell's docstring).")
    wall_s: float = Field(description="Wall time of the whole batch, s.")
    leaked: int = Field(0, description="Requests still open in a live replica after the batch: must be 0.")
    timed_out: int = Field(0, description="Generate nodes that ended by their own timeout (slow-replica).")
    restart_s: float | None = Field(None, description="Fault to the victim serving again, s (engine-kill).")
    timeout_late_s: float | None = Field(
        None, description="The most a node's timeout fired after its configured time, s (slow-replica)."
    )
    victim_share: float | None = Field(
        None, description="Share of the requests started after the fault that the victim got (slow-replica)."
    )


class Arrival(NamedTuple):
    """One chunk as the runtime got it."""

    at: float
    replica: str
    text: str
    tokens: int


@dataclass
class _Seen:
    chunks: list[Arrival] = field(default_factory=list)
    opened: float = 0.0
    closed: float | None = None

    @property
    def open(self) -> bool:
        return self.closed is None


class Watched:
    """An engine wrapper that records, per request, its stream's span and each chunk's arrival and replica."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.name = engine.name
        self.seen: dict[str, _Seen] = {}
        self.fault_at = 0.0
        self.victims: set[str] = set()

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        seen = self.seen.setdefault(request.request_id, _Seen(opened=time.perf_counter()))
        try:
            async for chunk in self.engine.generate(request):
                seen.chunks.append(Arrival(time.perf_counter(), chunk.replica or "", chunk.text, chunk.tokens))
                yield chunk
        finally:
            seen.closed = time.perf_counter()

    async def stats(self) -> EngineStats:
        return await self.engine.stats()

    async def aclose(self) -> None:
        await self.engine.aclose()

    def streaming_on(self, replica: str) -> set[str]:
        """Requests whose stream is open and whose last chunk came from ``replica``."""
        return {rid for rid, s in self.seen.items() if s.open and s.chunks and s.chunks[-1].replica == replica}

    def faulted(self, replica: str, open_ids: Iterable[str] = ()) -> None:
        """Mark the fault's moment; its victims: the requests streaming on ``replica`` and those open in it."""
        self.fault_at = time.perf_counter()
        self.victims = self.streaming_on(replica) | (set(open_ids) & set(self.seen))

    def resumed_at(self, request_id: str, replica: str, *, alone: bool) -> float | None:
        """When a victim's request first got a chunk after the fault from elsewhere (or, ``alone``, at all)."""
        for arrival in self.seen[request_id].chunks:
            if arrival.at > self.fault_at and (alone or arrival.replica != replica):
                return arrival.at
        return None

    def recovery(self, replica: str, *, alone: bool) -> tuple[int, float | None]:
        """How many victims resumed, and the fault to the first resumed chunk, s."""
        resumed = [t for rid in self.victims if (t := self.resumed_at(rid, replica, alone=alone)) is not None]
        return len(resumed), (min(resumed) - self.fault_at if resumed else None)


async def wait_streaming(watched: Watched, replica: str, count: int, timeout_s: float = 120.0) -> None:
    """Until ``count`` requests stream on ``replica`` (bounded; streams have no event to wait on from here)."""
    async with asyncio.timeout(timeout_s):
        while len(watched.streaming_on(replica)) < count:
            await asyncio.sleep(0.01)


async def collect(runtime, graphs: Iterable[Graph]) -> list:
    """Every RunResult of ``runtime.arun_many(graphs)``, in the order they ended."""
    return [result async for _, result in runtime.arun_many(graphs)]


async def leaked_requests(pool, bound_s: float = 15.0) -> int:
    """Requests still open in ``pool``'s replicas once a bounded moment passed (an abort lands asynchronously).

    A replica Ray is still restarting is asked again; one that is dead for good holds nothing.
    """
    deadline = time.monotonic() + bound_s
    while True:
        found = await asyncio.gather(*(_open_in(pool, r.name) for r in pool.replicas))
        count = sum(len(ids) for ids in found if ids is not None)
        if (count == 0 and None not in found) or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.2)  # the replica has no event to wait on from here


async def _open_in(pool, name: str) -> list[str] | None:
    """The request ids open in replica ``name``; None while it is restarting, [] once it is dead."""
    import ray

    try:
        return await pool.handle(name).open_requests.remote()
    except ray.exceptions.ActorUnavailableError:
        return None
    except ray.exceptions.RayActorError:
        return []


def generate_texts(results: list) -> list[str | None]:
    """The text of every generate node that finished, over ``results`` (RunResult)."""
    return [n.text for r in results for n in r.nodes if n.kind == "generate" and n.status == "done"]


def format_report(report: ChaosReport) -> str:
    """One line a person reads."""
    recover = "n/a" if report.recover_s is None else f"{report.recover_s:.2f} s"
    extras = []
    if report.timed_out:
        late = "" if report.timeout_late_s is None else f" (at most {report.timeout_late_s:.2f} s late)"
        extras.append(f"timed out {report.timed_out}{late}")
    if report.victim_share is not None:
        extras.append(f"victim's share after the fault {report.victim_share:.0%}")
    if report.restart_s is not None:
        extras.append(f"victim serving again after {report.restart_s:.1f} s")
    if report.leaked:
        extras.append(f"LEAKED {report.leaked} open requests")
    tail = "".join(f", {e}" for e in extras)
    return (f"{report.fault}: in flight {report.in_flight}, requests {report.requests}, completed "
            f"{report.completed}, retried {report.retried}, lost {report.lost}, duplicated "
            f"{report.duplicated}, time to recover {recover}{tail}, wall {report.wall_s:.1f} s")
