"""The answers the endpoint sends: OpenAI's completion objects plus a ``forkjoin`` field.

Built from a finished run (:class:`~orchestrator.results.RunResult`) and the
plan that ran, so a response is a pure function of them. ``usage`` counts
what the engines did: the prompt tokens of every generation (a branch reads
its own prompt) and every generated token. ``forkjoin`` says which strategy
ran and why, how many nodes, and the cost model's prediction beside the
measured latency. A streamed answer is a sequence of chunks of the same kind
(:func:`delta_chunk`, :func:`final_chunk`, :func:`usage_chunk`).
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from graphs import GenerateNode
from orchestrator.results import NodeStatus, RunResult
from orchestrator.strategies import Plan


class Kind(StrEnum):
    """Which endpoint a response answers."""

    CHAT = "chat"
    COMPLETION = "completion"

    @property
    def id_prefix(self) -> str:
        return "chatcmpl-" if self is Kind.CHAT else "cmpl-"

    @property
    def object(self) -> str:
        return "chat.completion" if self is Kind.CHAT else "text_completion"

    @property
    def chunk_object(self) -> str:
        return "chat.completion.chunk" if self is Kind.CHAT else "text_completion"


class PromptTokensDetails(BaseModel):
    """Where prompt tokens came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cached_tokens: int = Field(0, ge=0, description="Prompt tokens served from the prefix cache.")


class Usage(BaseModel):
    """Tokens the request cost, over every generation of its graph."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_tokens: int = Field(ge=0, description="Prompt tokens of every generation.")
    completion_tokens: int = Field(ge=0, description="Generated tokens of every generation.")
    total_tokens: int = Field(ge=0, description="Their sum.")
    prompt_tokens_details: PromptTokensDetails = Field(description="Cached prompt tokens.")


class ForkjoinInfo(BaseModel):
    """What forkjoin did with the request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str = Field(description="serial or parallel: what ran.")
    requested: str = Field(description="auto, serial or parallel: what was asked.")
    decision: str = Field(description="Why this shape ran (auto: the cost model's verdict).")
    nodes: int = Field(ge=1, description="Nodes of the graph that ran.")
    generations: int = Field(ge=1, description="Generate nodes (engine requests) of that graph.")
    predicted_latency_s: float | None = Field(None, description="The cost model's latency for what ran.")
    predicted_serial_s: float | None = Field(None, description="Its serial latency, when it predicted.")
    predicted_parallel_s: float | None = Field(None, description="Its parallel latency, when it predicted.")
    latency_s: float | None = Field(None, description="Measured wall time of the run (None until it ended).")
    ttft_s: float | None = Field(None, description="Measured time to the first generated token.")


def new_id(kind: Kind) -> str:
    """A fresh response id, ``chatcmpl-...`` or ``cmpl-...``."""
    return kind.id_prefix + uuid.uuid4().hex[:24]


def usage(result: RunResult) -> Usage:
    """Tokens of every node that ran."""
    prompt = sum(n.prompt_tokens or 0 for n in result.nodes)
    cached = sum(n.cached_tokens or 0 for n in result.nodes)
    return Usage(prompt_tokens=prompt, completion_tokens=result.tokens, total_tokens=prompt + result.tokens,
                 prompt_tokens_details=PromptTokensDetails(cached_tokens=cached))


def finish_reason(result: RunResult) -> str:
    """'length' when any generation ran out of tokens, else 'stop'."""
    return "length" if any(n.finish_reason == "length" for n in result.nodes) else "stop"


def forkjoin_info(chosen: Plan, result: RunResult | None) -> ForkjoinInfo:
    """The ``forkjoin`` field: the plan, its prediction and, once it ran, the measured latency."""
    p = chosen.prediction
    predicted = None if p is None else (p.parallel_s if chosen.executed.value == "parallel" else p.serial_s)
    generations = sum(isinstance(node, GenerateNode) for node in chosen.graph.nodes())
    return ForkjoinInfo(
        strategy=chosen.executed.value, requested=chosen.requested.value, decision=chosen.decision,
        nodes=len(chosen.graph), generations=generations, predicted_latency_s=predicted,
        predicted_serial_s=None if p is None else p.serial_s, predicted_parallel_s=None if p is None else p.parallel_s,
        latency_s=None if result is None else result.wall_s, ttft_s=None if result is None else result.ttft_s,
    )


def failure(result: RunResult) -> str:
    """Why a run that did not finish every node failed: its first failed node and the error."""
    if result.error:
        return result.error
    for node in result.nodes:
        if node.status in (NodeStatus.FAILED, NodeStatus.CANCELLED):
            return f"node {node.name} {node.status.value}: {node.error}"
    return "the run did not finish"


def completion(kind: Kind, model: str, chosen: Plan, result: RunResult) -> dict[str, Any]:
    """The whole (non-streamed) answer."""
    reason = finish_reason(result)
    if kind is Kind.CHAT:
        choice = {"index": 0, "message": {"role": "assistant", "content": result.answer}, "finish_reason": reason}
    else:
        choice = {"index": 0, "text": result.answer, "finish_reason": reason, "logprobs": None}
    return {
        "id": new_id(kind), "object": kind.object, "created": int(time.time()), "model": model,
        "choices": [choice], "usage": usage(result).model_dump(),
        "forkjoin": forkjoin_info(chosen, result).model_dump(),
    }


def _chunk(kind: Kind, rid: str, model: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": rid, "object": kind.chunk_object, "created": int(time.time()), "model": model,
            "choices": choices, **extra}


def delta_chunk(kind: Kind, rid: str, model: str, text: str, *, first: bool = False) -> dict[str, Any]:
    """A chunk of answer text (chat: the first one also carries the role)."""
    if kind is Kind.CHAT:
        delta = {"role": "assistant", "content": text} if first else {"content": text}
        return _chunk(kind, rid, model, [{"index": 0, "delta": delta, "finish_reason": None}])
    return _chunk(kind, rid, model, [{"index": 0, "text": text, "finish_reason": None, "logprobs": None}])


def final_chunk(kind: Kind, rid: str, model: str, chosen: Plan, result: RunResult) -> dict[str, Any]:
    """The last chunk with choices: the finish reason and the ``forkjoin`` field."""
    reason = finish_reason(result)
    if kind is Kind.CHAT:
        choice = {"index": 0, "delta": {}, "finish_reason": reason}
    else:
        choice = {"index": 0, "text": "", "finish_reason": reason, "logprobs": None}
    return _chunk(kind, rid, model, [choice], forkjoin=forkjoin_info(chosen, result).model_dump())


def usage_chunk(kind: Kind, rid: str, model: str, result: RunResult) -> dict[str, Any]:
    """``stream_options.include_usage``: a chunk with no choices and the usage."""
    return _chunk(kind, rid, model, [], usage=usage(result).model_dump())
