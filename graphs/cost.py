"""The cost model: predicted serial and parallel latency of a compiled prompt on an engine.

Pure: the engine is described by an :class:`EngineCurve` passed in as data
(aggregate generated tokens/s at 1..N concurrent streams as ``bench engine``
measures them, prefill tokens/s, a per-request overhead); nothing here loads
or measures anything (``orchestrator.curves`` reads stored curves).

Model. A generation costs ``overhead + prompt_tokens / prefill + decode``.
Serial: one request with the whole prompt, writing every item (the
compiler's per-item estimate, :mod:`graphs.compiler.budget`) at the
one-stream rate. Parallel: the graph's generate nodes run in steps (a node's
step is one more than its latest generate ancestor's); in a step the prompts'
common prefix is prefilled once (prefix caching) plus each prompt's own
rest, and the streams decode together, each at ``aggregate(k) / k`` while
``k`` of them run (at most ``max_concurrency``), so a long branch finishes
alone at the faster single-stream share. Join and combine steps are free; a
final step over the joined answers prefills them and writes its own text.
Between measured stream counts the rate is interpolated linearly; beyond the
largest it stays flat (no extrapolated gains).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphs.compiler.budget import estimate_tokens, item_budget, serial_tokens
from graphs.compiler.build import Compiled
from graphs.compiler.depend import DependencyKind
from graphs.graph import Graph
from graphs.nodes import CombineNode, GenerateNode, ScopeNode
from graphs.template import placeholders, render


class TokenRatios(BaseModel):
    """What a model writes against the compiler's estimate, measured: measured tokens / estimated tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    serial: float = Field(1.0, gt=0, description="The serial answer's tokens over the estimate.")
    parallel: float = Field(1.0, gt=0, description="All branches' tokens over the estimate.")
    prompts: int = Field(0, ge=0, description="Prompts the ratios were measured on (0: not measured).")


NO_RATIOS = TokenRatios()


class SpeedupRatio(BaseModel):
    """Lists mode's measured wall speedup over its predicted one: what its simulation misses, measured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    factor: float = Field(gt=0, description="Median of measured / predicted speedup; predictions are scaled by it.")
    prompts: int = Field(ge=0, description="Prompts it was measured on.")
    built_in: bool = Field(False, description="The figure measured here and built in, not this curve's own.")


LISTS_MEASURED = SpeedupRatio(factor=0.451, prompts=11, built_in=True)
"""Measured 2026-12-02 (2 cores of an AMD EPYC, bf16, the default model): the 11 Vicuna-80 prompts the
list detector flags, ``eval run --strategy auto``; predicted median 2.27x, measured median 1.03x, the
per-prompt median of measured / predicted 0.451. Lists-mode predictions use it until ``eval run
--calibrate`` measures the curve's own."""
RATIO_BOUNDS = (0.05, 5.0)  # one odd measurement must not make the model absurd
MIN_CALIBRATION_PROMPTS = 3  # fewer in a category: it takes the ratios over all categories


