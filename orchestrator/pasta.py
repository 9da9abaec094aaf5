"""The PASTA-LANG interpreter: forked decoding of one answer on an engine.

State: one :class:`_Run` per request (its records and fork counter) and one
:class:`_Thread` per decoding thread (the main answer, or one fork). A thread
holds the pieces it has written: its own text, open-scope marks, pending
forks (:class:`_Slot`) and joined scopes (:class:`_Written`).

Policy (the paper's Algorithm 1 on a streaming engine):

- The main generation streams. Each ``<promise/>`` it writes starts a fork
  at once, in the thread's ``TaskGroup``: the fork continues the answer from
  the text so far plus ``<async>`` and stops at ``</async>``; the main
  stream goes on without waiting. Forks may open scopes and fork again,
  within ``max_fork_depth`` and ``max_forks`` per answer: a small model
  copying the ``<promise/>`` it sees in its prefix would otherwise fork
  without end (seen on the real replica: a thousand forks for three promises).
- ``</scope>`` (or ``<sync/>``) is a stop string, so the engine ends the
  stream exactly there and names the string (``Chunk.stop_reason``): a
  barrier. The interpreter waits for the scope's forks, replaces the scope
  by its joined text without tags (section 2, case 4) and resumes decoding
  from that prefix. A close tag with no open scope is stray: in the main
  thread it is dropped from the answer (kept in the model's view, so
  decoding goes on past it), at most ``MAX_STRAY_CLOSES`` times; in a fork
  it closes the scope the fork lives in, so the fork ends as at ``</async>``.
- A stream the model ended itself (end of sequence) or that ran out of
  tokens ends its thread: open scopes are joined with no further request.
- ``<async>``/``</async>`` written by the main stream is malformed: the
  interpreter joins what is pending and finishes the answer sequentially,
  with every tag stripped. A tag-shaped string the language rejects is
  dropped. Nothing the model writes fails the request.
- An answer without tags is one plain stream with the same stop strings:
  it costs what plain decoding costs.

Every request of one answer shares an ``affinity_key`` so forks land on the
replica that holds the prefix. The whole answer is bounded by
``timeout_s``; cancelling it closes every stream, which aborts the requests.
The final annotated text converts to a task graph: the run's trace.

With a :class:`~orchestrator.tracing.Telemetry`, the answer is a
``pasta.answer`` span, each thread a ``pasta.main``/``pasta.fork`` span
under the thread that forked it, and each engine request's span (from the
replica) a child of the thread that made it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import aclosing
from dataclasses import dataclass, field
from enum import StrEnum

from opentelemetry import trace
from opentelemetry.trace import Tracer
from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Chunk, Engine, EngineDeadError, GenerateRequest, RequestError
from graphs.params import SamplingParams
from graphs.pasta import TagKind, parse, strip_tags
from graphs.pasta.convert import to_graph
from graphs.pasta.prompts import PASTA_SYSTEM_PROMPT
from graphs.pasta.stream import EventKind, StreamEvent, TagScanner
from orchestrator.errors import NodeFailed, RunAborted
from orchestrator.tracing import Telemetry, TracedEngine

MAIN_STOPS = ("</scope>", "<sync/>")
FORK_STOPS = ("</async>", "</scope>", "<sync/>")
MAX_STRAY_CLOSES = 4
"""Stray close tags one thread may drop and decode past; a model that keeps writing them is ended."""


class PastaMode(StrEnum):
    """Where the parallel structure comes from."""

    TAGS = "tags"  # the model writes PASTA-LANG tags (fine-tuned, or prompted)
    LISTS = "lists"  # the model writes plain lists; each item's elaboration is forked


class PastaConfig(BaseModel):
    """How one answer is decoded with PASTA-LANG."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: PastaMode = Field(PastaMode.TAGS, description="Read tags, or fork list items of a plain answer.")
    prompted: bool = Field(
        True, description="Tags mode: send the PASTA-LANG system prompt (for models not fine-tuned on it)."
    )
    max_list_items: int = Field(16, ge=1, description="Lists mode: most items forked in one list.")
    expected_list_items: int = Field(
        5, ge=1, description="Lists mode: items a list is assumed to have when the budget is shared among forks."
    )
    header_max_tokens: int = Field(48, ge=1, description="Lists mode: tokens a request for the next item's header may use.")
    max_forks: int = Field(32, ge=0, description="Most forks one answer may start; later promises are dropped.")
    max_fork_depth: int = Field(
        2, ge=1, description="Forks may fork again down to this depth (main is 0); deeper promises are dropped."
    )
    system: str | None = Field(None, description="System prompt to use instead of the built-in one.")
    max_tokens: int = Field(
        512, ge=1,
        description="Token budget of the main thread, across its segments; in lists mode, of the whole answer "
        "(main stream and forks together, as the sequential answer's cap).",
    )
    fork_max_tokens: int = Field(256, ge=1, description="Token budget of each fork (in lists mode, its largest share).")
    temperature: float = Field(0.0, ge=0.0, description="Sampling temperature; 0 is greedy.")
    timeout_s: float = Field(300.0, gt=0, description="Bound on the whole answer, forks and joins included.")


