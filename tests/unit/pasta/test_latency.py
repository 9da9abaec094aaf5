"""The latency filter on a measured engine curve, checked by hand on a two-fork answer."""

from __future__ import annotations

import pytest

from graphs.cost import EngineCurve
from graphs.pasta import parse
from graphs.pasta.latency import curve_latency, is_faster_on
from graphs.pasta.training import word_tokens

BODY = " w" * 40
DOCUMENT = parse(f"Tips:<scope>\n1. A:<promise/><async>{BODY}</async>\n2. B:<promise/><async>{BODY}</async></scope> End")


def words(text: str) -> int:
    return len(word_tokens(text))


def test_a_flat_curve_makes_forks_share_one_streams_speed() -> None:
    # 86 content tokens at 10 tok/s, plus one request: 8.65 s. PASTA: the scope's main stream (8 tokens:
    # two headers, three tags) and two forks of 41 decode together at 10 tok/s in all: 8 tokens at 3 streams
    # (2.4 s), 33 at 2 streams (6.6 s); 4 requests (0.2 s); the 2 tokens outside the scope (0.2 s): 9.4 s.
    flat = EngineCurve(streams={1: 10.0, 2: 10.0})
    sequential, pasta = curve_latency(DOCUMENT, flat, words)
    assert sequential == pytest.approx(8.65) and pasta == pytest.approx(9.4)
    assert not is_faster_on(DOCUMENT, flat, words)


def test_a_curve_that_scales_with_streams_makes_forking_pay() -> None:
    linear = EngineCurve(streams={1: 10.0, 4: 40.0})
    sequential, pasta = curve_latency(DOCUMENT, linear, words)
    # Each stream keeps 10 tok/s: the scope takes as long as its longest fork (41 tokens).
    assert sequential == pytest.approx(8.65) and pasta == pytest.approx(0.05 + 4.1 + 0.15 + 0.2)
    assert is_faster_on(DOCUMENT, linear, words)
