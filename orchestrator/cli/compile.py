"""``forkjoin compile``: a prompt's schema, dependencies and graph, without an engine.

``forkjoin compile "PROMPT" [--json]`` prints one result; ``--file
PROMPTS.jsonl`` compiles every line (each an object with ``prompt``; its
``id`` is kept) and prints one JSON object per line. ``--extractor llm`` or
``auto`` starts the engine (``--model`` ...) and asks the serving model for
the schema (always, or only when the rules are unsure); ``rules``, the
default, needs no engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

from graphs import dump
from graphs.compiler import CompileOptions, Compiled, compile_prompt, extract_rules, validate
from graphs.errors import ForkjoinError
from orchestrator.cli.args import dataset_file, int_range
from orchestrator.engines import add_engine_arguments, open_engine, options_from_args
from orchestrator.curves import load_curve
from orchestrator.evaluate import load_prompts
from orchestrator.extract_llm import Extracted, Extractor, extract_many, wants_engine
from orchestrator.strategies import Strategy, explain, plan


class CompileInputError(ForkjoinError):
    """The command was given no prompt, or both a prompt and a file. Caused by the user."""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("compile", help="find the parallelism in a prompt and show its graph")
    parser.add_argument("prompt", nargs="?", help="the prompt to compile (or use --file)")
    parser.add_argument("--file", type=dataset_file, help="JSON-lines file of prompts ({'id':..., 'prompt':...} per line)")
    parser.add_argument("--json", action="store_true", help="print JSON (one object per prompt)")
    parser.add_argument("--max-fanout", type=int_range(1, 4096), default=64, help="most subtasks run in parallel (default 64)")
    parser.add_argument("--explain", action="store_true",
                        help="add auto's decision: predicted serial and parallel latency on the model's engine curve")
    add_extractor_argument(parser)
    add_engine_arguments(parser)
    parser.set_defaults(handler=compile_command)


def add_extractor_argument(parser: argparse.ArgumentParser) -> None:
    """``--extractor rules|llm|auto`` (default rules), shared by compile, run and eval compile."""
    parser.add_argument(
        "--extractor", choices=[e.value for e in Extractor], default=Extractor.RULES.value,
        help="rules (default, no engine); llm: ask the serving model for every schema; "
             "auto: ask it only when the rules reject a prompt that shows parallel signals",
    )


def extract_with_engine(
    args: argparse.Namespace, prompts: Sequence[str], *, concurrency: int = 8, timeout_s: float = 120.0
) -> list[Extracted]:
    """Each prompt's schema by ``args.extractor``, on an engine started from ``args`` only if one prompt needs it.

    At most ``concurrency`` engine calls are in flight, each bounded by ``timeout_s`` (then the rules' schema stands).
    """
    mode = Extractor(args.extractor)

    async def run() -> list[Extracted]:
        if not any(wants_engine(validate(extract_rules(p)), p, mode) for p in prompts):
            return await extract_many(None, prompts, mode=mode)  # no prompt needs the model: start no engine
        async with open_engine(options_from_args(args)) as engine:
            return await extract_many(engine, prompts, mode=mode, concurrency=concurrency, timeout_s=timeout_s)

    return asyncio.run(run())


def compile_command(args: argparse.Namespace) -> int:
    options = CompileOptions(max_fanout=args.max_fanout)
    if args.file and args.prompt:
        raise CompileInputError("give either a PROMPT or --file PROMPTS.jsonl, not both")
    if args.file:
        rows = load_prompts(args.file)
        extracted = extract_with_engine(args, [row["prompt"] for row in rows])
        for row, got in zip(rows, extracted, strict=True):
            result = compile_prompt(row["prompt"], options=options, schema=got.result).to_dict()
            print(json.dumps({"id": row.get("id"), **result} if "id" in row else result, ensure_ascii=False))
        return 0
    if not args.prompt or not args.prompt.strip():
        raise CompileInputError("nothing to compile: give a PROMPT or --file PROMPTS.jsonl")
    [got] = extract_with_engine(args, [args.prompt])
    compiled = compile_prompt(args.prompt, options=options, schema=got.result)
    body = compiled.to_dict()
    chosen = plan(args.prompt, Strategy.AUTO, options, schema=got.result,
                  curve=load_curve(options_from_args(args).model_name)) if args.explain else None
    if chosen is not None:
        body["prediction"] = chosen.prediction.model_dump() if chosen.prediction else None
        body["decision"] = chosen.decision
    print(json.dumps(body, ensure_ascii=False) if args.json else describe(compiled))
    if chosen is not None and not args.json:
        print("\n" + explain(chosen))
    return 0


def describe(compiled: Compiled) -> str:
    """A human-readable account of a compiled prompt."""
    s = compiled.schema
    size = f"{len(s.data)} items" if s.data is not None else f"n={s.n}" if s.n is not None else "no subtasks"
    lines = [
        f"{'parallel' if compiled.parallel else 'serial'}: {s.validation_tier.value} tier, "
        f"{s.category or 'no category'}, language {s.language}, {size}",
        *(f"  - {reason}" for reason in compiled.reasons),
    ]
    if s.template:
        lines.append(f"template: {s.template[:200]!r}")
    lines += ["", dump(compiled.graph).rstrip()]
    return "\n".join(lines)
