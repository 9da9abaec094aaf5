"""The short way in: ``orchestrator.run(graph)`` on the default engine, or on one you pass."""

from __future__ import annotations

import asyncio

from actors.engine import Engine
from graphs import Graph
from orchestrator.config import RuntimeConfig
from orchestrator.engines import EngineOptions, open_engine
from orchestrator.results import RunResult
from orchestrator.runtime import Runtime


def run(
    graph: Graph,
    *,
    engine: Engine | None = None,
    config: RuntimeConfig | None = None,
    options: EngineOptions | None = None,
) -> RunResult:
    """Run ``graph`` to completion.

    With no ``engine``, start the engine ``options`` describe (default: the
    embedded local Ray with the default model) and shut it down afterwards.
    """
    if engine is not None:
        return Runtime(engine, config).run(graph)
    return asyncio.run(_run_on_default(graph, config, options or EngineOptions()))


async def _run_on_default(graph: Graph, config: RuntimeConfig | None, options: EngineOptions) -> RunResult:
    graph.validate()  # before paying for an engine start
    async with open_engine(options) as opened:
        return await Runtime(opened, config).arun(graph)


async def arun(graph: Graph, *, engine: Engine, config: RuntimeConfig | None = None) -> RunResult:
    """Run ``graph`` from code already inside an event loop, on an engine it opened."""
    return await Runtime(engine, config).arun(graph)
