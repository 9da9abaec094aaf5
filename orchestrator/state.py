"""All mutable state of one graph run.

The graph stays inert; a :class:`RunState` holds each node's record and how
many dependencies each node still waits for. ``finish`` returns the nodes that
just became ready, ``fail`` the dependents it skipped: the scheduler reacts to
those lists and never scans or polls.

Invariant: a node is started at most once, and only when its waiting count is
zero; when the run ends every node's status is final.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from graphs import Graph
from orchestrator.results import NodeResult, NodeStatus, RunResult


@dataclass(slots=True)
class NodeRecord:
    """A node's mutable record during a run (times are perf_counter values)."""

    status: NodeStatus = NodeStatus.PENDING
    text: str | None = None
    tokens: int = 0
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    start: float | None = None
    ttft: float | None = None
    end: float | None = None
    replica: str | None = None
    finish_reason: str | None = None
    error: str | None = None


class RunState:
    """Records and readiness counters for one run of one graph."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.t0 = time.perf_counter()
        self.records = {node.name: NodeRecord() for node in graph.nodes()}
        self._waiting = {node.name: len(node.dependencies) for node in graph.nodes()}
        self.outputs: dict[str, str] = {}

    def initially_ready(self) -> list[str]:
        """Nodes with no dependencies."""
        return [name for name, count in self._waiting.items() if count == 0]

    def start(self, name: str) -> NodeRecord:
        record = self.records[name]
        assert record.status is NodeStatus.PENDING, f"{name} started twice"
        record.status = NodeStatus.RUNNING
        record.start = time.perf_counter()
        return record

    def finish(self, name: str, text: str) -> list[str]:
        """Mark ``name`` done; return the dependents that became ready."""
        record = self.records[name]
        record.status, record.text, record.end = NodeStatus.DONE, text, time.perf_counter()
        self.outputs[name] = text
        ready = []
        for dependent in self.graph.dependents(name):
            self._waiting[dependent] -= 1
            if self._waiting[dependent] == 0 and self.records[dependent].status is NodeStatus.PENDING:
                ready.append(dependent)
        return ready

    def fail(self, name: str, error: str) -> list[str]:
        """Mark ``name`` failed and every node downstream of it skipped; return the skipped."""
        record = self.records[name]
        record.status, record.error, record.end = NodeStatus.FAILED, error, time.perf_counter()
        skipped = []
        for dependent in sorted(self.graph.descendants(name)):
            dep = self.records[dependent]
            if dep.status is NodeStatus.PENDING:
                dep.status, dep.error = NodeStatus.SKIPPED, f"dependency '{name}' failed"
                skipped.append(dependent)
        return skipped

    def cancel_unfinished(self, reason: str) -> None:
        """Mark every node that is not final as cancelled (run stopped or aborted)."""
        now = time.perf_counter()
        for record in self.records.values():
            if not record.status.is_final:
                was_running = record.status is NodeStatus.RUNNING
                record.status, record.error = NodeStatus.CANCELLED, reason
                record.end = now if was_running else None

    def result(self, error: str | None = None) -> RunResult:
        """The run's outcome as data; times relative to the run's start."""
        rel = lambda t: None if t is None else round(t - self.t0, 6)  # noqa: E731
        nodes = [
            NodeResult(
                name=node.name,
                kind=node.kind.value,
                status=(r := self.records[node.name]).status,
                text=r.text,
                prompt_tokens=r.prompt_tokens,
                cached_tokens=r.cached_tokens,
                tokens=r.tokens,
                start_s=rel(r.start),
                ttft_s=rel(r.ttft),
                end_s=rel(r.end),
                replica=r.replica,
                finish_reason=r.finish_reason,
                error=r.error,
            )
            for node in self.graph.nodes()
        ]
        sinks = [self.outputs[s] for s in self.graph.sinks() if s in self.outputs]
        firsts = [n.ttft_s for n in nodes if n.ttft_s is not None]
        return RunResult(
            answer="\n\n".join(sinks),
            nodes=nodes,
            wall_s=round(time.perf_counter() - self.t0, 6),
            ttft_s=min(firsts, default=None),
            error=error,
        )
