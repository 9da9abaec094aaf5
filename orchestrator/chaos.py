"""Faults injected on purpose into a running pool, and what they cost: ``forkjoin bench chaos``.

One fault is measured here: a replica actor killed while it streams. A pool of
scripted replicas (real Ray actors and streams; answers that continue an
assistant prefix, as a model does) runs a batch of graphs through
``Runtime.arun_many``; once enough requests stream on one replica it is
killed (``ray.kill``, Ray restarts it). Every request is watched from the
runtime's side (:class:`Watched`), so the report counts what a user would see:
requests in flight on the victim when it died, graphs completed, requests
retried (their chunks name more than one replica, or the victim twice around
a restart), lost (graphs that did not complete: must be 0), duplicated (node
texts that are not exactly their answer: must be 0) and the time from the
kill to the first chunk a retried request got back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Chunk, EngineStats, GenerateRequest
from graphs import Graph

MEMBERS = 4
"""Generate nodes in each graph's scope (a summary node reads them)."""


class ChaosConfig(BaseModel):
    """The workload a fault lands in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    graphs: int = Field(24, ge=1, description="Graphs of a scope of four generate nodes and a summary.")
    replicas: int = Field(2, ge=1, description="Scripted replicas.")
    words: int = Field(60, ge=4, description="Words each answer streams.")
    token_delay_s: float = Field(0.02, gt=0, description="Seconds per word.")
    kill_when_streaming: int = Field(4, ge=1, description="Kill once this many requests stream on the victim.")


class ChaosReport(BaseModel):
    """What the fault cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fault: str = Field(description="What was injected.")
    in_flight: int = Field(description="Requests streaming on the victim when it was killed.")
    requests: int = Field(description="Generate requests the runtime made.")
    completed: int = Field(description="Graphs that completed.")
    retried: int = Field(description="Requests that went on after the kill on another (or the restarted) replica.")
    lost: int = Field(description="Graphs that did not complete.")
    duplicated: int = Field(description="Node texts that are not exactly their answer (repeated or missing words).")
    recover_s: float | None = Field(description="Kill to the first chunk a retried request got back, s.")
    wall_s: float = Field(description="Wall time of the whole batch, s.")


@dataclass
class _Seen:
    chunks: list[tuple[float, str]] = field(default_factory=list)  # (arrival, replica) of every chunk
    open: bool = True


class Watched:
    """An engine wrapper that records, per request, when each chunk came and from which replica."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.name = engine.name
        self.seen: dict[str, _Seen] = {}
        self.killed_at = 0.0
        self.victims: set[str] = set()

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        seen = self.seen.setdefault(request.request_id, _Seen())
        try:
            async for chunk in self.engine.generate(request):
                seen.chunks.append((time.perf_counter(), chunk.replica or ""))
                yield chunk
        finally:
            seen.open = False

    async def stats(self) -> EngineStats:
        return await self.engine.stats()

    async def aclose(self) -> None:
        await self.engine.aclose()

    def streaming_on(self, replica: str) -> set[str]:
        """Requests whose stream is open and whose last chunk came from ``replica``."""
        return {rid for rid, s in self.seen.items() if s.open and s.chunks and s.chunks[-1][1] == replica}

    def killed(self, replica: str) -> None:
        self.killed_at, self.victims = time.perf_counter(), self.streaming_on(replica)

    def resumed_at(self, request_id: str, replica: str, *, alone: bool) -> float | None:
        """When a victim's request first got a chunk after the kill from elsewhere (or, ``alone``, at all)."""
        for at, source in self.seen[request_id].chunks:
            if at > self.killed_at and (alone or source != replica):
                return at
        return None


def chaos_graph(index: int) -> Graph:
    graph = Graph()
    with graph.scope("items", separator="\n") as scope:
        for item in range(MEMBERS):
            scope.generate(f"Chaos graph {index}, item {item}.", name=f"item{item}", max_tokens=4096)
    graph.generate("Summarize:\n{items}", name="summary", max_tokens=4096)
    return graph


async def kill_replica_mid_stream(config: ChaosConfig) -> ChaosReport:
    """Run the batch on a scripted pool and kill one replica while it streams (see the module docstring)."""
    import ray

    from actors import PoolConfig, ReplicaPool, ScriptedSpec
    from orchestrator.config import RuntimeConfig
    from orchestrator.runtime import Runtime

    answer = " ".join(f"w{i}" for i in range(config.words))
    spec = ScriptedSpec(answers={"": answer}, token_delay_s=config.token_delay_s, continues=True)
    async with await ReplicaPool.start(PoolConfig(spec=spec, replicas=config.replicas, name="chaos")) as pool:
        watched = Watched(pool)
        victim = pool.replicas[0].name
        runtime = Runtime(watched, RuntimeConfig(max_concurrency=4 * config.replicas, max_graphs_in_flight=config.graphs))
        began = time.perf_counter()
        batch = asyncio.create_task(_collect(runtime, config.graphs))
        async with asyncio.timeout(60):
            while len(watched.streaming_on(victim)) < config.kill_when_streaming:
                await asyncio.sleep(0.01)
        ray.kill(pool.handle(victim), no_restart=False)
        watched.killed(victim)
        results = await batch
    resumed = [watched.resumed_at(rid, victim, alone=config.replicas == 1) for rid in watched.victims]
    return _report(watched, results, [t for t in resumed if t is not None], answer, time.perf_counter() - began)


async def _collect(runtime, count: int) -> list:
    return [result async for _, result in runtime.arun_many(chaos_graph(i) for i in range(count))]


def _report(watched: Watched, results: list, resumed: list[float], answer: str, wall_s: float) -> ChaosReport:
    texts = [n.text for r in results for n in r.nodes if n.kind == "generate"]
    return ChaosReport(
        fault="replica actor killed mid-stream",
        in_flight=len(watched.victims),
        requests=len(watched.seen),
        completed=sum(r.ok for r in results),
        retried=len(resumed),
        lost=sum(not r.ok for r in results),
        duplicated=sum(text != answer for text in texts),
        recover_s=min(resumed) - watched.killed_at if resumed else None,
        wall_s=wall_s,
    )


def format_report(report: ChaosReport) -> str:
    recover = "n/a" if report.recover_s is None else f"{report.recover_s:.2f} s"
    return (f"{report.fault}: in flight {report.in_flight}, requests {report.requests}, completed "
            f"{report.completed} graphs, retried {report.retried}, lost {report.lost}, duplicated "
            f"{report.duplicated}, time to recover {recover}, wall {report.wall_s:.1f} s")
