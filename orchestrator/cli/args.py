"""Argument types that check a flag's value at parse time, and a walk over the command tree.

Every numeric flag of every command uses one of these as its argparse
``type=``, so a bad value is one line naming the flag and the value
(``argument --max-tokens: must be an integer >= 1, got '0'``) before any
command code runs. File arguments use :func:`input_file` (exists, or ``-``
where a command reads stdin), so a missing file fails the same way.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterator
from pathlib import Path


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number in ``[low, high]`` (no upper bound if ``high`` is None)."""
    bound = f">= {low}" if high is None else f"from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text!r}")
        return value

    parse.__name__ = f"int_{low}_{high}"
    return parse


def float_range(low: float, high: float | None = None, *, inclusive: bool = True) -> Callable[[str], float]:
    """A finite number from ``low`` (above it unless ``inclusive``) to ``high`` (unbounded if None)."""
    bound = f"{'>=' if inclusive else '>'} {low:g}" + ("" if high is None else f" and <= {high:g}")

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {bound}, got {text!r}") from None
        too_low = value < low or (value == low and not inclusive)
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text!r}")
        return value

    parse.__name__ = f"float_{'ge' if inclusive else 'gt'}_{low:g}"
    return parse


positive_int = int_range(1)
non_negative_int = int_range(0)
positive_float = float_range(0.0, inclusive=False)
non_negative_float = float_range(0.0)
# Engine sizes, as actors.config.EngineConfig bounds them.
context_tokens = int_range(256, 131072)
kv_cache_gib = float_range(0.0, 1024.0, inclusive=False)


def int_items(low: int, high: int) -> Callable[[str], tuple[int, ...]]:
    """Comma-separated whole numbers, each in ``[low, high]``, like ``1,2,4``."""
    item = int_range(low, high)

    def parse(text: str) -> tuple[int, ...]:
        parts = [part for part in text.split(",") if part.strip()]
        try:
            values = tuple(item(part) for part in parts)
        except argparse.ArgumentTypeError:
            values = ()
        if not values:
            expected = f"comma-separated integers from {low} to {high} like '1,2,4'"
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return values

    parse.__name__ = f"int_items_{low}_{high}"
    return parse


int_list = int_items(1, 4096)


def input_file(text: str) -> Path:
    """A file that exists."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}" if not path.exists() else f"not a file: {text}")
    return path


def input_file_or_stdin(text: str) -> Path:
    """A file that exists, or ``-`` for standard input."""
    return Path(text) if text == "-" else input_file(text)


def dataset_file(text: str) -> Path:
    """A row file (JSON lines, CSV or Parquet) that exists; its rows are checked when the command reads it."""
    return input_file(text)


def subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every leaf command below ``parser`` with its words (``("bench", "pasta")``), in help order."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield path, parser
        return
    for name, child in actions[0].choices.items():
        yield from subcommands(child, (*path, name))
