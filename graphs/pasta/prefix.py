"""The synchronous prefix of any position in an annotated response (the paper's section 2).

Role: S(t), the text a token is conditioned on when the response is decoded
asynchronously. Following the four inductive cases:

1. after ordinary text, S grows by that text;
2. after ``<scope>`` or ``<async>``, S is the prefix before the tag (a fork
   starts from its promise's prefix);
3. after ``</async>``, S is the prefix before the matching ``<async>`` (the
   main stream continues without the fork's content);
4. after ``</scope>``, S is the prefix before ``<scope>`` plus every
   non-tag token of the scope, synchronous or not (the join).

With ``keep_tags=False`` (the paper's definition) S holds no tags. With
``keep_tags=True`` it is the text the interpreter actually feeds the model:
the main stream keeps the ``<scope>`` and ``<promise/>`` it wrote, a fork's
prompt ends with ``<promise/><async>``, and a joined scope is tag-free.

Invariant: for a position in the main stream of text with no tags, S is the
whole prefix (plain decoding).
"""

from __future__ import annotations

from dataclasses import dataclass

from graphs.pasta.render import joined
from graphs.pasta.tree import Document, Fork, Node, Scope, Text, parse


@dataclass(frozen=True, slots=True)
class _Run:
    """A run of source text and the synchronous prefix of its first character."""

    start: int
    text: str
    prefix: str


class _Walk:
    """Visits the tree in decoding order and records S at the start of every text run."""

    def __init__(self, keep_tags: bool) -> None:
        self.keep_tags = keep_tags
        self.runs: list[_Run] = []

    def visit(self, nodes: tuple[Node, ...], prefix: str) -> str:
        for node in nodes:
            match node:
                case Text(text=text, start=start):
                    self.runs.append(_Run(start.offset, text, prefix))
                    prefix += text
                case Fork(body=body) as fork:
                    promise = "<promise/>" if self.keep_tags and fork.has_promise else ""
                    if body is not None:
                        self.visit(body, prefix + promise + ("<async>" if self.keep_tags else ""))
                    prefix += promise
                case Scope(children=children):
                    self.visit(children, prefix + ("<scope>" if self.keep_tags else ""))
                    prefix += joined(children)
        return prefix


def sync_prefix(source: str | Document, offset: int, *, keep_tags: bool = False, text: str | None = None) -> str:
    """S of the character at ``offset`` of the annotated text; ``offset == len(text)`` is the end.

    ``source`` is the annotated text, or its parsed :class:`Document` together
    with ``text``. Raises :class:`PastaSyntaxError` for invalid text and
    ``ValueError`` for an offset out of range or inside a tag.
    """
    raw = source if isinstance(source, str) else text
    if raw is None:
        raise ValueError("pass the annotated text along with a parsed Document")
    document = parse(raw) if isinstance(source, str) else source
    if not 0 <= offset <= len(raw):
        raise ValueError(f"offset {offset} is outside the text (length {len(raw)})")
    walk = _Walk(keep_tags)
    end = walk.visit(document.children, "")
    if offset == len(raw):
        return end
    for run in walk.runs:
        if run.start <= offset < run.start + len(run.text):
            return run.prefix + run.text[: offset - run.start]
    raise ValueError(f"offset {offset} is inside a tag, not in text")
