"""auto on a prompt with no parallel plan whose answer is likely a list: pasta lists mode when predicted to pay.

Also what the callers do with such a plan: run and eval run decode it (eval counts it as forked, never as
decomposed); batch and serving, which run graphs only, keep auto to serial or parallel.
"""

from __future__ import annotations

import asyncio

from actors import ScriptedEngine
from actors.engine import GenerateRequest
from graphs.compiler import CompileOptions
from graphs.cost import EngineCurve, SpeedupRatio
from orchestrator.batch.worker import Job, run_rows
from orchestrator.config import RuntimeConfig
from orchestrator.eval.metrics import derive, summarize
from orchestrator.eval.runner import EvalConfig, calibration_samples, load, measure_all, prepare
from orchestrator.pasta import PastaMode
from orchestrator.pasta_run import pasta_config
from orchestrator.serving import ChatRequest, Service, ServiceConfig, parse_request
from orchestrator.strategies import Strategy, explain, plan, run_plan
from tests.unit.pasta.test_strategy_pasta import ANSWER
from tests.unit.pasta.test_strategy_pasta import list_model as two_items

LIST_PROMPT = "What are the most effective ways to deal with stress?"
THREE = "What are three good habits for better sleep?"
EXACT = SpeedupRatio(factor=1.0, prompts=3)  # a curve whose lists-mode simulation measured exact
FLAT = EngineCurve(model="flat", streams={1: 10.0, 2: 10.0, 8: 10.0}, lists_speedup=EXACT)
STEEP = EngineCurve(model="steep", streams={1: 10.0, 2: 20.0, 8: 80.0}, lists_speedup=EXACT)
EIGHT = "Translate into French: cat, dog, bird, fish, house, tree, car, book"
TWO_LONG = ("Write a detailed paragraph about each of these two topics:\n1. The history of the Roman Empire.\n"
            "2. The future of artificial intelligence.")


def list_model(request: GenerateRequest) -> str:
    """The pasta strategy tests' two-item list model, and plain answers for the other rows."""
    if "Why" in request.prompt:
        return "Because of Rayleigh scattering."
    if "cat, dog" in request.prompt:
        return "chat, chien, oiseau, poisson, maison, arbre, voiture, livre"
    return two_items(request)


def test_auto_decodes_a_likely_list_with_pasta_on_a_curve_that_pays() -> None:
    chosen = plan(THREE, Strategy.AUTO, CompileOptions(serial_max_tokens=400), curve=STEEP)
    assert chosen.executed is Strategy.PASTA and chosen.requested is Strategy.AUTO
    assert chosen.pasta == pasta_config(400).model_copy(update={"expected_list_items": 3})
    assert chosen.pasta.mode is PastaMode.LISTS and chosen.prompt == THREE
    assert chosen.prediction is not None and chosen.prediction.speedup >= 1.2 and chosen.prediction.branches == 3
    assert chosen.decision.startswith("pasta: no safe parallel plan, a list of ~3 items likely; lists mode predicted ")
    assert ">= 1.2x" in chosen.decision and "curve steep" in chosen.decision
    assert [node.name for node in chosen.graph.nodes()] == ["answer"]


def test_auto_stays_serial_when_lists_mode_is_predicted_not_to_pay() -> None:
    chosen = plan(LIST_PROMPT, Strategy.AUTO, curve=FLAT)
    assert chosen.executed is Strategy.SERIAL and chosen.pasta is None
    assert chosen.prediction is not None and chosen.prediction.speedup < 1.2
    assert chosen.decision.startswith("serial: no safe parallel plan, a list of ~5 items likely; lists mode predicted ")
    assert "< 1.2x; lists mode: 5 items" in chosen.decision
    speedup = plan(LIST_PROMPT, Strategy.AUTO, curve=STEEP).prediction.speedup
    assert plan(LIST_PROMPT, Strategy.AUTO, curve=STEEP, min_speedup=speedup + 0.01).executed is Strategy.SERIAL


def test_prompts_that_are_no_list_or_have_a_graph_keep_their_old_plans() -> None:
    plain = plan("Why is the sky blue?", Strategy.AUTO, curve=STEEP)
    assert (plain.executed, plain.prediction, plain.decision) == (Strategy.SERIAL, None, "no safe parallel plan")
    graph = plan(EIGHT, Strategy.AUTO, curve=STEEP)
    assert graph.executed is Strategy.PARALLEL and graph.decision.startswith("parallel: predicted ")
    declined = plan(TWO_LONG, Strategy.AUTO, curve=FLAT)
    assert declined.executed is Strategy.SERIAL and declined.decision.startswith("serial: predicted ")
    made = plan("Give three short tips for staying focused while studying.", Strategy.AUTO)  # the make run prompt
    assert made.executed is Strategy.PARALLEL
    kept_out = plan(LIST_PROMPT, Strategy.AUTO, curve=STEEP, auto_pasta=False)
    assert (kept_out.executed, kept_out.prediction, kept_out.decision) == (Strategy.SERIAL, None, "no safe parallel plan")


