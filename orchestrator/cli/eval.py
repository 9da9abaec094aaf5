"""``forkjoin eval compile``: accuracy of the prompt compiler on an annotated set.

    forkjoin eval compile --dataset ../shared/data/parallelprompt_dev.jsonl \\
        --negatives ../shared/data/vicuna80.jsonl ../shared/data/mt_bench.jsonl [--json] \\
        [--extractor rules|llm|auto [--model ...]]

With ``llm`` or ``auto`` the engine is started first and every prompt (negatives
included) is extracted before scoring; the same rows are also scored by the rules
alone, and the two are printed side by side with the extra latency the engine
calls cost (``--json``: the report, its ``extractor_cost`` and ``rules_alone``).
``--part check`` scores only the check part, ``--limit N`` the first N rows.
"""

from __future__ import annotations

import argparse
import json

from orchestrator.cli.args import dataset_file, int_range, positive_float, positive_int
from orchestrator.cli.eval_run import add_run_parser
from orchestrator.cli.compile import add_extractor_argument, extract_with_engine
from orchestrator.engines import add_engine_arguments
from orchestrator.evaluate import ExtractorCost, Part, Report, Tally, evaluate, scored_prompts
from orchestrator.extract_llm import Extracted, Extractor
from orchestrator.progress import current_progress


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("eval", help="measure forkjoin components on datasets")
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    comp = targets.add_parser("compile", help="prompt compiler accuracy (rules, or rules + the LLM extractor)")
    comp.add_argument("--dataset", type=dataset_file, required=True, help="annotated JSON-lines set (ParallelPrompt fields)")
    comp.add_argument("--negatives", type=dataset_file, nargs="*", default=[], help="sets where no prompt should be parallel")
    comp.add_argument("--json", action="store_true", help="print one JSON object")
    comp.add_argument("--part", choices=[p.value for p in Part], help="score only this part of the set (default: both)")
    comp.add_argument("--limit", type=positive_int,
                      help="score at most the first N rows (of the part) and of each negative set")
    comp.add_argument("--llm-concurrency", type=int_range(1, 64), default=8,
                      help="LLM extractor calls in flight at most (default 8; 1 measures one call's latency alone)")
    comp.add_argument("--llm-timeout", type=positive_float, default=120.0,
                      help="seconds one LLM extractor call may take before the rules' schema stands (default 120)")
    add_extractor_argument(comp)
    add_engine_arguments(comp)
    comp.set_defaults(handler=eval_compile_command)
    add_run_parser(targets)


def _engine_schemas(args: argparse.Namespace) -> tuple[dict, ExtractorCost | None]:
    """Schemas from the LLM extractor for every prompt to score, and their cost; nothing for rules."""
    if Extractor(args.extractor) is Extractor.RULES:
        return {}, None
    prompts = scored_prompts(args.dataset, args.negatives, part=_part(args), limit=args.limit)
    with current_progress().status(f"extracting {len(prompts)} prompts ({args.extractor})"):
        extracted = extract_with_engine(args, prompts, concurrency=args.llm_concurrency, timeout_s=args.llm_timeout)
    return {p: e.result for p, e in zip(prompts, extracted, strict=True)}, _cost(extracted, args.llm_concurrency)


def _cost(extracted: list[Extracted], concurrency: int) -> ExtractorCost:
    asked = [e for e in extracted if e.asked]
    return ExtractorCost.from_calls(len(extracted), [e.seconds for e in asked], sum(e.fell_back for e in asked),
                                    timed_out=sum(e.error == "TimeoutError" for e in asked), concurrency=concurrency)


def _part(args: argparse.Namespace) -> Part | None:
    return Part(args.part) if args.part else None


def _evaluate(args: argparse.Namespace, schemas: dict, extractor: str) -> Report:
    with current_progress().task(f"scoring prompts ({extractor})", unit="rows") as task:

        def counted(total: int) -> None:
            task.total = total
            task.advance(1)

        return evaluate(args.dataset, args.negatives, schemas=schemas, extractor=extractor, on_row=counted,
                        part=_part(args), limit=args.limit)