class StreamRecord(BaseModel):
    """One engine request made while decoding an answer."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="'main-N' for main segments, 'fork-N[-M]' for fork segments.")
    role: str = Field(description="'main' or 'fork'.")
    start_s: float = Field(description="Seconds since the answer started when the request was sent.")
    end_s: float | None = Field(None, description="Seconds since the answer started when the stream closed.")
    tokens: int = Field(0, ge=0, description="Tokens generated.")
    tag_tokens: int = Field(0, ge=0, description="Of those, tokens spent writing tags.")
    discarded_tokens: int = Field(0, ge=0, description="Of those, tokens cut off and not part of the answer.")
    finish_reason: str | None = Field(None, description="Engine's finish reason, or why the interpreter ended it.")
    stop_reason: str | None = Field(None, description="The stop string that ended the stream, if one did.")
    replica: str | None = Field(None, description="Replica that served it.")


class PastaResult(BaseModel):
    """The answer, how it was decoded, and its trace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(description="The answer without tags, fork contents in place.")
    annotated: str = Field(description="The answer in canonical PASTA-LANG (what a fine-tuned model would write).")
    forks: int = Field(ge=0, description="Forks started.")
    fell_back: str | None = Field(None, description="Why decoding fell back to sequential text, if it did.")
    malformed_tags: int = Field(
        0, ge=0, description="Tags dropped: invalid ones, and promises beyond the fork limits or outside a fork's scope."
    )
    tokens: int = Field(ge=0, description="Tokens generated by every stream.")
    content_tokens: int = Field(ge=0, description="Tokens generated, tags excluded.")
    wall_s: float = Field(ge=0, description="Seconds from start to the finished answer.")
    streams: list[StreamRecord] = Field(description="Every engine request, in start order.")
    graph: dict = Field(description="The trace as a task graph spec (forkjoin graph show reads it).")

    @property
    def used_parallelism(self) -> bool:
        return self.forks > 0


@dataclass(frozen=True, slots=True)
class _Written:
    """Finished text in two views: as the model reads it after the join, and annotated."""

    plain: str
    annotated: str


@dataclass(slots=True)
class _Slot:
    """A pending fork: the main stream wrote ``<promise/>`` here."""

    name: str
    task: asyncio.Task[_Written]


@dataclass(frozen=True, slots=True)
class _Mark:
    """Where an open scope starts; implicit when a promise came with no ``<scope>`` (later dialect)."""

    implicit: bool


@dataclass(frozen=True, slots=True)
class _Stray:
    """A close tag that closed nothing: the model read it, the answer drops it."""

    tag: str


_Piece = str | _Written | _Slot | _Mark | _Stray


class _Verdict(StrEnum):
    """Why the interpreter stopped reading a stream before the engine ended it."""

    BARRIER = "barrier"
    MALFORMED = "malformed"


class _Step(StrEnum):
    """What a thread does after one of its streams ended."""

    JOIN = "join"  # a barrier: join the innermost scope, then decode on
    RESUME = "resume"  # a stray close tag was dropped: decode on
    FALL_BACK = "fall back"  # malformed: finish as plain sequential text
    END = "end"  # the thread is over (open scopes are still joined)


@dataclass(slots=True)
class _Run:
    """State of one answer."""

    engine: Engine
    config: PastaConfig
    prompt: str
    system: str | None
    id: str
    started: float
    streams: list[StreamRecord] = field(default_factory=list)
    forks: int = 0
    malformed: int = 0
    fell_back: str | None = None
    tracer: Tracer = field(default_factory=trace.NoOpTracer)

    def now(self) -> float:
        return time.perf_counter() - self.started


