"""Strategies on the scripted engine: auto picks the shape, compare measures the speedup."""

from __future__ import annotations

import re

import pytest

from actors import ScriptedEngine
from graphs.compiler import CompileOptions
from orchestrator.strategies import Comparison, Strategy, StrategyError, StrategyRun, compare, plan, run_prompt

SIX = ("Translate these sentences into French:\n1. The cat sleeps.\n2. The dog runs.\n3. It rains.\n"
       "4. I am hungry.\n5. We are late.\n6. The sun is hot.")
WORDS = " ".join(f"w{k}" for k in range(20))


def respond(request) -> str:
    """Branches answer with their own sentence; the serial prompt answers all six in order."""
    sentences = re.findall(r"^(?:\d\. )?(The cat sleeps\.|The dog runs\.|It rains\.|I am hungry\.|We are late\.|"
                           r"The sun is hot\.)$", request.prompt, re.MULTILINE)
    return " ".join(f"[{s}] {WORDS}" for s in sentences)


def test_auto_plans_parallel_or_serial():
    assert plan(SIX, Strategy.AUTO).executed is Strategy.PARALLEL
    assert plan("Why is the sky blue?", Strategy.AUTO).executed is Strategy.SERIAL
    assert plan(SIX, Strategy.SERIAL).graph.sinks() == ["answer"]


def test_parallel_without_structure_is_an_error():
    with pytest.raises(StrategyError, match="no parallel plan for this prompt: no list, count or set of questions"):
        plan("Why is the sky blue?", Strategy.PARALLEL)


def test_parallel_is_forced_past_a_chain():
    prompt = ("Write the parts of a story:\n1. The hero leaves.\n2. The hero returns.\n"
              "Each part should continue from where the previous one ends.")
    assert plan(prompt, Strategy.AUTO).executed is Strategy.SERIAL
    forced = plan(prompt, Strategy.PARALLEL)
    assert forced.executed is Strategy.PARALLEL
    assert any(r.startswith("forced parallel despite") for r in forced.compiled["reasons"])


def test_fanout_cap_applies_to_auto():
    assert plan(SIX, Strategy.AUTO, CompileOptions(max_fanout=5)).executed is Strategy.SERIAL


async def test_auto_runs_six_items_and_keeps_their_order(make):
    engine, _ = make(respond, token_delay_s=0.002)
    run = await run_prompt(engine, SIX)
    assert isinstance(run, StrategyRun) and run.strategy is Strategy.PARALLEL and run.result.ok
    lines = run.result.answer.split("\n")
    assert [line.split(" ")[0:2] for line in lines] == [
        ["1.", "[The"], ["2.", "[The"], ["3.", "[It"], ["4.", "[I"], ["5.", "[We"], ["6.", "[The"]]
    assert "[The sun is hot.]" in lines[5]
    assert engine.active == set()


async def test_compare_reports_both_answers_and_the_speedup(make):
    engine, _ = make(respond, token_delay_s=0.004)
    result = await compare(engine, SIX)
    assert isinstance(result, Comparison)
    assert result.serial.strategy is Strategy.SERIAL and result.parallel.strategy is Strategy.PARALLEL
    assert result.serial.result.answer.count("[") == 6 and result.parallel.result.answer.count("[") == 6
    assert result.speedup is not None and result.speedup > 2.0
    assert set(result.model_dump(mode="json")) == {"serial", "parallel", "speedup"}
    assert engine.active == set()


async def test_compare_fails_fast_without_structure():
    engine = ScriptedEngine()
    with pytest.raises(StrategyError):
        await compare(engine, "Why is the sky blue?")
    assert engine.calls == []


async def test_llm_fallback_plans_from_the_models_schema(make):
    unsure = "Put each of my two sentences into French please, the cat sleeps and also the dog barks"
    extraction = ('{"parallelizable": true, "category": "Translation", "template": "Translate into French: {data}", '
                  '"context": "", "data": ["the cat sleeps", "the dog barks"], "n": null}')

    def answer(request) -> str:
        if request.json_schema is not None:
            return extraction
        return "le chat dort" if "cat" in request.prompt else "le chien aboie"

    engine, _ = make(answer, token_delay_s=0.001)
    run = await run_prompt(engine, unsure, llm_fallback=True)
    assert run.strategy is Strategy.PARALLEL
    assert run.result.answer == "le chat dort\nle chien aboie"
    assert run.reasons[0] == "rules were unsure; schema from the LLM extractor"
    without = await run_prompt(engine, unsure)
    assert without.strategy is Strategy.SERIAL
