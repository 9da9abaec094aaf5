"""Lists mode predicted from the prompt on an engine curve: a hand-checked case, then the shape of the curve."""

from __future__ import annotations

import pytest

from graphs.cost import DEFAULT_CURVE, LISTS_MEASURED, EngineCurve, SpeedupRatio, TokenRatios, calibrate, physical_bound
from graphs.pasta.latency import ListShape, predict_lists

PROMPT = "What are the most effective ways to deal with stress?"
# 10 tok/s for every stream up to 8 of them; requests and prefill cost (next to) nothing.
EXACT = SpeedupRatio(factor=1.0, prompts=3)  # the simulation alone: measured exact on this curve
LINEAR = EngineCurve(model="linear", streams={1: 10.0, 8: 80.0}, prefill_tok_s=1e9, request_overhead_s=0.0,
                     lists_speedup=EXACT)
FLAT = EngineCurve(model="flat", streams={1: 10.0, 8: 10.0}, lists_speedup=EXACT)


def test_two_items_by_hand() -> None:
    # Serial: 8 framing + 2 x (3 + 20) = 54 tokens at 10 tok/s: 5.4 s. Lists mode: main-1 writes 8 + 4 header
    # tokens (1.2 s); then fork 1 (19 tokens: 54 - 8 = 46 over 2 items, less the header) and header 2 (4 tokens,
    # 0.4 s); then fork 2 and the speculated header; fork 2 ends at 1.6 + 1.9 = 3.5 s; the resumed main stream
    # writes one token (0.1 s): 3.6 s.
    shape = ListShape(items=2, item_tokens=20, header_tokens=4)
    p = predict_lists(PROMPT, shape, LINEAR, max_tokens=1000)
    assert (p.serial_tokens, p.parallel_tokens, p.branches) == (54, 54, 2)
    assert p.serial_s == pytest.approx(5.4, abs=1e-3) and p.parallel_s == pytest.approx(3.6, abs=1e-3)
    assert p.speedup == pytest.approx(1.5, abs=1e-3)
    assert p.reason.startswith("lists mode: 2 items forked as their headers are written")


def test_more_items_pay_more_up_to_the_concurrency_limit() -> None:
    simulated = DEFAULT_CURVE.model_copy(update={"lists_speedup": EXACT})
    speedups = [predict_lists(PROMPT, ListShape(items=n), simulated, max_tokens=2048).speedup for n in (2, 3, 5, 8)]
    assert speedups == sorted(speedups) and speedups[0] > 1.0
    for n in (2, 4, 8, 16):
        capped = predict_lists(PROMPT, ListShape(items=n, item_tokens=60), LINEAR, max_tokens=4096, max_concurrency=4)
        assert capped.speedup <= physical_bound(LINEAR, 4) + 1e-9 and capped.bound == min(n, 4)
    wide = predict_lists(PROMPT, ListShape(items=16, item_tokens=60), LINEAR, max_tokens=4096, max_concurrency=16)
    narrow = predict_lists(PROMPT, ListShape(items=16, item_tokens=60), LINEAR, max_tokens=4096, max_concurrency=4)
    assert wide.speedup > narrow.speedup


def test_a_curve_without_concurrency_gains_predicts_lists_mode_slower() -> None:
    for n in (2, 5, 8):
        assert predict_lists(PROMPT, ListShape(items=n), FLAT, max_tokens=2048).speedup < 1.0


def test_the_serial_answer_is_the_estimate_scaled_by_measured_ratios_within_the_cap() -> None:
    shape = ListShape(items=5)
    assert predict_lists(PROMPT, shape, DEFAULT_CURVE, max_tokens=2048).serial_tokens == 8 + 5 * (3 + 110)
    assert predict_lists(PROMPT, shape, DEFAULT_CURVE, max_tokens=300).serial_tokens == 300
    calibrated = DEFAULT_CURVE.model_copy(update={"token_ratios": {"": TokenRatios(serial=0.5, prompts=4)}})
    halved = predict_lists(PROMPT, shape, calibrated, max_tokens=2048)
    assert halved.serial_tokens == round(573 * 0.5) and "measured on 4 prompts: x0.5" in halved.reason


def test_lists_mode_never_writes_more_than_the_shared_budget() -> None:
    for cap in (64, 256, 512):
        p = predict_lists(PROMPT, ListShape(items=6, fork_cap=256), DEFAULT_CURVE, max_tokens=cap)
        assert p.parallel_tokens <= cap + 6  # each fork writes at least one token even when its share is gone


def test_the_measured_ratio_scales_the_simulated_speedup_and_calibration_composes_it() -> None:
    shape = ListShape(items=5, item_tokens=60, fork_cap=200)
    exact = predict_lists("Give five tips for sleep.", shape, LINEAR, max_tokens=600)
    halved = LINEAR.model_copy(update={"lists_speedup": SpeedupRatio(factor=0.5, prompts=4)})
    scaled = predict_lists("Give five tips for sleep.", shape, halved, max_tokens=600)
    assert scaled.serial_s == exact.serial_s and scaled.speedup == pytest.approx(exact.speedup * 0.5, rel=0.01)
    assert "x0.5" in scaled.reason and "this curve's" in scaled.reason
    assert DEFAULT_CURVE.lists_ratio() == LISTS_MEASURED and LISTS_MEASURED.built_in
    # measured speedups at 0.8 of the (already scaled) predictions: the ratio becomes 0.5 * 0.8
    fitted = calibrate(halved, [], lists=[(0.8 * p, p) for p in (1.5, 2.0, 2.5)])
    assert fitted.lists_speedup == SpeedupRatio(factor=0.4, prompts=3)
    assert calibrate(halved, [], lists=[(1.0, 2.0)] * 2).lists_speedup == halved.lists_speedup  # too few prompts
