"""The Ray Serve deployment: the endpoint's app in a Serve replica, attached to the engine pool.

``forkjoin serve`` starts the replica pool (:func:`orchestrator.engines.open_engine`),
then :func:`start` runs one Serve application whose ingress deployment,
:class:`ForkjoinServer`, reaches those replicas by name through
:meth:`ReplicaPool.attach` (the pool's own routing and failover; the command
keeps owning the replicas) and answers through one
:class:`~orchestrator.serving.service.Service`. Serve's controller and proxy
ask for no CPU, and so does this deployment (``num_cpus=0``): a CPU engine
replica reserves every CPU of its node, and the endpoint only waits on it.

Serve's own per-replica limit (``max_ongoing_requests``) is set above the
service's queue depth, so the service's 429 is what an overloaded client sees.
:func:`stop` shuts Serve down (controller, proxy, deployment), nothing else.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from actors.pool import PoolConfig, ReplicaPool
from actors.replica import ReplicaInfo
from orchestrator.curves import load_curve
from orchestrator.serving.app import build_app
from orchestrator.serving.service import Service, ServiceConfig

APP_NAME = "forkjoin"
"""The Serve application's name."""
PROBE_TIMEOUT_S = 2.0
"""Bound on one replica's answer to the /health probe."""


class ServeSpec(BaseModel):
    """Everything the deployment needs, sent to it once when it starts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ServiceConfig = Field(description="How requests are planned, run and admitted.")
    pool: PoolConfig = Field(description="The owning pool's configuration (routing, timeouts, attempts).")
    replicas: list[ReplicaInfo] = Field(min_length=1, description="The engine replicas to attach to, by actor name.")
    api_key: str | None = Field(None, description="Bearer key every route but /health requires; None: open.")


class ForkjoinServer:
    """The ingress deployment's class (wrapped by :func:`deployment`)."""

    def __init__(self, spec: ServeSpec) -> None:
        self._spec = spec
        self._service: Service | None = None

    async def service(self) -> Service:
        """The service, attached to the pool on first use, in the loop that serves requests."""
        if self._service is None:
            pool = ReplicaPool.attach(self._spec.pool, self._spec.replicas)
            curve = load_curve(self._spec.service.model)
            self._service = Service(pool, self._spec.service, curve=curve, liveness=lambda: live_replicas(pool))
        return self._service

    def __serve_build_asgi_app__(self) -> Any:
        return build_app(self.service, api_key=self._spec.api_key)


async def live_replicas(pool: ReplicaPool) -> int:
    """How many of the pool's replicas answer a stats call within :data:`PROBE_TIMEOUT_S`."""
    async def answers(name: str) -> int:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                await pool.handle(name).stats.remote()
        except Exception:  # dead, restarting or stuck: not live; /health reports it and never raises
            return 0
        return 1

    return sum(await asyncio.gather(*(answers(r.name) for r in pool.replicas)))


def deployment(spec: ServeSpec) -> Any:
    """The bound Serve application (``serve.run`` takes it)."""
    from ray import serve

    ongoing = spec.service.max_pending * 2 + 8  # above the service's depth: its 429 decides
    wrapped = serve.ingress()(ForkjoinServer)
    bound = serve.deployment(wrapped, name="forkjoin", num_replicas=1, max_ongoing_requests=ongoing,
                             ray_actor_options={"num_cpus": 0})
    return bound.bind(spec)


def start(spec: ServeSpec, *, host: str, port: int) -> str:
    """Start Serve on the connected Ray and run the app; its base URL once it answers."""
    from ray import serve

    serve.start(http_options={"host": host, "port": port})
    serve.run(deployment(spec), name=APP_NAME, route_prefix="/", blocking=False)
    return f"http://{host}:{port}/v1"


def stop() -> None:
    """Shut Serve down on the connected Ray (its controller, proxy and deployment replicas)."""
    from ray import serve

    serve.shutdown()
