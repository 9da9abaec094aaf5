"""``forkjoin trace show FILE`` and ``forkjoin trace plot FILE OUT.png``: read back a ``run --trace`` span file.

``show`` prints each trace in the file as a text Gantt (which nodes
overlapped, where the time went, the critical path); ``plot`` draws one trace
with matplotlib. Both read only the file: no engine starts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from orchestrator.cli.args import input_file
from orchestrator.tracing import Timeline, TraceFileError, read_trace, show


def register(commands: argparse._SubParsersAction) -> None:
    trace = commands.add_parser("trace", help="read back a span file written by 'run --trace'")
    actions = trace.add_subparsers(dest="action", metavar="ACTION", required=True)
    show_parser = actions.add_parser("show", help="print each trace as a text timeline")
    show_parser.add_argument("file", type=input_file, help="span file (JSON lines, from 'forkjoin run --trace')")
    show_parser.add_argument("--trace-id", help="only the trace whose id starts with this")
    show_parser.add_argument("--last", action="store_true", help="only the last trace in the file")
    show_parser.add_argument("--json", action="store_true", help="the spans as JSON, times relative to each trace")
    show_parser.set_defaults(handler=show_command)
    plot_parser = actions.add_parser("plot", help="draw one trace with matplotlib")
    plot_parser.add_argument("file", type=input_file, help="span file (JSON lines, from 'forkjoin run --trace')")
    plot_parser.add_argument("out", type=Path, help="image to write (.png, .svg or .pdf)")
    plot_parser.add_argument("--trace-id", help="the trace whose id starts with this (default: the last one)")
    plot_parser.set_defaults(handler=plot_command)


def _chosen(args: argparse.Namespace, *, last: bool) -> list[Timeline]:
    timelines = read_trace(args.file)
    if args.trace_id:
        timelines = [t for t in timelines if t.trace_id.startswith(args.trace_id.removeprefix("0x"))]
        if not timelines:
            raise TraceFileError(f"{args.file}: no trace id starts with {args.trace_id}")
    if not timelines:
        raise TraceFileError(f"{args.file}: no spans")
    return timelines[-1:] if last else timelines


def show_command(args: argparse.Namespace) -> int:
    timelines = _chosen(args, last=args.last)
    if args.json:
        print(json.dumps([_as_dict(t) for t in timelines], indent=2))
        return 0
    print("\n".join(show(t) for t in timelines), end="")
    return 0


def plot_command(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise TraceFileError(f"{args.out}: the image must end in .png, .svg or .pdf")
    from orchestrator.tracing.plot import plot

    timeline = _chosen(args, last=True)[0]
    plot(timeline, args.out)
    print(f"wrote {args.out} (trace {timeline.trace_id[:16]}, {len(timeline.spans)} spans)")
    return 0


def _as_dict(timeline: Timeline) -> dict:
    spans = [
        {"name": s.name, "depth": depth, "start_s": round(s.start, 6), "end_s": round(s.end, 6), "error": s.error,
         "attributes": s.attributes}
        for depth, s in timeline.rows()
    ]
    paths = {
        graph.attributes.get("forkjoin.run_id", graph.span_id): [s.node for s in timeline.critical_path(graph)]
        for graph in timeline.graphs()
    }
    return {"trace_id": timeline.trace_id, "wall_s": round(timeline.wall, 6), "spans": spans, "critical_paths": paths}
