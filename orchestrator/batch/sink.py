"""The output directory of a batch job: parts written atomically, and what a resume skips.

Layout: ``OUTPUT/part-NNNNNN.parquet`` (or ``.jsonl``) and ``OUTPUT/_forkjoin_batch.json``
(the manifest: which input, columns and format wrote it). Readers of Parquet
datasets (pyarrow, pandas, Ray Data) skip names starting with ``_`` or ``.``.

Exactly-once: only the driver writes, one part per result block. A part is
written to ``.part-NNNNNN.*.tmp``, flushed to disk and then renamed, so a part
either exists whole or not at all, whenever the job is killed. A resume
deletes leftover temporary files, reads the ``input_row`` of every committed
part and runs only the other rows; a row is in exactly one part.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.batch.errors import BatchInputError
from orchestrator.batch.rows import ROW_KEY

MANIFEST = "_forkjoin_batch.json"


class OutputFormat(StrEnum):
    """How result parts are written."""

    PARQUET = "parquet"
    JSONL = "jsonl"


class Manifest(BaseModel):
    """What wrote an output directory; a resume must match it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str = Field(description="The input path, resolved.")
    fingerprint: str = Field(description="sha256 over the input files' names, sizes and modification times.")
    prompt_column: str = Field(description="Column the prompts came from.")
    id_column: str = Field(description="Column the ids came from.")
    format: OutputFormat = Field(description="Format of the parts.")


def fingerprint(path: Path) -> str:
    """A cheap identity of the input: names, sizes and mtimes of its files."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class Output:
    """An output directory being written (create with :meth:`open`)."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest
        self.format = manifest.format
        self._next = 1 + max((_part_number(p) for p in self.parts()), default=0)

    @classmethod
    def open(cls, path: Path, manifest: Manifest, *, resume: bool) -> Output:
        """Check ``path`` may receive this job's output (a new job, or a resume of the same one); create it."""
        if path.exists() and not path.is_dir():
            raise BatchInputError(f"{path}: output exists and is not a directory")
        existing = sorted(p.name for p in path.iterdir()) if path.exists() else []
        if existing and not resume:
            raise BatchInputError(f"{path}: output exists ({len(existing)} files); add --resume to finish that job")
        if existing:
            _check_manifest(path, manifest)
        path.mkdir(parents=True, exist_ok=True)
        _write_atomic(path / MANIFEST, manifest.model_dump_json(indent=2).encode())
        return cls(path, manifest)

    def parts(self) -> list[Path]:
        """Committed parts, in write order."""
        return sorted(self.path.glob(f"part-*.{self.format.value}"))

    def done_rows(self) -> set[int]:
        """``input_row`` of every committed row (deleting temporary files a killed job left)."""
        for leftover in self.path.glob(".part-*.tmp"):
            leftover.unlink()
        done: set[int] = set()
        for part in self.parts():
            done.update(_column(part, self.format, ROW_KEY))
        return done

    def statuses(self) -> Counter[str]:
        """How many committed rows ended in each status."""
        counts: Counter[str] = Counter()
        for part in self.parts():
            counts.update(_column(part, self.format, "status"))
        return counts

    def write(self, table: pa.Table) -> Path:
        """Commit ``table`` as the next part, atomically."""
        final = self.path / f"part-{self._next:06d}.{self.format.value}"
        self._next += 1
        _write_atomic(final, _encode(table, self.format))
        return final


def _check_manifest(path: Path, manifest: Manifest) -> None:
    try:
        found = Manifest.model_validate_json((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise BatchInputError(f"{path}: not a forkjoin batch output (no {MANIFEST}); choose another path") from None
    except ValueError as exc:
        raise BatchInputError(f"{path}/{MANIFEST} is unreadable: {exc.__class__.__name__}") from exc
    differs = [k for k, v in manifest.model_dump().items() if found.model_dump()[k] != v]
    if differs:
        raise BatchInputError(f"{path}: written by another job (its {', '.join(differs)} differ); cannot resume it")


def _encode(table: pa.Table, fmt: OutputFormat) -> bytes:
    match fmt:
        case OutputFormat.PARQUET:
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            return sink.getvalue().to_pybytes()
        case OutputFormat.JSONL:
            lines = (json.dumps(row, ensure_ascii=False, default=str) for row in table.to_pylist())
            return "".join(line + "\n" for line in lines).encode()


def _column(part: Path, fmt: OutputFormat, name: str) -> list:
    match fmt:
        case OutputFormat.PARQUET:
            return pq.read_table(part, columns=[name]).column(name).to_pylist()
        case OutputFormat.JSONL:
            return [json.loads(line)[name] for line in part.read_text().splitlines() if line.strip()]


def _write_atomic(final: Path, data: bytes) -> None:
    temporary = final.with_name(f".{final.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)


def _part_number(part: Path) -> int:
    return int(part.name.split(".")[0].removeprefix("part-"))
