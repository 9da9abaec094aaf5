"""Reading PASTA-LANG tags out of a token stream as it arrives.

Role: :class:`TagScanner` takes streamed text pieces in order and emits
plain text and complete tags. Text that may still grow into a tag (``<pro``)
is held back until it does or cannot; everything else is emitted at once, so
a tag-free stream is passed through with no delay beyond a trailing ``<``.

Invariants: the concatenation of emitted text and tag sources equals the fed
text once :meth:`TagScanner.flush` has run; a tag-shaped string the lexer
rejects (``<promise>``) comes out as a ``MALFORMED`` event, never as an
exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from graphs.pasta.lexer import TAG_PATTERN, PastaSyntaxError, Tag, read_tag

_TAG_STARTS = tuple(f"<{slash}{name}" for name in ("scope", "async", "promise", "sync") for slash in ("", "/"))
_LONGEST_TAG = 512


class EventKind(StrEnum):
    """What a scanner event carries."""

    TEXT = "text"
    TAG = "tag"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """Text, a tag, or a malformed tag (its source in ``text``)."""

    kind: EventKind
    text: str
    tag: Tag | None = None


def _may_become_tag(held: str) -> bool:
    if any(start.startswith(held) for start in _TAG_STARTS):
        return True
    for start in _TAG_STARTS:
        if held.startswith(start) and len(held) < _LONGEST_TAG:
            rest = held[len(start) :]
            return rest == "" or rest[0] in " \t\n/"
    return False


class TagScanner:
    """Incremental tag reader for one stream."""

    def __init__(self) -> None:
        self._held = ""

    @property
    def holding(self) -> bool:
        """Whether text that may still become a tag is held back."""
        return bool(self._held)

    def feed(self, text: str) -> list[StreamEvent]:
        """Events completed by this piece of text."""
        buffer, events, pos = self._held + text, [], 0
        for match in TAG_PATTERN.finditer(buffer):
            if match.start() > pos:
                events.append(StreamEvent(EventKind.TEXT, buffer[pos : match.start()]))
            events.append(_event(match.group(0)))
            pos = match.end()
        rest = buffer[pos:]
        cut = rest.rfind("<")
        if cut >= 0 and _may_become_tag(rest[cut:]):
            rest, self._held = rest[:cut], rest[cut:]
        else:
            self._held = ""
        if rest:
            events.append(StreamEvent(EventKind.TEXT, rest))
        return events

    def flush(self) -> list[StreamEvent]:
        """At the end of the stream, whatever is held is plain text."""
        held, self._held = self._held, ""
        return [StreamEvent(EventKind.TEXT, held)] if held else []


def _event(source: str) -> StreamEvent:
    try:
        return StreamEvent(EventKind.TAG, source, read_tag(source))
    except PastaSyntaxError:
        return StreamEvent(EventKind.MALFORMED, source)
