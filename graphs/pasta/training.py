"""Training data for PASTA-LANG: the list heuristic, the training inputs and the two filters.

Role (the paper's section 5, pure parts):

- :func:`annotate_lists` turns a plain response into annotated text: each
  list becomes a scope and each item's elaboration (what follows its header,
  e.g. ``1. Eye Strain:``) a fork, written ``<promise/><async>...</async>``.
- :func:`training_inputs` builds what fine-tuning needs for one tokenized
  annotated response: each token attends only to its synchronous prefix (and
  itself), its position id is the length of that prefix, and ``<async>``
  (inserted by the interpreter, never written by the model) has no loss.
  Tags are single tokens here (added special tokens).
- :func:`next_token_agreement` (predictions changed on < 20% of tokens) and
  :func:`predicted_latency` (at least 20% lower) are the two filters; the
  next-token predictor and the token counter are pluggable.

Invariant: ``remove_pasta(annotate_lists(r)) == r`` for every response the
heuristic annotates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from graphs.pasta.lexer import Tag, TagKind, TextRun, lex
from graphs.pasta.lists import ITEM as _ITEM
from graphs.pasta.lists import header_end, is_fence
from graphs.pasta.render import render
from graphs.pasta.tree import Document, Fork, Node, Scope, Text, parse

_WORD = re.compile(r"\s*\S+|\s+$")


# -- the list heuristic ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """One list item: character offsets of its header end and of its whole extent."""

    start: int
    header_end: int
    end: int


def _lines(text: str) -> list[tuple[int, str]]:
    offsets, pos = [], 0
    for line in text.split("\n"):
        offsets.append((pos, line))
        pos += len(line) + 1
    return offsets


def _item(offset: int, line: str, match: re.Match[str]) -> _Item:
    end = header_end(match.group("rest"))
    rest_at = offset + match.start("rest")
    return _Item(offset, rest_at + end if end is not None else offset + len(line), offset + len(line))


def _items(text: str) -> list[list[_Item]]:
    """Maximal runs of items sharing one indentation: the lists of ``text``.

    A blank line or a line indented deeper than the items (a continuation or
    a nested list) stays inside the current item.
    """
    lists: list[list[_Item]] = []
    current: list[_Item] = []
    indent = ""
    in_code = False
    for offset, line in _lines(text):
        in_code ^= is_fence(line)
        match = None if in_code or is_fence(line) else _ITEM.match(line)
        if match and (not current or match.group("indent") == indent):
            indent = match.group("indent")
            current.append(_item(offset, line, match))
        elif current and not line.strip():
            continue
        elif current and line[: len(indent) + 1].isspace():
            last = current[-1]
            current[-1] = _Item(last.start, last.header_end, offset + len(line))
        else:
            lists.append(current)
            current = [_item(offset, line, match)] if match else []
            indent = match.group("indent") if match else ""
    lists.append(current)
    return [_trim(text, items) for items in lists if len(items) >= 2]


def _trim(text: str, items: list[_Item]) -> list[_Item]:
    """Items end at their last non-blank character, so trailing newlines stay outside."""
    return [_Item(i.start, i.header_end, i.start + len(text[i.start : i.end].rstrip())) for i in items]


def annotate_lists(response: str) -> str | None:
    """The response with each list as a scope and each item's elaboration as a fork; None if no list.

    A list is two or more items (``1.``, ``2)``, ``-``, ``*``, ``\u2022``) at one
    indentation; an item's header ends at its first colon, its bold title, or
    its first sentence. Items whose elaboration is empty stay synchronous.
    """
    out: list[str] = []
    pos = 0
    forks = 0
    for items in _items(response):
        out.append(response[pos : items[0].start] + "<scope>")
        for item in items:
            body = response[item.header_end : item.end]
            out.append(response[item.start : item.header_end])
            if body.strip():
                out.append(f"<promise/><async>{body}</async>")
                forks += 1
            else:
                out.append(body)
            tail = items[items.index(item) + 1].start if item is not items[-1] else item.end
            out.append(response[item.end : tail])
        out.append("</scope>")
        pos = items[-1].end
    if forks < 2:
        return None
    out.append(response[pos:])
    return "".join(out)


# -- training inputs ------------------------------------------------------


class Piece(BaseModel):
    """One token of an annotated response: its text, and its tag when it is one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(description="The token's text.")
    tag: TagKind | None = Field(None, description="Which PASTA-LANG tag this token is, or None for content.")


