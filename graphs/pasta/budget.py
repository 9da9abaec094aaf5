"""One token budget shared by every stream of a forked answer (lists mode).

Role: lists mode writes about as much as the sequential answer does, because
the main stream and every fork draw from one budget equal to the sequential
answer's cap. A stream reserves its ``max_tokens`` before its request starts
and gives back what it did not use when it ends, so streams running at the
same time can never overdraw the budget together.

Policy (:func:`fork_share`): the ``index``-th fork of a list gets an equal
share of what is free among the items still expected (``expected_items``,
at least two, so a list longer than expected leaves room for its later
items) plus one more share for the headers and the text after the list;
never more than ``cap`` tokens.

Invariant: ``spent + reserved <= total`` at every moment, and ``spent`` (the
tokens actually generated) never exceeds ``total``.
"""

from __future__ import annotations

from dataclasses import dataclass

WORDS_PER_TOKEN = 0.75
"""English words per model token, roughly: a fork is told its length in words."""


@dataclass(slots=True)
class TokenBudget:
    """What is left of an answer's token budget: spent, reserved by running streams, and free."""

    total: int
    spent: int = 0
    reserved: int = 0

    @property
    def free(self) -> int:
        return self.total - self.spent - self.reserved

    def reserve(self, tokens: int) -> int:
        """Reserve up to ``tokens`` for one stream; returns what was granted (0 when the budget is gone)."""
        granted = max(0, min(tokens, self.free))
        self.reserved += granted
        return granted

    def settle(self, granted: int, used: int) -> None:
        """A stream that was granted ``granted`` ended having generated ``used``; the rest is free again."""
        assert 0 <= granted <= self.reserved, "settle only what was reserved"
        self.reserved -= granted
        self.spent += used


def fork_share(free: int, index: int, *, expected_items: int, cap: int) -> int:
    """Tokens for the ``index``-th fork of a list (0-based) given the ``free`` budget."""
    items_left = max(2, expected_items - index)
    return max(0, min(cap, free // (items_left + 1)))


def length_hint(tokens: int) -> str:
    """The sentence a fork's prompt carries so that it knows the length it has."""
    words = max(1, int(tokens * WORDS_PER_TOKEN))
    return f"Keep each list item's explanation under {words} words."
