"""A pool of replica actors behind the Engine protocol: routing, resizing, failover.

The runtime takes a :class:`ReplicaPool` like any engine. The pool owns its
replicas (actor + placement group each), routes every request with
:class:`~actors.router.Router` (least-loaded, sticky prefix affinity) and
streams chunks back: one Ray streaming generator per replica (its feed,
:mod:`actors.coalesce`) carries the merged chunks of every request this pool
sent there, so the chunks of concurrent requests share Ray messages.

State: ``_members`` maps replica name -> :class:`_Member` for every replica
that takes new requests; ``inflight`` counts the pool's open streams on it.
Only the event loop mutates them.

Failure policy (a replica or its engine dies under a request): the request
goes on, preferring a replica it has not tried (a pool of one waits, bounded,
for Ray to restart its replica); partial output is continued rather than
discarded (:mod:`actors.failover`), so the consumer sees one stream whose
later chunks name the new replica. After ``max_attempts`` replicas the request
fails with EngineDeadError. A replica Ray gave up on leaves the pool.
A feed whose replica dies, restarts or closes fails every stream it carried
(they fail over as above); the next request opens a new one. Closing or
cancelling a stream calls the replica's ``cancel`` with the attempt's key,
which holds even when it overtakes the request's ``submit``
(:mod:`actors.replica`); closing the pool cancels its feeds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from actors.coalesce import CoalesceConfig
from actors.engine import (
    Chunk,
    EngineDeadError,
    EngineError,
    EngineStartError,
    EngineStats,
    GenerateRequest,
    RequestError,
)
from actors.replica import EngineSpec, Replica, ReplicaInfo, ScriptedSpec, VllmSpec
from actors.failover import Progress, account, continuation
from actors.feed import Feed, ReplicaLost, delivered_error
from actors.router import Router, affinity_key
from cluster import NAMESPACE, Accelerator, Reservation, release, reserve
from graphs.errors import one_line


RESTART_POLL_S = 0.5
"""How often a restarting replica is asked whether it is back."""


class PoolConfig(BaseModel):
    """How many replicas of which engine, and how the pool routes and waits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: EngineSpec = Field(description="The engine every replica hosts.")
    replicas: int = Field(1, ge=0, le=1024, description="Replicas started by ReplicaPool.start.")
    name: str = Field("pool", min_length=1, description="Pool name; replica names derive from it.")
    affinity_margin: int = Field(
        2, ge=0, description="In-flight requests an affine replica may have beyond the least-loaded one."
    )
    affinity_prefix_chars: int = Field(256, ge=1, description="Prompt characters hashed when no affinity_key.")
    start_timeout_s: float = Field(900.0, gt=0, description="Bound on a replica's actor and engine start.")
    placement_timeout_s: float = Field(60.0, gt=0, description="Bound on reserving a replica's resources.")
    first_chunk_timeout_s: float = Field(300.0, gt=0, description="Bound on the wait for a stream's first chunk.")
    chunk_timeout_s: float = Field(120.0, gt=0, description="Bound on the wait between two chunks.")
    call_timeout_s: float = Field(30.0, gt=0, description="Bound on small calls (stats, close).")
    drain_timeout_s: float = Field(60.0, gt=0, description="Bound on open streams finishing before shrink.")
    max_restarts: int = Field(2, ge=0, description="Ray restarts of a dead replica actor.")
    max_attempts: int = Field(3, ge=1, description="Replicas one request may try when replicas die.")
    merging: CoalesceConfig = Field(
        default_factory=CoalesceConfig, description="How replicas merge a stream's chunks before sending them."
    )


@dataclass
class _Member:
    name: str
    handle: Any
    reservation: Reservation | None  # None: attached, another pool owns the replica
    info: ReplicaInfo
    inflight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)