class TrainingInputs(BaseModel):
    """Attention mask, position ids and loss mask for one annotated response."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sync_prefix: tuple[tuple[int, ...], ...] = Field(description="Per token, the indices of its synchronous prefix.")
    attention: tuple[tuple[bool, ...], ...] = Field(description="attention[i][j]: token i may attend to token j.")
    position_ids: tuple[int, ...] = Field(description="Per token, the length of its synchronous prefix.")
    loss_mask: tuple[bool, ...] = Field(description="False where no loss is taken (the <async> tag).")


def word_tokens(text: str) -> list[str]:
    """A stand-in tokenizer: words with their leading whitespace (what the scripted engine streams)."""
    return _WORD.findall(text)


def pieces(annotated: str | Document, tokenize: Callable[[str], list[str]] = word_tokens) -> list[Piece]:
    """Tokenize the canonical form of an annotated response; each tag is one token."""
    canonical = render(parse(annotated) if isinstance(annotated, str) else annotated)
    out: list[Piece] = []
    for item in lex(canonical):
        match item:
            case Tag(kind=kind):
                out.append(Piece(text=kind.value, tag=kind))
            case TextRun(text=text):
                out.extend(Piece(text=token) for token in tokenize(text))
    return out


def _sync_prefixes(tokens: Sequence[Piece], keep_tags: bool) -> list[tuple[int, ...]]:
    """S(t_i) per token by section 2's four cases, over canonical (inline) forks."""
    prefixes: list[tuple[int, ...]] = []
    current: tuple[int, ...] = ()
    open_: list[tuple[TagKind, tuple[int, ...], int]] = []
    for i, token in enumerate(tokens):
        prefixes.append(current)
        match token.tag:
            case None:
                current = (*current, i)
            case TagKind.SCOPE_OPEN | TagKind.ASYNC_OPEN:
                open_.append((token.tag, current, i))
                current = (*current, i) if keep_tags else current
            case TagKind.PROMISE:
                current = (*current, i) if keep_tags else current
            case TagKind.ASYNC_CLOSE:
                current = _pop(open_, TagKind.ASYNC_OPEN, i)[0]
            case TagKind.SCOPE_CLOSE | TagKind.SYNC:
                saved, start = _pop(open_, TagKind.SCOPE_OPEN, i)
                current = (*saved, *(j for j in range(start + 1, i) if tokens[j].tag is None))
    if open_:
        raise ValueError(f"token {open_[-1][2]} opens a tag that is never closed")
    return prefixes


def _pop(open_: list[tuple[TagKind, tuple[int, ...], int]], kind: TagKind, at: int) -> tuple[tuple[int, ...], int]:
    if not open_ or open_[-1][0] is not kind:
        raise ValueError(f"token {at} closes a tag that is not open")
    _, saved, start = open_.pop()
    return saved, start


def training_inputs(tokens: Sequence[Piece], *, keep_tags: bool = False) -> TrainingInputs:
    """The paper's training inputs; ``keep_tags`` lets tags the model saw stay in the prefix."""
    prefixes = _sync_prefixes(tokens, keep_tags)
    visible = [set(prefix) | {i} for i, prefix in enumerate(prefixes)]
    n = len(tokens)
    return TrainingInputs(
        sync_prefix=tuple(prefixes),
        attention=tuple(tuple(j in visible[i] for j in range(n)) for i in range(n)),
        position_ids=tuple(len(prefix) for prefix in prefixes),
        loss_mask=tuple(token.tag is not TagKind.ASYNC_OPEN for token in tokens),
    )


# -- filters --------------------------------------------------------------

Predictor = Callable[[Sequence[str]], list[str]]
"""Given assistant-text contexts, the model's greedy next token after each (batched)."""


