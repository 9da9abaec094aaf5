"""The cost model on synthetic engine curves: interpolation, decode sharing, and auto's two verdicts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from graphs import Graph
from graphs.compiler import compile_prompt
from graphs.cost import DEFAULT_CURVE, EngineCurve, TokenRatios, calibrate, decode_time, physical_bound, predict

FLAT = EngineCurve(model="flat", streams={1: 10.0, 2: 10.0, 4: 10.0, 8: 10.0})
STEEP = EngineCurve(model="steep", streams={1: 10.0, 2: 20.0, 4: 40.0, 8: 80.0})
TWO_LONG = ("Write a detailed paragraph about each of these two topics:\n1. The history of the Roman Empire.\n"
            "2. The future of artificial intelligence.")
EIGHT_SHORT = "Translate into French: cat, dog, bird, fish, house, tree, car, book"


def test_rates_interpolate_between_measured_points_and_stay_flat_beyond():
    curve = EngineCurve(streams={1: 10.0, 4: 40.0})
    assert curve.aggregate(1) == 10.0
    assert curve.aggregate(2) == pytest.approx(20.0)
    assert curve.aggregate(16) == 40.0
    assert curve.per_stream(16) == pytest.approx(2.5)


def test_a_curve_measured_from_two_streams_scales_down_per_stream():
    assert EngineCurve(streams={2: 30.0}).aggregate(1) == pytest.approx(15.0)


def test_bad_curves_are_rejected_with_the_offending_values():
    with pytest.raises(ValidationError, match="at least one measured stream count"):
        EngineCurve(streams={})
    with pytest.raises(ValidationError, match=r"stream counts must be >= 1 and rates > 0, got \{0: 5.0\}"):
        EngineCurve(streams={0: 5.0, 1: 3.0})


def test_stored_curve_keys_arrive_as_strings():
    curve = EngineCurve.model_validate({"model": "m", "streams": {"2": 20, "1": 10}, "prefill_tok_s": None})
    assert list(curve.streams) == [1, 2] and curve.prefill == DEFAULT_CURVE.prefill


def test_decode_time_lets_a_long_stream_finish_alone_at_the_single_stream_rate():
    # Two streams of 10 at 10 tok/s each (20 aggregate): 1 s; the long one's last 10 tokens alone: 1 s more.
    assert decode_time([10, 20], STEEP) == pytest.approx(2.0)
    # Concurrency 1 is serial: 30 tokens at 10 tok/s.
    assert decode_time([10, 20], STEEP, max_concurrency=1) == pytest.approx(3.0)


def test_physical_bound_is_the_batched_gain_capped_by_the_branch_count():
    assert physical_bound(STEEP, 8) == pytest.approx(8.0)
    assert physical_bound(FLAT, 8) == pytest.approx(1.0)
    assert physical_bound(EngineCurve(streams={1: 10.0, 2: 30.0}), 2) == 2.0
    assert physical_bound(STEEP, 1) == 1.0


def test_declines_two_long_items_with_a_short_shared_prefix_on_a_flat_curve():
    compiled = compile_prompt(TWO_LONG)
    assert compiled.parallel and compiled.schema.count == 2
    prediction = predict(compiled, FLAT)
    assert prediction.speedup < 1.2
    assert prediction.branches == 2 and prediction.bound == 1.0 and prediction.curve == "flat"
    assert "10 tok/s at 2 streams against 10 at one" in prediction.reason


def test_accepts_eight_short_items_on_a_steep_curve():
    prediction = predict(compile_prompt(EIGHT_SHORT), STEEP)
    assert prediction.branches == 8
    assert prediction.speedup >= 3.0
    assert prediction.parallel_s < prediction.serial_s


def test_the_same_prompt_gains_more_on_a_steeper_curve():
    compiled = compile_prompt(EIGHT_SHORT)
    assert predict(compiled, FLAT).speedup < predict(compiled, DEFAULT_CURVE).speedup < predict(compiled, STEEP).speedup


def test_a_final_step_costs_a_second_step_that_rewrites_the_items():
    plain = compile_prompt("Give me ideas for:\n1. a birthday party\n2. a picnic\n3. a wedding")
    final = compile_prompt("Give me ideas for:\n1. a birthday party\n2. a picnic\n3. a wedding\n"
                           "Then rank them from best to worst.")
    assert "final" in final.graph
    with_final, without = predict(final, STEEP), predict(plain, STEEP)
    assert with_final.parallel_s > without.parallel_s
    assert "in 2 steps" in with_final.reason


def test_a_bare_graph_is_predicted_from_its_nodes():
    g = Graph()
    with g.scope("all"):
        for k in range(4):
            g.generate(f"Write fact {k}.", name=f"fact-{k}", max_tokens=40)
    prediction = predict(g, STEEP)
    assert prediction.serial_tokens == prediction.parallel_tokens == 160
    assert prediction.speedup == pytest.approx(prediction.serial_s / prediction.parallel_s, rel=1e-2)
    assert 3.0 < prediction.speedup <= 4.0


def test_calibration_fits_median_ratios_by_category_and_all_and_composes():
    samples = [("Keyword Extraction", 50, 100, 300, 100), ("Keyword Extraction", 40, 100, 200, 100),
               ("Keyword Extraction", 60, 100, 250, 100), ("Translation", 100, 100, 100, 100)]
    fitted = calibrate(STEEP, samples)
    ke = fitted.ratios("Keyword Extraction")
    assert (ke.serial, ke.parallel, ke.prompts) == (0.5, 2.5, 3)
    assert "Translation" not in fitted.token_ratios  # one sample: it takes the ratios over all categories
    assert fitted.ratios("Translation") == fitted.token_ratios[""]
    assert (fitted.token_ratios[""].serial, fitted.token_ratios[""].parallel) == (0.55, 2.25)
    again = calibrate(fitted, [("Keyword Extraction", 25, 50, 250, 250)] * 3)  # predictions made with `fitted`
    assert (again.ratios("Keyword Extraction").serial, again.ratios("Keyword Extraction").parallel) == (0.25, 2.5)
    assert calibrate(STEEP, [("x", 1, 1000, 1, 1000)] * 3).ratios("x").serial == 0.05  # bounded
    assert calibrate(STEEP, []) is STEEP


def test_measured_ratios_scale_the_prediction_and_can_turn_auto_down():
    compiled = compile_prompt(EIGHT_SHORT)
    plain = predict(compiled, STEEP)
    category = plain.category
    assert category and plain.token_ratios.prompts == 0
    terse = STEEP.model_copy(update={"token_ratios": {category: TokenRatios(serial=0.25, parallel=2.0, prompts=5)}})
    scaled = predict(compiled, terse)
    assert scaled.serial_tokens == pytest.approx(plain.serial_tokens * 0.25, abs=1)
    assert scaled.parallel_tokens == pytest.approx(plain.parallel_tokens * 2.0, abs=compiled.schema.count)
    assert scaled.speedup < plain.speedup / 4
    assert "measured on 5" in scaled.reason and scaled.token_ratios.serial == 0.25