class EngineCurve(BaseModel):
    """How fast an engine generates at each number of concurrent streams (measured data)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field("default", description="The model the curve was measured on ('default': the built-in curve).")
    streams: dict[int, float] = Field(description="Concurrent streams -> aggregate generated tokens/s over all of them.")
    prefill_tok_s: float | None = Field(None, gt=0, description="Prompt tokens/s; DEFAULT_PREFILL_TOK_S if unknown.")
    request_overhead_s: float = Field(0.05, ge=0, description="Fixed cost of one request (dispatch, first step).")
    measured_at: str | None = Field(None, description="ISO time of the measurement (None: built in).")
    machine: str | None = Field(None, description="Where it was measured.")
    token_ratios: dict[str, TokenRatios] = Field(
        default_factory=dict, description="By prompt category ('' for all of them): measured over estimated tokens "
        "(``eval run --calibrate``); none means the estimates stand.")
    lists_speedup: SpeedupRatio | None = Field(
        None, description="Lists mode's measured over predicted speedup (``eval run --calibrate`` on rows auto "
        "ran as pasta); None: the built-in LISTS_MEASURED.")

    @field_validator("streams")
    @classmethod
    def _check_streams(cls, streams: dict[int, float]) -> dict[int, float]:
        if not streams:
            raise ValueError("a curve needs at least one measured stream count")
        bad = {n: v for n, v in streams.items() if n < 1 or v <= 0}
        if bad:
            raise ValueError(f"stream counts must be >= 1 and rates > 0, got {bad}")
        return dict(sorted(streams.items()))

    def aggregate(self, n: float) -> float:
        """Aggregate tokens/s of ``n`` streams: linear between measured points, flat past the last."""
        points = list(self.streams.items())
        first_n, first_rate = points[0]
        if n <= first_n:
            return first_rate * max(n, 1) / first_n
        for (lo_n, lo_rate), (hi_n, hi_rate) in zip(points, points[1:]):
            if n <= hi_n:
                return lo_rate + (hi_rate - lo_rate) * (n - lo_n) / (hi_n - lo_n)
        return points[-1][1]

    def per_stream(self, n: float) -> float:
        """Tokens/s of each of ``n`` concurrent streams."""
        return self.aggregate(n) / max(n, 1)

    def ratios(self, category: str | None) -> TokenRatios:
        """The token ratios of ``category``, else those over all categories, else none (1.0)."""
        return self.token_ratios.get(category or "") or self.token_ratios.get("") or NO_RATIOS

    def lists_ratio(self) -> SpeedupRatio:
        """What lists-mode predictions are scaled by: this curve's measured ratio, else the built-in one."""
        return self.lists_speedup or LISTS_MEASURED

    @property
    def prefill(self) -> float:
        """Prompt tokens per second (measured, or the built-in default)."""
        return self.prefill_tok_s or DEFAULT_PREFILL_TOK_S


DEFAULT_PREFILL_TOK_S = 120.0
# Below the figures measured on the README's 2-core CPU (16.1, 28.9, 63.0, 104.4, 152.6 tok/s): conservative.
DEFAULT_CURVE = EngineCurve(streams={1: 12.0, 2: 22.0, 4: 45.0, 8: 75.0, 16: 110.0}, prefill_tok_s=DEFAULT_PREFILL_TOK_S)


