"""Structural adherence: does an answer have the shape the prompt asked for?

Pure checks of text against an :class:`Expectation` (derived from a compiled
prompt by :func:`expectation`, or built by hand). Each check has a name, so
a failing answer says which one failed:

- ``count``: as many items as requested (n, or one per input item);
- ``order``: items numbered 1..n in sequence (numbered and labelled formats),
  or labelled fields in the order asked;
- ``format``: every item starts with the requested marker (``1.``, ``1)``,
  ``[Plan 1]:``, ``- ``, ``label:``);
- ``one_rating_per_item``: each item of a sentiment request carries one rating;
- ``one_translation_per_item``: each translation is present and is not the source copied;
- ``json``: the answer (or its fenced block) parses as JSON, when JSON was asked.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from graphs.compiler.build import Compiled
from graphs.compiler.schema import Category
from graphs.nodes import ScopeNode


class ListStyle(StrEnum):
    """How the items of an answer are marked."""

    NUMBERED = "numbered"
    BULLETED = "bulleted"
    CUSTOM = "custom"
    LABELLED = "labelled"
    LINES = "lines"


class Expectation(BaseModel):
    """The structure a prompt asks its answer to have."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int | None = Field(None, description="Items requested (None: not a list).")
    style: ListStyle = Field(ListStyle.LINES, description="How items are marked.")
    marker: str = Field("", description="Regex an item starts with (custom formats: the label with \\d+ for the index).")
    separator: str = Field("\n", description="Between items when they carry no marker.")
    labels: tuple[str, ...] = Field((), description="Labelled answers: the labels, in the order asked.")
    sources: tuple[str, ...] = Field((), description="Translations: the source texts, in order.")
    ratings: bool = Field(False, description="Each item must carry one rating (sentiment analysis).")
    json_answer: bool = Field(False, description="The answer must be JSON.")


class Check(BaseModel):
    """One named check and its outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="count, order, format, one_rating_per_item, one_translation_per_item or json.")
    passed: bool = Field(description="Whether the answer passes it.")
    detail: str = Field(description="What was found, in a few words.")


class Adherence(BaseModel):
    """All checks of one answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checks: list[Check] = Field(description="Every check that applies, in a fixed order.")

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[str]:
        """Names of the failed checks."""
        return [c.name for c in self.checks if not c.passed]


