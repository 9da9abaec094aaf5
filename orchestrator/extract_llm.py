"""The runtime half of the LLM-assisted extractor: ask an engine for a prompt's schema.

Three modes (:class:`Extractor`): ``rules`` never asks the engine; ``llm``
always asks it and keeps its validated schema; ``auto`` asks only when the
rules reject a prompt that still shows parallel signals (list markers,
several questions, "each", a count). The engine's output is constrained to
the extraction JSON schema (structured output) and the reply passes the same
five validation rules as the rules' schema.

A reply that can not be used (malformed JSON, a failed request, a timeout)
leaves the rule-based schema in place with the reason recorded; only a dead
engine (EngineDeadError) propagates, since nothing else would work either.
Every call has its own request id; the wait is bounded, and closing the
stream aborts the request inside the engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Engine, GenerateRequest, RequestError
from graphs.compiler import Schema, extract_rules, validate
from graphs.compiler.llm import (
    SYSTEM,
    ExtractionReplyError,
    extraction_json_schema,
    extraction_prompt,
    has_parallel_signals,
    parse_extraction,
)
from graphs.params import SamplingParams


class Extractor(StrEnum):
    """Which extractor gives a prompt its schema."""

    RULES = "rules"
    LLM = "llm"
    AUTO = "auto"


class Extracted(BaseModel):
    """One prompt's schema and what it cost to get it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    result: Schema = Field(description="The validated schema the compiler will use.")
    asked: bool = Field(description="The engine was asked for this prompt.")
    fell_back: bool = Field(description="The engine was asked but its reply was unusable; the rules' schema is kept.")
    seconds: float = Field(description="Wall time of the engine call (0 when it was not asked).")
    error: str | None = Field(None, description="Why the engine's reply was unusable (fell_back), one line.")


def extraction_request(prompt: str, *, max_tokens: int = 1024) -> GenerateRequest:
    """The structured-output request for ``prompt``'s schema; its id is new on every call."""
    digest = hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]
    return GenerateRequest(
        request_id=f"extract-{digest}-{uuid.uuid4().hex[:8]}",
        prompt=extraction_prompt(prompt),
        system=SYSTEM,
        params=SamplingParams(max_tokens=max_tokens, temperature=0.0),
        json_schema=extraction_json_schema(),
    )


async def ask_engine(engine: Engine, prompt: str, *, timeout_s: float = 120.0, max_tokens: int = 1024) -> Schema:
    """The engine's schema for ``prompt``, validated; raises ExtractionReplyError, RequestError or TimeoutError."""
    request = extraction_request(prompt, max_tokens=max_tokens)
    parts: list[str] = []
    stream = engine.generate(request)
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in stream:
                parts.append(chunk.text)
    finally:
        await stream.aclose()
    return parse_extraction("".join(parts), prompt)


def wants_engine(rules: Schema, prompt: str, mode: Extractor) -> bool:
    """Whether ``mode`` asks the engine about ``prompt``, given the rules' schema."""
    match mode:
        case Extractor.RULES:
            return False
        case Extractor.LLM:
            return True
        case Extractor.AUTO:
            return not rules.passes and has_parallel_signals(prompt)


async def extract_one(
    engine: Engine | None, prompt: str, *, mode: Extractor = Extractor.AUTO, timeout_s: float = 120.0,
    max_tokens: int = 1024,
) -> Extracted:
    """``prompt``'s schema by ``mode``, with whether the engine was asked and how long it took.

    ``max_tokens`` caps the engine's reply; a reply cut off inside the JSON falls back to the rules.
    """
    rules = validate(extract_rules(prompt))
    if engine is None or not wants_engine(rules, prompt, mode):
        return Extracted(result=rules, asked=False, fell_back=False, seconds=0.0)
    started = time.perf_counter()
    try:
        assisted = await ask_engine(engine, prompt, timeout_s=timeout_s, max_tokens=max_tokens)
    except (ExtractionReplyError, RequestError, TimeoutError) as exc:
        error = str(exc) or type(exc).__name__
        reason = f"LLM-assisted extraction gave no usable schema: {error}"
        kept = rules.model_copy(update={"reasons": (*rules.reasons, reason)})
        return Extracted(result=kept, asked=True, fell_back=True, seconds=time.perf_counter() - started, error=error)
    return Extracted(result=_merge(rules, assisted, mode), asked=True, fell_back=False,
                     seconds=time.perf_counter() - started)


def _merge(rules: Schema, assisted: Schema, mode: Extractor) -> Schema:
    """The schema to keep: the model's when it passes (or always in llm mode), else the rules' with its reasons."""
    if assisted.passes:
        note = "schema from the LLM extractor" if mode is Extractor.LLM else "rules were unsure; schema from the LLM extractor"
        return assisted.model_copy(update={"reasons": (note, *assisted.reasons)})
    if mode is Extractor.LLM:
        return assisted
    return rules.model_copy(update={"reasons": (*rules.reasons, *("LLM extractor: " + r for r in assisted.reasons))})


async def extract(engine: Engine | None, prompt: str, *, mode: Extractor = Extractor.AUTO,
                  timeout_s: float = 120.0) -> Schema:
    """``prompt``'s schema: rules first; the engine as ``mode`` says (default: only when the rules are unsure)."""
    return (await extract_one(engine, prompt, mode=mode, timeout_s=timeout_s)).result


async def extract_many(
    engine: Engine | None, prompts: Sequence[str], *, mode: Extractor = Extractor.AUTO,
    concurrency: int = 8, timeout_s: float = 120.0, max_tokens: int = 1024,
) -> list[Extracted]:
    """Every prompt's schema, in order, with at most ``concurrency`` engine calls in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> Extracted:
        async with gate:
            return await extract_one(engine, prompt, mode=mode, timeout_s=timeout_s, max_tokens=max_tokens)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(p)) for p in prompts]
    return [t.result() for t in tasks]