@dataclass(slots=True)
class _Thread:
    """One decoding thread: the main answer or a fork."""

    run: _Run
    name: str
    role: str
    base: str
    stops: tuple[str, ...]
    group: asyncio.TaskGroup
    depth: int
    pieces: list[_Piece] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)
    segments: int = 0
    strays: int = 0

    def view(self) -> str:
        """The text the model reads next: tags of open scopes kept, joined scopes plain."""
        out = [self.base]
        for piece in self.pieces:
            match piece:
                case str():
                    out.append(piece)
                case _Written(plain=plain):
                    out.append(plain)
                case _Slot():
                    out.append("<promise/>")
                case _Mark(implicit=implicit):
                    out.append("" if implicit else "<scope>")
                case _Stray(tag=tag):
                    out.append(tag)
        return "".join(out)

    def write(self, text: str) -> None:
        if self.pieces and isinstance(self.pieces[-1], str):
            self.pieces[-1] += text
        else:
            self.pieces.append(text)

    def written(self) -> _Written:
        assert not self.marks, "every scope is joined before a thread ends"
        parts = [p if isinstance(p, _Written) else _Written(p, p) for p in self.pieces if isinstance(p, str | _Written)]
        return _Written("".join(p.plain for p in parts), "".join(p.annotated for p in parts))


class Interpreter:
    """Decodes answers with PASTA-LANG forks on one engine."""

    def __init__(
        self, engine: Engine, config: PastaConfig | None = None, *, telemetry: Telemetry | None = None
    ) -> None:
        self.engine = engine if telemetry is None else TracedEngine(engine, telemetry)
        self.config = config or PastaConfig()
        self.tracer = telemetry.tracer if telemetry is not None else trace.NoOpTracer()

    async def answer(self, prompt: str, *, request_id: str | None = None) -> PastaResult:
        """Decode one answer.

        Raises RunAborted if the engine died or the answer timed out, and
        NodeFailed if the main stream's request failed (a failed fork only
        leaves its promise empty).
        """
        prompted = self.config.prompted and self.config.mode is PastaMode.TAGS
        system = self.config.system or (PASTA_SYSTEM_PROMPT if prompted else None)
        run = _Run(self.engine, self.config, prompt, system, request_id or uuid.uuid4().hex[:12], time.perf_counter())
        run.tracer = self.tracer
        try:
            mode = {"forkjoin.pasta.mode": self.config.mode.value}
            with self.tracer.start_as_current_span("pasta.answer", attributes=mode) as span:
                async with asyncio.timeout(self.config.timeout_s):
                    written = await self._decode(run)
                span.set_attributes({"forkjoin.pasta.forks": run.forks, "forkjoin.pasta.malformed_tags": run.malformed})
        except TimeoutError as exc:
            raise RunAborted(f"PASTA answer timed out after {self.config.timeout_s:g} s") from exc
        except BaseExceptionGroup as group:
            dead, failed = group.subgroup(EngineDeadError), group.subgroup(RequestError)
            if dead is not None:
                raise RunAborted(f"engine failed: {_first(dead)}") from _first(dead)
            if failed is not None:
                raise NodeFailed(f"{run.id}/main", str(_first(failed))) from _first(failed)
            raise
        return _result(run, written)

    async def _decode(self, run: _Run) -> _Written:
        match self.config.mode:
            case PastaMode.TAGS:
                return await _decode(run, "main", "", MAIN_STOPS, self.config.max_tokens, depth=0)
            case PastaMode.LISTS:
                from orchestrator.pasta_lists import decode_lists  # it builds on this module's types

                return await decode_lists(run)


