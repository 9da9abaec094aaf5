"""An optional pairwise judge: serial against parallel, in shuffled order, as ParallelPrompt's judge scores.

The judge model sees the request and two answers, labelled 1 and 2 in a
random order, and returns JSON scoring ``accuracy``, ``grammar``,
``detail`` and ``preference``, each 0 (tie), 1 (answer 1 better) or 2
(answer 2 better). :func:`attribute` maps those back to ``serial`` /
``parallel`` / ``tie`` using the order actually shown, so the shuffle never
leaks into the results. The model is reached through a ``complete``
callable (messages -> text): an OpenAI-compatible endpoint
(:func:`openai_completer`, with JSON-schema structured output) or the
evaluation's own replica pool.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actors.engine import Engine, GenerateRequest
from graphs.errors import ForkjoinError
from graphs.params import SamplingParams

CRITERIA = ("accuracy", "grammar", "detail", "preference")
Messages = list[dict[str, str]]
Completer = Callable[[Messages], Awaitable[str]]


class JudgeError(ForkjoinError):
    """The judge's reply is not a verdict. Caused by the judge model; recoverable (that row has no verdict)."""


class Verdict(BaseModel):
    """The judge's scores, by the order shown: 0 tie, 1 the first answer, 2 the second."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accuracy: Literal[0, 1, 2] = Field(description="Which answer is more correct (0: tie).")
    grammar: Literal[0, 1, 2] = Field(description="Which answer is better written (0: tie).")
    detail: Literal[0, 1, 2] = Field(description="Which answer is more complete and detailed (0: tie).")
    preference: Literal[0, 1, 2] = Field(description="Which answer the judge prefers overall (0: tie).")


class Judgement(BaseModel):
    """One verdict, attributed to the strategies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    serial_first: bool = Field(description="Whether the serial answer was shown as answer 1.")
    verdict: Verdict = Field(description="The scores as the judge gave them (by position).")
    winners: dict[str, str] = Field(description="Criterion -> 'serial', 'parallel' or 'tie'.")


SYSTEM = ("You compare two answers to the same request. Score each criterion 0 if the answers are equally good, "
          "1 if answer 1 is better, 2 if answer 2 is better. Reply with JSON only: "
          '{"accuracy": 0|1|2, "grammar": 0|1|2, "detail": 0|1|2, "preference": 0|1|2}.')


def judge_messages(request: str, first: str, second: str) -> Messages:
    """The chat messages that ask for a verdict on two answers in this order."""
    user = f"Request:\n{request}\n\n[Answer 1]\n{first}\n[End of answer 1]\n\n[Answer 2]\n{second}\n[End of answer 2]"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(text: str) -> Verdict:
    """The verdict in a reply: its first JSON object (a fenced block or surrounding words are tolerated)."""
    match = re.search(r"\{.*?\}", text, re.DOTALL)
    if match is None:
        raise JudgeError(f"judge reply has no JSON object: {text[:80]!r}")
    try:
        return Verdict.model_validate(json.loads(match.group(0)))
    except (ValueError, ValidationError) as exc:
        raise JudgeError(f"judge reply is not a verdict: {match.group(0)[:80]!r}") from exc


def attribute(verdict: Verdict, *, serial_first: bool) -> dict[str, str]:
    """Criterion -> winner, undoing the order the answers were shown in."""
    names = ("serial", "parallel") if serial_first else ("parallel", "serial")
    return {c: ("tie", *names)[getattr(verdict, c)] for c in CRITERIA}


async def judge_pair(complete: Completer, request: str, serial: str, parallel: str,
                     rng: random.Random) -> Judgement:
    """Ask for one verdict with the answers in a random order; attribute it."""
    serial_first = rng.random() < 0.5
    first, second = (serial, parallel) if serial_first else (parallel, serial)
    verdict = parse_verdict(await complete(judge_messages(request, first, second)))
    return Judgement(serial_first=serial_first, verdict=verdict, winners=attribute(verdict, serial_first=serial_first))


def pool_completer(engine: Engine) -> Completer:
    """A completer on the evaluation's own engine (the pool's model judges; greedy, short)."""

    async def complete(messages: Messages) -> str:
        request = GenerateRequest(request_id=f"judge-{uuid.uuid4().hex[:10]}", prompt=messages[1]["content"],
                                  system=messages[0]["content"], params=SamplingParams(max_tokens=64))
        return "".join([chunk.text async for chunk in engine.generate(request)])

    return complete


def openai_completer(base_url: str, model: str, api_key: str | None = None) -> Completer:
    """A completer on an OpenAI-compatible endpoint, asking for the verdict's JSON schema."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=api_key or "not-needed")
    schema = {"name": "verdict", "schema": Verdict.model_json_schema(), "strict": True}

    async def complete(messages: Messages) -> str:
        reply = await client.chat.completions.create(
            model=model, messages=messages, temperature=0.0, max_tokens=64,
            response_format={"type": "json_schema", "json_schema": schema},
        )
        return reply.choices[0].message.content or ""

    return complete
