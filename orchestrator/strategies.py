"""Execution strategies for one prompt: auto, serial, parallel, and compare.

- ``auto``: the compiled graph when validation passes, no dependency
  makes parallelism unsafe and the cost model (:mod:`graphs.cost`, on the
  engine's curve) predicts a speedup of at least ``min_speedup`` (1.2x by
  default); the serial one-node graph otherwise, with the reason. A prompt
  with no safe parallel plan whose answer is likely a list
  (:func:`graphs.pasta.list_answer.list_items`) runs as pasta lists mode
  when its predicted speedup (:func:`graphs.pasta.latency.predict_lists`)
  reaches ``min_speedup``, serial otherwise; callers that can run graphs
  only (batch, serving) plan with ``auto_pasta=False``.
- ``serial``: the prompt as one generation.
- ``parallel``: the compiled graph, even past serial dependencies (the
  user forces it); a prompt with no parallel structure is a StrategyError.
- ``compare``: serial, then parallel, on the same engine one after the
  other (so neither slows the other), with both answers, both wall times
  and the speedup serial/parallel.
- ``pasta``: the prompt as one answer decoded by the PASTA interpreter
  (:mod:`orchestrator.pasta_run`): forks inside the answer, within the serial
  answer's token cap; its graph is the serial one (what the answer falls
  back to when it has no parallel part).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from actors.engine import Engine
from graphs import Graph
from graphs.compiler import CompileOptions, Compiled, Schema, compile_prompt, graph_dict, serial_graph
from graphs.compiler.budget import item_budget
from graphs.cost import DEFAULT_CURVE, EngineCurve, Prediction, predict
from graphs.errors import ForkjoinError
from graphs.pasta.latency import ListShape, predict_lists
from graphs.pasta.list_answer import list_items
from orchestrator.config import RuntimeConfig
from orchestrator.extract_llm import extract
from orchestrator.pasta import PastaConfig
from orchestrator.pasta_run import pasta_config, run_pasta
from orchestrator.results import RunResult
from orchestrator.runtime import Runtime
from orchestrator.tracing import Telemetry, run_span


class Strategy(StrEnum):
    """How to execute a prompt."""

    AUTO = "auto"
    SERIAL = "serial"
    PARALLEL = "parallel"
    COMPARE = "compare"
    PASTA = "pasta"


DEFAULT_MIN_SPEEDUP = 1.2


class StrategyError(ForkjoinError):
    """The strategy asked for can not run this prompt (e.g. parallel without structure). Caused by the user."""


class Plan(BaseModel):
    """What a strategy will run for a prompt, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    requested: Strategy = Field(description="The strategy asked for.")
    executed: Strategy = Field(description="serial or parallel: the graph's shape; pasta: the interpreter decodes.")
    graph: Graph = Field(description="The graph to run.")
    compiled: dict[str, Any] = Field(description="compile_prompt's result (forkjoin compile --json).")
    prediction: Prediction | None = Field(None, description="The cost model's serial and parallel latency, "
                                          "when the prompt has a parallel graph (auto on a likely list answer "
                                          "without one: serial and pasta lists mode).")
    decision: str = Field("", description="Why this shape runs (auto: the cost model's verdict).")
    prompt: str = Field("", description="The prompt planned for (pasta decodes it directly).")
    pasta: PastaConfig | None = Field(None, description="pasta: how the interpreter decodes the answer.")


class StrategyRun(BaseModel):
    """One executed plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: Strategy = Field(description="serial, parallel or pasta: what actually ran.")
    requested: Strategy = Field(description="The strategy asked for.")
    result: RunResult = Field(description="The run: answer, per-node timings, wall time.")
    reasons: list[str] = Field(description="Why the compiler chose this shape.")
    graph: dict[str, Any] = Field(description="The graph that ran: nodes and edges.")
    prediction: Prediction | None = Field(None, description="The cost model's prediction, if there was a parallel graph.")
    decision: str = Field("", description="Why this shape ran.")


class Comparison(BaseModel):
    """Serial and parallel on the same engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    serial: StrategyRun = Field(description="The one-node run.")
    parallel: StrategyRun = Field(description="The compiled-graph run.")
    speedup: float | None = Field(description="serial wall time / parallel wall time.")


