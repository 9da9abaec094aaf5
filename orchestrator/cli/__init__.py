"""The ``forkjoin`` command line.

Each command group lives in its own module exposing ``register(subparsers)``;
its parsers set ``handler`` to a function taking the parsed namespace and
returning an exit code. User mistakes (any ForkjoinError, a pydantic
ValidationError of a config built from flags, unreadable files) print one line
``forkjoin: error: ...`` on stderr and exit non-zero; only bugs show a
traceback. ``--quiet`` (before or after the command words) silences the
progress display (:mod:`orchestrator.progress`) the command's code reaches
through ``current_progress()``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from graphs.errors import ForkjoinError, one_line
from orchestrator.cli.args import subcommands
from orchestrator.progress import Progress, using

# Command-group modules, in help order; a missing optional module is skipped.
COMMAND_MODULES = (
    "orchestrator.cli.run",
    "orchestrator.cli.graph",
    "orchestrator.cli.compile",
    "orchestrator.cli.pasta",
    "orchestrator.cli.models",
    "orchestrator.cli.bench",
    "orchestrator.cli.eval",
    "orchestrator.cli.batch",
    "orchestrator.cli.trace",
    "orchestrator.cli.serve",
)


class UsageError(ForkjoinError):
    """The command line itself is wrong. Caused by the user."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 with usage; keep it one line
        words = self.prog.split()[1:]  # "forkjoin bench engine" -> the command's words
        raise UsageError(f"{' '.join(words)}: {message}" if words else message)


QUIET_HELP = "no progress display on stderr (results and errors still print)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="forkjoin", description="Run the parallelism inside LLM requests.")
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
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
    for _, command in subcommands(parser):
        # SUPPRESS: a command's own default must not undo `forkjoin --quiet COMMAND`.
        command.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        with using(Progress(quiet=args.quiet)):
            return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"forkjoin: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except (ForkjoinError, ValidationError) as exc:
        print(f"forkjoin: error: {one_line(exc)}", file=sys.stderr)
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

    SIGTERM (``timeout``, ``kill``, a job scheduler) and SIGHUP (a closed
    terminal or SSH session) are treated like Ctrl-C: they raise
    KeyboardInterrupt, so asyncio cancels the run and the engine context
    managers shut replicas and the embedded Ray down instead of leaving engine
    processes behind. (SIGKILL cannot be caught: see ``cluster.connect``.)

    Ctrl-C gets the same handler, not Python's default: under the default
    handler ``asyncio.run`` turns SIGINT into a cancellation of its main task,
    which a cleanup awaiting at that moment can absorb, and the driver then
    exited 0 with a cut answer (seen in the signal test).
    """
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _interrupt)
    sys.exit(main())


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
