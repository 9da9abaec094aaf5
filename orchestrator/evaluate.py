"""Accuracy of the rule-based prompt compiler on an annotated prompt set.

Per reference category and overall: share of prompts detected as
parallelizable (schema passes validation), share whose item count (or n)
equals the reference, share whose items equal the reference items after
normalization (data rows only), share whose template is compatible with the
reference (same kind, {data} vs {n}, and same use of {context}); plus the
prompts of negative sets (no parallel structure expected) that were detected
anyway, listed so a person can judge them. Reading is strict
(:func:`orchestrator.datasets.read_rows`): a missing file or a bad line is a
DatasetError naming the line, raised before any row is scored.

The annotated set is split by a hash of each row's id (:func:`split_part`)
into a tuning part, the only one rules may be fitted to, and a check part
(about one row in three) that measures how the rules generalize. The split
depends on nothing but the id, so it is the same on every machine and for
every version of the set that keeps its ids.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from graphs.compiler import Schema, compile_prompt
from orchestrator.bench import percentile
from orchestrator.datasets import read_rows


class Part(StrEnum):
    """Which part of the annotated set a row belongs to."""

    TUNING = "tuning"
    CHECK = "check"


_CHECK_EVERY = 3  # one bucket in three is the check part


def split_part(row_id: str) -> Part:
    """The part of row ``row_id``: the first 8 bytes of sha256(id), modulo 3; bucket 0 is the check part."""
    digest = hashlib.sha256(row_id.encode("utf-8")).digest()
    return Part.CHECK if int.from_bytes(digest[:8], "big") % _CHECK_EVERY == 0 else Part.TUNING


class Tally(BaseModel):
    """Counts for one category (or overall)."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(description="Reference category, or 'overall'.")
    rows: int = Field(0, description="Prompts.")
    detected: int = Field(0, description="Detected as parallelizable (validation passed).")
    count_equal: int = Field(0, description="Detected with n / item count equal to the reference.")
    data_rows: int = Field(0, description="Prompts whose reference uses data (items).")
    items_match: int = Field(0, description="Data rows whose normalized items equal the reference items.")
    template_compatible: int = Field(0, description="Detected with a template compatible with the reference.")
    compiled_parallel: int = Field(0, description="Compiled to a parallel graph (after dependency checks).")

    def rates(self) -> dict[str, float | None]:
        """Shares of rows; items_match is over data rows (None when there are none)."""
        per = max(self.rows, 1)
        return {
            "detection": self.detected / per, "count_exact": self.count_equal / per,
            "items_match": self.items_match / self.data_rows if self.data_rows else None,
            "template": self.template_compatible / per,
            "parallel": self.compiled_parallel / per,
        }