class Prediction(BaseModel):
    """Predicted latencies of one prompt, serial and parallel, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    serial_s: float = Field(description="Predicted wall time of the one-request answer.")
    parallel_s: float = Field(description="Predicted wall time of the compiled graph.")
    speedup: float = Field(description="serial_s / parallel_s.")
    bound: float = Field(description="Physical bound: the curve's speedup for this many equal branches.")
    branches: int = Field(description="Generate nodes that run at once at the widest step.")
    serial_tokens: int = Field(description="Tokens the serial answer is expected to write.")
    parallel_tokens: int = Field(description="Tokens all parallel generations are expected to write.")
    curve: str = Field(description="The model of the curve used ('default': the built-in curve).")
    category: str = Field("", description="The prompt category the token ratios were looked up under.")
    token_ratios: TokenRatios = Field(NO_RATIOS, description="The measured token ratios applied (1.0: none).")
    reason: str = Field(description="One sentence: what drives the prediction.")


def physical_bound(curve: EngineCurve, branches: int) -> float:
    """Best speedup ``branches`` equal branches can reach on ``curve``: aggregate(N) / aggregate(1), at most N."""
    if branches <= 1:
        return 1.0
    return min(float(branches), curve.aggregate(branches) / curve.aggregate(1))


def predict(target: Compiled | Graph, curve: EngineCurve = DEFAULT_CURVE, *, max_concurrency: int = 16) -> Prediction:
    """Predict serial and parallel latency of a compiled prompt (or of a bare graph) on ``curve``.

    A bare graph has no serial prompt: its serial run is taken to be one
    request with every node's prompt, writing every node's expected tokens.
    """
    graph = target.graph if isinstance(target, Compiled) else target
    compiled = isinstance(target, Compiled)
    category = category_of(target) if compiled else ""
    ratios = curve.ratios(category) if compiled else NO_RATIOS
    expected = expected_outputs(graph, scale=ratios.parallel)
    steps = _steps(graph)
    parallel_s = sum(_step_time(graph, names, expected, curve, max_concurrency) for names in steps)
    gen_tokens = sum(expected[n] for names in steps for n in names)
    s_prompt, s_tokens = _serial_figures(target, graph, expected, ratios.serial)
    serial_s = curve.request_overhead_s + s_prompt / curve.prefill + s_tokens / curve.aggregate(1)
    branches = max((len(names) for names in steps), default=0)
    speedup = serial_s / parallel_s if parallel_s > 0 else 1.0
    reason = (f"{branches} branch{'es' if branches != 1 else ''} of ~{_median_tokens(steps, expected)} tokens "
              f"in {len(steps)} step{'s' if len(steps) != 1 else ''}: {curve.aggregate(branches):.0f} tok/s at "
              f"{branches} streams against {curve.aggregate(1):.0f} at one; {gen_tokens} tokens generated against "
              f"{s_tokens} serially")
    if ratios.prompts:
        reason += (f" (token estimates scaled by the ratios measured on {ratios.prompts} "
                   f"{category or 'all'} prompts: serial x{ratios.serial:g}, branches x{ratios.parallel:g})")
    return Prediction(serial_s=round(serial_s, 3), parallel_s=round(parallel_s, 3), speedup=round(speedup, 3),
                      bound=round(physical_bound(curve, branches), 3), branches=branches, serial_tokens=s_tokens,
                      parallel_tokens=gen_tokens, curve=curve.model, category=category, token_ratios=ratios,
                      reason=reason)


def expected_outputs(graph: Graph, *, scale: float = 1.0) -> dict[str, int]:
    """Expected output tokens of every node: generate nodes' estimate (times ``scale``), joins and combines the
    sum of their inputs."""
    expected: dict[str, int] = {}
    for name in graph.topological_order():
        node = graph.node(name)
        match node:
            case GenerateNode():
                expected[name] = max(1, round(node.cost * scale))
            case ScopeNode():
                expected[name] = sum(expected[m] + 2 for m in node.members)
            case CombineNode():
                expected[name] = sum(expected[m] for m in node.inputs) + estimate_tokens(_literal(node.template))
    return expected


def category_of(target: Compiled) -> str:
    """The prompt category a compiled prompt's ratios are kept under ('' when it has none)."""
    return target.schema.category or ""


def calibrate(curve: EngineCurve, samples: list[tuple[str, int, int, int, int]], *,
              lists: Sequence[tuple[float, float]] = (), min_prompts: int = MIN_CALIBRATION_PROMPTS) -> EngineCurve:
    """``curve`` with token ratios fitted to measurements, composed with the ratios it already has.

    ``samples``: (category, serial tokens, their prediction, parallel tokens, their prediction), the
    predictions made with ``curve``. Each ratio is the median of measured / predicted, kept within
    RATIO_BOUNDS; a category with fewer than ``min_prompts`` samples takes the ratios over all of them.
    ``lists``: (measured speedup, predicted speedup) of prompts run in lists mode; from ``min_prompts``
    of them on, the lists-mode ratio is composed with the median of measured / predicted.
    """
    curve = _calibrate_lists(curve, lists, min_prompts)
    usable = [s for s in samples if s[2] > 0 and s[4] > 0]
    if not usable:
        return curve
    groups: dict[str, list[tuple[str, int, int, int, int]]] = {"": usable}
    for sample in usable:
        if sample[0]:
            groups.setdefault(sample[0], []).append(sample)
    ratios = dict(curve.token_ratios)
    for category, group in groups.items():
        if category and len(group) < min_prompts:
            continue
        before = curve.ratios(category)
        ratios[category] = TokenRatios(
            serial=_bounded(before.serial * statistics.median([m / p for _, m, p, _, _ in group])),
            parallel=_bounded(before.parallel * statistics.median([m / p for _, _, _, m, p in group])),
            prompts=len(group))
    return curve.model_copy(update={"token_ratios": ratios})


