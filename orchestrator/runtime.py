"""The scheduler: runs graphs on an engine, every ready node at once.

State: a :class:`~orchestrator.state.RunState` per run. Policy: when a node
ends, its dependents' counters drop and the ready ones start at once in the
run's ``TaskGroup`` (event-driven, no polling). Generate nodes take one of
``max_concurrency`` slots shared by every graph this runtime runs; scope and
combine nodes are free. A failing node fails alone: its dependents are
skipped and independent nodes finish. A dead engine aborts the run with its
partial result. Cancelling a run closes every open engine stream, which
aborts the request inside the engine.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass

from actors.engine import Engine, EngineDeadError, GenerateRequest, RequestError
from graphs import CombineNode, GenerateNode, Graph, GraphError, ScopeNode, render
from graphs.repetition import LoopGuard
from orchestrator.config import RuntimeConfig
from orchestrator.errors import NodeFailed, NodeTimeout, RunAborted
from orchestrator.ordered import AnswerStream
from orchestrator.results import NodeStatus, RunResult
from orchestrator.state import NodeRecord, RunState
from orchestrator.tracing.spans import GraphTrace
from orchestrator.tracing.telemetry import Telemetry


@dataclass(frozen=True, slots=True)
class RunEvent:
    """Something that happened in a run: a node started, streamed text, or ended.

    ``text`` is the new text of a "token" event; ``output`` the whole output
    of a node that ended done.
    """

    kind: str  # "start", "token" or "end"
    node: str
    text: str = ""
    status: NodeStatus | None = None
    output: str | None = None


EventSink = Callable[[RunEvent], None]


def _ignore(_: RunEvent) -> None:
    return None


@dataclass(slots=True)
class _Run:
    id: str
    state: RunState
    on_event: EventSink
    trace: GraphTrace

    @property
    def watched(self) -> bool:
        """Whether someone reads the run's events as they come (it has an event sink)."""
        return self.on_event is not _ignore


