"""The one reader of row files: JSON lines, CSV and Parquet, strict, naming file and line.

``read_rows(path, required=("prompt",))`` returns every row as a dict, in file
order. The format follows the suffix: ``.csv`` is CSV with a header line,
``.parquet``/``.pq`` is Parquet, anything else is JSON lines (one object per
line; blank lines are skipped).

Invariants: a row is returned only if the whole file read cleanly; any problem
is one :class:`DatasetError` whose message starts with ``FILE:LINE:`` (the
physical line for JSON lines and CSV, the 1-based row number for Parquet), so
a command can check its whole input before it starts an engine. A required
column is present in every row and neither null nor empty.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from graphs.errors import ForkjoinError

CSV_SUFFIXES = frozenset({".csv"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


class DatasetError(ForkjoinError):
    """A row file is missing, unreadable or lacks what the command needs. Caused by whoever gave the file.

    ``missing`` names the required column a row lacks, when that is the problem.
    """

    def __init__(self, message: str, *, missing: str | None = None) -> None:
        super().__init__(message)
        self.missing = missing


def read_rows(
    path: str | Path, required: Iterable[str] = (), *, types: Mapping[str, type | tuple[type, ...]] | None = None
) -> list[dict[str, Any]]:
    """Every row of ``path``; each has the ``required`` columns and the ``types`` given for columns it has."""
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"no such file: {file}" if not file.exists() else f"not a file: {file}")
    suffix = file.suffix.lower()
    wanted, kinds = tuple(required), dict(types or {})
    if suffix in PARQUET_SUFFIXES:
        numbered = _parquet(file, wanted)
    elif suffix in CSV_SUFFIXES:
        numbered = _csv(file, _text(file), wanted)
    else:
        numbered = _jsonl(file, _text(file))
    rows = []
    for number, row in numbered:
        _check(file, number, row, wanted, kinds)
        rows.append(row)
    return rows


def _check(file: Path, number: int, row: dict[str, Any], required: tuple[str, ...], types: dict) -> None:
    for name in required:
        if row.get(name) is None or row.get(name) == "":
            raise DatasetError(f"{file}:{number}: the row has no {name!r}", missing=name)
    for name, kind in types.items():
        value = row.get(name)
        if value is not None and not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise DatasetError(f"{file}:{number}: {name!r} should be {expected}, got {type(value).__name__}")


def _text(file: Path) -> str:
    data = file.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(f"{file}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x})") from exc


def _jsonl(file: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{file}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(row, dict):
            raise DatasetError(f"{file}:{number}: expected a JSON object, got {type(row).__name__}")
        rows.append((number, row))
    return rows


def _columns(where: str, columns: list[str], required: tuple[str, ...]) -> None:
    for name in required:
        if name not in columns:
            raise DatasetError(f"{where}: no column {name!r} (columns: {', '.join(columns) or 'none'})", missing=name)


def _csv(file: Path, text: str, required: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        header = reader.fieldnames or []
        if len(set(header)) != len(header):
            raise DatasetError(f"{file}:1: the header names a column twice")
        _columns(f"{file}:1", list(header), required)
        for row in reader:
            line = reader.line_num  # the row's last physical line: its line unless a quoted field spans lines
            if None in row:
                raise DatasetError(f"{file}:{line}: {len(header) + len(row[None])} fields, the header has {len(header)}")
            if any(value is None for value in row.values()):
                raise DatasetError(f"{file}:{line}: fewer fields than the header's {len(header)}")
            rows.append((line, row))
    except csv.Error as exc:
        raise DatasetError(f"{file}:{reader.line_num}: not valid CSV ({exc})") from exc
    return rows


def _parquet(file: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    import pyarrow
    import pyarrow.parquet

    try:
        table = pyarrow.parquet.read_table(file)
    except (pyarrow.ArrowException, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{file}: not a readable Parquet file ({reason})") from exc
    _columns(str(file), table.column_names, required)
    return list(enumerate(table.to_pylist(), start=1))
