"""The pasta strategy: one answer decoded by the interpreter, planned and reported like any strategy run."""

from __future__ import annotations

import asyncio
import re

from actors.engine import GenerateRequest
from actors.scripted import ScriptedEngine
from graphs.compiler import CompileOptions
from orchestrator.pasta import PastaMode
from orchestrator.pasta_run import pasta_config
from orchestrator.strategies import Strategy, plan, run_plan

ANSWER = (
    "Tips:\n1. Sleep: Go to bed early and rest well every night.\n"
    "2. Food: Eat vegetables and fruit at every single meal.\n\nThat is all."
)
ITEMS = re.findall(r"^(\d)\. (\w+):( [^\n]*)$", ANSWER, re.M)


def list_model(request: GenerateRequest) -> str:
    prefix = request.assistant_prefix
    if prefix == "":
        return ANSWER
    last = prefix.rsplit("\n", 1)[-1]
    if match := re.match(r"^(\d)\. (\w+):$", last):
        return ANSWER[ANSWER.index(ITEMS[int(match.group(1)) - 1][2]) :]
    if match := re.match(r"^(\d)\.$", last):
        number = int(match.group(1))
        return "\n\nThat is all." if number > len(ITEMS) else f" {ITEMS[number - 1][1]}:{ITEMS[number - 1][2]}"
    return "\n\nThat is all."


def test_pasta_plans_lists_mode_within_the_serial_cap() -> None:
    chosen = plan("Give two health tips.", Strategy.PASTA, CompileOptions(serial_max_tokens=300))
    assert chosen.executed is Strategy.PASTA and chosen.prompt == "Give two health tips."
    assert chosen.pasta == pasta_config(300)
    assert chosen.pasta.mode is PastaMode.LISTS and chosen.pasta.max_tokens == 300
    assert chosen.decision == "pasta asked for: lists mode within 300 tokens"
    assert [node.name for node in chosen.graph.nodes()] == ["answer"]  # the serial graph it falls back to


def test_a_tuned_model_decodes_tags_without_the_system_prompt() -> None:
    config = pasta_config(128, tuned=True)
    assert (config.mode, config.prompted, config.max_tokens) == (PastaMode.TAGS, False, 128)


def test_a_pasta_run_reports_every_request_as_a_node() -> None:
    engine = ScriptedEngine(list_model, token_delay_s=0.0)
    chosen = plan("tips", Strategy.PASTA, CompileOptions(serial_max_tokens=200))
    outcome = asyncio.run(run_plan(engine, chosen))
    assert outcome.strategy is Strategy.PASTA and outcome.requested is Strategy.PASTA
    assert outcome.result.answer == ANSWER and outcome.result.ok
    names = [node.name for node in outcome.result.nodes]
    assert {"main-1", "fork-1", "fork-2"} <= set(names)
    assert outcome.result.tokens == engine.generated_tokens <= 200
    assert engine.active == set()


def test_a_failed_main_request_is_a_failed_run() -> None:
    def broken(request: GenerateRequest) -> str:
        raise ValueError("no answer")

    engine = ScriptedEngine(broken)
    outcome = asyncio.run(run_plan(engine, plan("tips", Strategy.PASTA)))
    assert not outcome.result.ok
    assert outcome.result.error == "pasta answer failed: scripted failure: no answer"
    assert [node.status.value for node in outcome.result.nodes] == ["failed"]
    assert engine.active == set()

