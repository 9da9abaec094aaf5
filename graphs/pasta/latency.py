"""The latency filter on a measured engine curve: does decoding this annotated response in parallel pay?

Role: the paper keeps an annotated example only if PASTA decoding is
predicted at least 20% faster than sequential decoding. Here the prediction
uses the engine's measured curve (:class:`graphs.cost.EngineCurve`, stored
by ``forkjoin bench engine``), so concurrent streams slow each other as they
do on this machine, instead of a fixed cost per token.

Model: sequential decoding is one request writing every content token. PASTA
writes the text outside scopes as one stream; each scope is one step in
which the main stream's text inside the scope (the headers) and every fork
decode together (:func:`graphs.cost.decode_time` on the curve), plus one
request overhead per fork and one to resume after the join. Tags cost
``tag_tokens`` each in the stream that writes them.

Lists mode before the answer exists (:func:`predict_lists`, what ``auto``
asks for a prompt whose answer is likely a list): the serial answer is the
compiler's estimate of a list of that many items (framing plus items, as
:mod:`graphs.compiler.budget` counts them), scaled by the curve's measured
serial token ratio like the cost model's serial side, and never more than
the cap. Lists mode writes the same answer in pieces: the first request
writes the introduction and header 1; each header after it is a request of
its own that prefills the whole growing prefix (no prefix caching assumed)
and writes a few header tokens, one after the other; fork ``k`` starts when
header ``k`` is out (overhead and the prefill of the answer so far) and
writes its item's elaboration within its share of the one budget
(:func:`graphs.pasta.budget.fork_share`, reservations held until the list
ends). Everything that decodes at once shares the curve
(:func:`_simulate`, at most ``max_concurrency`` streams). One more header
request finds the list's end, and after the join the main stream resumes
with the whole answer to prefill. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from graphs.compiler.budget import ITEM_FRAMING, SERIAL_FRAMING, TOKENS, ItemSize, estimate_tokens
from graphs.cost import EngineCurve, Prediction, decode_time, physical_bound
from graphs.pasta.budget import fork_share
from graphs.pasta.render import joined
from graphs.pasta.tree import Document, Fork, Node, Scope, Text

Count = Callable[[str], int]


def _lengths(children: tuple[Node, ...], count: Count, tag_tokens: int) -> tuple[int, list[int]]:
    """A scope's main-stream tokens (its text, tags and nested scopes inline) and each fork's tokens."""
    main, forks = 2 * tag_tokens, []
    for child in children:
        match child:
            case Text(text=text):
                main += count(text)
            case Fork(body=body):
                main += tag_tokens
                forks.append(count(joined(body or ())) + tag_tokens)
            case Scope(children=inner):
                inner_main, inner_forks = _lengths(inner, count, tag_tokens)
                main += inner_main
                forks += inner_forks
    return main, forks


def curve_latency(document: Document, curve: EngineCurve, count: Count, *, tag_tokens: int = 1) -> tuple[float, float]:
    """(sequential seconds, PASTA seconds) to decode ``document`` on an engine with this curve."""
    sequential = curve.request_overhead_s + decode_time([count(joined(document.children))], curve)
    pasta, outside = curve.request_overhead_s, 0
    for child in document.children:
        match child:
            case Scope(children=children):
                main, forks = _lengths(children, count, tag_tokens)
                pasta += decode_time([main, *forks], curve) + curve.request_overhead_s * (len(forks) + 1)
            case _:
                outside += count(joined((child,)))
    return sequential, pasta + decode_time([outside], curve)


def is_faster_on(document: Document, curve: EngineCurve, count: Count, *, at_least: float = 0.2) -> bool:
    """The paper's latency filter on this curve: PASTA at least ``at_least`` faster than sequential."""
    sequential, pasta = curve_latency(document, curve, count)
    return pasta <= (1.0 - at_least) * sequential


# -- lists mode, predicted from the prompt --------------------------------

SPECULATED_TOKENS = 2  # the header request after the last item writes a line break or two, then stops
RESUMED_TOKENS = 1  # after the join the main stream ends at once when the answer is over