def plan(
    prompt: str, strategy: Strategy, options: CompileOptions | None = None, *, schema: Schema | None = None,
    curve: EngineCurve | None = None, min_speedup: float = DEFAULT_MIN_SPEEDUP, max_concurrency: int = 16,
    pasta: PastaConfig | None = None, auto_pasta: bool = True,
) -> Plan:
    """The graph ``strategy`` runs for ``prompt`` (compare is planned as its two halves).

    ``schema`` replaces the rule-based one (e.g. from the LLM-assisted
    extractor). ``curve`` is the engine's measured curve (the built-in
    default if None); ``auto`` runs the parallel graph only when the
    predicted speedup on it is at least ``min_speedup``. ``pasta`` says how
    the pasta strategy decodes (default: lists mode within the serial cap).
    ``auto_pasta=False`` keeps pasta out of ``auto`` (for callers that run
    only the plan's graph: batch over Ray Data, serving).
    """
    options = options or CompileOptions()
    curve = curve or DEFAULT_CURVE
    match strategy:
        case Strategy.SERIAL:
            compiled = compile_prompt(prompt, options=options, schema=schema)
            return _plan(strategy, Strategy.SERIAL, serial_graph(prompt, options), compiled, None, "serial asked for")
        case Strategy.PARALLEL | Strategy.COMPARE:
            forced = options.model_copy(update={"force_parallel": True})
            compiled = compile_prompt(prompt, options=forced, schema=schema)
            if not compiled.parallel:
                raise StrategyError("no parallel plan for this prompt: " + "; ".join(compiled.reasons))
            prediction = predict(compiled, curve, max_concurrency=max_concurrency)
            return _plan(strategy, Strategy.PARALLEL, compiled.graph, compiled, prediction, "parallel asked for")
        case Strategy.AUTO:
            compiled = compile_prompt(prompt, options=options, schema=schema)
            if not compiled.parallel:
                items = list_items(compiled.prompt) if auto_pasta else None
                if items is None:
                    return _plan(strategy, Strategy.SERIAL, compiled.graph, compiled, None, "no safe parallel plan")
                return _decide_lists(compiled, items, curve, min_speedup, max_concurrency, options)
            prediction = predict(compiled, curve, max_concurrency=max_concurrency)
            return _decide(compiled, prediction, min_speedup, options)
        case Strategy.PASTA:
            compiled = compile_prompt(prompt, options=options, schema=schema)
            config = pasta or pasta_config(options.serial_max_tokens)
            decision = f"pasta asked for: {config.mode.value} mode within {config.max_tokens} tokens"
            chosen = _plan(strategy, Strategy.PASTA, serial_graph(prompt, options), compiled, None, decision)
            return chosen.model_copy(update={"pasta": config})
    raise AssertionError(f"unknown strategy {strategy!r}")


def _decide(compiled: Compiled, prediction: Prediction, min_speedup: float, options: CompileOptions) -> Plan:
    """auto's choice: the parallel graph when it is predicted to pay, the serial one otherwise."""
    figures = (f"predicted {prediction.speedup:.2f}x (serial {prediction.serial_s:.1f} s, "
               f"parallel {prediction.parallel_s:.1f} s, curve {prediction.curve})")
    if prediction.speedup >= min_speedup:
        return _plan(Strategy.AUTO, Strategy.PARALLEL, compiled.graph, compiled, prediction,
                     f"parallel: {figures} >= {min_speedup:g}x")
    graph = serial_graph(compiled.prompt, options)
    return _plan(Strategy.AUTO, Strategy.SERIAL, graph, compiled, prediction,
                 f"serial: {figures} < {min_speedup:g}x; {prediction.reason}")


def _decide_lists(compiled: Compiled, items: int, curve: EngineCurve, min_speedup: float, max_concurrency: int,
                  options: CompileOptions) -> Plan:
    """auto without a parallel graph on a likely list answer: pasta lists mode when predicted to pay, else serial."""
    config = pasta_config(options.serial_max_tokens)
    items = min(items, config.max_list_items)
    config = config.model_copy(update={"expected_list_items": items})  # the budget is shared as predicted
    shape = ListShape(items=items, item_tokens=item_budget(compiled.schema, compiled.prompt).expected_tokens,
                      fork_cap=config.fork_max_tokens)
    prediction = predict_lists(compiled.prompt, shape, curve, max_tokens=config.max_tokens,
                               max_concurrency=max_concurrency)
    figures = (f"no safe parallel plan, a list of ~{items} items likely; lists mode predicted {prediction.speedup:.2f}x "
               f"(serial {prediction.serial_s:.1f} s, pasta {prediction.parallel_s:.1f} s, curve {prediction.curve})")
    if prediction.speedup >= min_speedup:
        chosen = _plan(Strategy.AUTO, Strategy.PASTA, serial_graph(compiled.prompt, options), compiled, prediction,
                       f"pasta: {figures} >= {min_speedup:g}x")
        return chosen.model_copy(update={"pasta": config})
    return _plan(Strategy.AUTO, Strategy.SERIAL, compiled.graph, compiled, prediction,
                 f"serial: {figures} < {min_speedup:g}x; {prediction.reason}")


