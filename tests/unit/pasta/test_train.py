"""pasta train's pure parts: names, examples, records in a tokenizer's tokens, the 4D mask, the model registry."""

from __future__ import annotations

import asyncio
import json

import pytest

from actors.models import TRAINED_MARKER, list_models, resolve_model, trained_models
from graphs.pasta.records import IGNORE
from orchestrator.datasets import DatasetError
from graphs.cost import EngineCurve
from orchestrator.pasta_bench import annotate_row
from orchestrator.pasta_train import (
    TrainConfig,
    TrainError,
    check_name,
    load_examples,
    record_maker,
    records_for,
    tensors,
    token_texts,
)


class FakeTokenizer:
    """Characters as token ids; the chat template wraps the prompt in [U] ... [A] markers (ids 1 and 2)."""

    eos_token_id = 3

    def apply_chat_template(self, messages, *, add_generation_prompt, tokenize):
        assert add_generation_prompt and tokenize
        return {"input_ids": [1, *self.encode(messages[0]["content"], add_special_tokens=False), 2]}

    def encode(self, text, *, add_special_tokens=True):
        assert not add_special_tokens
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


def examples(tmp_path, rows):
    path = tmp_path / "examples.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_the_merged_model_needs_a_plain_new_name() -> None:
    assert check_name("qwen2.5-coder-0.5b-pasta") == "qwen2.5-coder-0.5b-pasta"
    with pytest.raises(TrainError, match=r"--name 'a/b': use lower-case letters"):
        check_name("a/b")
    with pytest.raises(TrainError, match="--name 'smollm2-135m-instruct' is a shipped model"):
        check_name("smollm2-135m-instruct")


def test_only_accepted_annotated_rows_are_trained_on_unless_all_rows(tmp_path) -> None:
    rows = [
        {"prompt": "a", "annotated": "x<scope>y<promise/><async>z</async></scope>", "accepted": True},
        {"prompt": "b", "annotated": "x<scope>y<promise/><async>z</async></scope>", "accepted": False},
        {"prompt": "c", "annotated": None, "accepted": False},
    ]
    path = examples(tmp_path, rows)
    assert [row["prompt"] for row in load_examples(TrainConfig(data=path, name="m"))[0]] == ["a"]
    assert [row["prompt"] for row in load_examples(TrainConfig(data=path, name="m", all_rows=True))[0]] == ["a", "b"]
    with pytest.raises(TrainError, match=r"examples.jsonl: no accepted example to train on \(1 rows, 0 held out\)"):
        load_examples(TrainConfig(data=examples(tmp_path, rows[1:2]), name="m"))
    with pytest.raises(TrainError, match=r"no annotated example to train on \(1 rows, 0 held out\)"):
        load_examples(TrainConfig(data=examples(tmp_path, [{"prompt": "a"}]), name="m", all_rows=True))
    with pytest.raises(DatasetError, match="prompt"):
        load_examples(TrainConfig(data=examples(tmp_path, [{"annotated": "x"}]), name="m"))


def test_rows_of_the_test_split_are_never_trained_on(tmp_path) -> None:
    annotated = "x<scope>y<promise/><async>z</async></scope>"
    rows = [
        {"prompt": "a", "annotated": annotated, "accepted": True, "split": "train"},
        {"prompt": "b", "annotated": annotated, "accepted": True, "split": "test"},
        {"prompt": "c", "annotated": annotated, "accepted": True},  # written before splits: a training row
    ]
    kept, held_out = load_examples(TrainConfig(data=examples(tmp_path, rows), name="m", all_rows=True))
    assert [row["prompt"] for row in kept] == ["a", "c"] and held_out == 1
    with pytest.raises(TrainError, match=r"no accepted example to train on \(1 rows, 1 held out\)"):
        load_examples(TrainConfig(data=examples(tmp_path, rows[1:2]), name="m"))


def test_records_use_the_chat_template_and_end_with_the_end_token() -> None:
    rows = [{"prompt": "hi", "annotated": "A<scope>B<promise/><async>C</async></scope>"}, {"prompt": "long",
            "annotated": "x" * 80}]
    records, skipped = records_for(FakeTokenizer(), rows, max_len=64)
    assert skipped == 1 and len(records) == 1
    record = records[0]
    assert record.input_ids[:4] == (1, ord("h"), ord("i"), 2) and record.prompt_tokens == 4
    response = "".join(chr(i) for i in record.input_ids[4:-1])
    assert response == "A<scope>B<promise/><async>C</async></scope>" and record.input_ids[-1] == 3
    assert record.targets.count(3) == 1 and record.targets[-1] == IGNORE  # the end token is learned once


def test_tensors_carry_the_attention_restriction_as_an_additive_4d_mask() -> None:
    import torch

    records, _ = records_for(FakeTokenizer(), [{"prompt": "q", "annotated": "A<scope>B<promise/><async>C</async></scope>"}],
                             max_len=64)
    record = records[0]
    batch = tensors(record, "cpu", torch.float32)
    n = len(record.input_ids)
    assert batch["attention_mask"].shape == (1, 1, n, n)
    allowed = batch["attention_mask"][0, 0] == 0
    for i, ranges in enumerate(record.attend):
        expected = [any(start <= j < end for start, end in ranges) for j in range(n)]
        assert allowed[i].tolist() == expected
    assert batch["position_ids"].tolist() == [list(record.position_ids)]
    assert batch["targets"].tolist() == list(record.targets)


def test_a_trained_model_in_the_cache_resolves_and_is_listed_with_how_it_was_made(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FORKJOIN_CACHE", str(tmp_path))
    target = tmp_path / "models" / "tiny-pasta"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    (target / TRAINED_MARKER).write_text(json.dumps({"description": "tiny + LoRA: 3 steps, loss 2.0 -> 1.5"}))
    (tmp_path / "models" / "half-written").mkdir()  # no marker: not a model
    assert list(trained_models()) == ["tiny-pasta"]
    assert resolve_model("tiny-pasta").path == target
    listed = {info.name: info for info in list_models()}
    assert listed["tiny-pasta"].role == "trained"
    assert listed["tiny-pasta"].description == "tiny + LoRA: 3 steps, loss 2.0 -> 1.5"


def test_annotate_counts_in_the_models_tokens_on_the_curve_and_adds_records() -> None:
    tokenizer = FakeTokenizer()
    assert token_texts(tokenizer)("ab c") == ["a", "b", " ", "c"]
    body = " explained at some length here"
    response = f"Tips:\n1. One:{body}.\n2. Two:{body}.\n3. Three:{body}."
    scaling = EngineCurve(streams={1: 10.0, 4: 40.0})
    example = asyncio.run(annotate_row(None, "r", "q", response, scaling, token_texts(tokenizer),
                                       record_maker(tokenizer)))
    assert example.accepted and example.predicted_speedup > 1.25
    assert example.record is not None and example.record.prompt_tokens == 3  # [U] q [A]
    assert "".join(chr(i) for i in example.record.input_ids[3:-1]) == example.annotated
    flat = EngineCurve(streams={1: 10.0, 2: 10.0})
    rejected = asyncio.run(annotate_row(None, "r", "q", response, flat, token_texts(tokenizer), record_maker(tokenizer)))
    assert not rejected.accepted and rejected.record is None
