"""The one progress facility of long commands: what is happening, counts, rate and ETA.

    progress = current_progress()
    with progress.status("starting the engine") as status:      # spinner and elapsed time
        status.update("loading weights")
    with progress.task("compiling prompts", total=341, unit="rows") as task:
        task.advance(1, failures=0)                              # fields shown after the counts
    progress.note("one line")

Invariants: everything goes to stderr, never to stdout, so ``--json`` output
stays machine-readable; a quiet instance writes nothing. On a terminal a Rich
live display animates; otherwise (a log file, a pipe, CI) each step is a plain
line with no control characters, and a task writes at most one line every
``interval_s`` seconds plus its final line. A block that raises leaves no
final line: the error the command prints says what happened.

The command line's top level installs the instance of the command with
:func:`using` (``--quiet`` makes it quiet); library code never prints, it
takes callbacks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress as RichProgress, SpinnerColumn, Task as RichTask, TaskID, TextColumn
from rich.progress import TimeElapsedColumn
from rich.text import Text

PLAIN_INTERVAL_S = 5.0
_MIB = 1 << 20


class Status:
    """A running step with no count (``progress.status``); ``update`` renames it."""

    def __init__(self, owner: Progress, text: str) -> None:
        self._owner = owner
        self.text = text
        self.started = owner.clock()
        self.row: TaskID | None = None

    def update(self, text: str) -> None:
        self.text = text
        self._owner._changed(self, force=True)

    def final_line(self) -> str:
        return f"{self.text}: done in {self._owner.clock() - self.started:.1f} s"


class Task:
    """Counted work (``progress.task``): ``advance`` adds to the count and sets the extra fields.

    ``total`` may be set once it is known (before the next ``advance``).
    """

    def __init__(self, owner: Progress, description: str, total: int | None, unit: str) -> None:
        self._owner = owner
        self.description = description
        self.total = total
        self.unit = unit
        self.done = 0
        self.fields: dict[str, object] = {}
        self.started = owner.clock()
        self.last_line = self.started
        self.row: TaskID | None = None

    def advance(self, n: int = 1, **fields: object) -> None:
        self.done += n
        self.fields.update(fields)
        self._owner._changed(self, force=False)

    def detail(self) -> str:
        """Counts, rate, ETA and fields: ``120/341 rows, 12.3 rows/s, ETA 18 s, failures=0``."""
        elapsed = max(self._owner.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self._amount(self.done)}{'' if self.total is None else '/' + self._amount(self.total)} {self._unit()}"]
        if self.done:
            parts.append(self._rate(rate))
            if self.total is not None and self.done < self.total:
                parts.append(f"ETA {(self.total - self.done) / rate:.0f} s")
        parts += [f"{name}={_field(value)}" for name, value in self.fields.items()]
        return ", ".join(parts)

    def final_line(self) -> str:
        fields = "".join(f", {name}={_field(value)}" for name, value in self.fields.items())
        elapsed = self._owner.clock() - self.started
        return f"{self.description}: {self._amount(self.done)} {self._unit()} in {elapsed:.1f} s{fields}"

    def _rate(self, per_s: float) -> str:
        """Per second, or per minute when slower than one a second (a prompt every 25 s is 2.4/min, not 0.0/s)."""
        if self.unit == "bytes" or per_s >= 1:
            return f"{self._amount(per_s)} {self._unit()}/s"
        return f"{per_s * 60:.1f} {self._unit()}/min"

    def _unit(self) -> str:
        return "MiB" if self.unit == "bytes" else self.unit

    def _amount(self, value: float) -> str:
        if self.unit == "bytes":
            return f"{value / _MIB:.1f}"
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _field(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class _Detail(TextColumn):
    """The counts column: a task's detail line, nothing for a status."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: RichTask) -> Text:
        handle = task.fields.get("handle")
        return Text(handle.detail() if isinstance(handle, Task) else "")


