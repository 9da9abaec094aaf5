"""A timeline drawn with matplotlib: one row per span, phases in colour, the critical path outlined.

Same reading as the text Gantt (:mod:`orchestrator.tracing.timeline`): a
generate node's bar is its slot wait, its wait for the first token and its
decoding; engine spans sit under their node. matplotlib is imported here
only, with the file-only Agg backend, so nothing needs a display.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.tracing.timeline import Span, Timeline

COLOURS = {"slot": "#d9d9d9", "queue": "#8e6cc0", "first token": "#f2b447", "decode": "#3a7bd5"}
LEGEND = {"slot": "waiting for a slot", "queue": "in the engine's queue", "first token": "to first token (prefill)",
          "decode": "decoding"}
MIN_WIDTH = 0.004
"""Shortest bar drawn, as a share of the trace's wall time (joins take microseconds)."""
ROW_HEIGHT = 0.32
"""Inches per span row."""


def plot(timeline: Timeline, out: Path) -> None:
    """Draw ``timeline`` into the image ``out`` (PNG, SVG or PDF by suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = timeline.rows()
    critical = {s.span_id for g in timeline.graphs() for s in timeline.critical_path(g)}
    figure, axes = plt.subplots(figsize=(11, 1.4 + ROW_HEIGHT * len(rows)))
    try:
        least = MIN_WIDTH * max(timeline.wall, 1e-3)
        for index, (_, span) in enumerate(rows):
            _draw_row(axes, index, span, span.span_id in critical, least)
        axes.set_yticks(range(len(rows)), [_label(depth, span) for depth, span in rows], fontsize=8, family="monospace")
        axes.set_ylim(len(rows) - 0.4, -0.6)
        axes.set_xlim(0, max(timeline.wall, 1e-3) * 1.02)
        axes.set_xlabel("seconds since the request started", fontsize=9)
        axes.grid(axis="x", alpha=0.3)
        axes.set_title(f"trace {timeline.trace_id[:16]}: {timeline.wall:.2f} s (outlined: critical path)", fontsize=10)
        legend = [Patch(color=colour, label=LEGEND[phase]) for phase, colour in COLOURS.items()]
        legend.append(Patch(fill=False, edgecolor="#c0392b", linewidth=1.8, label="critical path"))
        axes.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=8, frameon=False)
        figure.tight_layout()
        figure.savefig(out, dpi=130)
    finally:
        plt.close(figure)


def _draw_row(axes, index: int, span: Span, critical: bool, least: float) -> None:
    grouping = span.node is None and span.name != "engine.generate"
    engine = span.name == "engine.generate"
    plain = grouping or span.attributes.get("forkjoin.kind", "generate") != "generate"
    for phase, start, end in span.phases():
        colour = "#9aa5b1" if plain else COLOURS[phase]
        axes.barh(index, max(end - start, least), left=start, height=0.36 if engine else 0.6, color=colour)
    if critical:
        width = max(span.duration, least)
        axes.barh(index, width, left=span.start, height=0.6, fill=False, edgecolor="#c0392b", linewidth=1.8)
    tokens = span.attributes.get("forkjoin.tokens")
    if tokens is not None and not plain:
        axes.text(span.end, index, f" {tokens} tok", va="center", fontsize=7)


def _label(depth: int, span: Span) -> str:
    if span.name == "engine.generate":
        return f"engine on {span.attributes.get('forkjoin.replica', '?')}"[:36]
    return span.name[:36]
