"""Lists mode: forked decoding for models that write no tags, driven by list structure.

Policy (the paper's dataset heuristic, applied while decoding): the main
answer streams plainly. Once an item's header is out (``1. Eye strain:``),
the interpreter ends that stream, forks the item's elaboration (the answer
before the list, then this item's header alone: shown every header before it,
a model imitates the bare skeleton and writes one-line elaborations; the fork
is cut where its text starts the next item or a new paragraph) and asks the main stream for the next header by
writing the next marker itself (``\\n2.``). The list ends at the first item
whose fork ended with a new paragraph or the end of the answer; later
speculated items are dropped. The main stream then resumes after the joined
list (and ends at once if the answer is over). A plain answer without lists
is one request.

Budget: the main stream and every fork draw from one
:class:`~graphs.pasta.budget.TokenBudget` of ``max_tokens`` (the sequential
answer's cap), so the forked answer writes about as much as the sequential
one. A header request reserves ``header_max_tokens``; each fork reserves its
:func:`~graphs.pasta.budget.fork_share` (at most ``fork_max_tokens``) and its
prompt tells it that length (:func:`~graphs.pasta.budget.length_hint`).
Unused reservations return to the budget when a stream ends. A stream the
interpreter cuts is aborted in the engine, which may compute a step or two
more for it before the abort lands; those tokens are discarded unseen and
not charged (the integration test bounds them by the engine's own count).

State lives in the run (:class:`orchestrator.pasta_state.AnswerRun`: stream records and
the fork counter) and in :class:`_Lists` (main-segment counter, the budget). Forks of one list run in one ``TaskGroup``; a fork whose
request fails leaves its item without elaboration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field

from actors.engine import GenerateRequest, RequestError
from graphs.params import SamplingParams
from graphs.pasta import strip_tags
from graphs.pasta.budget import TokenBudget, fork_share, length_hint
from graphs.pasta.lists import Header, ItemEnd, elaboration_end, first_header, next_marker
from orchestrator.pasta_state import AnswerRun, PastaConfig, StreamRecord, Written


@dataclass(frozen=True, slots=True)
class _Streamed:
    """What one stream kept, and why it ended."""

    text: str
    tokens: int
    header: Header | None = None
    end: ItemEnd = ItemEnd.END


@dataclass(slots=True)
class _Lists:
    """State of one lists-mode answer beside the run: main segments so far, and the shared budget."""

    budget: TokenBudget
    main: int = 0
    unsettled: dict[int, int] = field(default_factory=dict)  # fork index -> tokens reserved before its task ran


@contextmanager
def _settled(state: _Lists, record: StreamRecord, granted: int) -> Iterator[None]:
    """The stream ``record`` was granted ``granted`` tokens; what it did not generate returns on exit."""
    try:
        yield
    finally:
        state.budget.settle(granted, min(granted, record.tokens))


async def decode_lists(run: AnswerRun) -> Written:
    """The main thread in lists mode."""
    plain: list[str] = []
    annotated: list[str] = []
    counter = _Lists(TokenBudget(run.config.max_tokens))
    while counter.budget.free > 0:
        streamed = await _until_header(run, counter, "".join(plain), "", counter.budget.free)
        if streamed.header is None:
            plain.append(strip_tags(streamed.text))
            annotated.append(plain[-1])
            break
        before = strip_tags(streamed.text[: streamed.header.line_start])
        plain.append(before)
        annotated.append(before)
        item = streamed.text[streamed.header.line_start :]
        written = await _list(run, counter, "".join(plain), item, streamed.header)
        plain.append(written.plain)
        annotated.append(written.annotated)
        # Even when the last fork ended the answer, the main stream decides: a fork sees less than it does.
    return Written("".join(plain), "".join(annotated))


def _request(run: AnswerRun, name: str, prefix: str, max_tokens: int, hint: str = "") -> GenerateRequest:
    return GenerateRequest(
        request_id=f"{run.id}/{name}",
        prompt=f"{run.prompt}\n\n{hint}" if hint else run.prompt,
        system=run.system,
        assistant_prefix=prefix,
        params=SamplingParams(max_tokens=max_tokens, temperature=run.config.temperature),
        affinity_key=run.id,
    )


async def _until_header(run: AnswerRun, counter: _Lists, prefix: str, lead: str, max_tokens: int) -> _Streamed:
    """Stream the main answer until an item header is out; ``lead`` is text the interpreter wrote (a marker).

    With a lead, only a header on the lead's own line counts: the next item of the list being written.
    """
    granted = counter.budget.reserve(max_tokens)
    if granted == 0:
        return _Streamed("", 0)
    counter.main += 1
    record = StreamRecord(name=f"main-{counter.main}", role="main", start_s=run.now())
    run.streams.append(record)
    with _settled(counter, record, granted):
        return await _stream_main(run, record, prefix, lead, granted)


async def _stream_main(run: AnswerRun, record: StreamRecord, prefix: str, lead: str, max_tokens: int) -> _Streamed:
    """The main stream's request, cut once an item header is out (see :func:`_until_header`)."""
    text = ""
    try:
        async with aclosing(run.engine.generate(_request(run, record.name, prefix + lead, max_tokens))) as stream:
            async for chunk in stream:
                text += strip_tags(chunk.text)
                record.tokens += chunk.tokens
                record.replica = chunk.replica or record.replica
                record.finish_reason = chunk.finish_reason or record.finish_reason
                header = first_header(lead + text, 1 if lead else 0)
                if lead and "\n" in text and (header is None or header.line_start != 1):
                    break  # the line after the marker is not an item header: stop speculating
                if header is not None and (not lead or header.line_start == 1):
                    record.finish_reason = "interpreter: header"
                    record.discarded_tokens = int(chunk.tokens * _tail_share(lead + text, header.header_end, chunk.text))
                    cut = header.header_end - len(lead)
                    return _Streamed(text[:cut], record.tokens, _shift(header, -len(lead)))
    finally:
        record.end_s = run.now()
    if lead:
        record.discarded_tokens = record.tokens
        return _Streamed("", record.tokens)
    return _Streamed(text, record.tokens)


