"""eval run's plan-then-measure loop on the scripted engine (no Ray): rejected rows, alternation, warm-up."""

from __future__ import annotations

import json

import pytest

from actors import ScriptedEngine
from graphs.compiler import CompileOptions
from graphs.cost import DEFAULT_CURVE
from orchestrator.config import RuntimeConfig
from orchestrator.datasets import DatasetError
from orchestrator.evaluate import Part, split_part
from orchestrator.eval.runner import EvalConfig, load, measure_all, prepare, score

ROWS = [
    {"id": "tr", "category": "Translation", "prompt": "Translate into French: cat, dog, bird, fish"},
    {"id": "why", "category": "Open", "prompt": "Why is the sky blue?"},
]


def dataset(tmp_path, rows=ROWS):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def respond(request) -> str:
    if "cat, dog" in request.prompt:
        return "1. chat\n2. chien\n3. oiseau\n4. poisson"
    return {"cat": "chat", "dog": "chien", "bird": "oiseau", "fish": "poisson"}.get(request.prompt.split(": ")[-1],
                                                                                  "Because of Rayleigh scattering.")


def test_bad_rows_fail_before_any_engine(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load(EvalConfig(dataset=tmp_path / "missing.jsonl"))
    with pytest.raises(DatasetError, match="row 2: empty prompt"):
        load(EvalConfig(dataset=dataset(tmp_path, [ROWS[0], {"prompt": "  "}])))


def test_per_category_keeps_the_first_rows_of_each_category_in_dataset_order(tmp_path):
    rows = [{"id": f"{c}{i}", "category": c, "prompt": f"p {c}{i}"} for i in range(3) for c in "ab"]
    kept = load(EvalConfig(dataset=dataset(tmp_path, rows), per_category=2))
    assert [r["id"] for r in kept] == ["a0", "b0", "a1", "b1"]
    assert [r["id"] for r in load(EvalConfig(dataset=dataset(tmp_path, rows), per_category=2, limit=3))] == \
        ["a0", "b0", "a1"]


def test_part_keeps_only_the_rows_of_that_part_before_per_category(tmp_path):
    rows = [{"id": f"{c}{i}", "category": c, "prompt": f"p {c}{i}"} for i in range(12) for c in "ab"]
    path = dataset(tmp_path, rows)
    check = [r["id"] for r in load(EvalConfig(dataset=path, part=Part.CHECK))]
    tuning = [r["id"] for r in load(EvalConfig(dataset=path, part=Part.TUNING))]
    assert check and tuning and sorted(check + tuning) == sorted(r["id"] for r in rows)
    assert all(split_part(i) is Part.CHECK for i in check) and all(split_part(i) is Part.TUNING for i in tuning)
    first = load(EvalConfig(dataset=path, part=Part.CHECK, per_category=1))
    firsts = [i for n, i in enumerate(check) if i[0] not in {j[0] for j in check[:n]}]
    assert [r["id"] for r in first] == firsts


def test_prepare_rejects_prompts_without_a_parallel_plan_and_records_autos_choice(tmp_path):
    config = EvalConfig(dataset=dataset(tmp_path))
    prepared = prepare(load(config), config, DEFAULT_CURVE, CompileOptions())
    assert [p.id for p in prepared] == ["tr", "why"]
    assert prepared[0].parallel is not None and prepared[0].auto_parallel is True
    assert prepared[0].parallel.prediction.branches == 4
    assert prepared[1].parallel is None and prepared[1].error.startswith("no parallel plan for this prompt")


async def test_measure_alternates_order_excludes_the_warm_up_and_lists_rejected_rows(tmp_path):
    config = EvalConfig(dataset=dataset(tmp_path), repeat=2)
    prepared = prepare(load(config), config, DEFAULT_CURVE, CompileOptions())
    engine = ScriptedEngine(respond, token_delay_s=0.001)
    advanced = []
    rows = await measure_all(engine, prepared, config, RuntimeConfig(), advanced.append)
    assert [r.status for r in rows] == ["ok", "rejected"] and advanced == rows
    serial_prompt = ROWS[0]["prompt"]
    kinds = ["serial" if c.prompt == serial_prompt else "parallel" for c in engine.calls]
    # warm-up (serial), round 0: serial then 4 branches, round 1: 4 branches then serial
    assert kinds == ["serial", "serial", *["parallel"] * 4, *["parallel"] * 4, "serial"]
    ok = rows[0]
    assert ok.repeats == 2 and ok.subtasks == 4 and ok.speedup is not None and ok.predicted_speedup is not None
    assert ok.parallel_output == "chat\nchien\noiseau\npoisson"
    assert engine.active == set()
    scored = score(rows, prepared, embedder=None)
    assert scored[0].adherence is True and scored[1].adherence is None


def test_calibration_samples_are_the_measured_rows_with_predictions():
    from orchestrator.eval.metrics import EvalRow
    from orchestrator.eval.runner import calibration_samples

    def row(rid, status="ok", **fields):
        return EvalRow(id=rid, category="c", prompt="p", status=status, **fields)

    rows = [row("a", cost_category="Keyword Extraction", serial_num_tokens=40, parallel_num_tokens=90,
                predicted_serial_tokens=80, predicted_parallel_tokens=60),
            row("b", status="failed", predicted_serial_tokens=80, predicted_parallel_tokens=60),
            row("c", serial_num_tokens=40, parallel_num_tokens=90)]  # no prediction (pasta, say)
    assert calibration_samples(rows) == [("Keyword Extraction", 40, 80, 90, 60)]
