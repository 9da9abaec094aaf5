"""``forkjoin eval compile``: accuracy of the prompt compiler on an annotated set.

    forkjoin eval compile --dataset ../shared/data/parallelprompt_dev.jsonl \\
        --negatives ../shared/data/vicuna80.jsonl ../shared/data/mt_bench.jsonl [--json]
"""

from __future__ import annotations

import argparse
import json

from orchestrator.evaluate import Report, Tally, evaluate


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("eval", help="measure forkjoin components on datasets")
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    comp = targets.add_parser("compile", help="prompt compiler accuracy (rules only)")
    comp.add_argument("--dataset", required=True, help="annotated JSON-lines set (ParallelPrompt fields)")
    comp.add_argument("--negatives", nargs="*", default=[], help="sets where no prompt should be parallel")
    comp.add_argument("--json", action="store_true", help="print one JSON object")
    comp.set_defaults(handler=eval_compile_command)


def eval_compile_command(args: argparse.Namespace) -> int:
    report = evaluate(args.dataset, args.negatives)
    print(report_json(report) if args.json else report_text(report))
    return 0


def report_json(report: Report) -> str:
    body = report.model_dump(mode="json")
    body["rates"] = {t.category: t.rates() for t in [*report.categories, report.overall]}
    return json.dumps(body, ensure_ascii=False)


def _pct(value: float | None) -> str:
    return f"{value:>9.1%}" if value is not None else f"{'-':>9}"


def _row(t: Tally) -> str:
    r = t.rates()
    cells = " ".join(_pct(r[k]) for k in ("detection", "count_exact", "items_match", "template", "parallel"))
    return f"{t.category:<24} {t.rows:>5} {cells}"


def report_text(report: Report) -> str:
    head = f"{'category':<24} {'rows':>5} {'detected':>9} {'count=':>9} {'items=':>9} {'template':>9} {'parallel':>9}"
    lines = [f"dataset: {report.dataset}", head, *(_row(t) for t in report.categories), _row(report.overall)]
    for path, fps in report.negatives.items():
        lines += ["", f"false positives on {path}: {len(fps)} of {report.negative_rows[path]}"]
        lines += [f"  {fp.id} [{fp.pattern}, {fp.count}, {'parallel' if fp.parallel else 'serial'}] {fp.prompt}"
                  for fp in fps]
    return "\n".join(lines)