class Agreement(BaseModel):
    """How often next-token predictions change when tokens see only their synchronous prefix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: int = Field(ge=0, description="Content tokens compared.")
    changed: int = Field(ge=0, description="Tokens whose prediction differs.")

    @property
    def changed_ratio(self) -> float:
        return self.changed / self.tokens if self.tokens else 0.0


def _contexts(tokens: Sequence[Piece]) -> list[tuple[int, str, str]]:
    """(token index, full plain prefix, synchronous prefix) for every content token."""
    prefixes = _sync_prefixes(tokens, keep_tags=False)
    content = [i for i, token in enumerate(tokens) if token.tag is None]
    out, plain = [], ""
    for i in content:
        out.append((i, plain, "".join(tokens[j].text for j in prefixes[i])))
        plain += tokens[i].text
    return out


def contexts_to_predict(tokens: Sequence[Piece]) -> list[str]:
    """The distinct contexts whose next token must be predicted: only where the two prefixes differ."""
    pairs = [(plain, sync) for _, plain, sync in _contexts(tokens) if plain != sync]
    return list(dict.fromkeys(context for pair in pairs for context in pair))


def agreement_from(tokens: Sequence[Piece], predictions: Mapping[str, str]) -> Agreement:
    """Count changed predictions given the predicted next token of each context."""
    contexts = _contexts(tokens)
    changed = sum(predictions[plain] != predictions[sync] for _, plain, sync in contexts if plain != sync)
    return Agreement(tokens=len(contexts), changed=changed)


def next_token_agreement(tokens: Sequence[Piece], predict: Predictor) -> Agreement:
    """Compare predictions from the full plain prefix and from the synchronous prefix, per content token.

    Only tokens whose two contexts differ are sent to ``predict`` (the others
    agree by construction); identical contexts are asked once.
    """
    contexts = contexts_to_predict(tokens)
    predictions = dict(zip(contexts, predict(contexts), strict=True)) if contexts else {}
    return agreement_from(tokens, predictions)


class LatencyModel(BaseModel):
    """A simple decoding-latency model: a cost per token, and a cost to start a request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_token_s: float = Field(0.02, gt=0, description="Seconds per decoded token of one stream.")
    per_request_s: float = Field(0.05, ge=0, description="Seconds to start a fork or resume after a join.")
    tag_tokens: int = Field(1, ge=0, description="Tokens each tag the model writes costs.")


def _simulate(nodes: tuple[Node, ...], start: float, model: LatencyModel, count: Callable[[str], int]) -> float:
    """When a stream writing ``nodes`` from time ``start`` ends (including its joins)."""
    now, tag = start, model.tag_tokens * model.per_token_s
    for node in nodes:
        match node:
            case Text(text=text):
                now += count(text) * model.per_token_s
            case Fork():
                now += tag
            case Scope(children=children):
                inner_end = _simulate(children, now + tag, model, count) + tag
                forks = [
                    _simulate(child.body or (), child_start, model, count) + tag
                    for child, child_start in _fork_starts(children, now + tag, model, count)
                ]
                now = max([inner_end, *forks]) + (model.per_request_s if forks else 0.0)
    return now


def _fork_starts(
    children: tuple[Node, ...], start: float, model: LatencyModel, count: Callable[[str], int]
) -> list[tuple[Fork, float]]:
    """Each fork of a scope and the time its request starts (right after its promise, plus overhead)."""
    starts, now, tag = [], start, model.tag_tokens * model.per_token_s
    for child in children:
        match child:
            case Text(text=text):
                now += count(text) * model.per_token_s
            case Fork() as fork:
                now += tag
                starts.append((fork, now + model.per_request_s))
            case Scope():
                now = _simulate((child,), now, model, count)
    return starts


def predicted_latency(
    document: Document, model: LatencyModel, count: Callable[[str], int] = lambda s: len(word_tokens(s))
) -> tuple[float, float]:
    """(sequential seconds, PASTA seconds) for decoding this response under ``model``."""
    from graphs.pasta.render import joined

    sequential = count(joined(document.children)) * model.per_token_s
    return sequential, _simulate(document.children, 0.0, model, count)


def is_faster(document: Document, model: LatencyModel, *, at_least: float = 0.2) -> bool:
    """The paper's latency filter: PASTA's predicted latency is at least ``at_least`` lower."""
    sequential, pasta = predicted_latency(document, model)
    return pasta <= (1.0 - at_least) * sequential
