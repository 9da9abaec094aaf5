"""Reading a batch's input and preparing its rows, on the driver, before Ray starts.

Reading is tolerant of bad rows and strict about the file: an unreadable
file, an unknown format or a prompt column found in no row is a
:class:`BatchInputError` (the job does not start); an invalid JSON line,
invalid UTF-8, a missing or empty prompt, a missing or duplicate id is a
problem of that row only, which becomes a ``rejected`` output row.

The prepared table holds, per input row in input order: every input column
but the prompt (renamed ``input_<name>`` where it would collide with a result
column), ``input_row`` (the row's 0-based position, unique, the key resume
relies on), the prompt text and the row's problem (None when it can run).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.batch.errors import BatchInputError
from orchestrator.batch.rows import RESULT_COLUMNS, ROW_KEY, one_line

PROMPT = "_fj_prompt"
"""Internal column: the prompt text (invalid UTF-8 replaced)."""
REJECT = "_fj_reject"
"""Internal column: why the row cannot run, or None."""
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class Columns(BaseModel):
    """Which input columns hold the prompt and the id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field("prompt", min_length=1, description="Column holding the prompt text.")
    id: str = Field("id", min_length=1, description="Column holding the row id; row positions if absent.")


class Prepared(BaseModel):
    """An input read and checked: the rows to run and what the job knows of them."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    table: pa.Table = Field(description="Carried columns, input_row, the prompt and the row problem.")
    columns: Columns = Field(description="The prompt and id columns.")
    renamed: dict[str, str] = Field(description="Input columns renamed to avoid result columns: old -> new.")
    id_generated: bool = Field(description="True when the input had no id column and ids are row positions.")

    @property
    def rows(self) -> int:
        """Rows of the input (after --limit)."""
        return self.table.num_rows


def input_format(path: Path) -> str:
    """jsonl, csv or parquet, from the suffix (a directory is a Parquet dataset)."""
    if path.is_dir():
        return "parquet"
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise BatchInputError(f"{path}: unknown input format (use .jsonl, .csv, .parquet or a Parquet directory)") from None


def read_input(path: Path, columns: Columns, limit: int | None = None) -> Prepared:
    """Read ``path`` (JSONL, CSV, Parquet file or directory) and prepare its rows."""
    if not path.exists():
        raise BatchInputError(f"{path}: no such file or directory")
    kind = input_format(path)
    try:
        match kind:
            case "parquet":
                table, problems = _read_parquet(path, columns.prompt)
            case "csv":
                table, problems = _from_rows(*_read_csv(path), columns.prompt)
            case _:
                table, problems = _from_rows(*_read_jsonl(path), columns.prompt)
    except (OSError, pa.ArrowException) as exc:
        raise BatchInputError(f"{path}: cannot read it as {kind}: {one_line(exc)}") from exc
    if columns.prompt not in table.column_names:
        found = ", ".join(table.column_names) or "none"
        raise BatchInputError(f"{path}: no column {columns.prompt!r} (columns: {found}); choose one with --prompt-column")
    if limit is not None:
        table, problems = table.slice(0, limit), problems[:limit]
    return prepare(table, problems, columns)


def prepare(table: pa.Table, problems: list[str | None], columns: Columns) -> Prepared:
    """Add row keys and each row's problem; drop the prompt column; rename colliding columns."""
    prompts, problems = _prompts(table.column(columns.prompt), problems)
    id_generated = columns.id not in table.column_names
    if id_generated:
        table = table.append_column(columns.id, pa.array(range(table.num_rows), pa.int64()))
    problems = _check_ids(table.column(columns.id).to_pylist(), problems)
    carried = table.drop_columns([columns.prompt])
    renamed = _renames(carried.column_names)
    carried = carried.rename_columns([renamed.get(name, name) for name in carried.column_names])
    prepared = (
        carried.append_column(ROW_KEY, pa.array(range(table.num_rows), pa.int64()))
        .append_column(PROMPT, pa.array(prompts, pa.string()))
        .append_column(REJECT, pa.array(problems, pa.string()))
    )
    return Prepared(table=prepared, columns=columns, renamed=renamed, id_generated=id_generated)