_JSON_ASKED = re.compile(r"\bjson\b", re.IGNORECASE)
_NUMBERED = r"\s*\d{1,3}[.)]\s+"
_BULLET = r"\s*[-*•]\s+"
_RATING = re.compile(r"\b(?:positive|negative|neutral|mixed)\b|\b\d+(?:\.\d+)?\s*(?:/|out\s+of)\s*\d+\b|\b\d\s*stars?\b",
                     re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def expectation(compiled: Compiled) -> Expectation:
    """What the prompt asks for, as the compiler read it (the join's format is the requested one)."""
    schema = compiled.schema
    asked = {"count": schema.count or None, "json_answer": bool(_JSON_ASKED.search(compiled.prompt))}
    if schema.category in (Category.KEYWORD_EXTRACTION, Category.NAMED_ENTITY_RECOGNITION) and schema.data:
        return Expectation(**asked, style=ListStyle.LABELLED, labels=tuple(schema.data))
    if schema.category == Category.TRANSLATION and schema.data:
        asked["sources"] = tuple(schema.data)
    asked["ratings"] = schema.category == Category.SENTIMENT_ANALYSIS
    scope = compiled.graph.node("answers") if "answers" in compiled.graph else None
    if not isinstance(scope, ScopeNode):
        return Expectation(**asked)
    if scope.strip_label:
        return Expectation(**asked, style=ListStyle.CUSTOM, marker=scope.strip_label)
    if scope.item_format.startswith("{index}"):
        punct = re.escape(scope.item_format[len("{index}")])
        return Expectation(**asked, style=ListStyle.NUMBERED, marker=rf"\s*\d{{1,3}}{punct}\s+")
    if scope.item_format.startswith("- "):
        return Expectation(**asked, style=ListStyle.BULLETED, marker=_BULLET)
    return Expectation(**asked, separator=scope.separator)


def check(answer: str, expected: Expectation) -> Adherence:
    """Run every check that applies to ``expected`` on ``answer``."""
    items, numbers, marked = split_items(answer, expected)
    checks: list[Check] = []
    if expected.count is not None:
        checks.append(Check(name="count", passed=len(items) == expected.count,
                            detail=f"{len(items)} items, {expected.count} requested"))
    if numbers is not None or expected.labels:
        checks.append(_order(items, numbers, expected))
    if expected.style is not ListStyle.LINES:
        checks.append(Check(name="format", passed=marked and bool(items),
                            detail=f"items marked as {expected.style.value}" if marked else
                            f"some items are not marked as {expected.style.value}"))
    if expected.ratings:
        bad = [k for k, item in enumerate(items, 1) if len(_RATING.findall(item)) != 1]
        checks.append(Check(name="one_rating_per_item", passed=not bad and bool(items), detail=_which(bad, "rating")))
    if expected.sources:
        bad = [k for k, (item, src) in enumerate(zip(items, expected.sources), 1)
               if not item.strip() or item.strip().lower() == src.strip().lower()]
        checks.append(Check(name="one_translation_per_item", passed=not bad and bool(items),
                            detail=_which(bad, "translation")))
    if expected.json_answer:
        checks.append(_json(answer))
    return Adherence(checks=checks)


def split_items(answer: str, expected: Expectation) -> tuple[list[str], list[int] | None, bool]:
    """(item texts, their numbers if numbered, whether every item carried the expected marker)."""
    text = answer.strip()
    match expected.style:
        case ListStyle.NUMBERED | ListStyle.CUSTOM | ListStyle.BULLETED:
            return _marked(text, expected.marker, numbered=expected.style is not ListStyle.BULLETED)
        case ListStyle.LABELLED:
            lines = [line for line in text.splitlines() if line.strip()]
            return lines, None, all(":" in line for line in lines)
    parts = [p.strip() for p in text.split(expected.separator)] if text else []
    return [p for p in parts if p], None, True


def _marked(text: str, marker: str, *, numbered: bool) -> tuple[list[str], list[int] | None, bool]:
    starts = list(re.finditer(rf"(?m)^(?:{marker})", text))
    if not starts:
        return ([text] if text else []), ([] if numbered else None), False
    items = [text[m.end():(starts[i + 1].start() if i + 1 < len(starts) else len(text))].strip()
             for i, m in enumerate(starts)]
    numbers = [int(n.group(0)) for m in starts if (n := re.search(r"\d+", m.group(0)))] if numbered else None
    intro = text[:starts[0].start()].strip()
    return items, numbers, not intro or intro.endswith(":")


def _order(items: list[str], numbers: list[int] | None, expected: Expectation) -> Check:
    if expected.labels:
        found = [line.split(":", 1)[0].strip().lower() for line in items]
        wanted = [label.strip().lower() for label in expected.labels]
        ok = found[:len(wanted)] == wanted
        return Check(name="order", passed=ok, detail="labels in the order asked" if ok else f"labels {found}")
    ok = numbers == list(range(1, len(numbers or []) + 1)) and bool(numbers)
    return Check(name="order", passed=ok, detail="numbered 1..n" if ok else f"numbers {numbers}")


def _json(answer: str) -> Check:
    fenced = _FENCE.search(answer)
    body = fenced.group(1) if fenced else answer
    try:
        json.loads(body)
    except ValueError as exc:
        return Check(name="json", passed=False, detail=f"not JSON: {exc.args[0][:60]}")
    return Check(name="json", passed=True, detail="parses as JSON")


def _which(bad: list[int], what: str) -> str:
    return f"one {what} per item" if not bad else f"items {bad} lack exactly one {what}"
