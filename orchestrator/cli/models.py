"""``forkjoin models list|prepare``: show the embedded models and convert them once.

``prepare`` is blocking (a conversion child process, ~30 s for the 0.5B model)
and idempotent: a prepared model is left alone unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import ExitStack

from actors.models import DEFAULT_MODEL, list_models, prepare_model
from orchestrator.progress import Progress, Task, current_progress


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


class _Steps:
    """The preparation's steps on the progress display, one at a time: bytes as a task, others as a status."""

    def __init__(self, progress: Progress, stack: ExitStack) -> None:
        self._progress, self._stack = progress, stack
        self._step: str | None = None
        self._task: Task | None = None

    def __call__(self, step: str, done: int, total: int | None) -> None:
        if step != self._step:
            self._stack.close()  # the previous step is done: its final line
            self._step, self._task = step, None
            if total is None:
                self._stack.enter_context(self._progress.status(step))
            else:
                self._task = self._stack.enter_context(self._progress.task(step, total=total, unit="bytes"))
        if self._task is not None and done > self._task.done:
            self._task.advance(done - self._task.done)


def prepare_command(args: argparse.Namespace) -> int:
    progress = current_progress()
    progress.note(f"preparing {args.name}")
    start = time.perf_counter()
    with ExitStack() as stack:
        resolved = prepare_model(args.name, force=args.force, on_progress=_Steps(progress, stack))
    seconds = round(time.perf_counter() - start, 2)
    if args.json:
        print(json.dumps({"name": resolved.name, "path": str(resolved.path), "seconds": seconds}))
    else:
        print(f"{resolved.name} ready at {resolved.path} ({seconds} s)")
    return 0
