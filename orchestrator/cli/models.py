"""``forkjoin models list|prepare``: show the embedded models and convert them once.

``prepare`` is blocking (a conversion child process, ~30 s for the 0.5B model)
and idempotent: a prepared model is left alone unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from actors.models import DEFAULT_MODEL, list_models, prepare_model


def register(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="list or prepare the embedded models")
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="registry models and whether they are ready")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=list_command)

    prepare = actions.add_parser("prepare", help="convert a model's GGUF to a loadable directory once")
    prepare.add_argument(
        "name", nargs="?", default=DEFAULT_MODEL, help=f"registry name or .gguf file (default {DEFAULT_MODEL})"
    )
    prepare.add_argument("--force", action="store_true", help="convert again even if prepared")
    prepare.add_argument("--json", action="store_true", help="print one JSON object")
    prepare.set_defaults(handler=prepare_command)


def list_command(args: argparse.Namespace) -> int:
    infos = list_models()
    if args.json:
        print(json.dumps({"models": [info.model_dump(mode="json") for info in infos]}))
        return 0
    for info in infos:
        role = f" ({info.role})" if info.role else ""
        print(f"{info.name}{role}  [{info.state.value}]  {info.description}")
        print(f"    {info.path}")
    return 0


def prepare_command(args: argparse.Namespace) -> int:
    if not args.json:
        print(f"preparing {args.name} ...", file=sys.stderr)
    start = time.perf_counter()
    resolved = prepare_model(args.name, force=args.force)
    seconds = round(time.perf_counter() - start, 2)
    if args.json:
        print(json.dumps({"name": resolved.name, "path": str(resolved.path), "seconds": seconds}))
    else:
        print(f"{resolved.name} ready at {resolved.path} ({seconds} s)")
    return 0