def eval_compile_command(args: argparse.Namespace) -> int:
    """Score the rules; with llm/auto, score rules + the LLM extractor too, beside the rules alone."""
    schemas, cost = _engine_schemas(args)
    report = _evaluate(args, schemas, args.extractor).model_copy(update={"extractor_cost": cost})
    rules = _evaluate(args, {}, Extractor.RULES.value) if cost is not None else None
    if args.json:
        body = json.loads(report_json(report))
        if rules is not None:
            body["rules_alone"] = json.loads(report_json(rules))
        print(json.dumps(body, ensure_ascii=False))
    else:
        print(report_text(report) if rules is None else versus_text(rules, report))
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


def _scope(report: Report) -> str:
    scope = f"{report.part.value} part" if report.part is not None else "both parts"
    return scope + (f", first {report.limit} rows per file" if report.limit is not None else "")


def versus_text(rules: Report, assisted: Report) -> str:
    """Rules alone beside rules + the LLM extractor on the same rows, then what the engine calls cost."""
    whole = assisted.parts[assisted.part] if assisted.part is not None else assisted
    alone = rules.parts[rules.part] if rules.part is not None else rules
    keys, heads = ("detection", "count_exact", "items_match"), ("detected", "count=", "items=")
    columns = " ".join(f"{h:>8}" for h in heads)
    lines = [f"dataset: {assisted.dataset} ({_scope(assisted)}): rules alone against rules + LLM ({assisted.extractor})",
             f"{'':<30} | {'rules alone':<{len(columns)}} | rules + LLM",
             f"{'category':<24} {'rows':>5} | {columns} | {columns}"]
    for name in [t.category for t in whole.categories] + ["overall"]:
        pair = [b.overall if name == "overall" else next(t for t in b.categories if t.category == name)
                for b in (alone, whole)]
        rates = [t.rates() for t in pair]
        cells = [" ".join(_pct(r[k]) for k in keys) for r in rates]
        lines.append(f"{name:<24} {pair[0].rows:>5} | {cells[0]} | {cells[1]}")
    for path, count in assisted.negative_rows.items():
        lines.append(f"false positives on {path}: rules alone {len(rules.negatives[path])} of {count}, "
                     f"rules + LLM {len(assisted.negatives[path])} of {count}")
    if (cost := assisted.extractor_cost) is not None:
        lines.append(_cost_line(cost))
    return "\n".join(lines)


def _cost_line(cost: ExtractorCost) -> str:
    def seconds(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f} s"

    timed_out = f" ({cost.timed_out} timed out)" if cost.timed_out else ""
    flight = f" with up to {cost.concurrency} in flight" if cost.concurrency else ""
    return (f"LLM extractor: asked {cost.asked} of {cost.prompts} prompts, {cost.fell_back} fell back to the rules"
            f"{timed_out}; extra latency per call{flight} {seconds(cost.seconds_mean)} mean, "
            f"{seconds(cost.seconds_p50)} median, "
            f"{seconds(cost.seconds_p90)} p90; {seconds(cost.seconds_per_prompt)} per prompt on average "
            f"({cost.seconds_total:.1f} s in all)")


def report_text(report: Report) -> str:
    everything = report.overall.rates()
    lines = [f"dataset: {report.dataset} (extractor: {report.extractor})", *_table(report),
             f"all {report.overall.rows} rows: " + ", ".join(f"{h} {_pct(everything[k]).strip()}"
                                                           for k, h in zip(_RATES, _HEADS))]
    if (cost := report.extractor_cost) is not None:
        lines.append(_cost_line(cost))
    for path, fps in report.negatives.items():
        lines += ["", f"false positives on {path}: {len(fps)} of {report.negative_rows[path]}"]
        lines += [f"  {fp.id} [{fp.pattern}, {fp.count}, {'parallel' if fp.parallel else 'serial'}] {fp.prompt}"
                  for fp in fps]
    return "\n".join(lines)