def _first(group: BaseExceptionGroup) -> BaseException:
    """The first leaf exception of a (possibly nested) group."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def _result(run: _Run, written: _Written) -> PastaResult:
    graph = to_graph(parse(written.annotated), question=run.prompt, system=run.system)
    tokens = sum(s.tokens for s in run.streams)
    return PastaResult(
        text=written.plain,
        annotated=written.annotated,
        forks=run.forks,
        fell_back=run.fell_back,
        malformed_tags=run.malformed,
        tokens=tokens,
        content_tokens=tokens - sum(s.tag_tokens + s.discarded_tokens for s in run.streams),
        wall_s=run.now(),
        streams=sorted(run.streams, key=lambda s: s.start_s),
        graph=graph.spec().model_dump(mode="json"),
    )


async def _decode(run: _Run, name: str, base: str, stops: tuple[str, ...], budget: int, *, depth: int) -> _Written:
    """Run one thread in its span: the forks it starts, and its engine requests, are children of it."""
    role = "main" if depth == 0 else "fork"
    with run.tracer.start_as_current_span(f"pasta.{role} {name}", attributes={"forkjoin.pasta.depth": depth}):
        return await _thread(run, name, base, stops, budget, depth=depth)


async def _thread(run: _Run, name: str, base: str, stops: tuple[str, ...], budget: int, *, depth: int) -> _Written:
    """Run one thread to its end: segments separated by joins, then a final join of open scopes."""
    async with asyncio.TaskGroup() as group:
        thread = _Thread(run, name, "main" if depth == 0 else "fork", base, stops, group, depth)
        remaining = budget
        step = _Step.RESUME
        while remaining > 0 and step is not _Step.END:
            verdict, record = await _segment(thread, remaining)
            remaining -= record.tokens
            step = _next_step(thread, verdict, record.stop_reason)
            match step:
                case _Step.JOIN:
                    await _join(thread)
                case _Step.FALL_BACK:
                    await _fall_back(thread, remaining)
                    step = _Step.END
        while thread.marks:
            await _join(thread)
    return thread.written()


def _next_step(thread: _Thread, verdict: _Verdict | None, stop_reason: str | None) -> _Step:
    """What follows a stream: the interpreter's verdict if it cut the stream, else the engine's stop string."""
    match verdict:
        case _Verdict.MALFORMED:
            return _Step.FALL_BACK
        case _Verdict.BARRIER:
            return _Step.JOIN if thread.marks else _Step.END
    match stop_reason:
        case "</scope>" | "<sync/>" if thread.marks:
            return _Step.JOIN
        case "</scope>" | "<sync/>" if thread.role == "main":
            return _drop_stray(thread, stop_reason)
    return _Step.END  # end of sequence, out of tokens, </async>, or a fork closing its parent's scope


def _drop_stray(thread: _Thread, tag: str) -> _Step:
    """A close tag that closes nothing: keep it in the model's view, drop it from the answer, decode on."""
    thread.run.malformed += 1
    thread.strays += 1
    if thread.strays > MAX_STRAY_CLOSES:
        return _Step.END
    thread.pieces.append(_Stray(tag))
    return _Step.RESUME


async def _segment(thread: _Thread, max_tokens: int) -> tuple[_Verdict | None, StreamRecord]:
    """Stream one request from the thread's current text, acting on tags as they arrive."""
    thread.segments += 1
    run = thread.run
    record = StreamRecord(name=f"{thread.name}-{thread.segments}", role=thread.role, start_s=run.now())
    run.streams.append(record)
    scanner = TagScanner()
    try:
        async with aclosing(run.engine.generate(_request(thread, record.name, max_tokens, thread.stops))) as stream:
            async for chunk in stream:
                events = scanner.feed(chunk.text)
                _account(record, chunk, events, scanner)
                verdict = _apply_all(thread, events)
                if verdict is not None:
                    record.finish_reason = f"interpreter: {verdict}"
                    return verdict, record
        return _apply_all(thread, scanner.flush()), record
    finally:
        record.end_s = run.now()


def _request(thread: _Thread, request_name: str, max_tokens: int, stops: tuple[str, ...]) -> GenerateRequest:
    run = thread.run
    return GenerateRequest(
        request_id=f"{run.id}/{request_name}",
        prompt=run.prompt,
        system=run.system,
        assistant_prefix=thread.view(),
        params=SamplingParams(max_tokens=max_tokens, temperature=run.config.temperature, stop=stops),
        affinity_key=run.id,
    )


def _account(record: StreamRecord, chunk: Chunk, events: list[StreamEvent], scanner: TagScanner) -> None:
    """Count tokens; a chunk that wrote only (part of) a tag, or only a stop string, counts as tag tokens."""
    record.tokens += chunk.tokens
    record.replica = chunk.replica or record.replica
    record.finish_reason = chunk.finish_reason or record.finish_reason
    record.stop_reason = chunk.stop_reason or record.stop_reason
    wrote_text = any(e.kind is EventKind.TEXT and e.text.strip() for e in events)
    in_tag = scanner.holding or any(e.kind is not EventKind.TEXT for e in events) or not chunk.text
    if chunk.tokens and in_tag and not wrote_text:
        record.tag_tokens += chunk.tokens


def _apply_all(thread: _Thread, events: list[StreamEvent]) -> _Verdict | None:
    for event in events:
        verdict = _apply(thread, event)
        if verdict is not None:
            return verdict
    return None