class FalsePositive(BaseModel):
    """A negative-set prompt the compiler detected as parallelizable."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The row's id.")
    pattern: str = Field(description="Extractor pattern that fired.")
    count: int = Field(description="Subtasks found.")
    parallel: bool = Field(description="Compiled to a parallel graph (dependencies may make it serial).")
    prompt: str = Field(description="The prompt, shortened.")


class Breakdown(BaseModel):
    """Tallies of one set of rows: overall and per reference category."""

    model_config = ConfigDict(extra="forbid")

    overall: Tally = Field(description="All rows of this set.")
    categories: list[Tally] = Field(description="One tally per reference category, sorted by name.")

    @classmethod
    def empty(cls) -> Breakdown:
        """A breakdown with no rows yet."""
        return cls(overall=Tally(category="overall"), categories=[])

    def category(self, name: str) -> Tally:
        """The tally of category ``name``, added (in sorted place) when new."""
        for tally in self.categories:
            if tally.category == name:
                return tally
        tally = Tally(category=name)
        self.categories = sorted([*self.categories, tally], key=lambda t: t.category)
        return tally


class ExtractorCost(BaseModel):
    """What the LLM-assisted extractor cost over an evaluation (all prompts scored, negatives included)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompts: int = Field(description="Prompts extracted.")
    asked: int = Field(description="Prompts the engine was asked about.")
    fell_back: int = Field(description="Engine replies that were unusable (the rules' schema was kept).")
    timed_out: int = Field(0, description="Of those, calls that ran out of time.")
    concurrency: int | None = Field(None, description="Engine calls in flight at most while these were measured.")
    seconds_total: float = Field(description="Sum of the engine calls' wall times, seconds.")
    seconds_mean: float | None = Field(description="Mean wall time of one engine call (None when none was made).")
    seconds_p50: float | None = Field(None, description="Median (nearest rank) wall time of one engine call (None: no call).")
    seconds_p90: float | None = Field(None, description="90th percentile of one engine call's wall time (None: no call).")
    seconds_per_prompt: float | None = Field(
        None, description="Extra latency per prompt on average: seconds_total over every prompt extracted, asked or not."
    )

    @classmethod
    def from_calls(cls, prompts: int, seconds: list[float], fell_back: int, *, timed_out: int = 0,
                   concurrency: int | None = None) -> ExtractorCost:
        """The cost of ``prompts`` extractions whose engine calls took ``seconds`` (one entry per call)."""
        total = sum(seconds)
        return cls(prompts=prompts, asked=len(seconds), fell_back=fell_back, timed_out=timed_out,
                   concurrency=concurrency, seconds_total=total,
                   seconds_mean=total / len(seconds) if seconds else None,
                   seconds_p50=percentile(seconds, 50) if seconds else None,
                   seconds_p90=percentile(seconds, 90) if seconds else None,
                   seconds_per_prompt=total / prompts if prompts else None)


class Report(BaseModel):
    """The whole evaluation."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="Path of the annotated set.")
    extractor: str = Field("rules", description="Which extractor produced the schemas (rules, llm, auto).")
    part: Part | None = Field(None, description="The only part of the set scored (None: both).")
    limit: int | None = Field(None, description="Rows scored per file at most (None: all).")
    overall: Tally = Field(description="All rows.")
    categories: list[Tally] = Field(description="One tally per reference category.")
    parts: dict[Part, Breakdown] = Field(description="The same tallies for the tuning and the check part.")
    extractor_cost: ExtractorCost | None = Field(None, description="Engine calls of the LLM extractor (None: rules).")
    negatives: dict[str, list[FalsePositive]] = Field(description="Per negative file, its false positives.")
    negative_rows: dict[str, int] = Field(description="Per negative file, its number of rows.")


def load_prompts(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a prompt file (JSON lines, CSV or Parquet), each with a string ``prompt``."""
    return read_rows(path, required=("prompt",), types={"prompt": str})


