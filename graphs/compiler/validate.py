"""The five validation rules and the tier they give a schema.

Rules (ParallelPrompt's tiered validation):

1. template-placeholder compatibility: ``{data}`` exactly once when there are
   items, never with ``n``; ``{context}`` exactly once iff there is context;
2. data-count consistency: a count the prompt states equals the items found;
3. minimum parallelism: at least 2 subtasks;
4. language-specific constraints: a language the rules cover, items that hold
   words in their script, no stray list markers;
5. mutual exclusivity: exactly one of ``data`` and ``n``.

A failed hard check rejects the schema (compile serially); a soft one lowers
the tier to medium. Every check that fires leaves one reason.
"""

from __future__ import annotations

import re
from collections import Counter
from enum import StrEnum

from graphs.compiler import lang
from graphs.compiler.schema import Schema, Tier


class Severity(StrEnum):
    """How much a failed check costs."""

    HARD = "hard"
    SOFT = "soft"


Finding = tuple[Severity, str]
_WORDLIKE = re.compile(r"[^\W_]", re.UNICODE)
_STRAY_MARKER = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*•])\s")


def check_template(schema: Schema) -> list[Finding]:
    """Rule 1: placeholders agree with data / n / context."""
    out: list[Finding] = []
    t = schema.template
    if schema.data is not None and t.count("{data}") != 1:
        out.append((Severity.HARD, f"template must hold {{data}} exactly once, found {t.count('{data}')}"))
    if schema.n is not None and "{data}" in t:
        out.append((Severity.HARD, "template holds {data} but the schema repeats a generation n times"))
    if schema.context and t.count("{context}") != 1:
        out.append((Severity.HARD, f"context is set but the template holds {{context}} {t.count('{context}')} times"))
    if not schema.context and "{context}" in t:
        out.append((Severity.HARD, "template holds {context} but there is no context"))
    if schema.n is not None and t.count("{n}") > 1:
        out.append((Severity.SOFT, "template repeats {n}; the count is used in several places"))
    if not _WORDLIKE.search(re.sub(r"\{(?:data|context|n)\}", "", t)):
        out.append((Severity.SOFT, "template has no instruction text of its own"))
    return out


def check_count(schema: Schema) -> list[Finding]:
    """Rule 2: the count the text states matches the items; items are distinct."""
    out: list[Finding] = []
    if schema.data is not None and schema.stated_count is not None and schema.stated_count != len(schema.data):
        out.append((Severity.HARD, f"the prompt says {schema.stated_count} items but {len(schema.data)} were found"))
    if schema.data:
        repeats = sum(c - 1 for c in Counter(d.casefold() for d in schema.data).values() if c > 1)
        if repeats:
            out.append((Severity.SOFT, f"{repeats} duplicate item(s)"))
    return out


def check_parallelism(schema: Schema) -> list[Finding]:
    """Rule 3: at least two subtasks."""
    if schema.count < 2:
        return [(Severity.HARD, f"only {schema.count} subtask(s); parallelism needs at least 2")]
    return []


def check_language(schema: Schema) -> list[Finding]:
    """Rule 4: the language is covered and items are well-formed for it."""
    out: list[Finding] = []
    if schema.language not in lang.SUPPORTED:
        out.append((Severity.SOFT, f"language '{schema.language}' has no rule lexicon; extraction is less certain"))
    for item in schema.data or ():
        if not _WORDLIKE.search(item):
            out.append((Severity.HARD, f"item {item!r} holds no words"))
            break
        if _STRAY_MARKER.match(item):
            out.append((Severity.SOFT, f"item {item[:40]!r} still starts with a list marker (nested list?)"))
            break
    if lang.is_cjk(schema.language) and schema.data and any(len(d) > 600 for d in schema.data):
        out.append((Severity.SOFT, "very long items for a CJK prompt; the list may have absorbed a passage"))
    if not lang.is_cjk(schema.language) and schema.data and any(len(d) == 1 for d in schema.data):
        out.append((Severity.SOFT, "one-character items in a language written with words"))
    return out


def check_exclusive(schema: Schema) -> list[Finding]:
    """Rule 5: exactly one of data and n."""
    if schema.data is not None and schema.n is not None:
        return [(Severity.HARD, "both data and n are set; they are mutually exclusive")]
    if schema.data is None and schema.n is None:
        return [(Severity.HARD, "neither data nor n is set")]
    return []


RULES = (check_template, check_count, check_parallelism, check_language, check_exclusive)


# Patterns that infer items rather than read an explicit list or count: never better than medium.
INFERRED_PATTERNS = {
    "questions": "items inferred from several questions in running text",
    "quoted": "items inferred from quoted strings",
    "example-list": "items inferred from examples ('such as ...')",
    "record-keys": "items inferred from the keys of a record",
    "llm": "schema proposed by the model, not by an explicit list or count",
}


def validate(schema: Schema) -> Schema:
    """Run the five rules; return the schema with its tier and reasons."""
    if not schema.parallelizable:
        reasons = schema.reasons or ("not parallelizable",)
        return schema.model_copy(update={"validation_tier": Tier.REJECTED, "reasons": reasons})
    findings = [f for rule in RULES for f in rule(schema)]
    if schema.pattern in INFERRED_PATTERNS:
        findings.append((Severity.SOFT, INFERRED_PATTERNS[schema.pattern]))
    reasons = [*schema.reasons, *(text for _sev, text in findings)]
    hard = any(sev is Severity.HARD for sev, _ in findings)
    soft = bool(schema.reasons) or any(sev is Severity.SOFT for sev, _ in findings)
    tier = Tier.REJECTED if hard else Tier.MEDIUM if soft else Tier.HIGH
    if tier is Tier.HIGH:
        reasons.append(f"{schema.count} independent subtasks found by the {schema.pattern} pattern")
    return schema.model_copy(update={"validation_tier": tier, "reasons": tuple(reasons),
                                     "parallelizable": tier is not Tier.REJECTED})
