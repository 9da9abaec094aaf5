"""Training records for PASTA-LANG fine-tuning, in the serving model's own tokens.

Role: :func:`build_record` turns a prompt's token ids and an annotated
response into what supervised fine-tuning reads (section 2 of the paper):

- ``input_ids``: the prompt (chat template applied by the caller), then the
  canonical annotated response, then the end-of-answer token(s). Tags are
  written as ordinary text, so a tag is several tokens of the model's own
  vocabulary and the tuned model needs no new embeddings.
- ``attend``: per token, the ranges ``[start, end)`` of tokens it may attend
  to: the prompt, its synchronous prefix, and itself (the earlier tokens of
  its own tag included). Tags the model or the interpreter wrote stay in the
  prefix while their scope is open, as they do in the interpreter's view; a
  joined scope is plain text to what follows it.
- ``position_ids``: per token, the length of what it attends to, itself
  excluded (prompt plus synchronous prefix).
- ``loss_mask``: False on the prompt and on ``<async>``, the text the
  interpreter inserts; True on everything the model writes.
- ``targets``: per position, the token predicted there (-100: none). A token
  is predicted from the last token of its own view (a fork's first token
  from its ``<async>``, the main text after a promise from that promise),
  not from the token before it in the packed sequence; when that position
  already predicts another token (the text after ``</scope>`` and the last
  fork's ``</async>`` share one), the token before it in sequence is used.

Pure: the tokenizer is a callable passed in. Invariants: every record's
lists have one entry per token; ``targets`` holds each learned token at most
once; attention never reaches a later token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from graphs.pasta.lexer import Tag, TagKind, TextRun, lex
from graphs.pasta.render import render
from graphs.pasta.training import Piece, _sync_prefixes
from graphs.pasta.tree import parse

IGNORE = -100
"""The target of a position that predicts nothing (PyTorch's cross-entropy ignore index)."""

Encode = Callable[[str], list[int]]
"""Text to token ids, without special tokens."""


class TrainingRecord(BaseModel):
    """One annotated response as fine-tuning inputs, one entry per token in every list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_ids: tuple[int, ...] = Field(description="Prompt tokens, then the annotated response's tokens.")
    prompt_tokens: int = Field(ge=0, description="How many of input_ids are the prompt.")
    attend: tuple[tuple[tuple[int, int], ...], ...] = Field(
        description="Per token, the [start, end) ranges of tokens it attends to (itself included)."
    )
    position_ids: tuple[int, ...] = Field(description="Per token, how many tokens it attends to besides itself.")
    loss_mask: tuple[bool, ...] = Field(description="Per token, whether the model learns to write it.")
    targets: tuple[int, ...] = Field(description="Per position, the token id predicted there, or -100.")
    dropped: int = Field(0, ge=0, description="Learned tokens left without a target (no free position).")


def _pieces(annotated: str, encode: Encode) -> list[tuple[Piece, list[int]]]:
    """Each tag as one piece of its tokens; each content token as a piece of its own."""
    out: list[tuple[Piece, list[int]]] = []
    for item in lex(render(parse(annotated))):
        match item:
            case Tag(kind=kind):
                out.append((Piece(text=kind.value, tag=kind), encode(kind.value)))
            case TextRun(text=text):
                out.extend((Piece(text=str(token)), [token]) for token in encode(text))
    return out


def _ranges(indices: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Sorted token indices as maximal [start, end) runs."""
    runs: list[list[int]] = []
    for index in sorted(indices):
        if runs and runs[-1][1] == index:
            runs[-1][1] += 1
        else:
            runs.append([index, index + 1])
    return tuple((start, end) for start, end in runs)


def build_record(
    prompt_ids: Sequence[int], annotated: str, encode: Encode, end_ids: Sequence[int] = ()
) -> TrainingRecord:
    """The record of one response; ``end_ids`` (end of turn / sequence) close the main answer and are learned."""
    pieces = _pieces(annotated, encode)
    pieces += [(Piece(text=str(token)), [token]) for token in end_ids]
    prefixes = _sync_prefixes([piece for piece, _ in pieces], keep_tags=True)
    start = len(prompt_ids)
    offsets = []
    for _, ids in pieces:
        offsets.append(start)
        start += len(ids)
    input_ids, attend, positions, loss = list(prompt_ids), [], [], []
    prompt = list(range(len(prompt_ids)))
    attend += [_ranges(prompt[: i + 1]) for i in prompt]
    positions += prompt
    loss += [False] * len(prompt_ids)
    for (piece, ids), offset, prefix in zip(pieces, offsets, prefixes, strict=True):
        seen = prompt + [offsets[q] + k for q in prefix for k in range(len(pieces[q][1]))]
        for k, token in enumerate(ids):
            input_ids.append(token)
            attend.append(_ranges([*seen, *range(offset, offset + k + 1)]))
            positions.append(len(seen) + k)
            loss.append(piece.tag is not TagKind.ASYNC_OPEN)
    targets, dropped = _targets(input_ids, attend, loss)
    return TrainingRecord(
        input_ids=tuple(input_ids), prompt_tokens=len(prompt_ids), attend=tuple(attend),
        position_ids=tuple(positions), loss_mask=tuple(loss), targets=tuple(targets), dropped=dropped,
    )


def _targets(input_ids: list[int], attend: list[tuple[tuple[int, int], ...]], loss: list[bool]) -> tuple[list[int], int]:
    """Where each learned token is predicted: the last token of its view, else the token before it."""
    targets, dropped = [IGNORE] * len(input_ids), 0
    for i, learned in enumerate(loss):
        if not learned or i == 0:
            continue
        last_seen = max((min(end, i) - 1 for start, end in attend[i] if start < min(end, i)), default=None)
        for position in (last_seen, i - 1):
            if position is not None and targets[position] == IGNORE:
                targets[position] = input_ids[i]
                break
        else:
            dropped += 1
    return targets, dropped


def attention_matrix(record: TrainingRecord) -> list[list[bool]]:
    """``matrix[i][j]``: token i may attend to token j (what a 4D attention mask is built from)."""
    n = len(record.input_ids)
    matrix = [[False] * n for _ in range(n)]
    for i, ranges in enumerate(record.attend):
        for start, end in ranges:
            for j in range(start, end):
                matrix[i][j] = True
    return matrix
