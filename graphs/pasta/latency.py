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
``tag_tokens`` each in the stream that writes them. Pure.
"""

from __future__ import annotations

from collections.abc import Callable

from graphs.cost import EngineCurve, decode_time
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
