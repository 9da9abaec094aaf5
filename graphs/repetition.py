"""A generation that repeats itself: the tail of the text is one unit, written over and over.

Small models decoding greedily fall into loops ("2048 tokens of one sentence"):
the serial answer and branches alike. The runtime stops a node whose text
ends in such a loop, so a loop costs a few repeats, not the token cap. Pure:
no engine, no I/O.

A tail counts as a loop when its last ``span`` characters have period ``p``
(``8 <= p <= 200``), where ``span`` is at least three periods and at least
240 characters: a sentence written four times, not a table rule or a short
refrain.
"""

from __future__ import annotations

MIN_PERIOD = 8
MAX_PERIOD = 200
MIN_SPAN = 240
REPEATS = 3


def loop_period(text: str) -> int | None:
    """The period of the loop ``text`` ends in, or None when its tail is not one."""
    for period in range(MIN_PERIOD, MAX_PERIOD + 1):
        span = max(REPEATS * period, MIN_SPAN)
        if len(text) < span:
            return None
        tail = text[-span:]
        if tail[period:] == tail[:-period] and tail[:period].strip():
            return period
    return None


class LoopGuard:
    """Fed a stream's text piece by piece; says when the text has fallen into a loop."""

    def __init__(self) -> None:
        self._tail = ""

    def feed(self, text: str) -> bool:
        """Add ``text``; True once the text so far ends in a loop."""
        self._tail = (self._tail + text)[-(REPEATS * MAX_PERIOD + MIN_SPAN):]
        return loop_period(self._tail) is not None
