"""Lexing PASTA-LANG text into tags and plain text, and the language's error type.

Role: turn a string into a flat sequence of :class:`Tag` tokens and text runs,
each with its offset, line and column. Both dialects are read here: the
original one (``<scope>``, ``</scope>``, ``<promise/>``, ``<async>``,
``</async>``) and the later one (``<sync/>`` closing a scope,
``<promise topic="..." tokens="..."/>`` attributes).

Invariants: tag names are lowercase and match exactly (``<scoped>`` or
``<SCOPE>`` are plain text); a known tag written wrongly (``<promise>``,
``<scope/>``, an unknown attribute) is a :class:`PastaSyntaxError`, never
text; lexing any string raises nothing but :class:`PastaSyntaxError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from graphs.errors import GraphError


class Rule(StrEnum):
    """The rule a malformed text breaks; named in every :class:`PastaSyntaxError`."""

    MALFORMED_TAG = "malformed-tag"
    UNCLOSED_TAG = "unclosed-tag"
    UNMATCHED_CLOSE = "unmatched-close"
    MISMATCHED_CLOSE = "mismatched-close"
    ASYNC_OUTSIDE_SCOPE = "async-outside-scope"
    PROMISE_OUTSIDE_SCOPE = "promise-outside-scope"
    UNPAIRED_ASYNC = "unpaired-async"
    UNPAIRED_PROMISE = "unpaired-promise"


class PastaSyntaxError(GraphError):
    """Annotated text breaks a PASTA-LANG rule. Caused by the text's author (a person or a model).

    Not recoverable by retrying the same text. ``line`` and ``column`` are
    1-based and point at the offending tag; ``rule`` names the rule broken.
    """

    def __init__(self, message: str, *, rule: Rule, line: int, column: int, offset: int) -> None:
        super().__init__(f"line {line}, column {column}: {message} [{rule}]")
        self.reason = message
        self.rule = rule
        self.line = line
        self.column = column
        self.offset = offset


class TagKind(StrEnum):
    """The six tags, in the one internal form both dialects map to."""

    SCOPE_OPEN = "<scope>"
    SCOPE_CLOSE = "</scope>"
    ASYNC_OPEN = "<async>"
    ASYNC_CLOSE = "</async>"
    PROMISE = "<promise/>"
    SYNC = "<sync/>"


@dataclass(frozen=True, slots=True)
class Position:
    """Where something starts in the source: 0-based offset, 1-based line and column."""

    offset: int
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Tag:
    """One tag as written: its kind, source span and attributes (``topic``, ``tokens``)."""

    kind: TagKind
    start: Position
    end: int
    source: str
    topic: str | None = None
    tokens: int | None = None


@dataclass(frozen=True, slots=True)
class TextRun:
    """Plain text between tags."""

    text: str
    start: Position
    end: int


Lexeme = Tag | TextRun

TAG_PATTERN = re.compile(r"<(/?)(scope|async|promise|sync)(\s[^<>]*|/?)>")
_ATTRIBUTE = re.compile(r"\s*([A-Za-z_][\w-]*)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_ALLOWED_ATTRIBUTES = {TagKind.PROMISE: {"topic", "tokens"}, TagKind.ASYNC_OPEN: {"topic"}}


class _Lines:
    """Maps offsets to (line, column) for one source text."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def position(self, offset: int) -> Position:
        lo, hi = 0, len(self._starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return Position(offset, lo + 1, offset - self._starts[lo] + 1)


def _fail(message: str, rule: Rule, at: Position) -> PastaSyntaxError:
    return PastaSyntaxError(message, rule=rule, line=at.line, column=at.column, offset=at.offset)


def _kind(closing: bool, name: str, self_closing: bool, source: str, at: Position) -> TagKind:
    match (name, closing, self_closing):
        case ("scope", False, False):
            return TagKind.SCOPE_OPEN
        case ("scope", True, False):
            return TagKind.SCOPE_CLOSE
        case ("async", False, False):
            return TagKind.ASYNC_OPEN
        case ("async", True, False):
            return TagKind.ASYNC_CLOSE
        case ("promise", False, True):
            return TagKind.PROMISE
        case ("sync", False, True):
            return TagKind.SYNC
        case ("promise" | "sync", _, _):
            raise _fail(f"{source} must be written self-closing, as <{name}/>", Rule.MALFORMED_TAG, at)
        case _:
            raise _fail(f"{source} is not a valid tag: <{name}> cannot be self-closing", Rule.MALFORMED_TAG, at)


def _attributes(kind: TagKind, body: str, source: str, at: Position) -> dict[str, str]:
    attributes: dict[str, str] = {}
    pos = 0
    while pos < len(body.rstrip()):
        match = _ATTRIBUTE.match(body, pos)
        if match is None:
            raise _fail(f"cannot read the attributes of {source}", Rule.MALFORMED_TAG, at)
        name, value = match.group(1), match.group(2) if match.group(2) is not None else match.group(3)
        if name not in _ALLOWED_ATTRIBUTES.get(kind, set()) or name in attributes:
            raise _fail(f"attribute {name!r} is not allowed (or repeated) in {source}", Rule.MALFORMED_TAG, at)
        attributes[name] = value
        pos = match.end()
    return attributes


def _tag(match: re.Match[str], at: Position) -> Tag:
    closing, name, rest = match.group(1) == "/", match.group(2), match.group(3)
    self_closing = rest.rstrip().endswith("/")
    body = rest.rstrip()[:-1] if self_closing else rest
    kind = _kind(closing, name, self_closing, match.group(0), at)
    attributes = _attributes(kind, body, match.group(0), at)
    tokens = attributes.get("tokens")
    if tokens is not None and not tokens.strip().isdigit():
        raise _fail(f"tokens must be a non-negative integer in {match.group(0)}", Rule.MALFORMED_TAG, at)
    return Tag(
        kind=kind,
        start=at,
        end=match.end(),
        source=match.group(0),
        topic=attributes.get("topic"),
        tokens=int(tokens) if tokens is not None else None,
    )


def lex(text: str) -> list[Lexeme]:
    """Split ``text`` into tags and text runs, in order; raises :class:`PastaSyntaxError`."""
    lines = _Lines(text)
    lexemes: list[Lexeme] = []
    pos = 0
    for match in TAG_PATTERN.finditer(text):
        if match.start() > pos:
            lexemes.append(TextRun(text[pos : match.start()], lines.position(pos), match.start()))
        lexemes.append(_tag(match, lines.position(match.start())))
        pos = match.end()
    if pos < len(text):
        lexemes.append(TextRun(text[pos:], lines.position(pos), len(text)))
    return lexemes


def strip_tags(text: str) -> str:
    """Remove every tag-shaped string, valid or not; never raises (for degraded model output)."""
    return TAG_PATTERN.sub("", text)


def read_tag(source: str) -> Tag:
    """Read one tag written as ``source`` (e.g. ``<promise topic="x"/>``); raises :class:`PastaSyntaxError`."""
    match = TAG_PATTERN.fullmatch(source)
    if match is None:
        raise PastaSyntaxError(f"{source!r} is not a PASTA-LANG tag", rule=Rule.MALFORMED_TAG, line=1, column=1, offset=0)
    return _tag(match, Position(0, 1, 1))
