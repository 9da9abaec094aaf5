"""The endpoint's logic without HTTP: plan a request, run it on the one runtime, build the answer.

A :class:`Service` holds one :class:`~orchestrator.runtime.Runtime` over an
engine (in ``forkjoin serve`` the replica pool attached in the Serve
replica; in tests a scripted engine). Each request is compiled with the
strategies of :mod:`orchestrator.strategies` (``auto`` asks the cost model on
the engine's stored curve), the request's sampling fields are applied to
every generation of the plan (:func:`apply_request`), and the graph runs
through ``Runtime.arun`` or, streamed, ``Runtime.astream`` (final order).

Admission: at most ``max_pending`` requests are held at once (running or
waiting for engine slots); one more is refused with 429 and ``Retry-After``
(:meth:`Service.admit`). Leaving a stream early or cancelling a request
cancels its run, which aborts every engine request of its graph.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Engine
from graphs import GenerateNode, Graph, SamplingParams, escape
from graphs.compiler import CompileOptions
from graphs.cost import EngineCurve
from graphs.errors import ForkjoinError
from orchestrator.config import RuntimeConfig
from orchestrator.errors import RunAborted
from orchestrator.runtime import Runtime
from orchestrator.serving.errors import failed, invalid, overloaded, unavailable, unknown_model
from orchestrator.serving.protocol import ChatRequest, CompletionRequest
from orchestrator.serving.responses import Kind, completion, delta_chunk, failure, final_chunk, usage_chunk, new_id
from orchestrator.strategies import DEFAULT_MIN_SPEEDUP, Plan, StrategyError, plan

Request = ChatRequest | CompletionRequest
Liveness = Callable[[], Awaitable[int]]
HEALTH_TIMEOUT_S = 5.0
"""Bound on the liveness probe of /health."""


class ServiceConfig(BaseModel):
    """How the endpoint plans, runs and admits requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1, description="The served model's name: requests must name it.")
    max_pending: int = Field(32, ge=1, description="Requests held at once; one more gets 429.")
    retry_after_s: int = Field(1, ge=1, description="Retry-After of a 429, in seconds.")
    default_max_tokens: int = Field(512, ge=1, description="Token cap of a generation when the request sets none.")
    item_max_tokens: int = Field(512, ge=1, description="Most tokens of one parallel branch.")
    max_fanout: int = Field(64, ge=1, le=4096, description="Most parallel subtasks of one request.")
    min_speedup: float = Field(DEFAULT_MIN_SPEEDUP, gt=0, description="auto decomposes from this predicted speedup.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="The runtime's scheduling knobs.")


class Ticket:
    """One admitted request's place in the queue; ``release`` (idempotent) frees it."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._service.pending -= 1

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Service:
    """Plans and runs OpenAI requests on one runtime."""

    def __init__(self, engine: Engine, config: ServiceConfig, *, curve: EngineCurve | None = None,
                 liveness: Liveness | None = None) -> None:
        self.config = config
        self.runtime = Runtime(engine, config.runtime)
        self.curve = curve
        self.pending = 0
        self.started = int(time.time())
        self._liveness = liveness or (lambda: _engine_answers(engine))

    def admit(self) -> Ticket:
        """A place in the queue, or 429 when ``max_pending`` requests are held."""
        if self.pending >= self.config.max_pending:
            raise overloaded(self.config.max_pending, self.config.retry_after_s)
        self.pending += 1
        return Ticket(self)

    def prepare(self, request: Request) -> Plan:
        """The plan that answers ``request``, with its sampling fields on every generation."""
        if request.model != self.config.model:
            raise unknown_model(request.model, self.config.model)
        prompt, system = conversation(request)
        if not prompt.strip():
            raise invalid("the prompt is empty", "messages" if isinstance(request, ChatRequest) else "prompt")
        cap = request.token_cap or self.config.default_max_tokens
        options = CompileOptions(max_fanout=self.config.max_fanout, serial_max_tokens=cap,
                                 item_max_tokens=min(cap, self.config.item_max_tokens), final_max_tokens=cap)
        try:
            # The service runs and streams the plan's graph (with the request's sampling fields on it), so auto
            # keeps to serial or parallel: pasta decodes outside the graph.
            chosen = plan(prompt, request.forkjoin.as_strategy, options, curve=self.curve,
                          min_speedup=self.config.min_speedup, max_concurrency=self.config.runtime.max_concurrency,
                          auto_pasta=False)
        except StrategyError as exc:
            raise invalid(str(exc), "forkjoin.strategy") from exc
        except ForkjoinError as exc:
            raise invalid(f"the prompt cannot be compiled: {exc}") from exc
        return chosen.model_copy(update={"graph": apply_request(chosen.graph, request, system, cap)})

    async def complete(self, kind: Kind, request: Request, chosen: Plan) -> dict[str, Any]:
        """Run the plan to the end; the whole answer."""
        try:
            result = await self.runtime.arun(chosen.graph)
        except RunAborted as exc:
            raise unavailable(str(exc)) from exc
        if not result.ok:
            raise failed(failure(result))
        return completion(kind, request.model, chosen, result)

    async def stream(self, kind: Kind, request: Request, chosen: Plan) -> AsyncIterator[dict[str, Any]]:
        """The answer as chunks in final order; an ``{"error": ...}`` chunk if the run fails midway."""
        rid = new_id(kind)
        if kind is Kind.CHAT:
            yield delta_chunk(kind, rid, request.model, "", first=True)
        answer = self.runtime.astream(chosen.graph)
        try:
            async with aclosing(aiter(answer)) as texts:  # closing it cancels the run at once
                async for text in texts:
                    yield delta_chunk(kind, rid, request.model, text)
        except RunAborted as exc:
            yield unavailable(str(exc)).body()
            return
        if not answer.result.ok:
            yield failed(failure(answer.result)).body()
            return
        yield final_chunk(kind, rid, request.model, chosen, answer.result)
        if request.include_usage:
            yield usage_chunk(kind, rid, request.model, answer.result)

    async def health(self) -> dict[str, Any]:
        """``status`` ok when some replica answers, else degraded; with the queue's state."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                live = await self._liveness()
        except TimeoutError:
            live = 0
        return {"status": "ok" if live else "degraded", "model": self.config.model, "live_replicas": live,
                "pending": self.pending, "max_pending": self.config.max_pending}

    def models(self) -> dict[str, Any]:
        """GET /v1/models: the one served model."""
        return {"object": "list", "data": [
            {"id": self.config.model, "object": "model", "created": self.started, "owned_by": "forkjoin"}]}


def conversation(request: Request) -> tuple[str, str | None]:
    """The prompt to compile (the last user message) and the system text (system messages, earlier turns)."""
    if isinstance(request, CompletionRequest):
        return request.text, None
    *earlier, last = request.messages
    system = [m.text for m in earlier if m.role in ("system", "developer")]
    turns = [f"{m.role.capitalize()}: {m.text}" for m in earlier if m.role in ("user", "assistant")]
    if turns:
        system.append("The conversation so far:\n" + "\n".join(turns))
    return last.text, "\n\n".join(system) or None


def apply_request(graph: Graph, request: Request, system: str | None, cap: int) -> Graph:
    """``graph`` with the request's sampling fields on every generate node (branch i: seed + i).

    A branch the compiler made one of several samples of the same item keeps at least its own temperature.
    """
    nodes, index = [], 0
    for node in graph.nodes():
        if isinstance(node, GenerateNode):
            node = _with_sampling(node, request, system, cap, index)
            index += 1
        nodes.append(node)
    return Graph(nodes).validate()


def _with_sampling(node: GenerateNode, request: Request, system: str | None, cap: int, index: int) -> GenerateNode:
    params = node.params
    update: dict[str, Any] = {"max_tokens": min(params.max_tokens, cap),
                              "stop": params.stop + tuple(s for s in request.stops if s not in params.stop)}
    if request.temperature is not None:
        # Repeated branches (the compiler gave each a seed and a temperature) stay apart: greedy would make them equal.
        repeated = params.seed is not None and params.temperature > 0
        update["temperature"] = max(request.temperature, params.temperature) if repeated else request.temperature
    if request.top_p is not None:
        update["top_p"] = request.top_p
    if request.seed is not None:
        update["seed"] = request.seed + index
    prompt_system = node.system
    if system is not None:
        prompt_system = escape(system) + (f"\n\n{node.system}" if node.system else "")
    sampling = SamplingParams.model_validate({**params.model_dump(), **update})
    return GenerateNode.model_validate({**node.model_dump(), "params": sampling, "system": prompt_system})


async def _engine_answers(engine: Engine) -> int:
    """1 when the engine answers a stats call, else 0."""
    try:
        await engine.stats()
    except Exception:  # any failure of the probe means "not live"; /health reports it, never raises
        return 0
    return 1