def _tail_share(text: str, cut: int, last_chunk: str) -> float:
    """Share of the last chunk that lies after the cut (those tokens are not part of the answer)."""
    if not last_chunk:
        return 0.0
    return min(1.0, max(0, len(text) - cut) / len(last_chunk))


def _shift(header: Header, by: int) -> Header:
    return Header(header.line_start + by, header.header_end + by, header.indent, header.marker)


async def _list(run: AnswerRun, counter: _Lists, prefix: str, first_item: str, header: Header) -> Written:
    """Fork every item of the list that starts with ``first_item``; returns the joined list."""
    lines = [first_item]
    config = run.config
    async with asyncio.TaskGroup() as group:
        view = prefix + first_item
        _share(counter, config, 0)
        forks = [group.create_task(_elaborate(run, counter, view, header.indent, 0))]
        marker = header.marker
        while len(lines) < config.max_list_items and counter.budget.free > 0 and not _ended(forks):
            lead = "\n" + header.indent + next_marker(marker)
            streamed = await _until_header(run, counter, view, lead, config.header_max_tokens)
            if streamed.header is None:
                break
            lines.append(lead[1:] + streamed.text)
            view += "\n" + lines[-1]
            _share(counter, config, len(forks))
            forks.append(group.create_task(_elaborate(run, counter, prefix + lines[-1], header.indent, len(forks))))
            marker = streamed.header.marker
        results = await _keep_until_end(forks)
    for granted in counter.unsettled.values():  # forks cancelled before they ran
        counter.budget.settle(granted, 0)
    counter.unsettled.clear()
    return _join(lines, results)


def _share(counter: _Lists, config: PastaConfig, index: int) -> None:
    """Reserve the ``index``-th fork's tokens now, before its task runs, so the next header cannot take them."""
    share = fork_share(counter.budget.free, index, expected_items=config.expected_list_items, cap=config.fork_max_tokens)
    counter.unsettled[index] = counter.budget.reserve(share)


def _ended(forks: list[asyncio.Task[_Streamed]]) -> bool:
    """Whether some finished fork already shows the list ends at or before it."""
    return any(task.done() and task.result().end is not ItemEnd.NEXT_ITEM for task in forks)


async def _keep_until_end(forks: list[asyncio.Task[_Streamed]]) -> list[_Streamed]:
    """Results in item order up to the first item that ends the list; later forks are cancelled."""
    kept: list[_Streamed] = []
    for index, task in enumerate(forks):
        kept.append(await task)
        if kept[-1].end is not ItemEnd.NEXT_ITEM:
            for later in forks[index + 1 :]:
                later.cancel()
            break
    return kept


def _join(lines: list[str], results: list[_Streamed]) -> Written:
    """The list as the reader sees it and annotated; tags the model wrote as text never survive."""
    plain, annotated = [], ["<scope>"]
    for index, result in enumerate(results):
        line = strip_tags(lines[index] if index == 0 else "\n" + lines[index])
        text = strip_tags(result.text)
        plain.append(line + text)
        body = f"<promise/><async>{text}</async>" if text else ""
        annotated.append(line + body)
    annotated.append("</scope>")
    return Written("".join(plain), "".join(annotated))


async def _elaborate(run: AnswerRun, counter: _Lists, prefix: str, indent: str, index: int) -> _Streamed:
    """The ``index``-th fork in its span (its engine request is a child of it), within the share reserved for it.

    With no budget left the item stays without elaboration and no request is made.
    """
    granted = counter.unsettled.pop(index)
    if granted == 0:
        return _Streamed("", 0, end=ItemEnd.NEXT_ITEM)
    run.forks += 1
    record = StreamRecord(name=f"fork-{run.forks}", role="fork", start_s=run.now())
    run.streams.append(record)
    with run.tracer.start_as_current_span(f"pasta.fork {record.name}"), _settled(counter, record, granted):
        return await _elaborate_item(run, record, prefix, indent, granted)


async def _elaborate_item(run: AnswerRun, record: StreamRecord, prefix: str, indent: str, tokens: int) -> _Streamed:
    """One fork: the item's elaboration, cut where the next item or paragraph begins."""
    text = ""
    try:
        request = _request(run, record.name, prefix, tokens, length_hint(tokens))
        async with aclosing(run.engine.generate(request)) as stream:
            async for chunk in stream:
                text += strip_tags(chunk.text)
                record.tokens += chunk.tokens
                record.replica = chunk.replica or record.replica
                record.finish_reason = chunk.finish_reason or record.finish_reason
                found = elaboration_end(text, indent)
                if found is not None:
                    record.finish_reason = f"interpreter: {found[1]}"
                    record.discarded_tokens = int(chunk.tokens * _tail_share(text, found[0], chunk.text))
                    return _Streamed(text[: found[0]], record.tokens, end=found[1])
    except RequestError as exc:
        run.fell_back = run.fell_back or f"{record.name} failed: {exc}"
        return _Streamed("", record.tokens, end=ItemEnd.NEXT_ITEM)
    finally:
        record.end_s = run.now()
    end = ItemEnd.NEXT_ITEM if record.finish_reason == "length" else ItemEnd.END
    return _Streamed(text.rstrip(), record.tokens, end=end)
