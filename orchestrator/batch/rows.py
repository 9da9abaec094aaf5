"""One output row per input row: its fields, its Arrow schema, and how a run or an error becomes one.

Pure (no Ray, no engine). Every row ends in exactly one :class:`RowStatus`:
``ok`` (every node finished), ``failed`` (the engine or a node failed) or
``rejected`` (the row itself is unusable: empty prompt, invalid UTF-8,
duplicate id, compiler rejection, prompt longer than the context). A row that
is not ``ok`` carries a one-line ``error``.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from graphs.errors import one_line as shorten
from orchestrator.results import NodeStatus, RunResult
from orchestrator.strategies import Plan

ROW_KEY = "input_row"
"""Output column holding the row's 0-based position in the input: the key that makes resume exactly-once."""

ERROR_CHARS = 300
"""Longest error text kept in a row (after shortening it to its first line)."""

_CONTEXT_MARKERS = ("longer than the maximum model length", "maximum context length", "too long for the model")


class RowStatus(StrEnum):
    """How one row ended."""

    OK = "ok"
    FAILED = "failed"
    REJECTED = "rejected"


class RowResult(BaseModel):
    """The result fields of one output row (the input's other columns are carried beside them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_hash: str | None = Field(None, description="sha256 of the prompt's UTF-8, first 16 hex digits.")
    answer: str | None = Field(None, description="The answer; None unless the run produced one.")
    strategy: str | None = Field(None, description="serial or parallel: the shape that ran; None if none did.")
    category: str | None = Field(None, description="The compiler's category of the prompt.")
    validation_tier: str | None = Field(None, description="The compiler's validation tier.")
    nodes: int = Field(0, ge=0, description="Nodes of the graph that ran.")
    prompt_tokens: int = Field(0, ge=0, description="Prompt tokens over all generate nodes.")
    output_tokens: int = Field(0, ge=0, description="Generated tokens over all nodes.")
    cached_tokens: int = Field(0, ge=0, description="Prompt tokens served from the prefix cache.")
    wall_s: float = Field(0.0, ge=0, description="Wall time of the row's graph run.")
    ttft_s: float | None = Field(None, description="Time to the run's first generated token.")
    replicas: list[str] = Field(default_factory=list, description="Replicas that served its generate nodes, sorted.")
    status: RowStatus = Field(description="ok, failed or rejected.")
    error: str | None = Field(None, description="Why the row is not ok, in one line.")


RESULT_SCHEMA = pa.schema(
    [
        pa.field("prompt_hash", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("strategy", pa.string()),
        pa.field("category", pa.string()),
        pa.field("validation_tier", pa.string()),
        pa.field("nodes", pa.int32()),
        pa.field("prompt_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("cached_tokens", pa.int64()),
        pa.field("wall_s", pa.float64()),
        pa.field("ttft_s", pa.float64()),
        pa.field("replicas", pa.list_(pa.string())),
        pa.field("status", pa.string()),
        pa.field("error", pa.string()),
    ]
)
"""Arrow types of the result columns, in output order (after the carried input columns and ``input_row``)."""

RESULT_COLUMNS = frozenset(RESULT_SCHEMA.names) | {ROW_KEY}
"""Names an input column may not keep in the output (it is renamed ``input_<name>``)."""


def prompt_hash(prompt: str) -> str:
    """The prompt's short, stable hash."""
    return hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def one_line(text: str | BaseException) -> str:
    """An error (or its text) as one line of at most :data:`ERROR_CHARS` (:func:`graphs.errors.one_line`)."""
    return shorten(text if isinstance(text, BaseException) else ValueError(text), ERROR_CHARS)


def rejected(error: str, prompt: str | None = None, chosen: Plan | None = None) -> RowResult:
    """A row that did not run because of what it contains."""
    return RowResult(
        prompt_hash=prompt_hash(prompt) if prompt is not None else None,
        **_compile_fields(chosen),
        status=RowStatus.REJECTED,
        error=one_line(error),
    )


def from_run(prompt: str, chosen: Plan, result: RunResult) -> RowResult:
    """The row of a finished graph run: ok, or failed / rejected with the first failed node's error."""
    generate = [n for n in result.nodes if n.kind == "generate"]
    status, error = _outcome(result)
    return RowResult(
        prompt_hash=prompt_hash(prompt),
        answer=result.answer if status is RowStatus.OK else None,
        **_compile_fields(chosen),
        nodes=len(result.nodes),
        prompt_tokens=sum(n.prompt_tokens or 0 for n in generate),
        output_tokens=result.tokens,
        cached_tokens=sum(n.cached_tokens or 0 for n in generate),
        wall_s=result.wall_s,
        ttft_s=result.ttft_s,
        replicas=sorted({n.replica for n in generate if n.replica is not None}),
        status=status,
        error=error,
    )


def aborted(prompt: str, chosen: Plan, error: str) -> RowResult:
    """A row whose run the engine's death cut short."""
    return RowResult(
        prompt_hash=prompt_hash(prompt),
        **_compile_fields(chosen),
        nodes=len(chosen.graph),
        status=RowStatus.FAILED,
        error=one_line(error),
    )


def is_context_error(error: str) -> bool:
    """Whether an engine error says the prompt does not fit the model's context (the row's fault)."""
    lowered = error.lower()
    return any(marker in lowered for marker in _CONTEXT_MARKERS)


def results_table(results: list[RowResult]) -> pa.Table:
    """The result columns of ``results`` as an Arrow table with :data:`RESULT_SCHEMA`."""
    columns = {name: [] for name in RESULT_SCHEMA.names}
    for result in results:
        for name, value in result.model_dump(mode="json").items():
            columns[name].append(value)
    return pa.table(columns, schema=RESULT_SCHEMA)


def _outcome(result: RunResult) -> tuple[RowStatus, str | None]:
    if result.error is not None:
        return RowStatus.REJECTED, one_line(result.error)
    failed = [n for n in result.nodes if n.status is not NodeStatus.DONE]
    if not failed:
        return RowStatus.OK, None
    first = next((n for n in failed if n.status is NodeStatus.FAILED), failed[0])
    error = one_line(f"node {first.name} {first.status.value}: {first.error or 'no reason given'}")
    return (RowStatus.REJECTED if is_context_error(error) else RowStatus.FAILED), error


def _compile_fields(chosen: Plan | None) -> dict[str, str | None]:
    if chosen is None:
        return {}
    return {
        "strategy": chosen.executed.value,
        "category": chosen.compiled.get("category"),
        "validation_tier": chosen.compiled.get("validation_tier"),
    }
