"""auto asks the cost model: the parallel graph only when its predicted speedup reaches the threshold."""

from __future__ import annotations

from graphs.cost import EngineCurve
from orchestrator.strategies import Strategy, plan

FLAT = EngineCurve(model="flat", streams={1: 10.0, 2: 10.0, 8: 10.0})
STEEP = EngineCurve(model="steep", streams={1: 10.0, 2: 20.0, 8: 80.0})
EIGHT = "Translate into French: cat, dog, bird, fish, house, tree, car, book"
TWO_LONG = ("Write a detailed paragraph about each of these two topics:\n1. The history of the Roman Empire.\n"
            "2. The future of artificial intelligence.")


def test_auto_declines_on_a_flat_curve_and_says_why():
    chosen = plan(TWO_LONG, Strategy.AUTO, curve=FLAT)
    assert chosen.executed is Strategy.SERIAL and chosen.graph.sinks() == ["answer"]
    assert chosen.prediction is not None and chosen.prediction.speedup < 1.2
    assert chosen.decision.startswith("serial: predicted ") and "< 1.2x" in chosen.decision


def test_auto_decomposes_on_a_steep_curve():
    chosen = plan(EIGHT, Strategy.AUTO, curve=STEEP)
    assert chosen.executed is Strategy.PARALLEL and chosen.prediction.speedup >= 1.2
    assert chosen.decision.startswith("parallel: predicted ") and ">= 1.2x" in chosen.decision


def test_the_threshold_is_configurable():
    speedup = plan(EIGHT, Strategy.AUTO, curve=STEEP).prediction.speedup
    assert plan(EIGHT, Strategy.AUTO, curve=STEEP, min_speedup=speedup + 0.01).executed is Strategy.SERIAL


def test_forced_parallel_carries_the_prediction_but_ignores_it():
    chosen = plan(TWO_LONG, Strategy.PARALLEL, curve=FLAT)
    assert chosen.executed is Strategy.PARALLEL and chosen.prediction.speedup < 1.2


def test_no_prediction_without_a_parallel_plan():
    chosen = plan("Why is the sky blue?", Strategy.AUTO)
    assert chosen.executed is Strategy.SERIAL and chosen.prediction is None
    assert chosen.decision == "no safe parallel plan"