def _calibrate_lists(curve: EngineCurve, lists: Sequence[tuple[float, float]], min_prompts: int) -> EngineCurve:
    usable = [(measured, predicted) for measured, predicted in lists if measured > 0 and predicted > 0]
    if len(usable) < min_prompts:
        return curve
    before = curve.lists_ratio().factor
    fitted = SpeedupRatio(factor=_bounded(before * statistics.median([m / p for m, p in usable])), prompts=len(usable))
    return curve.model_copy(update={"lists_speedup": fitted})


def _bounded(ratio: float) -> float:
    return round(min(RATIO_BOUNDS[1], max(RATIO_BOUNDS[0], ratio)), 3)


def _steps(graph: Graph) -> list[list[str]]:
    """Generate nodes grouped by step: one more than the latest generate node they wait for."""
    step: dict[str, int] = {}
    for name in graph.topological_order():
        node = graph.node(name)
        before = max((step[d] for d in node.dependencies), default=-1)
        step[name] = before + 1 if isinstance(node, GenerateNode) else before
    groups: dict[int, list[str]] = {}
    for name, k in step.items():
        if isinstance(graph.node(name), GenerateNode):
            groups.setdefault(k, []).append(name)
    return [groups[k] for k in sorted(groups)]


def _step_time(graph: Graph, names: list[str], expected: Mapping[str, int], curve: EngineCurve,
               max_concurrency: int) -> float:
    prompts = [_prompt_text(graph.node(n)) for n in names]
    shared = estimate_tokens(os.path.commonprefix(prompts)) if len(prompts) > 1 else 0
    own = sum(estimate_tokens(p) - shared + _input_tokens(graph.node(n), expected) for n, p in zip(names, prompts))
    prefill_s = (shared + own) / curve.prefill
    return curve.request_overhead_s + prefill_s + decode_time([expected[n] for n in names], curve, max_concurrency)


def decode_time(lengths: list[int], curve: EngineCurve, max_concurrency: int = 16) -> float:
    """Seconds to decode streams of these lengths together, at most ``max_concurrency`` at a time."""
    waiting = sorted(lengths, reverse=True)
    running: list[float] = []
    elapsed = 0.0
    while waiting or running:
        while waiting and len(running) < max_concurrency:
            running.append(float(waiting.pop()))
        rate = curve.per_stream(len(running))
        shortest = min(running)
        elapsed += shortest / rate
        running = [r - shortest for r in running if r - shortest > 1e-9]
    return elapsed


def _serial_figures(target: Compiled | Graph, graph: Graph, expected: Mapping[str, int],
                    ratio: float = 1.0) -> tuple[int, int]:
    """(prompt tokens, generated tokens) of the serial answer; ``ratio`` scales the compiler's estimate."""
    if isinstance(target, Compiled) and target.schema.count:
        kinds = {d.kind for d in target.dependencies}
        budget = item_budget(target.schema, target.prompt)
        tokens = serial_tokens(target.schema, budget, shared=DependencyKind.SHARED in kinds and target.schema.n is not None,
                               final=DependencyKind.AGGREGATE in kinds)
        return estimate_tokens(target.prompt), max(1, round(tokens * ratio))
    generates = [n for n in graph.nodes() if isinstance(n, GenerateNode)]
    prompts = [_prompt_text(n) for n in generates]
    shared = estimate_tokens(os.path.commonprefix(prompts)) if len(prompts) > 1 else 0
    prompt = sum(estimate_tokens(p) for p in prompts) - shared * max(len(prompts) - 1, 0)
    return prompt, sum(expected[n.name] for n in generates)


def _prompt_text(node: GenerateNode) -> str:
    return _literal(node.prompt) + _literal(node.system or "") + _literal(node.assistant_prefix)


def _literal(template: str) -> str:
    """A template's own text, every placeholder left empty."""
    return render(template, {name: "" for name in placeholders(template)})


def _input_tokens(node: GenerateNode, expected: Mapping[str, int]) -> int:
    return sum(expected.get(name, 0) for name in node.inputs)


def _median_tokens(steps: list[list[str]], expected: Mapping[str, int]) -> int:
    widest = max(steps, key=len, default=[])
    values = sorted(expected[n] for n in widest)
    return values[len(values) // 2] if values else 0
