"""Load benchmark: many graphs at once through ``Runtime.arun_many`` on scripted replicas in Ray actors.

``forkjoin bench load`` builds N graphs of 8 nodes (a scope of six generate
nodes, the scope, a summary generate that reads it) lazily, hands the whole
stream to one ``arun_many`` over a pool of scripted replicas (real Ray actors,
real streaming, no model), and checks that every graph completes with every
node done. It runs in rounds (a tenth of N, then N) and prints the driver's
peak RSS after each: since ``arun_many`` pulls graphs only as capacity frees,
the peak is set by the concurrency limit, not by the number of graphs, so the
second round's peak stays at the first's.
"""

from __future__ import annotations

import resource
import time
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.reliability.workload import graph_stream, scripted_answer

MEMBERS = 6
"""Generate nodes in each graph's scope (8 nodes in all with the scope and the summary)."""


class LoadConfig(BaseModel):
    """What the load benchmark runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    graphs: int = Field(1000, ge=10, description="Graphs in the last round (the first round runs a tenth).")
    replicas: int = Field(2, ge=1, description="Scripted replicas (one Ray actor each).")
    max_concurrency: int = Field(64, ge=1, description="Engine requests in flight, across all graphs.")
    words: int = Field(12, ge=1, description="Words (tokens) each scripted answer streams.")
    token_delay_s: float = Field(0.0, ge=0, description="Scripted delay before each word.")


class LoadRound(BaseModel):
    """One round's outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    graphs: int = Field(description="Graphs submitted.")
    completed: int = Field(description="Graphs whose every node finished.")
    nodes: int = Field(description="Nodes run across those graphs.")
    seconds: float = Field(description="Wall time of the round.")
    peak_rss_mib: float = Field(description="The driver's peak resident memory once the round ended, MiB.")


class LoadReport(BaseModel):
    """The whole benchmark."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: LoadConfig = Field(description="What ran.")
    rss_before_mib: float = Field(description="The driver's peak resident memory before any graph ran, MiB.")
    rounds: list[LoadRound] = Field(description="The rounds, smallest first.")


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_round(runtime, count: int) -> LoadRound:
    """Submit ``count`` graphs to ``runtime.arun_many`` at once; count the ones that completed."""
    began = time.perf_counter()
    completed = nodes = 0
    async for _, result in runtime.arun_many(graph_stream(count, members=MEMBERS)):
        completed += result.ok
        nodes += len(result.nodes)
    return LoadRound(graphs=count, completed=completed, nodes=nodes, seconds=time.perf_counter() - began,
                     peak_rss_mib=peak_rss_mib())


async def bench_load(config: LoadConfig) -> LoadReport:
    """Start the scripted pool on the connected Ray, run the rounds, release the pool."""
    from actors import PoolConfig, ReplicaPool, ScriptedSpec
    from orchestrator.config import RuntimeConfig
    from orchestrator.runtime import Runtime

    spec = ScriptedSpec(answers={"": scripted_answer(config.words)}, token_delay_s=config.token_delay_s)
    pool = await ReplicaPool.start(PoolConfig(spec=spec, replicas=config.replicas, name="load"))
    async with pool:
        runtime = Runtime(pool, RuntimeConfig(max_concurrency=config.max_concurrency))
        before = peak_rss_mib()
        rounds = [await run_round(runtime, count) for count in (config.graphs // 10, config.graphs)]
    return LoadReport(config=config, rss_before_mib=before, rounds=rounds)


def format_report(report: LoadReport) -> str:
    """A few lines a person reads."""
    config = report.config
    lines = [f"load: {config.replicas} scripted replicas, max_concurrency {config.max_concurrency}, "
             f"{config.words} words per node; driver peak RSS before graphs {report.rss_before_mib:.0f} MiB"]
    for r in report.rounds:
        lines.append(f"{r.graphs} graphs x 8 nodes: {r.completed} completed, {r.nodes} nodes, {r.seconds:.1f} s "
                     f"({r.nodes / r.seconds:.0f} nodes/s); driver peak RSS {r.peak_rss_mib:.0f} MiB")
    return "\n".join(lines)