def _prompts(column: pa.ChunkedArray, problems: list[str | None]) -> tuple[list[str | None], list[str | None]]:
    values, kept = [], list(problems)
    for index, value in enumerate(_texts(column)):
        text, problem = _prompt_text(value)
        values.append(text)
        kept[index] = kept[index] or problem
    return values, kept


def _texts(column: pa.ChunkedArray) -> Iterator[Any]:
    """The column's values, text as raw bytes where Arrow holds it (so invalid UTF-8 is seen, not raised)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = column.cast(pa.large_binary())
    return iter(column.to_pylist())


def _prompt_text(value: Any) -> tuple[str | None, str | None]:
    match value:
        case None:
            return None, "missing prompt"
        case bytes():
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                return value.decode("utf-8", "replace"), f"prompt is not valid UTF-8 (byte {exc.start})"
        case str():
            text = value
        case _:
            return None, f"prompt is not text ({type(value).__name__})"
    if _has_surrogates(text):
        return _unescape(text), "prompt is not valid UTF-8"
    return text, (None if text.strip() else "empty prompt")


def _check_ids(ids: list[Any], problems: list[str | None]) -> list[str | None]:
    first: dict[str, int] = {}
    kept = list(problems)
    for index, value in enumerate(ids):
        if value is None or (isinstance(value, str) and not value.strip()):
            kept[index] = kept[index] or "missing id"
            continue
        key = json.dumps(value, sort_keys=True, default=str)
        if key in first:
            kept[index] = kept[index] or f"duplicate id {value!r} (first at input row {first[key]})"
        else:
            first[key] = index
    return kept


def _renames(names: list[str]) -> dict[str, str]:
    taken, renamed = set(names) | RESULT_COLUMNS, {}
    for name in names:
        if name in RESULT_COLUMNS or name.startswith("_fj_"):
            new = f"input_{name}"
            while new in taken:
                new = f"input_{new}"
            taken.add(new)
            renamed[name] = new
    return renamed


def _read_parquet(path: Path, prompt: str) -> tuple[pa.Table, list[str | None]]:
    table = pq.read_table(path)
    if prompt in table.column_names:
        kind = table.schema.field(prompt).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
                or pa.types.is_large_binary(kind)):
            raise BatchInputError(f"{path}: column {prompt!r} holds {kind}, not text")
    return table, [None] * table.num_rows


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], list[str | None]]:
    rows, problems = [], []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        problem = None
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, problem = raw.decode("utf-8", "replace"), f"line {number}: not valid UTF-8 (byte {exc.start})"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            row, problem = {}, problem or f"line {number}: invalid JSON: {exc.msg} at column {exc.colno}"
        if not isinstance(row, dict):
            row, problem = {}, problem or f"line {number}: a JSON {type(row).__name__}, not an object"
        rows.append(row)
        problems.append(problem)
    return rows, problems


def _read_csv(path: Path) -> tuple[list[dict[str, Any]], list[str | None]]:
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        raise BatchInputError(f"{path}: empty CSV (no header line)")
    rows, problems = [], []
    for record in reader:
        extra = record.pop(None, None)  # type: ignore[call-overload]
        problem = f"line {reader.line_num}: {len(extra)} more fields than the header" if extra else None
        if any(isinstance(v, str) and _has_surrogates(v) for v in record.values()):
            problem = problem or f"line {reader.line_num}: not valid UTF-8"
        rows.append({k: (_unescape(v) if isinstance(v, str) else v) for k, v in record.items()})
        problems.append(problem)
    return rows, problems


def _from_rows(
    rows: list[dict[str, Any]], problems: list[str | None], prompt: str
) -> tuple[pa.Table, list[str | None]]:
    """A table of ``rows`` (columns in first-seen order); a prompt that is not text is that row's problem."""
    names: dict[str, None] = {}
    kept = list(problems)
    for index, row in enumerate(rows):
        names.update(dict.fromkeys(row))
        value = row.get(prompt)
        if value is not None and not isinstance(value, str):
            kept[index] = kept[index] or f"prompt is not text ({type(value).__name__})"
            row[prompt] = None
    return pa.table({name: _column([row.get(name) for row in rows]) for name in names}), kept


def _column(values: list[Any]) -> pa.Array:
    """An Arrow array of ``values``; a column of mixed types keeps non-text values as JSON text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values])


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _unescape(text: str) -> str:
    """Text read with surrogateescape, with each undecodable byte as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

