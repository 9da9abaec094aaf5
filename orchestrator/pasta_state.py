"""What one PASTA-LANG answer's decoding shares between its two modes.

The tags mode (:mod:`orchestrator.pasta`, the interpreter) and the lists mode
(:mod:`orchestrator.pasta_lists`) decode into the same run state: the
configuration, one :class:`AnswerRun` per answer (its stream records and
fork counter) and :class:`Written` text. Both import it from here, so
neither imports the other's internals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from opentelemetry import trace
from opentelemetry.trace import Tracer
from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Engine


class PastaMode(StrEnum):
    """Where the parallel structure comes from."""

    TAGS = "tags"  # the model writes PASTA-LANG tags (fine-tuned, or prompted)
    LISTS = "lists"  # the model writes plain lists; each item's elaboration is forked


class PastaConfig(BaseModel):
    """How one answer is decoded with PASTA-LANG."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: PastaMode = Field(PastaMode.TAGS, description="Read tags, or fork list items of a plain answer.")
    prompted: bool = Field(
        True, description="Tags mode: send the PASTA-LANG system prompt (for models not fine-tuned on it)."
    )
    max_list_items: int = Field(16, ge=1, description="Lists mode: most items forked in one list.")
    expected_list_items: int = Field(
        5, ge=1, description="Lists mode: items a list is assumed to have when the budget is shared among forks."
    )
    header_max_tokens: int = Field(48, ge=1, description="Lists mode: tokens a request for the next item's header may use.")
    max_forks: int = Field(32, ge=0, description="Most forks one answer may start; later promises are dropped.")
    max_fork_depth: int = Field(
        2, ge=1, description="Forks may fork again down to this depth (main is 0); deeper promises are dropped."
    )
    system: str | None = Field(None, description="System prompt to use instead of the built-in one.")
    max_tokens: int = Field(
        512, ge=1,
        description="Token budget of the main thread, across its segments; in lists mode, of the whole answer "
        "(main stream and forks together, as the sequential answer's cap).",
    )
    fork_max_tokens: int = Field(256, ge=1, description="Token budget of each fork (in lists mode, its largest share).")
    temperature: float = Field(0.0, ge=0.0, description="Sampling temperature; 0 is greedy.")
    timeout_s: float = Field(300.0, gt=0, description="Bound on the whole answer, forks and joins included.")


class StreamRecord(BaseModel):
    """One engine request made while decoding an answer."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="'main-N' for main segments, 'fork-N[-M]' for fork segments.")
    role: str = Field(description="'main' or 'fork'.")
    start_s: float = Field(description="Seconds since the answer started when the request was sent.")
    end_s: float | None = Field(None, description="Seconds since the answer started when the stream closed.")
    tokens: int = Field(0, ge=0, description="Tokens generated.")
    tag_tokens: int = Field(0, ge=0, description="Of those, tokens spent writing tags.")
    discarded_tokens: int = Field(0, ge=0, description="Of those, tokens cut off and not part of the answer.")
    finish_reason: str | None = Field(None, description="Engine's finish reason, or why the interpreter ended it.")
    stop_reason: str | None = Field(None, description="The stop string that ended the stream, if one did.")
    replica: str | None = Field(None, description="Replica that served it.")


@dataclass(frozen=True, slots=True)
class Written:
    """Finished text in two views: as the model reads it after the join, and annotated."""

    plain: str
    annotated: str


@dataclass(slots=True)
class AnswerRun:
    """State of one answer."""

    engine: Engine
    config: PastaConfig
    prompt: str
    system: str | None
    id: str
    started: float
    streams: list[StreamRecord] = field(default_factory=list)
    forks: int = 0
    malformed: int = 0
    fell_back: str | None = None
    tracer: Tracer = field(default_factory=trace.NoOpTracer)

    def now(self) -> float:
        return time.perf_counter() - self.started
