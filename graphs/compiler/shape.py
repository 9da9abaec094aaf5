"""The answer's requested shape: the prompt's own item format, and constraints stated once for all items.

A prompt may show how each item must look: its own numbering ("1)",
"Idea 1:", "[Plan 1]:") and sometimes a labelled second line per item,
as an example block for item 1 followed by the same block for item 2::

    [Plan 1]:
    [Plan 1 content]

    [Plan 2]:
    [Plan 2 content]

:func:`detect_format` finds such a block (two consecutive blocks equal but
for the index) and turns it into the join's ``item_format``: the index
becomes ``{index}`` and the placeholder (``[...]``, ``{...}``, ``<...>``,
``...``) becomes ``{output}``, so branches write only the body and the join
writes each label. :func:`shared_constraints` finds the sentences that
constrain every item (a length limit, a tone, "one sentence each") so
every branch gets them even when the extracted template left them out.
Pure functions of text.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from graphs.compiler.schema import Schema

_INDEX = re.compile(r"(?<![\d.])1(?![\d.]\d)")
_PLACEHOLDER = re.compile(r"\[[^\[\]\n]*\]|\{[^{}\n]*\}|<[^<>\n]*>|\.\.\.|…")
MAX_BLOCK_LINES = 4


class ItemFormat(BaseModel):
    """How the join writes each item, as the prompt showed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_format: str = Field(description="Join template per item: the prompt's label with {index}, the body as {output}.")
    separator: str = Field(description="Between items, as in the prompt's example.")
    label: str = Field(description="Regex of the label an item starts with (a branch that copies it has it dropped).")
    evidence: str = Field(description="The example block of the prompt it was read from.")


def detect_format(prompt: str) -> ItemFormat | None:
    """The item format a prompt shows for items 1 and 2, or None when it shows none."""
    lines = prompt.splitlines()
    for start, line in enumerate(lines):
        if not _INDEX.search(line):
            continue
        for size in range(1, MAX_BLOCK_LINES + 1):
            found = _block_at(lines, start, size)
            if found is not None:
                return found
    return None


def _block_at(lines: list[str], start: int, size: int) -> ItemFormat | None:
    block = lines[start:start + size]
    if len(block) < size or not block[0].strip():
        return None
    gap = 0
    while start + size + gap < len(lines) and not lines[start + size + gap].strip():
        gap += 1
    second = lines[start + size + gap:start + size + gap + size]
    if [_index_free(x, "2") for x in second] != [_index_free(x, "1") for x in block]:
        return None
    if not any(_PLACEHOLDER.search(x) for x in block) and size > 1:
        return None
    item_format = _item_format(block)
    if item_format is None:
        return None
    return ItemFormat(item_format=item_format, separator="\n" * (gap + 1), label=_label_regex(block),
                      evidence="\n".join(block + [""] * gap + second))


def _index_free(line: str, index: str) -> str | None:
    """The line with its index replaced by a mark; None if the index is not in it."""
    pattern = re.compile(rf"(?<![\d.]){index}(?![\d.]\d)")
    return pattern.sub("\0", line.strip(), count=0) if pattern.search(line) else None


def _body_line(block: list[str]) -> int | None:
    """The line holding the body: the last with a placeholder (after the label line when there are several)."""
    first = 1 if len(block) > 1 else 0
    return next((i for i in range(len(block) - 1, first - 1, -1) if _PLACEHOLDER.search(block[i])), None)


def _item_format(block: list[str]) -> str | None:
    """{index} for the index, {output} for the body placeholder (or after a one-line 'Label 1:').

    None when the block has a second body (``Q1: <question>`` over ``A1: <answer>``): a branch writes one.
    """
    body = _body_line(block)
    others = [i for i, line in enumerate(block) if i != body and _has_body(line, label=i == 0 and len(block) > 1)]
    if others:
        return None
    out = []
    for i, line in enumerate(block):
        text = line.strip()
        if i == body:
            last = list(_PLACEHOLDER.finditer(text))[-1]
            text = _escape(text[:last.start()]) + "\0" + _escape(text[last.end():])
        else:
            text = _escape(text)
        out.append(_INDEX.sub("{index}", text, count=1).replace("\0", "{output}"))
    if body is not None:
        return "\n".join(out)
    head, sep, _ = out[0].partition(":")
    if len(block) > 1 or not sep or "{index}" not in head:
        return None
    return head + ": {output}"


def _has_body(line: str, *, label: bool) -> bool:
    """True when the line holds a placeholder other than a label such as '[Plan 1]'."""
    return any(not (label and _INDEX.search(m.group(0))) for m in _PLACEHOLDER.finditer(line))


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _label_regex(block: list[str]) -> str:
    """The item's label (the first line, or the text before a one-line body) as a regex, any number for the index."""
    head = block[0].strip()
    if len(block) == 1:
        spans = list(_PLACEHOLDER.finditer(head))
        head = head[:spans[-1].start()] if spans else head[:head.find(":") + 1]
    parts = [re.escape(p) for p in _INDEX.split(head.rstrip(), maxsplit=1)]
    return r"\s*" + r"\d+".join(parts) + r"\s*"


_CONSTRAINT = re.compile(
    r"\b(?:no\s+more\s+than|at\s+most|under|less\s+than|fewer\s+than|within|maximum|max\.?|not\s+exceed|limit(?:ed)?\s+to)"
    r"\s+\d+\s*(?:words?|characters?|chars?|sentences?|lines?)\b"
    r"|\b(?:one|a\s+single|two|three|\d+)\s+(?:short\s+)?(?:sentences?|lines?|paragraphs?|words?)\s+(?:each|per|for\s+each|apiece)\b"
    r"|\beach\s+(?:\w+\s+){0,3}(?:should|must|needs?\s+to|has\s+to|is\s+to)\b"
    r"|\b(?:tone|register|style)\b[^.\n]{0,40}\b(?:should|must|be)\b|\b(?:formal|informal|friendly|conversational|"
    r"professional|humorous|polite)\s+(?:tone|style|register)\b"
    r"|\b(?:do\s+not|don'?t|never|avoid)\s+(?:use|include|add|explain|mention|write)\b",
    re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def shared_constraints(prompt: str, schema: Schema) -> tuple[str, ...]:
    """Sentences of the prompt that constrain every item and that a branch's text does not already carry.

    A sentence holding an item, the passage, or the item count ("give 10
    commands") is not passed on: it is about the set, not about one item.
    """
    template = schema.template
    found: list[str] = []
    for match in _SENTENCE.finditer(prompt):
        sentence = re.sub(r"^\s*(?:\d{1,2}[.)]|[-*•])\s*", "", match.group(0)).strip()
        if not sentence or not _CONSTRAINT.search(sentence) or sentence in template or _about_the_set(sentence, schema):
            continue
        if sentence not in found:
            found.append(sentence)
    return tuple(found)


def _about_the_set(sentence: str, schema: Schema) -> bool:
    if any(item and item in sentence for item in (*(schema.data or ()), schema.context)):
        return True
    if schema.data and any(sentence in item for item in schema.data):
        return True
    count = schema.n or schema.stated_count
    return count is not None and count > 1 and re.search(rf"(?<!\d){count}(?!\d)", sentence) is not None