class _Bar(BarColumn):
    """A bar only for tasks with a known total."""

    def render(self, task: RichTask):
        return super().render(task) if task.total is not None else Text("")


class Progress:
    """Progress of one command on stderr: live on a terminal, plain lines elsewhere, nothing when quiet."""

    def __init__(self, *, quiet: bool = False, live: bool | None = None, interval_s: float = PLAIN_INTERVAL_S,
                 clock=time.monotonic) -> None:
        self.quiet = quiet
        self.clock = clock
        self.interval_s = interval_s
        self._console = Console(stderr=True, highlight=False, force_terminal=live)
        self.live = bool(live) if live is not None else self._console.is_terminal
        self._rich: RichProgress | None = None
        self._open = 0

    @contextmanager
    def status(self, text: str) -> Iterator[Status]:
        """A step without a count: a spinner and the elapsed time; ``update`` renames it."""
        handle = Status(self, text)
        with self._block(handle):
            yield handle

    @contextmanager
    def task(self, description: str, total: int | None = None, unit: str = "items") -> Iterator[Task]:
        """Counted work: done/total, rate and ETA; ``unit="bytes"`` shows MiB."""
        handle = Task(self, description, total, unit)
        with self._block(handle):
            yield handle

    def note(self, text: str) -> None:
        """One line on stderr (above the live display on a terminal)."""
        if self.quiet:
            return
        if self.live:
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=sys.stderr, flush=True)

    @contextmanager
    def _block(self, handle: Status | Task) -> Iterator[None]:
        if self.quiet:
            yield
            return
        self._start(handle)
        try:
            yield
        except BaseException:
            self._stop(handle, final=None)
            raise
        self._stop(handle, final=handle.final_line())

    def _start(self, handle: Status | Task) -> None:
        if not self.live:
            if isinstance(handle, Status):
                self.note(f"{handle.text} ...")
            return
        if self._rich is None:
            self._rich = RichProgress(
                SpinnerColumn(), TextColumn("{task.description}"), _Bar(), _Detail(), TimeElapsedColumn(),
                # Results printed to a terminal stdout go above the display (else they tear it); stdout that is
                # a file or a pipe is never touched.
                console=self._console, transient=True,
                redirect_stdout=_is_terminal(sys.stdout), redirect_stderr=False,
            )
            self._rich.start()
        total = handle.total if isinstance(handle, Task) else None
        label = handle.description if isinstance(handle, Task) else handle.text
        handle.row = self._rich.add_task(label, total=total, handle=handle)
        self._open += 1

    def _stop(self, handle: Status | Task, final: str | None) -> None:
        if self.live and self._rich is not None and handle.row is not None:
            self._rich.remove_task(handle.row)
            self._open -= 1
            if final is not None:
                self.note(final)
            if self._open == 0:
                self._rich.stop()
                self._rich = None
        elif final is not None:
            self.note(final)

    def _changed(self, handle: Status | Task, *, force: bool) -> None:
        if self.quiet:
            return
        if self.live:
            if self._rich is not None and handle.row is not None:
                label = handle.description if isinstance(handle, Task) else handle.text
                if isinstance(handle, Task):
                    self._rich.update(handle.row, description=label, completed=handle.done, total=handle.total)
                else:
                    self._rich.update(handle.row, description=label)
            return
        if isinstance(handle, Status):
            self.note(f"{handle.text} ...")
        elif force or self.clock() - handle.last_line >= self.interval_s:
            handle.last_line = self.clock()
            self.note(f"{handle.description}: {handle.detail()}")


_current: Progress | None = None


def current_progress() -> Progress:
    """The running command's progress (a default, non-quiet one when no command installed one)."""
    global _current
    if _current is None:
        _current = Progress()
    return _current


@contextmanager
def using(progress: Progress) -> Iterator[Progress]:
    """Make ``progress`` the current instance for the block (the CLI's top level does this per command)."""
    global _current
    previous, _current = _current, progress
    try:
        yield progress
    finally:
        _current = previous
