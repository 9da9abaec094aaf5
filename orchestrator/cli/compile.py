"""``forkjoin compile``: a prompt's schema, dependencies and graph, without an engine.

``forkjoin compile "PROMPT" [--json]`` prints one result; ``--file
PROMPTS.jsonl`` compiles every line (each an object with ``prompt``; its
``id`` is kept) and prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import json

from graphs import dump
from graphs.compiler import CompileOptions, Compiled, compile_prompt
from graphs.errors import ForkjoinError
from orchestrator.cli.args import dataset_file, int_range
from orchestrator.evaluate import load_prompts


class CompileInputError(ForkjoinError):
    """The command was given no prompt, or both a prompt and a file. Caused by the user."""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("compile", help="find the parallelism in a prompt and show its graph")
    parser.add_argument("prompt", nargs="?", help="the prompt to compile (or use --file)")
    parser.add_argument("--file", type=dataset_file, help="JSON-lines file of prompts ({'id':..., 'prompt':...} per line)")
    parser.add_argument("--json", action="store_true", help="print JSON (one object per prompt)")
    parser.add_argument("--max-fanout", type=int_range(1, 4096), default=64, help="most subtasks run in parallel (default 64)")
    parser.set_defaults(handler=compile_command)


def compile_command(args: argparse.Namespace) -> int:
    options = CompileOptions(max_fanout=args.max_fanout)
    if args.file and args.prompt:
        raise CompileInputError("give either a PROMPT or --file PROMPTS.jsonl, not both")
    if args.file:
        for row in load_prompts(args.file):
            result = compile_prompt(row["prompt"], options=options).to_dict()
            print(json.dumps({"id": row.get("id"), **result} if "id" in row else result, ensure_ascii=False))
        return 0
    if not args.prompt or not args.prompt.strip():
        raise CompileInputError("nothing to compile: give a PROMPT or --file PROMPTS.jsonl")
    compiled = compile_prompt(args.prompt, options=options)
    print(json.dumps(compiled.to_dict(), ensure_ascii=False) if args.json else describe(compiled))
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
