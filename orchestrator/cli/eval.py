"""``forkjoin eval compile``: accuracy of the prompt compiler on an annotated set.

    forkjoin eval compile --dataset ../shared/data/parallelprompt_dev.jsonl \\
        --negatives ../shared/data/vicuna80.jsonl ../shared/data/mt_bench.jsonl [--json] \\
        [--extractor rules|llm|auto [--model ...]]

With ``llm`` or ``auto`` the engine is started first and every prompt (negatives
included) is extracted before scoring; the report adds what the engine calls cost.
"""

from __future__ import annotations

import argparse
import json

from orchestrator.cli.args import dataset_file
from orchestrator.cli.eval_run import add_run_parser
from orchestrator.cli.compile import add_extractor_argument, extract_with_engine
from orchestrator.engines import add_engine_arguments
from orchestrator.evaluate import ExtractorCost, Part, Report, Tally, evaluate, load_prompts
from orchestrator.extract_llm import Extracted, Extractor
from orchestrator.progress import current_progress


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("eval", help="measure forkjoin components on datasets")
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    comp = targets.add_parser("compile", help="prompt compiler accuracy (rules, or rules + the LLM extractor)")
    comp.add_argument("--dataset", type=dataset_file, required=True, help="annotated JSON-lines set (ParallelPrompt fields)")
    comp.add_argument("--negatives", type=dataset_file, nargs="*", default=[], help="sets where no prompt should be parallel")
    comp.add_argument("--json", action="store_true", help="print one JSON object")
    add_extractor_argument(comp)
    add_engine_arguments(comp)
    comp.set_defaults(handler=eval_compile_command)
    add_run_parser(targets)


def _engine_schemas(args: argparse.Namespace) -> tuple[dict, ExtractorCost | None]:
    """Schemas from the LLM extractor for every prompt to score, and their cost; nothing for rules."""
    if Extractor(args.extractor) is Extractor.RULES:
        return {}, None
    prompts = list(dict.fromkeys(row["prompt"] for path in (args.dataset, *args.negatives)
                                 for row in load_prompts(path)))
    with current_progress().status(f"extracting {len(prompts)} prompts ({args.extractor})"):
        extracted = extract_with_engine(args, prompts)
    return {p: e.result for p, e in zip(prompts, extracted, strict=True)}, _cost(extracted)


def _cost(extracted: list[Extracted]) -> ExtractorCost:
    asked = [e for e in extracted if e.asked]
    total = sum(e.seconds for e in asked)
    return ExtractorCost(prompts=len(extracted), asked=len(asked), fell_back=sum(e.fell_back for e in asked),
                         seconds_total=total, seconds_mean=total / len(asked) if asked else None)


def eval_compile_command(args: argparse.Namespace) -> int:
    schemas, cost = _engine_schemas(args)
    with current_progress().task("scoring prompts", unit="rows") as task:

        def counted(total: int) -> None:
            task.total = total
            task.advance(1)

        report = evaluate(args.dataset, args.negatives, schemas=schemas, extractor=args.extractor, on_row=counted)
    report = report.model_copy(update={"extractor_cost": cost})
    print(report_json(report) if args.json else report_text(report))
    return 0


def report_json(report: Report) -> str:
    body = report.model_dump(mode="json")
    body["rates"] = {t.category: t.rates() for t in [*report.categories, report.overall]}
    body["part_rates"] = {
        part.value: {t.category: t.rates() for t in [*b.categories, b.overall]} for part, b in report.parts.items()
    }
    return json.dumps(body, ensure_ascii=False)


_RATES = ("detection", "count_exact", "items_match", "template", "parallel")
_HEADS = ("detected", "count=", "items=", "template", "parallel")


def _pct(value: float | None) -> str:
    return f"{value:>8.1%}" if value is not None else f"{'-':>8}"


def _cells(t: Tally | None) -> str:
    if t is None:
        return f"{0:>5} " + " ".join(_pct(None) for _ in _RATES)
    r = t.rates()
    return f"{t.rows:>5} " + " ".join(_pct(r[k]) for k in _RATES)


def _table(report: Report) -> list[str]:
    """Tuning and check side by side, one line per category, then overall."""
    parts = [report.parts[p] for p in Part]
    width = 6 + 9 * len(_RATES)
    title = f"{'':<24}" + "".join(f" | {f'{p.value} part':<{width - 1}}" for p in Part)
    head = f"{'category':<24}" + f" | {'rows':>5} {' '.join(f'{h:>8}' for h in _HEADS)}" * len(parts)
    lines = [title.rstrip(), head]
    for name in [t.category for t in report.categories] + ["overall"]:
        tallies = [b.overall if name == "overall" else next((t for t in b.categories if t.category == name), None)
                   for b in parts]
        lines.append(f"{name:<24}" + "".join(f" | {_cells(t)}" for t in tallies))
    return lines


def report_text(report: Report) -> str:
    everything = report.overall.rates()
    lines = [f"dataset: {report.dataset} (extractor: {report.extractor})", *_table(report),
             f"all {report.overall.rows} rows: " + ", ".join(f"{h} {_pct(everything[k]).strip()}"
                                                           for k, h in zip(_RATES, _HEADS))]
    if (cost := report.extractor_cost) is not None:
        mean = "n/a" if cost.seconds_mean is None else f"{cost.seconds_mean:.2f} s"
        lines.append(f"LLM extractor: asked {cost.asked} of {cost.prompts} prompts, {cost.fell_back} fell back to the "
                     f"rules, {mean} per call ({cost.seconds_total:.1f} s in all)")
    for path, fps in report.negatives.items():
        lines += ["", f"false positives on {path}: {len(fps)} of {report.negative_rows[path]}"]
        lines += [f"  {fp.id} [{fp.pattern}, {fp.count}, {'parallel' if fp.parallel else 'serial'}] {fp.prompt}"
                  for fp in fps]
    return "\n".join(lines)
