"""Answers that stream in final order: the first branch live, each later one when all before it are done.

A graph's answer is a fixed function of its nodes' outputs: the sinks joined
by blank lines, a scope's members joined by its separator through its item
format, a combine node's template. :func:`layout` unrolls that function once
into a sequence of pieces: literal text, a generate node's output (streamed
as it is written), or a composite node's output that its scope rewrites as a
whole (emitted when that node is done). :class:`OrderedText` reads run events
and returns, after each one, the text that can now be shown: it walks the
pieces in order and stops at the first one still being written, so text is
never shown out of place and what is held back is shown the moment every
piece before it is done.

Invariant: the text returned so far is always a prefix of the final answer;
when every node finishes, it is the whole answer (``RunResult.answer``). A
scope that strips list markers (``strip_markers``) cleans each member's
output; a member streams live once the start of its output shows whether it
begins with a marker, and trailing whitespace is held until more text follows.
When a node fails, the text stops before the first piece that needed it.

:class:`AnswerStream` runs a graph and yields that text: the API behind
``Runtime.astream``, for the command line and later for serving and PASTA.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphs import CombineNode, GenerateNode, Graph, ScopeNode
from graphs.template import render

if TYPE_CHECKING:
    from orchestrator.results import RunResult
    from orchestrator.runtime import RunEvent, Runtime

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters marking a placeholder while a template is split
_SLOT = re.compile(_OPEN + "([^" + _CLOSE + "]*)" + _CLOSE)
MARKER_MAX_CHARS = 4
"""Longest list marker a scope strips ('123.'): a marker is one word of at most this many characters."""


@dataclass(frozen=True, slots=True)
class Text:
    """Literal text of the answer (separators, template text)."""

    text: str


@dataclass(frozen=True, slots=True)
class Output:
    """A node's output. ``live``: a generate node, shown as it is written; else shown when the node is done.

    ``scope`` is the scope whose join cleans this output (strip_markers), if any.
    """

    node: str
    live: bool
    scope: ScopeNode | None = None


Piece = Text | Output


def layout(graph: Graph) -> list[Piece]:
    """The answer of ``graph`` as pieces in reading order."""
    pieces: list[Piece] = []
    for index, sink in enumerate(graph.sinks()):
        if index:
            pieces.append(Text("\n\n"))
        pieces.extend(_expand(graph, sink))
    return pieces


def _expand(graph: Graph, name: str, cleaned_by: ScopeNode | None = None) -> list[Piece]:
    spec = graph.node(name)
    if cleaned_by is not None:
        return [Output(name, live=isinstance(spec, GenerateNode), scope=cleaned_by)]
    match spec:
        case GenerateNode():
            return [Output(name, live=True)]
        case ScopeNode():
            return _expand_scope(graph, spec)
        case CombineNode():
            values = {ref: _OPEN + ref + _CLOSE for ref in spec.inputs}
            return _split(graph, spec.template, values, name, None)
    raise AssertionError(f"unknown node {spec!r}")


def _expand_scope(graph: Graph, scope: ScopeNode) -> list[Piece]:
    pieces: list[Piece] = []
    cleaner = scope if scope.strip_markers else None
    for index, member in enumerate(scope.members, start=1):
        if index > 1:
            pieces.append(Text(scope.separator))
        values = {"output": _OPEN + member + _CLOSE, "index": str(index), "name": member}
        pieces.extend(_split(graph, scope.item_format, values, scope.name, cleaner))
    return pieces


def _split(graph: Graph, template: str, values: dict[str, str], owner: str, cleaner: ScopeNode | None) -> list[Piece]:
    """A template's literal text and the outputs it inserts; a template that holds a marker is one piece."""
    if _OPEN in template or _CLOSE in template:
        return [Output(owner, live=False)]
    pieces: list[Piece] = []
    rendered = render(template, values, owner=owner)
    cursor = 0
    for slot in _SLOT.finditer(rendered):
        if slot.start() > cursor:
            pieces.append(Text(rendered[cursor : slot.start()]))
        pieces.extend(_expand(graph, slot.group(1), cleaner))
        cursor = slot.end()
    if cursor < len(rendered):
        pieces.append(Text(rendered[cursor:]))
    return pieces


def _settled(scope: ScopeNode, partial: str) -> str:
    """The part of a member's cleaned output that more text can no longer change."""
    head = partial.lstrip()
    first_word = re.match(r"\S*", head).group(0)  # type: ignore[union-attr]
    decided = len(first_word) > MARKER_MAX_CHARS or re.search(r"\s\S", head) is not None
    if not decided:
        return ""
    return scope._clean(partial)  # the scope's own cleaning, so the settled text is a prefix of its join


class OrderedText:
    """Feeds on run events; returns the answer's text as it may be shown, in final order."""

    def __init__(self, graph: Graph) -> None:
        self._pieces = layout(graph)
        self._at = 0
        self._shown = ""  # what was shown of the current piece
        self._partial: dict[str, str] = {}
        self._outputs: dict[str, str] = {}

    @property
    def done(self) -> bool:
        """Whether the whole answer was shown."""
        return self._at == len(self._pieces)

    def feed(self, event: RunEvent) -> str:
        """Take one event; return the text that became showable (often '')."""
        match event.kind:
            case "token":
                self._partial[event.node] = self._partial.get(event.node, "") + event.text
            case "end" if event.output is not None:
                self._outputs[event.node] = event.output
            case _:
                return ""
        return self._advance()

    def _advance(self) -> str:
        out: list[str] = []
        while self._at < len(self._pieces):
            text, complete = self._view(self._pieces[self._at])
            assert text.startswith(self._shown), "shown text is a prefix of the final text"
            out.append(text[len(self._shown) :])
            if not complete:
                self._shown = text
                break
            self._at, self._shown = self._at + 1, ""
        return "".join(out)

    def _view(self, piece: Piece) -> tuple[str, bool]:
        """The piece's text as far as it is known, and whether it is final."""
        match piece:
            case Text(text=text):
                return text, True
            case Output(node=node, scope=scope) if node in self._outputs:
                final = self._outputs[node]
                return (scope._clean(final) if scope else final), True
            case Output(node=node, live=True, scope=scope):
                partial = self._partial.get(node, "")
                return (_settled(scope, partial) if scope else partial), False
        return "", False


class AnswerStream:
    """One run's answer as an async iterator of text in final order; ``result`` once it has ended.

    Iterate once. Leaving the loop early (``break``, an error, cancellation)
    cancels the run, which aborts its engine requests. A run that aborts
    raises its RunAborted at the end of the iteration, after the text shown.
    """

    def __init__(self, runtime: Runtime, graph: Graph, on_event: Callable[[RunEvent], None] | None = None) -> None:
        self._runtime = runtime
        self._graph = graph
        self._on_event = on_event
        self._result: RunResult | None = None

    @property
    def result(self) -> RunResult:
        """The run's result (after the iteration ended normally)."""
        if self._result is None:
            raise RuntimeError("the answer stream has not finished")
        return self._result

    def __aiter__(self) -> AsyncIterator[str]:
        return self._texts()

    async def _texts(self) -> AsyncIterator[str]:
        self._graph.validate()
        ordered = OrderedText(self._graph)
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def on_event(event: RunEvent) -> None:
            if self._on_event is not None:
                self._on_event(event)
            if text := ordered.feed(event):
                queue.put_nowait(text)

        run = asyncio.create_task(self._runtime.arun(self._graph, on_event=on_event))
        run.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (text := await queue.get()) is not None:
                yield text
            self._result = run.result()
        finally:
            if not run.done():
                run.cancel()
                await asyncio.wait([run])