def _apply(thread: _Thread, event: StreamEvent) -> _Verdict | None:
    """Act on one event of the stream; a verdict ends the stream."""
    match event.kind:
        case EventKind.TEXT:
            thread.write(event.text)
            return None
        case EventKind.MALFORMED:
            thread.run.malformed += 1
            return None
    assert event.tag is not None
    match event.tag.kind:
        case TagKind.SCOPE_OPEN:
            thread.marks.append(len(thread.pieces))
            thread.pieces.append(_Mark(implicit=False))
        case TagKind.PROMISE if _may_fork(thread):
            _fork(thread, event.tag.tokens)
        case TagKind.PROMISE:
            thread.run.malformed += 1  # beyond the limits: a model copying promises must not fork without end
        case TagKind.SCOPE_CLOSE | TagKind.SYNC if thread.marks:
            return _Verdict.BARRIER  # the engine did not stop on it: end the stream here
        case TagKind.SCOPE_CLOSE | TagKind.SYNC:
            thread.run.malformed += 1  # closes nothing: dropped
        case TagKind.ASYNC_CLOSE if thread.role == "fork" and not thread.marks:
            return _Verdict.BARRIER
        case TagKind.ASYNC_OPEN | TagKind.ASYNC_CLOSE:
            _note_fallback(thread.run, f"{thread.name}: the model wrote {event.text} itself")
            return _Verdict.MALFORMED
    return None


def _note_fallback(run: _Run, reason: str) -> None:
    run.fell_back = run.fell_back or reason


def _may_fork(thread: _Thread) -> bool:
    """Within the answer's fork budget and depth; a fork forks only inside a scope it opened itself."""
    config = thread.run.config
    inside = thread.depth == 0 or bool(thread.marks)
    return inside and thread.run.forks < config.max_forks and thread.depth < config.max_fork_depth


def _fork(thread: _Thread, tokens: int | None) -> None:
    """Start the fork for a promise just written; open an implicit scope if none is open."""
    run = thread.run
    if not thread.marks:
        thread.marks.append(len(thread.pieces))
        thread.pieces.append(_Mark(implicit=True))
    run.forks += 1
    name = f"fork-{run.forks}"
    prefix = thread.view() + "<promise/><async>"
    budget = min(run.config.fork_max_tokens, 2 * tokens) if tokens else run.config.fork_max_tokens
    fork = _run_fork(run, name, prefix, budget, thread.depth + 1)
    task = thread.group.create_task(fork, name=f"{run.id}/{name}")
    thread.pieces.append(_Slot(name, task))


async def _run_fork(run: _Run, name: str, prefix: str, budget: int, depth: int) -> _Written:
    """A fork's text; a failed request leaves its promise empty rather than failing the answer."""
    try:
        return await _decode(run, name, prefix, FORK_STOPS, budget, depth=depth)
    except* RequestError as group:
        _note_fallback(run, f"{name} failed: {group.exceptions[0]}")
    return _Written("", "")


async def _join(thread: _Thread) -> None:
    """The barrier: wait for the innermost scope's forks, then replace it by its joined text."""
    start = thread.marks.pop()
    region = thread.pieces[start + 1 :]
    slots = [piece for piece in region if isinstance(piece, _Slot)]
    results = {slot.name: await slot.task for slot in slots}
    plain, annotated = [], ["<scope>"]
    for piece in region:
        match piece:
            case str():
                plain.append(piece)
                annotated.append(piece)
            case _Written():
                plain.append(piece.plain)
                annotated.append(piece.annotated)
            case _Slot(name=name):
                plain.append(results[name].plain)
                annotated.append(f"<promise/><async>{results[name].annotated}</async>")
    annotated.append("</scope>")
    del thread.pieces[start:]
    thread.pieces.append(_Written("".join(plain), "".join(annotated if slots else annotated[1:-1])))


async def _fall_back(thread: _Thread, remaining: int) -> None:
    """Malformed output: join what is pending, then finish the thread as plain sequential text."""
    while thread.marks:
        await _join(thread)
    if remaining <= 0:
        return
    thread.segments += 1
    run = thread.run
    record = StreamRecord(name=f"{thread.name}-{thread.segments}", role=thread.role, start_s=run.now())
    run.streams.append(record)
    stops = ("</async>",) if thread.role == "fork" else ()
    parts: list[str] = []
    try:
        async with aclosing(run.engine.generate(_request(thread, record.name, remaining, stops))) as stream:
            async for chunk in stream:
                record.tokens += chunk.tokens
                record.finish_reason = chunk.finish_reason or record.finish_reason
                parts.append(chunk.text)
    finally:
        record.end_s = run.now()
    thread.write(strip_tags("".join(parts)))