def select_rows(rows: list[dict[str, Any]], part: Part | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows of ``part`` (every row when None), at most the first ``limit`` of them."""
    chosen = [row for row in rows if part is None or split_part(_row_id(row)) is part]
    return chosen[:limit] if limit is not None else chosen


def scored_prompts(dataset: str | Path, negatives: Iterable[str | Path] = (), *, part: Part | None = None,
                   limit: int | None = None) -> list[str]:
    """The distinct prompts :func:`evaluate` scores with the same arguments, in file order."""
    rows = select_rows(load_prompts(dataset), part, limit)
    rows += [row for path in negatives for row in load_prompts(path)[:limit]]
    return list(dict.fromkeys(row["prompt"] for row in rows))


def _row_id(row: dict[str, Any]) -> str:
    return str(row.get("id", row["prompt"]))


def normalize(item: str) -> str:
    """Lowercase, no list marker, no punctuation, no leading article, single spaces."""
    text = re.sub(r"^\s*(?:\d{1,3}[.)\-]|[-*•])\s*", "", item.casefold())
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"^\s*(?:the|a|an|all)\s+", "", text)
    return " ".join(text.split())


def _reference(row: dict[str, Any]) -> tuple[list[str] | None, int | None]:
    data = row.get("data")
    if isinstance(data, str):
        data = json.loads(data)
    n = row.get("n")
    return data, (int(n) if n is not None else None)


def _template_ok(schema: Schema, row: dict[str, Any]) -> bool:
    ref = row.get("template") or ""
    same_kind = ("{data}" in ref) == (schema.data is not None)
    return same_kind and ("{context}" in ref) == ("{context}" in schema.template)


def score_row(row: dict[str, Any], *tallies: Tally, schema: Schema | None = None) -> None:
    """Compile one annotated row (with ``schema`` when given, else the rules) and add it to every tally given."""
    compiled = compile_prompt(row["prompt"], schema=schema)
    schema = compiled.schema
    data, n = _reference(row)
    ref_count = len(data) if data is not None else n
    passed = schema.passes
    same_kind = (schema.data is not None) == (data is not None)
    marks = {
        "rows": 1, "data_rows": data is not None, "detected": passed,
        "compiled_parallel": passed and compiled.parallel,
        "count_equal": passed and same_kind and schema.count == ref_count,
        "items_match": passed and data is not None and schema.data is not None
        and [normalize(d) for d in schema.data] == [normalize(d) for d in data],
        "template_compatible": passed and _template_ok(schema, row),
    }
    for tally in tallies:
        for field, hit in marks.items():
            setattr(tally, field, getattr(tally, field) + int(bool(hit)))


def false_positives(
    rows: Iterable[dict[str, Any]], schemas: Mapping[str, Schema] | None = None, on_row: Callable[[], None] | None = None
) -> list[FalsePositive]:
    """Rows detected as parallelizable (for sets where none is expected); ``on_row()`` after each row."""
    out = []
    for row in rows:
        compiled = compile_prompt(row["prompt"], schema=(schemas or {}).get(row["prompt"]))
        if compiled.schema.passes:
            prompt = " ".join(row["prompt"].split())
            out.append(FalsePositive(id=str(row.get("id", "?")), pattern=compiled.schema.pattern,
                                     count=compiled.schema.count, parallel=compiled.parallel,
                                     prompt=prompt[:160] + ("…" if len(prompt) > 160 else "")))
        if on_row is not None:
            on_row()
    return out


def evaluate(
    dataset: str | Path, negatives: Iterable[str | Path] = (), *,
    schemas: Mapping[str, Schema] | None = None, extractor: str = "rules",
    on_row: Callable[[int], None] | None = None, part: Part | None = None, limit: int | None = None,
) -> Report:
    """Score ``dataset`` (all rows, and its tuning and check parts) and list false positives on each negative set.

    ``schemas`` maps a prompt to the schema another extractor gave it; prompts
    not in it are extracted by the rules. ``part`` scores only that part of
    the set and ``limit`` at most the first N rows of it and of each negative
    set (:func:`scored_prompts` lists the same prompts). Every file is read
    before any row is scored; ``on_row(total)`` is called after each row
    (dataset and negatives) with the number of rows in all of them.
    """
    known = schemas or {}
    whole = Breakdown.empty()
    parts = {p: Breakdown.empty() for p in Part}
    rows = select_rows(load_prompts(dataset), part, limit)
    negative_rows = {str(p): load_prompts(p)[:limit] for p in negatives}
    total = len(rows) + sum(len(negative) for negative in negative_rows.values())
    counted = on_row or (lambda _: None)
    for row in rows:
        category = str(row.get("category") or "unknown")
        own = parts[split_part(_row_id(row))]
        score_row(row, whole.category(category), whole.overall, own.category(category), own.overall,
                  schema=known.get(row["prompt"]))
        counted(total)
    return Report(
        dataset=str(dataset), extractor=extractor, part=part, limit=limit, overall=whole.overall,
        categories=whole.categories, parts=parts,
        negatives={p: false_positives(rows, known, on_row=lambda: counted(total)) for p, rows in negative_rows.items()},
        negative_rows={p: len(rows) for p, rows in negative_rows.items()},
    )
