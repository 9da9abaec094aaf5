"""The Ray Serve deployment: the endpoint's app in a Serve replica, attached to the engine pool.

``forkjoin serve`` starts the replica pool (:func:`orchestrator.engines.open_engine`),
then :func:`start` runs one Serve application whose ingress deployment,
:class:`ForkjoinServer`, reaches those replicas by name through
:meth:`ReplicaPool.attach` (the pool's own routing and failover; the command
keeps owning the replicas) and answers through one
:class:`~orchestrator.serving.service.Service`. Serve's controller and proxy
ask for no CPU, and so does this deployment (``num_cpus=0``): a CPU engine
replica reserves every CPU of its node, and the endpoint only waits on it.

Deployed on its own (``serve run`` / ``serve deploy`` with
``cluster/configs/serve.yaml``, through :func:`app_builder`), the deployment
starts and owns the pool itself with :func:`orchestrator.engines.open_engine`
(which reuses the replica's Ray connection) and closes it when Serve stops it.

Serve's own per-replica limit (``max_ongoing_requests``) is set above the
service's queue depth, so the service's 429 is what an overloaded client sees.
:func:`stop` shuts Serve down (controller, proxy, deployment), nothing else.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from actors.pool import PoolConfig, ReplicaPool
from actors.replica import ReplicaInfo
from orchestrator.config import RuntimeConfig
from orchestrator.curves import load_curve
from orchestrator.engines import EngineOptions, open_engine
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
    pool: PoolConfig | None = Field(None, description="The owning pool's configuration (routing, timeouts, attempts).")
    replicas: list[ReplicaInfo] = Field(default_factory=list, description="The engine replicas to attach to, by name.")
    engine: EngineOptions | None = Field(
        None, description="Instead of pool and replicas: the engines the deployment starts and owns itself."
    )
    api_key: str | None = Field(None, description="Bearer key every route but /health requires; None: open.")

    @model_validator(mode="after")
    def _one_source(self) -> ServeSpec:
        attach = self.pool is not None and bool(self.replicas)
        if attach == (self.engine is not None):
            raise ValueError("give either pool and replicas (attach) or engine (own a pool), not both or neither")
        return self


class ServeArgs(BaseModel):
    """The ``args`` of the application in a Serve config file (``cluster/configs/serve.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(None, description="Registry name or model directory; the default model if unset.")
    replicas: int | None = Field(None, ge=1, description="Engine replicas; one per node (GPU: per GPU group) if unset.")
    max_model_len: int = Field(4096, ge=256, description="Longest prompt + answer in tokens.")
    kv_cache_gib: float = Field(1.0, gt=0, description="KV cache per CPU replica, GiB.")
    max_pending: int = Field(32, ge=1, description="Requests held at once; one more gets 429.")
    max_concurrency: int = Field(16, ge=1, description="Engine requests in flight across all requests.")
    max_tokens: int = Field(512, ge=1, description="Token cap when a request sets none.")
    api_key_env: str = Field("FORKJOIN_API_KEY", description="Environment variable holding the API key (unset: open).")


class ForkjoinServer:
    """The ingress deployment's class (wrapped by :func:`deployment`)."""

    async def __init__(self, spec: ServeSpec) -> None:
        self._spec = spec
        self._service: Service | None = None
        self._owned = AsyncExitStack()
        if spec.engine is not None:  # runs on the loop that serves requests (Serve's user-code loop)
            self._service = self._over(await self._owned.enter_async_context(open_engine(spec.engine)))

    async def service(self) -> Service:
        """The service, attached to the pool on first use, in the loop that serves requests."""
        if self._service is None:
            assert self._spec.pool is not None, "an attaching spec has a pool"
            self._service = self._over(ReplicaPool.attach(self._spec.pool, self._spec.replicas))
        return self._service

    def _over(self, pool: ReplicaPool) -> Service:
        curve = load_curve(self._spec.service.model)
        return Service(pool, self._spec.service, curve=curve, liveness=lambda: live_replicas(pool))

    async def __del__(self) -> None:
        await self._owned.aclose()  # an owned pool stops its replicas; an attached one is left alone

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


def app_builder(args: dict[str, Any]) -> Any:
    """The application a Serve config names (``import_path: orchestrator.serving.deployment:app_builder``)."""
    parsed = ServeArgs.model_validate(args)
    engine = EngineOptions(model=parsed.model, replicas=parsed.replicas, max_model_len=parsed.max_model_len,
                           kv_cache_gib=parsed.kv_cache_gib)
    service = ServiceConfig(model=engine.model_name, max_pending=parsed.max_pending,
                            default_max_tokens=parsed.max_tokens,
                            runtime=RuntimeConfig(max_concurrency=parsed.max_concurrency))
    key = os.environ.get(parsed.api_key_env) or None
    return deployment(ServeSpec(service=service, engine=engine, api_key=key))


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
