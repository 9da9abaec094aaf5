"""``forkjoin pasta train`` on the smallest model: the 4D mask is honoured, a few steps make a loadable merged model.

No Ray and no engine: transformers and peft on the CPU (a few seconds per
step on SmolLM2-135M). The merged model goes to a temporary forkjoin cache,
where the registry finds it by name with its training record.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import TEST_MODEL, require

pytestmark = pytest.mark.integration

EXAMPLES = [
    {"prompt": "Give two tips for sleep.", "accepted": True,
     "annotated": "Two tips:<scope>\n1. Dark room:<promise/><async> Light keeps you awake.</async>\n"
                  "2. Fixed hours:<promise/><async> A routine sets your clock.</async></scope>\nSleep well."},
    {"prompt": "Name two fruits and say why they are good.", "accepted": True,
     "annotated": "<scope>- Apples:<promise/><async> They have fibre.</async>\n"
                  "- Oranges:<promise/><async> They have vitamin C.</async></scope>"},
]


@pytest.fixture(scope="module")
def base_dir():
    from actors.models import ModelError, resolve_model

    try:
        return resolve_model(TEST_MODEL).path
    except ModelError as exc:
        require(False, f"{TEST_MODEL} is not ready: {exc}")


def test_a_custom_4d_mask_is_what_the_model_attends_with(base_dir) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.tensor([[1, 400, 500, 600, 700, 800]])
    n = ids.shape[1]
    causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
    additive = torch.zeros(n, n).masked_fill(~causal, torch.finfo(torch.float32).min)[None, None]
    positions = torch.arange(n)[None]
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        custom = model(input_ids=ids, attention_mask=additive, position_ids=positions).logits
        restricted = causal.clone()
        restricted[4, 2] = False  # token 4 may not see token 2
        blocked = torch.zeros(n, n).masked_fill(~restricted, torch.finfo(torch.float32).min)[None, None]
        changed = model(input_ids=ids, attention_mask=blocked, position_ids=positions).logits
    assert torch.allclose(plain, custom, atol=1e-4)
    assert torch.allclose(changed[0, :4], plain[0, :4], atol=1e-4)  # earlier tokens are untouched
    assert not torch.allclose(changed[0, 4], plain[0, 4], atol=1e-3)


def test_a_few_steps_make_a_merged_model_the_registry_lists(base_dir, tmp_path, monkeypatch) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from actors.models import list_models, resolve_model
    from orchestrator.pasta_run import pasta_for_model
    from orchestrator.pasta_train import TrainConfig, train

    data = tmp_path / "examples.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in EXAMPLES))
    monkeypatch.setenv("FORKJOIN_CACHE", str(tmp_path / "cache"))
    steps: list[tuple[int, float]] = []
    config = TrainConfig(data=data, base=str(base_dir), name="smollm2-test-pasta", steps=3, max_len=256)
    info, path = train(config, lambda step, loss: steps.append((step, loss)), lambda text: None)
    assert [step for step, _ in steps] == [1, 2, 3] and all(loss > 0 for _, loss in steps)
    assert (info.steps, info.examples, info.skipped, info.stopped) == (3, 2, 0, "steps")
    assert path == tmp_path / "cache" / "models" / "smollm2-test-pasta"
    assert resolve_model("smollm2-test-pasta").path == path
    listed = {model.name: model for model in list_models()}
    assert listed["smollm2-test-pasta"].role == "trained" and "3 steps" in listed["smollm2-test-pasta"].description
    assert pasta_for_model("smollm2-test-pasta", 64).mode.value == "tags"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    assert not any("lora" in name for name, _ in model.named_parameters())  # merged: plain weights only
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = tokenizer("Hello", return_tensors="pt").input_ids
    assert model.generate(ids, max_new_tokens=3, do_sample=False).shape[1] == ids.shape[1] + 3