def _plan(requested: Strategy, executed: Strategy, graph: Graph, compiled: Compiled,
          prediction: Prediction | None, decision: str) -> Plan:
    return Plan(requested=requested, executed=executed, graph=graph, compiled=compiled.to_dict(),
                prediction=prediction, decision=decision, prompt=compiled.prompt)


async def execute(runtime: Runtime, chosen: Plan) -> RunResult:
    """Run a plan on ``runtime``: its graph, or (pasta) the interpreter on the runtime's engine."""
    if chosen.executed is Strategy.PASTA:
        assert chosen.pasta is not None, "a pasta plan carries its decoding config"
        result, _ = await run_pasta(runtime.engine, chosen.prompt, chosen.pasta, telemetry=runtime.telemetry)
        return result
    return await runtime.arun(chosen.graph)


async def run_plan(
    engine: Engine, chosen: Plan, config: RuntimeConfig | None = None, *, telemetry: Telemetry | None = None
) -> StrategyRun:
    """Execute a plan on ``engine``; with ``telemetry``, as one ``forkjoin.run`` span naming its strategy."""
    with run_span(telemetry, {"forkjoin.strategy": chosen.executed.value}):
        result = await execute(Runtime(engine, config, telemetry=telemetry), chosen)
    return StrategyRun(strategy=chosen.executed, requested=chosen.requested, result=result,
                       reasons=list(chosen.compiled["reasons"]), graph=graph_dict(chosen.graph),
                       prediction=chosen.prediction, decision=chosen.decision)


async def run_prompt(
    engine: Engine, prompt: str, strategy: Strategy = Strategy.AUTO, *,
    options: CompileOptions | None = None, config: RuntimeConfig | None = None, llm_fallback: bool = False,
    curve: EngineCurve | None = None, min_speedup: float = DEFAULT_MIN_SPEEDUP,
) -> StrategyRun | Comparison:
    """Answer ``prompt`` with ``strategy``; compare returns a Comparison.

    With ``llm_fallback``, a prompt the rules reject but that shows parallel
    signals is given to the LLM-assisted extractor on the same engine first.
    """
    schema = await extract(engine, prompt) if llm_fallback and strategy is not Strategy.SERIAL else None
    if strategy is Strategy.COMPARE:
        return await compare(engine, prompt, options=options, config=config, schema=schema, curve=curve)
    chosen = plan(prompt, strategy, options, schema=schema, curve=curve, min_speedup=min_speedup)
    return await run_plan(engine, chosen, config)


async def compare(
    engine: Engine, prompt: str, *, options: CompileOptions | None = None, config: RuntimeConfig | None = None,
    schema: Schema | None = None, curve: EngineCurve | None = None, telemetry: Telemetry | None = None,
) -> Comparison:
    """Run serial then parallel on the same engine; report both and the speedup (each run its own span)."""
    parallel_plan = plan(prompt, Strategy.PARALLEL, options, schema=schema, curve=curve)  # fail before the serial run
    serial = await run_plan(engine, plan(prompt, Strategy.SERIAL, options), config, telemetry=telemetry)
    parallel = await run_plan(engine, parallel_plan, config, telemetry=telemetry)
    speedup = serial.result.wall_s / parallel.result.wall_s if parallel.result.wall_s > 0 else None
    return Comparison(serial=serial, parallel=parallel, speedup=speedup)


def explain(chosen: Plan) -> str:
    """What auto decided and why: both predicted latencies and the cost model's reason (compile --explain)."""
    lines = [f"auto runs {chosen.executed.value}: {chosen.decision}"]
    p = chosen.prediction
    if p is not None:
        pasta = not chosen.compiled["parallelizable"]  # no graph to predict: the prediction is lists mode's
        side, parts = ("pasta   ", "list items") if pasta else ("parallel", "branches")
        lines += [f"  predicted serial   {p.serial_s:8.2f} s  ({p.serial_tokens} tokens)",
                  f"  predicted {side} {p.parallel_s:8.2f} s  ({p.parallel_tokens} tokens, {p.branches} {parts})",
                  f"  predicted speedup  {p.speedup:8.2f}x (physical bound {p.bound:.2f}x, curve {p.curve})",
                  f"  reason: {p.reason}"]
    return "\n".join(lines)
