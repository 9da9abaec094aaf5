"""Finding list structure in plain text, also while it streams.

Role: the shared rules of the list heuristic (training data) and the
interpreter's lists mode. An item line is an indentation, a marker (``1.``,
``2)``, ``-``, ``*``, ``\u2022``) and text; its header ends at its first colon,
its bold title, or its first sentence, or else at the end of the line. What
follows the header, up to the next item at the same indentation or a new
paragraph, is the item's elaboration.

Invariant: every function here decides only from complete evidence, so
calling it again on a longer prefix of the same stream never revises an
earlier answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ITEM = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>\d{1,3}[.)]|[-*\u2022])[ \t]+(?P<rest>\S.*)$")
HEADER_END = re.compile(r"^(?:\*\*[^*\n]{1,80}\*\*:?|[^:\n]{1,80}:)(?=\s*\S)|^[^\n]{8,160}?[.!?](?=\s+\S)")
_MARKER_AT_LINE_START = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>\d{1,3}[.)]|[-*\u2022])[ \t]")


@dataclass(frozen=True, slots=True)
class Header:
    """An item whose header is out: where its line starts and its header ends in the text."""

    line_start: int
    header_end: int
    indent: str
    marker: str


def header_end(rest: str) -> int | None:
    """Length of the header within an item's text after the marker, once it is certain."""
    match = HEADER_END.match(rest)
    return match.end() if match else None


def is_fence(line: str) -> bool:
    """A line opening or closing a fenced code block: list markers inside one are code, not items."""
    return line.lstrip().startswith("```")


def first_header(text: str, start: int = 0) -> Header | None:
    """The first item line at or after ``start``, outside code blocks, whose header is complete."""
    pos, in_code = start, False
    while pos <= len(text):
        newline = text.find("\n", pos)
        line = text[pos:] if newline < 0 else text[pos:newline]
        in_code ^= is_fence(line) and newline >= 0
        match = None if in_code or is_fence(line) else ITEM.match(line)
        if match:
            end = header_end(match.group("rest"))
            if end is not None:
                return Header(pos, pos + match.start("rest") + end, match.group("indent"), match.group("marker"))
            if newline >= 0:
                return Header(pos, newline, match.group("indent"), match.group("marker"))
        if newline < 0:
            return None
        pos = newline + 1
    return None


def next_marker(marker: str) -> str:
    """The marker of the following item: ``3.`` -> ``4.``, ``-`` -> ``-``."""
    if marker[:-1].isdigit():
        return f"{int(marker[:-1]) + 1}{marker[-1]}"
    return marker


class ItemEnd(StrEnum):
    """How an elaboration ended."""

    NEXT_ITEM = "next-item"  # another item of the same list follows
    PARAGRAPH = "paragraph"  # the list is over; other text follows
    END = "end"  # the answer ended


def elaboration_end(text: str, indent: str) -> tuple[int, ItemEnd] | None:
    """Where the elaboration starting ``text`` ends, once a later line shows it.

    A line at ``indent`` starting with a marker ends it (NEXT_ITEM); a blank
    line followed by a non-item line indented no deeper than ``indent`` ends
    it (PARAGRAPH). The cut is at the newline before that evidence.
    """
    pos = text.find("\n")
    blank_from: int | None = None
    while pos >= 0:
        nxt = text.find("\n", pos + 1)
        line = text[pos + 1 :] if nxt < 0 else text[pos + 1 : nxt]
        complete = nxt >= 0
        if not line.strip():
            if not complete:
                return None
            blank_from = pos if blank_from is None else blank_from
        else:
            marker = _MARKER_AT_LINE_START.match(line)
            if marker and marker.group("indent") == indent:
                return (blank_from if blank_from is not None else pos), ItemEnd.NEXT_ITEM
            if blank_from is not None and len(line) - len(line.lstrip()) <= len(indent):
                settled = complete or (len(line.strip()) > 4 and line.strip()[0] not in "0123456789-*\u2022")
                if marker is None and settled:
                    return blank_from, ItemEnd.PARAGRAPH
            blank_from = None
        pos = nxt
    return None
