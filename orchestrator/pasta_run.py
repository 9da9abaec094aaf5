"""PASTA as a strategy: one prompt decoded by the interpreter, reported as a run.

Role: ``run --strategy pasta`` and ``eval run --strategy pasta`` measure and
print runs (:class:`~orchestrator.results.RunResult`); this module decodes a
prompt with :class:`~orchestrator.pasta.Interpreter` on the same engine and
turns its :class:`~orchestrator.pasta.PastaResult` into one: each engine
request of the answer is a node (``main-N`` and ``fork-N``, with its tokens,
times and replica), the answer is the text without tags.

Policy: the whole answer's budget is the serial answer's cap, so PASTA and
serial decoding are held to the same length. A model the interpreter knows
was fine-tuned on PASTA-LANG (its directory carries the training record)
decodes in tags mode without the system prompt; every other model in lists
mode, which needs no tags.

Invariant: a failed main request is a run with ``error`` set (recoverable,
like a failed node); a dead engine or a timeout raises
:class:`~orchestrator.errors.RunAborted`, as a graph run does.
"""

from __future__ import annotations

from actors.engine import Engine, RequestError
from actors.models import trained_models
from graphs.compiler import graph_dict
from graphs.pasta import parse
from graphs.pasta.convert import to_graph
from orchestrator.errors import NodeFailed
from orchestrator.pasta import Interpreter, PastaConfig, PastaMode, PastaResult
from orchestrator.results import NodeResult, NodeStatus, RunResult
from orchestrator.tracing import Telemetry


def pasta_config(max_tokens: int, *, tuned: bool = False) -> PastaConfig:
    """How a strategy run decodes: tags without the system prompt on a tuned model, else lists mode."""
    if tuned:
        return PastaConfig(mode=PastaMode.TAGS, prompted=False, max_tokens=max_tokens)
    return PastaConfig(mode=PastaMode.LISTS, max_tokens=max_tokens)


def pasta_for_model(model: str, max_tokens: int) -> PastaConfig:
    """The decoding for ``model``: tags mode when its training record says it was tuned on PASTA-LANG."""
    return pasta_config(max_tokens, tuned=bool(trained_models().get(model, {}).get("pasta")))


def run_result(result: PastaResult) -> RunResult:
    """The interpreter's answer as a run: one node per engine request, in start order."""
    nodes = [
        NodeResult(
            name=stream.name, kind="generate", status=NodeStatus.DONE, tokens=stream.tokens,
            start_s=stream.start_s, end_s=stream.end_s, replica=stream.replica, finish_reason=stream.finish_reason,
        )
        for stream in result.streams
    ]
    return RunResult(answer=result.text, nodes=nodes, wall_s=result.wall_s)


def trace_graph(prompt: str, result: PastaResult) -> dict:
    """The answer's trace as a task graph, in the form ``run --json`` prints graphs (nodes and edges)."""
    return graph_dict(to_graph(parse(result.annotated), question=prompt))


async def run_pasta(
    engine: Engine, prompt: str, config: PastaConfig, *, telemetry: Telemetry | None = None
) -> tuple[RunResult, PastaResult | None]:
    """Decode ``prompt`` with the interpreter; the run, and the interpreter's result (None if the main request failed)."""
    try:
        result = await Interpreter(engine, config, telemetry=telemetry).answer(prompt)
    except (NodeFailed, RequestError) as exc:  # lists mode's main stream fails outside a task group
        error = f"pasta answer failed: {exc}"
        failed = NodeResult(name="main-1", kind="generate", status=NodeStatus.FAILED, error=error)
        return RunResult(answer="", nodes=[failed], wall_s=0.0, error=error), None
    return run_result(result), result