class Runtime:
    """Executes graphs on one engine (a scripted engine, a replica, or a replica pool)."""

    def __init__(
        self, engine: Engine, config: RuntimeConfig | None = None, *, telemetry: Telemetry | None = None
    ) -> None:
        self.engine = engine
        self.config = config or RuntimeConfig()
        self.telemetry = telemetry
        self._slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self.in_flight = 0

    # -- public API ------------------------------------------------------
    def run(self, graph: Graph, *, on_event: EventSink | None = None) -> RunResult:
        """Run a graph to completion from synchronous code."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.arun(graph, on_event=on_event))
        raise RuntimeError("Runtime.run() called inside an event loop; use 'await runtime.arun(graph)'")

    async def arun(self, graph: Graph, *, on_event: EventSink | None = None) -> RunResult:
        """Run a graph; GraphError if it is invalid, RunAborted if the engine died or the run timed out."""
        graph.validate()
        run_id = uuid.uuid4().hex[:12]
        run = _Run(run_id, RunState(graph), on_event or _ignore, GraphTrace(self.telemetry, graph, run_id))
        try:
            await self._drive(run)
        except asyncio.CancelledError:
            run.state.cancel_unfinished("run cancelled")
            raise
        finally:
            run.trace.finish(run.state)
        return run.state.result()

    def astream(self, graph: Graph, *, on_event: EventSink | None = None) -> AnswerStream:
        """Run a graph, streaming its answer in final order (see :mod:`orchestrator.ordered`).

        ``async for text in runtime.astream(graph)`` shows the first branch as
        it is written and each later one once every branch before it is done;
        the stream's ``result`` is the run's result once the loop has ended.
        """
        return AnswerStream(self, graph, on_event)

    async def arun_many(
        self, graphs: Iterable[Graph] | AsyncIterable[Graph], *, on_event: EventSink | None = None
    ) -> AsyncIterator[tuple[int, RunResult]]:
        """Run a stream of graphs concurrently; yield ``(index, result)`` as each ends.

        Graphs are pulled from ``graphs`` only while fewer than
        ``max_graphs_in_flight`` run, so memory is bounded by that limit, not
        by the length of the stream. An invalid graph yields a result with
        ``error`` set; a dead engine raises RunAborted and stops the stream.
        """
        limit = self.config.max_graphs_in_flight or self.config.max_concurrency
        source = _aiter(graphs)
        pending: set[asyncio.Task[tuple[int, RunResult]]] = set()
        index = 0
        try:
            while True:
                while len(pending) < limit and (graph := await anext(source, None)) is not None:
                    pending.add(asyncio.create_task(self._run_indexed(index, graph, on_event)))
                    index += 1
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # -- internals -------------------------------------------------------
    async def _run_indexed(self, index: int, graph: Graph, on_event: EventSink | None) -> tuple[int, RunResult]:
        try:
            return index, await self.arun(graph, on_event=on_event)
        except GraphError as exc:
            return index, RunResult(answer="", nodes=[], wall_s=0.0, error=str(exc))

    async def _drive(self, run: _Run) -> None:
        try:
            async with asyncio.timeout(self.config.run_timeout_s):
                async with asyncio.TaskGroup() as group:
                    for name in run.state.initially_ready():
                        group.create_task(self._execute(run, name, group))
        except TimeoutError as exc:
            run.state.cancel_unfinished("run timed out")
            message = f"run timed out after {self.config.run_timeout_s:g} s"
            raise RunAborted(message, run.state.result()) from exc
        except BaseExceptionGroup as group:
            dead = group.subgroup(EngineDeadError)
            if dead is None:
                raise
            run.state.cancel_unfinished("run aborted: engine dead")
            cause = dead.exceptions[0]
            raise RunAborted(f"engine failed: {cause}", run.state.result()) from cause

    def _limiter(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in self._slots:
            self._slots = {loop: asyncio.Semaphore(self.config.max_concurrency)}
        return self._slots[loop]

    async def _execute(self, run: _Run, name: str, group: asyncio.TaskGroup) -> None:
        spec = run.state.graph.node(name)
        run.trace.open(spec)
        try:
            text = await self._compute(run, spec)
        except NodeFailed as exc:
            skipped = run.state.fail(name, exc.cause)
            run.trace.close(name, spec.kind, run.state.records[name])
            run.on_event(RunEvent("end", name, status=NodeStatus.FAILED))
            for other in skipped:
                run.on_event(RunEvent("end", other, status=NodeStatus.SKIPPED))
            return
        except EngineDeadError as exc:
            run.state.fail(name, f"engine dead: {exc}")
            raise
        ready = run.state.finish(name, text)
        run.trace.close(name, spec.kind, run.state.records[name])
        run.on_event(RunEvent("end", name, status=NodeStatus.DONE, output=text))
        for other in ready:
            group.create_task(self._execute(run, other, group))

    async def _compute(self, run: _Run, spec: GenerateNode | ScopeNode | CombineNode) -> str:
        match spec:
            case GenerateNode():
                return await self._generate(run, spec)
            case ScopeNode():
                run.state.start(spec.name)
                return spec.join(run.state.outputs)
            case CombineNode():
                run.state.start(spec.name)
                return render(spec.template, run.state.outputs, owner=spec.name)
        raise AssertionError(f"unknown node {spec!r}")

    async def _generate(self, run: _Run, spec: GenerateNode) -> str:
        outputs = run.state.outputs
        request = GenerateRequest(
            request_id=f"{run.id}/{spec.name}",
            prompt=render(spec.prompt, outputs, owner=spec.name),
            system=render(spec.system, outputs, owner=spec.name) if spec.system else None,
            assistant_prefix=render(spec.assistant_prefix, outputs, owner=spec.name),
            params=spec.params,
            trace_context=run.trace.carrier(spec.name),
            chunk_interval_s=None if run.watched else self.config.unwatched_chunk_interval_s,
        )
        timeout_s = spec.timeout_s or self.config.node_timeout_s
        async with self._limiter():
            record = run.state.start(spec.name)
            run.on_event(RunEvent("start", spec.name))
            try:
                async with asyncio.timeout(timeout_s):
                    return await self._stream(run, spec.name, request, record)
            except TimeoutError as exc:
                raise NodeTimeout(spec.name, timeout_s) from exc
            except RequestError as exc:
                raise NodeFailed(spec.name, str(exc)) from exc

    async def _stream(self, run: _Run, name: str, request: GenerateRequest, record: NodeRecord) -> str:
        parts: list[str] = []
        guard = LoopGuard() if self.config.stop_loops else None
        self.in_flight += 1
        try:
            async with aclosing(self.engine.generate(request)) as stream:
                async for chunk in stream:
                    run.trace.chunk(chunk)
                    if chunk.tokens and record.ttft is None:
                        record.ttft = time.perf_counter()
                    record.tokens += chunk.tokens
                    record.prompt_tokens = chunk.prompt_tokens or record.prompt_tokens
                    record.cached_tokens = chunk.cached_tokens or record.cached_tokens
                    record.replica = chunk.replica or record.replica
                    record.finish_reason = chunk.finish_reason or record.finish_reason
                    if chunk.text:
                        parts.append(chunk.text)
                        run.on_event(RunEvent("token", name, text=chunk.text))
                        if guard is not None and guard.feed(chunk.text):
                            record.finish_reason = "loop"
                            break  # closing the stream aborts the engine request
        finally:
            self.in_flight -= 1
        return "".join(parts)


async def _aiter(graphs: Iterable[Graph] | AsyncIterable[Graph]) -> AsyncIterator[Graph]:
    if isinstance(graphs, AsyncIterable):
        async for graph in graphs:
            yield graph
    else:
        for graph in graphs:
            yield graph