def test_explain_shows_the_lists_mode_prediction() -> None:
    text = explain(plan(LIST_PROMPT, Strategy.AUTO, curve=STEEP))
    lines = text.split("\n")
    assert lines[0].startswith("auto runs pasta: pasta: no safe parallel plan")
    assert lines[2].startswith("  predicted pasta ") and lines[2].endswith("5 list items)")
    assert "reason: lists mode: 5 items" in text
    graph = explain(plan(EIGHT, Strategy.AUTO, curve=STEEP)).split("\n")
    assert graph[2].startswith("  predicted parallel ") and graph[2].endswith("8 branches)")


def test_an_auto_pasta_plan_runs_through_the_interpreter() -> None:
    engine = ScriptedEngine(list_model, token_delay_s=0.0)
    chosen = plan(LIST_PROMPT, Strategy.AUTO, CompileOptions(serial_max_tokens=200), curve=STEEP)
    outcome = asyncio.run(run_plan(engine, chosen))
    assert outcome.strategy is Strategy.PASTA and outcome.requested is Strategy.AUTO
    assert outcome.result.ok and outcome.result.answer == ANSWER
    assert {"main-1", "fork-1", "fork-2"} <= {node.name for node in outcome.result.nodes}
    assert outcome.result.tokens <= 200 and engine.active == set()


def test_eval_measures_what_auto_decodes_and_counts_it_as_forked(tmp_path) -> None:
    rows = [{"id": "list", "prompt": LIST_PROMPT}, {"id": "tr", "prompt": EIGHT}, {"id": "why", "prompt": "Why?"}]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(f'{{"id": "{r["id"]}", "prompt": "{r["prompt"]}"}}\n' for r in rows))
    config = EvalConfig(dataset=path)
    prepared = prepare(load(config), config, STEEP, CompileOptions(serial_max_tokens=200))
    assert [(p.auto_executed, p.auto_parallel) for p in prepared] == [("pasta", False), ("parallel", True),
                                                                        ("serial", None)]
    assert prepared[0].parallel.executed is Strategy.PASTA and prepared[0].expected is None
    engine = ScriptedEngine(list_model, token_delay_s=0.001)
    measured = asyncio.run(measure_all(engine, prepared, config, RuntimeConfig(), lambda row: None))
    assert [row.status for row in measured] == ["ok", "ok", "rejected"] and engine.active == set()
    pasta = measured[0]
    assert pasta.auto_executed == "pasta" and pasta.parallel_output == ANSWER and pasta.subtasks == 5
    assert pasta.chosen_speedup == pasta.speedup  # auto ran it: its speedup is delivered, not 1.0
    summary = summarize(measured)
    assert (summary["decomposed"], summary["declined"], summary["forked"]) == (1, 0, 1)
    assert summary["median_speedup_forked"] == round(pasta.speedup, 4)
    assert [s[1] for s in calibration_samples(measured)] == [measured[1].serial_num_tokens]  # pasta calibrates nothing
    slow = derive(pasta.model_copy(update={"serial_duration_ms": 100.0, "parallel_duration_ms": 200.0}))
    assert summarize([slow])["predicted_vs_measured"]["wrong_ids"] == ["list"]  # forked and slower: a wrong choice


async def test_batch_rows_keep_auto_to_graphs(make) -> None:
    _, runtime = make(list_model, token_delay_s=0.0, config=RuntimeConfig(max_concurrency=4))
    [result] = await run_rows(runtime, [LIST_PROMPT], [None], Job())
    assert result.strategy == "serial" and result.answer == ANSWER


def test_serving_keeps_auto_to_graphs() -> None:
    service = Service(ScriptedEngine(), ServiceConfig(model="m"))
    service.curve = STEEP
    request = parse_request(ChatRequest, {"model": "m", "messages": [{"role": "user", "content": LIST_PROMPT}]})
    chosen = service.prepare(request)
    assert (chosen.executed, chosen.decision) == (Strategy.SERIAL, "no safe parallel plan")


def test_on_the_built_in_curve_auto_keeps_a_list_serial_as_measured() -> None:
    """Measured: lists mode ran at 1.03x on the prompts its simulation put at 2.27x; the built-in ratio says so."""
    chosen = plan(LIST_PROMPT, Strategy.AUTO)
    assert chosen.executed is Strategy.SERIAL and chosen.prediction is not None
    assert chosen.prediction.speedup < 1.2 and "built in" in chosen.decision
