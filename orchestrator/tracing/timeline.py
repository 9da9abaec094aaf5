"""A span file read back as timelines a person can read: a text Gantt, overlap, the critical path.

:func:`read_trace` reads the JSON-lines file the runtime writes (``--trace``)
and groups its spans by trace, each a :class:`Timeline`: the spans as a tree
in time order. A generate node's bar shows its phases: waiting for an
engine slot (``forkjoin.slot_wait_s``), waiting for the first token
(``forkjoin.ttft_s``: the engine's queue and prefill), then decoding; an
engine span splits the wait for its first token into the engine's queue
(``forkjoin.queue_wait_s``, as the engine reports it) and the rest (prefill).

The critical path of a graph run is the chain of nodes that ended it: from the
node that ended last, step to the dependency (``forkjoin.dependencies``) that
ended last, until a node without dependencies. Its nodes' phases say where
the wall time went. Pure functions of the file: no engine, no Ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from graphs.errors import ForkjoinError
from orchestrator.datasets import DatasetError, read_rows

WIDTH = 48
"""Columns of a Gantt bar."""

PHASE_CHARS = {"slot": "░", "queue": "▓", "first token": "▒", "decode": "█"}


class TraceFileError(ForkjoinError):
    """A span file is missing or is not what ``--trace`` writes. Caused by whoever gave the file."""


@dataclass(frozen=True, slots=True)
class Span:
    """One span; times in seconds since the start of its trace."""

    name: str
    span_id: str
    parent_id: str | None
    start: float
    end: float
    attributes: dict[str, Any]
    error: str | None = None

    @property
    def node(self) -> str | None:
        """The graph node this span is, if it is a node span."""
        return self.attributes.get("forkjoin.node")

    @property
    def duration(self) -> float:
        return self.end - self.start

    def phases(self) -> list[tuple[str, float, float]]:
        """(phase, start, end) pieces: slot wait, engine queue, to first token, decode; or one 'decode' piece."""
        slot = float(self.attributes.get("forkjoin.slot_wait_s", 0.0))
        ttft = self.attributes.get("forkjoin.ttft_s")
        began = min(self.start + slot, self.end)
        queued = min(began + float(self.attributes.get("forkjoin.queue_wait_s", 0.0)), self.end)
        first = max(queued, min(began + float(ttft), self.end)) if ttft is not None else queued
        pieces = [("slot", self.start, began), ("queue", began, queued), ("first token", queued, first),
                  ("decode", first, self.end)]
        return [piece for piece in pieces if piece[2] > piece[1]] or [("decode", self.start, self.end)]


@dataclass(slots=True)
class Timeline:
    """The spans of one trace as a tree in time order."""

    trace_id: str
    started: datetime
    spans: list[Span]
    children: dict[str | None, list[Span]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = {span.span_id for span in self.spans}
        for span in sorted(self.spans, key=lambda s: (round(s.start, 3), s.name)):
            parent = span.parent_id if span.parent_id in ids else None
            self.children.setdefault(parent, []).append(span)

    @property
    def wall(self) -> float:
        return max((span.end for span in self.spans), default=0.0)

    def rows(self) -> list[tuple[int, Span]]:
        """(depth, span) in tree order, children by start time."""
        out: list[tuple[int, Span]] = []

        def visit(parent: str | None, depth: int) -> None:
            for span in self.children.get(parent, []):
                out.append((depth, span))
                visit(span.span_id, depth + 1)

        visit(None, 0)
        return out

    def graphs(self) -> list[Span]:
        """The graph-run spans, in start order."""
        return [span for _, span in self.rows() if span.name == "forkjoin.graph"]

    def critical_path(self, graph: Span) -> list[Span]:
        """The chain of node spans that ended the graph run, first node first."""
        nodes = {s.node: s for s in self.children.get(graph.span_id, []) if s.node is not None}
        if not nodes:
            return []
        path = [max(nodes.values(), key=lambda s: s.end)]
        while True:
            deps = [nodes[d] for d in path[-1].attributes.get("forkjoin.dependencies", ()) if d in nodes]
            if not deps:
                return path[::-1]
            path.append(max(deps, key=lambda s: s.end))


def read_trace(path: Path) -> list[Timeline]:
    """Every trace in a span file, in the order their first span appears."""
    try:
        rows = read_rows(path, required=("name", "context", "start_time", "end_time"), types={"context": dict})
    except DatasetError as exc:
        raise TraceFileError(str(exc)) from exc
    by_trace: dict[str, list[tuple[datetime, datetime, dict[str, Any]]]] = {}
    for number, row in enumerate(rows, start=1):
        try:
            start, end = datetime.fromisoformat(row["start_time"]), datetime.fromisoformat(row["end_time"])
            trace_id = str(row["context"]["trace_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TraceFileError(f"{path}: span {number}: not a span written by --trace ({exc})") from exc
        by_trace.setdefault(trace_id, []).append((start, end, row))
    return [_timeline(trace_id, spans) for trace_id, spans in by_trace.items()]


def _timeline(trace_id: str, raw: list[tuple[datetime, datetime, dict[str, Any]]]) -> Timeline:
    t0 = min(start for start, _, _ in raw)
    spans = []
    for start, end, row in raw:
        status = row.get("status") or {}
        error = (status.get("description") or "error") if status.get("status_code") == "ERROR" else None
        spans.append(Span(
            name=row["name"],
            span_id=str(row["context"].get("span_id")),
            parent_id=row.get("parent_id"),
            start=(start - t0).total_seconds(),
            end=(end - t0).total_seconds(),
            attributes=dict(row.get("attributes") or {}),
            error=error,
        ))
    return Timeline(trace_id=trace_id.removeprefix("0x"), started=t0, spans=spans)


def show(timeline: Timeline, width: int = WIDTH) -> str:
    """The timeline as text: a Gantt of every span, then per graph run its overlap and critical path."""
    wall = timeline.wall or 1e-9
    critical = {s.span_id for g in timeline.graphs() for s in timeline.critical_path(g)}
    root = timeline.rows()[0][1] if timeline.spans else None
    title = f"trace {timeline.trace_id[:16]}  {timeline.started:%Y-%m-%d %H:%M:%S} UTC  {timeline.wall:.2f} s"
    lines = [title + (_labels(root.attributes, ("forkjoin.strategy", "forkjoin.model")) if root else "")]
    lines.append(f"{'':32}{_axis(wall, width)}")
    for depth, span in timeline.rows():
        mark = "*" if span.span_id in critical else " "
        label = ("  " * depth + span.name)[:30]
        lines.append(f"{mark} {label:<30}{_bar(span, wall, width)} {span.duration:6.2f} s  {_details(span)}".rstrip())
    lines.append(f"{'':32}{'░ waiting for a slot  ▓ engine queue  ▒ to first token  █ decoding  * critical path':<{width}}")
    for graph in timeline.graphs():
        lines.extend(["", *_summary(timeline, graph)])
    return "\n".join(lines) + "\n"


def _axis(wall: float, width: int) -> str:
    step = _tick(wall)
    axis = [" "] * (width + 8)
    t = 0.0
    while t <= wall + 1e-9:
        text = f"{t:g}s"
        col = round(t / wall * width)
        axis[col : col + len(text)] = text
        t += step
    return "".join(axis).rstrip()


def _tick(wall: float) -> float:
    raw = wall / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _bar(span: Span, wall: float, width: int) -> str:
    cells = [" "] * width
    for phase, start, end in span.phases():
        first = min(int(start / wall * width), width - 1)
        last = max(first + 1, math.ceil(end / wall * width))
        for col in range(first, min(last, width)):
            if cells[col] == " " or phase == "decode":
                cells[col] = PHASE_CHARS[phase]
    return "".join(cells)


def _details(span: Span) -> str:
    a = span.attributes
    parts = []
    if "forkjoin.tokens" in a and a.get("forkjoin.kind", "generate") == "generate":
        parts.append(f"{a['forkjoin.tokens']} tok")
    if "forkjoin.ttft_s" in a:
        parts.append(f"ttft {a['forkjoin.ttft_s']:.2f} s")
    if a.get("forkjoin.queue_wait_s"):
        parts.append(f"queue {a['forkjoin.queue_wait_s']:.2f} s")
    if a.get("forkjoin.cached_tokens"):
        parts.append(f"cached {a['forkjoin.cached_tokens']}")
    if "forkjoin.replica" in a and span.node is None:
        parts.append(str(a["forkjoin.replica"]))
    if span.error:
        parts.append(f"ERROR {span.error}")
    return "  ".join(parts)


def _labels(attributes: dict[str, Any], keys: tuple[str, ...]) -> str:
    return "".join(f"  {k.removeprefix('forkjoin.')}={attributes[k]}" for k in keys if k in attributes)


def _summary(timeline: Timeline, graph: Span) -> list[str]:
    nodes = [s for s in timeline.children.get(graph.span_id, []) if s.node is not None]
    generates = [s for s in nodes if s.attributes.get("forkjoin.kind") == "generate"]
    busy = sum(s.duration for s in generates)
    run = next((s for s in timeline.spans if s.span_id == graph.parent_id), None)
    strategy = run.attributes.get("forkjoin.strategy") if run is not None else None
    name = str(graph.attributes.get("forkjoin.run_id", graph.span_id)) + (f" ({strategy})" if strategy else "")
    lines = [f"graph run {name}: {graph.duration:.2f} s, "
             f"{len(nodes)} nodes ran, generate time {busy:.2f} s ({busy / max(graph.duration, 1e-9):.1f}x the wall)"]
    lines.append("  overlap: " + _overlap(generates, graph))
    path = timeline.critical_path(graph)
    if path:
        lines.append("  critical path: " + " -> ".join(s.node or s.name for s in path))
        lines.append("  where its time went: " + _spent(path, graph, timeline))
    return lines


def _overlap(spans: list[Span], graph: Span) -> str:
    """Time with k generate nodes running at once, most first."""
    edges = sorted([(s.start, 1) for s in spans] + [(s.end, -1) for s in spans])
    at_once: dict[int, float] = {}
    running, last = 0, graph.start
    for t, step in edges:
        at_once[running] = at_once.get(running, 0.0) + max(0.0, t - last)
        running, last = running + step, t
    at_once[0] = at_once.get(0, 0.0) + max(0.0, graph.end - last)
    parts = [f"{k} at once {v:.2f} s" for k, v in sorted(at_once.items(), reverse=True) if v >= 0.005]
    return ", ".join(parts) or "no generate node"


def _spent(path: list[Span], graph: Span, timeline: Timeline) -> str:
    totals = {"slot": 0.0, "queue": 0.0, "first token": 0.0, "decode": 0.0}
    joins = queued = 0.0
    for span in path:
        if span.attributes.get("forkjoin.kind") != "generate":
            joins += span.duration
            continue
        for phase, start, end in span.phases():
            totals[phase] += end - start
        queued += sum(float(e.attributes.get("forkjoin.queue_wait_s", 0.0))
                      for e in timeline.children.get(span.span_id, []))
    outside = max(0.0, graph.duration - sum(totals.values()) - joins)
    first = f"to first token {totals['first token']:.2f} s"
    if queued:
        first += f" (of which in the engine's queue {queued:.2f} s)"
    parts = [f"waiting for a slot {totals['slot']:.2f} s", first, f"decoding {totals['decode']:.2f} s",
             f"joins {joins:.2f} s", f"between nodes {outside:.2f} s"]
    return ", ".join(parts)
