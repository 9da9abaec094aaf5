"""``eval run`` output: ``results.parquet``, ``report.md`` and its plots, in one directory.

The Parquet file has one row per dataset row (every field of
:class:`~orchestrator.eval.metrics.EvalRow`, rejected and failed rows
included). The Markdown report has the summary, a table by category, the
cost model's record, the rows that did not run, and two plots drawn with
matplotlib's non-interactive backend: speedup against the number of
subtasks, and speedup against semantic fidelity, coloured by category.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from orchestrator.eval.metrics import EvalRow, by

RESULTS = "results.parquet"
REPORT = "report.md"
PLOTS = ("speedup_vs_subtasks.png", "speedup_vs_fidelity.png")


def write_results(rows: Sequence[EvalRow], out: Path) -> Path:
    """Every row as one Parquet record; returns the file."""
    out.mkdir(parents=True, exist_ok=True)
    fields = list(EvalRow.model_fields)
    table = pa.Table.from_pylist([r.model_dump() for r in rows], schema=_schema()) if rows else _schema().empty_table()
    assert table.column_names == fields
    path = out / RESULTS
    pq.write_table(table, path)
    return path


def _schema() -> pa.Schema:
    kinds = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}
    columns = []
    for name, info in EvalRow.model_fields.items():
        base = next(t for t, arrow in kinds.items() if t in _types(info.annotation))
        columns.append(pa.field(name, kinds[base]))
    return pa.schema(columns)


def _types(annotation: object) -> tuple[object, ...]:
    return getattr(annotation, "__args__", (annotation,))


def plot(rows: Sequence[EvalRow], out: Path) -> list[Path]:
    """The two plots of the report; returns their files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.status == "ok" and r.speedup is not None]
    paths = []
    for name, x_of, label in ((PLOTS[0], lambda r: r.subtasks, "subtasks (parallel branches)"),
                              (PLOTS[1], lambda r: r.fidelity, "semantic fidelity (cosine)")):
        figure, axes = plt.subplots(figsize=(6, 4))
        for category, group in by([r for r in ok if x_of(r) is not None], lambda r: r.category or "-").items():
            axes.scatter([x_of(r) for r in group], [r.speedup for r in group], label=category, alpha=0.7, s=18)
        axes.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        axes.set_xlabel(label)
        axes.set_ylabel("speedup (serial wall / parallel wall)")
        if ok:
            axes.legend(fontsize=8)
        figure.tight_layout()
        path = out / name
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
    return paths


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def markdown(summary: dict, rows: Sequence[EvalRow], *, command: str = "") -> str:
    """The report's text (plots referenced by file name, next to it)."""
    keys = ("prompts", "median_speedup", "median_parallel_speedup", "median_normalized_speedup",
            "normalized_speedup_total", "structural_adherence", "semantic_fidelity", "median_bound_fraction")
    lines = ["# forkjoin eval run", ""]
    if "strategy" in summary:
        lines += [f"Strategy `{summary['strategy']}` measured against serial on the same replicas.", ""]
    if command:
        lines += ["```bash", command, "```", ""]
    lines += ["| category | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, figures in [*summary["by_category"].items(), ("all", summary)]:
        lines.append(f"| {name or '-'} | " + " | ".join(_cell(figures[k]) for k in keys) + " |")
    record = summary["predicted_vs_measured"]
    lines += ["", f"auto: {summary['decomposed']} decomposed, {summary['declined']} declined, "
              f"{summary.get('forked', 0)} forked by pasta lists mode; "
              f"predicted vs measured speedup: {record['pairs']} pairs, correlation {_cell(record['correlation'])}, "
              f"{record['wrong_auto_choices']} wrong auto choices"
              + (f" ({', '.join(record['wrong_ids'])})" if record["wrong_ids"] else "") + ".",
              f"measured over predicted tokens (median): serial {_cell(record.get('median_serial_tokens_ratio'))}, "
              f"branches {_cell(record.get('median_parallel_tokens_ratio'))}.", ""]
    if "calibration" in summary:
        stored = summary["calibration"]
        lines += [f"token ratios stored in {stored['path']}: " + "; ".join(
            f"{category or 'all'} serial x{r['serial']:g} branches x{r['parallel']:g} ({r['prompts']} prompts)"
            for category, r in stored["token_ratios"].items()) + ".", ""]
        if lists := stored.get("lists_speedup"):
            lines += [f"lists mode's measured / predicted speedup stored: x{lists['factor']:g} "
                      f"({lists['prompts']} prompts).", ""]
    failed_checks = [r for r in rows if r.status == "ok" and r.adherence is False]
    if failed_checks:
        lines += ["## Structural checks failed", ""] + [f"- {r.id}: {r.adherence_failed}" for r in failed_checks] + [""]
    for status, listed in summary["not_run"].items():
        lines += [f"## Not run: {status} ({len(listed)})", ""]
        lines += [f"- {item['id']}: {item['error']}" for item in listed] or ["none"]
        lines.append("")
    lines += ["## Plots", "", *(f"![{p.removesuffix('.png')}]({p})" for p in PLOTS), ""]
    return "\n".join(lines)


def write_report(summary: dict, rows: Sequence[EvalRow], out: Path, *, command: str = "") -> Path:
    """results.parquet, the plots and report.md in ``out``; returns the report's path."""
    write_results(rows, out)
    plot(rows, out)
    path = out / REPORT
    path.write_text(markdown(summary, rows, command=command), encoding="utf-8")
    return path
