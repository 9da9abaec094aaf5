"""The runtime half of the LLM-assisted extractor: ask an engine for a prompt's schema.

Used when the rules are unsure: their schema is rejected but the prompt shows
signs of parallel structure (list markers, several questions, "each", a
count). The engine's output is constrained to the extraction JSON schema
(structured output); the reply passes the same five validation rules. A
reply that can not be read leaves the rule-based schema in place, with the
reason recorded. The wait is bounded, and closing the stream aborts the
request inside the engine.
"""

from __future__ import annotations

import asyncio
import hashlib

from actors.engine import Engine, GenerateRequest
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


def extraction_request(prompt: str, *, max_tokens: int = 1024) -> GenerateRequest:
    """The structured-output request for ``prompt``'s schema (deterministic id per prompt)."""
    digest = hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]
    return GenerateRequest(
        request_id=f"extract-{digest}",
        prompt=extraction_prompt(prompt),
        system=SYSTEM,
        params=SamplingParams(max_tokens=max_tokens, temperature=0.0),
        json_schema=extraction_json_schema(),
    )


async def ask_engine(engine: Engine, prompt: str, *, timeout_s: float = 120.0, max_tokens: int = 1024) -> Schema:
    """The engine's schema for ``prompt``, validated; raises ExtractionReplyError or RequestError."""
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


async def extract(engine: Engine | None, prompt: str, *, timeout_s: float = 120.0) -> Schema:
    """Rules first; the engine only when the rules reject a prompt that shows parallel signals."""
    rules = validate(extract_rules(prompt))
    if rules.passes or engine is None or not has_parallel_signals(prompt):
        return rules
    try:
        assisted = await ask_engine(engine, prompt, timeout_s=timeout_s)
    except (ExtractionReplyError, TimeoutError) as exc:
        reason = f"LLM-assisted extraction gave no usable schema: {exc or 'timed out'}"
        return rules.model_copy(update={"reasons": (*rules.reasons, reason)})
    if assisted.passes:
        return assisted.model_copy(update={"reasons": ("rules were unsure; schema from the LLM extractor",
                                                       *assisted.reasons)})
    return rules.model_copy(update={"reasons": (*rules.reasons, *("LLM extractor: " + r for r in assisted.reasons))})