class ListShape(BaseModel):
    """What a lists-mode answer is expected to look like: estimates, not measurements."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    items: int = Field(ge=1, description="Items the list is expected to have (the prompt's count, else a default).")
    item_tokens: int = Field(TOKENS[ItemSize.ANSWER], ge=1,
                             description="Tokens one item takes in the serial answer, header included.")
    header_tokens: int = Field(8, ge=1, description="Tokens of one item's header ('1. Eye strain:').")
    fork_cap: int = Field(256, ge=1, description="The largest share one fork may get (the interpreter's fork_max_tokens).")


@dataclass(slots=True)
class _Request:
    """One lists-mode request on the simulated engine: when it starts decoding and what it has left."""

    ready: float
    left: float
    header: int | None  # the main chain's request for header ``header`` (0-based); None: a fork


def predict_lists(prompt: str, shape: ListShape, curve: EngineCurve, *, max_tokens: int,
                  max_concurrency: int = 16) -> Prediction:
    """Predicted serial and lists-mode latency of ``prompt`` on ``curve`` (module doc); ``parallel_s`` is lists mode."""
    ratios = curve.ratios("")
    estimate = SERIAL_FRAMING + shape.items * (ITEM_FRAMING + shape.item_tokens)
    serial = max(1, min(max_tokens, round(estimate * ratios.serial)))
    prompt_tokens = estimate_tokens(prompt)
    forks = _fork_tokens(shape, serial, max_tokens)
    answer = SERIAL_FRAMING + shape.items * shape.header_tokens + sum(forks)
    serial_s = curve.request_overhead_s + prompt_tokens / curve.prefill + serial / curve.aggregate(1)
    listed_s = _simulate(prompt_tokens, shape, forks, curve, max_concurrency)
    resumed_s = curve.request_overhead_s + (prompt_tokens + answer) / curve.prefill + RESUMED_TOKENS / curve.aggregate(1)
    measured = curve.lists_ratio()
    pasta_s = (listed_s + resumed_s) / measured.factor  # what the simulation misses, as measured
    wide = min(shape.items, max_concurrency)
    reason = (f"lists mode: {shape.items} items forked as their headers are written, forks of ~{max(forks)} tokens "
              f"beside a chain of {shape.items} header requests; {curve.aggregate(wide + 1):.0f} tok/s at "
              f"{wide + 1} streams against {curve.aggregate(1):.0f} at one; {answer} tokens against {serial} serially "
              f"(cap {max_tokens})")
    if ratios.prompts:
        reason += f" (serial estimate scaled by the ratio measured on {ratios.prompts} prompts: x{ratios.serial:g})"
    origin = "built in" if measured.built_in else "this curve's"
    reason += (f"; simulated speedup x{measured.factor:g}, the measured / predicted median of {measured.prompts} "
               f"prompts ({origin})")
    return Prediction(serial_s=round(serial_s, 3), parallel_s=round(pasta_s, 3), speedup=round(serial_s / pasta_s, 3),
                      bound=round(physical_bound(curve, wide), 3), branches=shape.items, serial_tokens=serial,
                      parallel_tokens=answer, curve=curve.model, token_ratios=ratios, reason=reason)


def _fork_tokens(shape: ListShape, serial: int, total: int) -> list[int]:
    """Each fork's tokens: its item's elaboration in the serial answer, within the share the budget grants it."""
    natural = max(1, (serial - SERIAL_FRAMING) // shape.items - shape.header_tokens)
    free = total - SERIAL_FRAMING - shape.header_tokens
    tokens = []
    for index in range(shape.items):
        share = fork_share(max(0, free), index, expected_items=shape.items, cap=shape.fork_cap)
        tokens.append(max(1, min(share, natural)))
        free -= share + shape.header_tokens
    return tokens


def _simulate(prompt_tokens: int, shape: ListShape, forks: list[int], curve: EngineCurve,
              max_concurrency: int) -> float:
    """Seconds until the list is written: the header chain and the forks decoding together on ``curve``."""
    def ready(now: float, prefix: int) -> float:
        return now + curve.request_overhead_s + prefix / curve.prefill

    waiting = [_Request(ready(0.0, prompt_tokens), SERIAL_FRAMING + shape.header_tokens, 0)]
    running: list[_Request] = []
    now = 0.0
    while waiting or running:
        waiting.sort(key=lambda r: r.ready)
        while waiting and waiting[0].ready <= now and len(running) < max_concurrency:
            running.append(waiting.pop(0))
        rate = curve.per_stream(len(running))
        starts = [waiting[0].ready - now] if waiting and len(running) < max_concurrency else []
        step = min([r.left / rate for r in running] + starts)
        now += step
        for request in running:
            request.left -= step * rate
        for done in [r for r in running if r.left <= 1e-9]:
            running.remove(done)
            if done.header is not None:
                waiting += _after_header(done.header, now, prompt_tokens, shape, forks, ready)
    return now


def _after_header(index: int, now: float, prompt_tokens: int, shape: ListShape, forks: list[int],
                  ready: Callable[[float, int], float]) -> list[_Request]:
    """Header ``index`` is out: its fork starts, and the main stream asks for the next header."""
    before = prompt_tokens + SERIAL_FRAMING
    if index >= len(forks):
        return []  # the speculated header after the last item: the list is over
    fork = _Request(ready(now, before + shape.header_tokens), forks[index], None)
    last = index + 1 == len(forks)
    tokens = SPECULATED_TOKENS if last else shape.header_tokens
    return [fork, _Request(ready(now, before + (index + 1) * shape.header_tokens), tokens, index + 1)]
