"""Stored engine curves: the file bench engine writes, the default when none, one-line errors."""

from __future__ import annotations

import json

import pytest

from graphs.cost import DEFAULT_CURVE, EngineCurve, TokenRatios
from orchestrator.curves import CurveError, curve_path, load_curve, write_curve


def test_no_stored_curve_means_the_default(tmp_path):
    assert load_curve("Qwen/Qwen2.5-0.5B-Instruct", tmp_path) is DEFAULT_CURVE
    assert load_curve(None, tmp_path) is DEFAULT_CURVE


def test_reads_the_shape_bench_engine_stores(tmp_path):
    path = curve_path("Qwen/Qwen2.5-0.5B-Instruct", tmp_path)
    assert path.name == "Qwen_Qwen2.5-0.5B-Instruct.json"
    path.write_text(json.dumps({"model": "Qwen/Qwen2.5-0.5B-Instruct", "streams": {"1": 16.1, "2": 28.9, "8": 104.4},
                                "prefill_tok_s": None, "measured_at": "2026-12-01T22:00:00Z", "machine": "2-core"}))
    curve = load_curve("Qwen/Qwen2.5-0.5B-Instruct", tmp_path)
    assert curve.streams == {1: 16.1, 2: 28.9, 8: 104.4} and curve.machine == "2-core"
    assert curve.aggregate(4) == pytest.approx(28.9 + (104.4 - 28.9) * 2 / 6)


def test_write_then_load_round_trips(tmp_path):
    curve = EngineCurve(model="m", streams={1: 10.0, 4: 30.0}, prefill_tok_s=200.0)
    write_curve(curve, tmp_path)
    assert load_curve("m", tmp_path) == curve


@pytest.mark.parametrize("text, message", [
    ("{not json", r"m.json: not a JSON engine curve"),
    ("[1, 2]", r"m.json: an engine curve must be a JSON object"),
    ('{"model": "m", "streams": {"1": -3}}', r"m.json: streams: Value error, stream counts must be >= 1"),
    ('{"model": "m"}', r"m.json: streams: Field required"),
])
def test_a_damaged_file_is_one_line(tmp_path, text, message):
    (tmp_path / "m.json").write_text(text)
    with pytest.raises(CurveError, match=message):
        load_curve("m", tmp_path)


def test_a_new_speed_measurement_keeps_the_stored_token_ratios(tmp_path):
    from graphs.cost import SpeedupRatio

    ratios = {"": TokenRatios(serial=0.5, parallel=1.5, prompts=12)}
    lists = SpeedupRatio(factor=0.6, prompts=5)
    write_curve(EngineCurve(model="m", streams={1: 10.0}, token_ratios=ratios, lists_speedup=lists), tmp_path)
    write_curve(EngineCurve(model="m", streams={1: 12.0, 8: 60.0}), tmp_path)  # bench engine, no ratios
    stored = load_curve("m", tmp_path)
    assert stored.streams == {1: 12.0, 8: 60.0} and stored.token_ratios == ratios
    assert stored.lists_speedup == lists
