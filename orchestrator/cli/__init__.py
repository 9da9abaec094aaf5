"""The ``forkjoin`` command line.

Each command group lives in its own module exposing ``register(subparsers)``;
its parsers set ``handler`` to a function taking the parsed namespace and
returning an exit code. User mistakes (any ForkjoinError, unreadable files)
print one line on stderr and exit non-zero; only bugs show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from graphs.errors import ForkjoinError

# Command-group modules, in help order; a missing optional module is skipped.
COMMAND_MODULES = (
    "orchestrator.cli.run",
    "orchestrator.cli.graph",
    "orchestrator.cli.compile",
    "orchestrator.cli.pasta",
    "orchestrator.cli.models",
    "orchestrator.cli.bench",
    "orchestrator.cli.eval",
)


class UsageError(ForkjoinError):
    """The command line itself is wrong. Caused by the user."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 with usage; keep it one line
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="forkjoin", description="Run the parallelism inside LLM requests.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"forkjoin: error: {exc}", file=sys.stderr)
        return 2
    except ForkjoinError as exc:
        print(f"forkjoin: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`forkjoin ... | head`): not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"forkjoin: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("forkjoin: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """Console-script wrapper.

    SIGTERM (``timeout``, ``kill``, a job scheduler) is treated like Ctrl-C:
    it raises KeyboardInterrupt, so asyncio cancels the run and the engine
    context managers shut replicas and the embedded Ray down instead of
    leaving engine processes behind.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