class ReplicaPool:
    """Replicas in Ray actors behind one Engine.

    Inside ``cluster.connect()``::

        spec = VllmSpec(engine=EngineConfig(model=...), accelerator=Accelerator.CPU)
        async with await ReplicaPool.start(PoolConfig(spec=spec, replicas=fitting_replicas(spec))) as pool:
            result = await Runtime(pool).arun(graph)
    """

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self.name = config.name
        self._members: dict[str, _Member] = {}
        self._router = Router(margin=config.affinity_margin)
        self._resizing = asyncio.Lock()
        self._closed = False
        self._serial = 0
        self._owner = True
        self._feeds: dict[str, Feed] = {}

    @classmethod
    async def start(cls, config: PoolConfig) -> ReplicaPool:
        """A pool with ``config.replicas`` started replicas (Ray must be connected)."""
        pool = cls(config)
        try:
            await pool.grow(config.replicas)
        except BaseException:
            await pool.aclose()
            raise
        return pool

    @classmethod
    def attach(cls, config: PoolConfig, replicas: list[ReplicaInfo]) -> ReplicaPool:
        """A pool over replicas another pool started (e.g. in each Ray Data batch actor).

        Routing and failover are this pool's own; the replicas are not: closing
        it stops none of them, and it cannot grow or shrink.
        """
        import ray

        pool = cls(config)
        pool._owner = False
        for info in replicas:
            handle = ray.get_actor(info.name, namespace=NAMESPACE)
            pool._members[info.name] = _Member(name=info.name, handle=handle, reservation=None, info=info)
        return pool

    async def __aenter__(self) -> ReplicaPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def replicas(self) -> list[ReplicaInfo]:
        """The replicas taking requests now."""
        return [m.info for m in self._members.values()]

    def feed_messages(self) -> int:
        """Ray messages this pool's open feeds have read (diagnostics: chunks share them)."""
        return sum(feed.messages for feed in self._feeds.values())

    def handle(self, name: str) -> Any:
        """The Ray actor handle of replica ``name`` (tests, diagnostics)."""
        return self._members[name].handle

    async def grow(self, n: int) -> list[ReplicaInfo]:
        """Start ``n`` more replicas (bounded); they take requests once ready.

        Reservations are all-or-nothing; if a start fails, the replicas that did
        start stay in the pool and the first error is raised.
        """
        if not self._owner:
            raise EngineError(f"pool {self.name} is attached to replicas it does not own; it cannot grow")
        async with self._resizing:
            reservations = await self._reserve_many(n)
            results = await asyncio.gather(*(self._launch(r) for r in reservations), return_exceptions=True)
        members = [r for r in results if isinstance(r, _Member)]
        for member in members:
            self._members[member.name] = member
        if failure := next((r for r in results if isinstance(r, BaseException)), None):
            raise failure
        return [m.info for m in members]

    async def shrink(self, n: int) -> list[str]:
        """Stop ``n`` replicas, least loaded first, after their open streams end (bounded)."""
        if not self._owner:
            raise EngineError(f"pool {self.name} is attached to replicas it does not own; it cannot shrink")
        async with self._resizing:
            victims = sorted(self._members.values(), key=lambda m: (m.inflight, m.name))[:n]
            for member in victims:
                self._members.pop(member.name, None)
                self._router.forget_replica(member.name)
            await asyncio.gather(*(self._drain(m) for m in victims))
            await asyncio.gather(*(self._stop(m) for m in victims))
        return [m.name for m in victims]

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        """Stream the request from a routed replica, failing over as the module doc says."""
        progress, tried = Progress(), []
        while True:
            member = self._route(request, tried)
            retrying_same = member.name in tried
            tried.append(member.name)
            attempt = continuation(request, progress, len(tried))
            if attempt is None:
                yield Chunk(text="", tokens=0, finish_reason="length", replica=member.name)
                return
            try:
                if retrying_same:
                    await self._revived(member)
                async with aclosing(self._stream(member, attempt)) as stream:
                    async for chunk in stream:
                        yield account(chunk, progress, resumed=len(tried) > 1)
                return
            except ReplicaLost as lost:
                if progress.finished:
                    return
                if self._closed or len(tried) >= self.config.max_attempts:
                    raise EngineDeadError(f"request {request.request_id} failed on {tried}: {lost}") from lost

    async def stats(self) -> EngineStats:
        """The pool's load: sums over replicas (hit rate averaged over replicas that report it)."""
        parts = await self.replica_stats()
        rates = [s.prefix_cache_hit_rate for s in parts if s.prefix_cache_hit_rate is not None]
        speeds = [s.tokens_per_s for s in parts if s.tokens_per_s is not None]
        return EngineStats(
            name=self.name,
            running=sum(s.running for s in parts),
            waiting=sum(s.waiting for s in parts),
            prefix_cache_hit_rate=sum(rates) / len(rates) if rates else None,
            tokens_per_s=sum(speeds) if speeds else None,
            generated_tokens=sum(s.generated_tokens for s in parts),
        )

    async def replica_stats(self) -> list[EngineStats]:
        """Each replica's own stats (bounded by ``call_timeout_s``)."""
        members = list(self._members.values())
        async with asyncio.timeout(self.config.call_timeout_s):
            return list(await asyncio.gather(*(m.handle.stats.remote() for m in members)))

    async def aclose(self) -> None:
        """Stop every replica now (an attached pool only lets go); open streams end with EngineDeadError."""
        self._closed = True
        async with self._resizing:
            members = list(self._members.values())
            self._members.clear()
            await asyncio.gather(*(self._close_feed(name) for name in list(self._feeds)))
            if self._owner:
                await asyncio.gather(*(self._stop(m) for m in members))

    async def _reserve_many(self, n: int) -> list[Reservation]:
        """Reserve one after another, so each choice counts the ones before it; all or nothing."""
        done: list[Reservation] = []
        try:
            for _ in range(n):
                done.append(await asyncio.to_thread(self._reserve, done))
        except BaseException:
            for reservation in done:
                release(reservation)
            raise
        return done

    def _reserve(self, pending: list[Reservation]) -> Reservation:
        import ray

        placed: dict[str, int] = {}
        for held in [m.reservation for m in self._members.values()] + pending:
            placed[held.node_id] = placed.get(held.node_id, 0) + 1
        node_cpus = min((n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=1.0)
        need = self.config.spec.resources(node_cpus)
        return reserve(need, placed, timeout_s=self.config.placement_timeout_s, name=self._next_name())

    async def _launch(self, reservation: Reservation) -> _Member:
        import ray

        name = reservation.name
        actor = ray.remote(Replica).options(
            name=name,
            namespace=NAMESPACE,
            max_restarts=self.config.max_restarts,
            max_task_retries=0,
            **reservation.actor_options(),
        )
        handle = actor.remote(name, self.config.spec, self.config.merging)
        try:
            async with asyncio.timeout(self.config.start_timeout_s):
                info = await handle.ready.remote()
        except BaseException as exc:
            ray.kill(handle, no_restart=True)
            release(reservation)
            raise _start_error(name, exc, self.config.start_timeout_s) from exc
        return _Member(name=name, handle=handle, reservation=reservation, info=info)

    def _next_name(self) -> str:
        self._serial += 1
        return f"{self.name}-{self._serial}-{uuid.uuid4().hex[:6]}"

    def _route(self, request: GenerateRequest, tried: list[str]) -> _Member:
        if self._closed:
            raise EngineDeadError(f"pool {self.name} is closed")
        if not self._members:
            raise EngineDeadError(f"pool {self.name} has no replica")
        load = {name: m.inflight for name, m in self._members.items()}
        untried = set(tried) if len(set(tried)) < len(load) else set()
        key = affinity_key(request, self.config.affinity_prefix_chars)
        return self._members[self._router.pick(key, load, exclude=untried)]

    async def _stream(self, member: _Member, request: GenerateRequest) -> AsyncIterator[Chunk]:
        """One attempt on one replica, through its feed; every wait bounded; cancelled unless it ended."""
        feed = self._feed(member)
        stream_id = uuid.uuid4().hex
        deliveries = feed.open(stream_id)
        member.handle.submit.remote(request, stream_id, feed.id)  # its one failure, a dead actor, ends the feed
        member.inflight += 1
        member.idle.clear()
        ended = False
        try:
            timeout = self.config.first_chunk_timeout_s
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        delivery = await deliveries.get()
                except TimeoutError as exc:
                    raise RequestError(f"replica {member.name} sent nothing for {timeout:g} s") from exc
                ended = delivery.last
                if delivery.chunk is not None:
                    timeout = self.config.chunk_timeout_s
                    yield delivery.chunk
                if delivery.error is not None:
                    raise delivered_error(delivery.error, member.name)
                if delivery.end:
                    return
        finally:
            feed.forget(stream_id)
            if not ended:
                member.handle.cancel.remote(stream_id)
            member.inflight -= 1
            if member.inflight == 0:
                member.idle.set()

    def _feed(self, member: _Member) -> Feed:
        """``member``'s open feed in this event loop, or a new one."""
        feed = self._feeds.get(member.name)
        if feed is not None and feed.serves_here():
            return feed
        if feed is not None and feed.lost is None:
            feed.abandon()  # opened in an event loop that has ended (e.g. an earlier asyncio.run)
        feed = self._feeds[member.name] = Feed(member.handle, member.name)
        return feed

    async def _close_feed(self, name: str) -> None:
        if (feed := self._feeds.pop(name, None)) is not None:
            await feed.aclose()

    async def _revived(self, member: _Member) -> None:
        """Wait (bounded) until a restarting replica answers again; drop it if Ray gave up on it."""
        import ray

        try:
            async with asyncio.timeout(self.config.start_timeout_s):
                while True:
                    try:
                        await member.handle.ready.remote()
                        return
                    except ray.exceptions.ActorUnavailableError:
                        await asyncio.sleep(RESTART_POLL_S)  # Ray has no "restarted" event to wait on.
        except ray.exceptions.RayActorError as exc:
            await self._forget(member)
            raise ReplicaLost(f"replica {member.name} is dead for good") from exc
        except TimeoutError as exc:
            raise ReplicaLost(f"replica {member.name} did not come back in {self.config.start_timeout_s:g} s") from exc

    async def _forget(self, member: _Member) -> None:
        if self._members.pop(member.name, None) is not None:
            self._router.forget_replica(member.name)
            if member.reservation is not None:
                release(member.reservation)
        await self._close_feed(member.name)

    async def _drain(self, member: _Member) -> None:
        if member.inflight == 0:
            return
        try:
            async with asyncio.timeout(self.config.drain_timeout_s):
                await member.idle.wait()
        except TimeoutError:
            return  # Streams still open are cut when the replica stops: they fail over.

    async def _stop(self, member: _Member) -> None:
        import ray

        await self._close_feed(member.name)
        try:
            async with asyncio.timeout(self.config.call_timeout_s):
                await member.handle.aclose.remote()
        except (TimeoutError, ray.exceptions.RayError):
            pass  # The replica is going away either way; kill below is what releases it.
        ray.kill(member.handle, no_restart=True)
        release(member.reservation)


def fitting_replicas(spec: ScriptedSpec | VllmSpec) -> int:
    """The default replica count for the connected cluster: one per node (GPU: per GPU group)."""
    import ray

    count = 0
    for node in (n for n in ray.nodes() if n.get("Alive")):
        total = node.get("Resources", {})
        need = spec.resources(total.get("CPU", 0.0))
        if need.accelerator is Accelerator.GPU:
            count += int(total.get("GPU", 0.0) // max(need.gpus, 1))
        elif need.fits(total):
            count += 1
    return count


def _start_error(name: str, exc: BaseException, timeout_s: float) -> EngineError:
    if isinstance(exc, TimeoutError):
        return EngineStartError(f"replica {name} did not start within {timeout_s:g} s")
    cause = getattr(exc, "cause", None)
    if isinstance(cause, EngineError):
        return EngineStartError(str(cause))
    return EngineStartError(f"replica {name} failed to start: {one_line(exc)}")
