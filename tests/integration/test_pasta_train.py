"""``forkjoin pasta train`` on the smallest model: the 4D mask is honoured, and the merged model is served.

No Ray: transformers and peft on the CPU (a fraction of a second per step on
SmolLM2-135M; 16 steps took 12 s here; the whole module about 50 s), then vLLM in this process (the adapter
a replica runs). One training run serves the module: a few steps at a high
learning rate on two examples, enough for the model to learn them, into a
temporary forkjoin cache where the registry finds the merged model by name
with its training record. vLLM loads that directory and answers greedily
exactly as transformers does on the same weights; on a trained prompt the
served model writes the scope and its promises itself, and the pasta strategy
(tags mode, no system prompt, as for any tuned model) forks at each of them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import TEST_MODEL, require

pytestmark = pytest.mark.integration

NAME = "smollm2-test-pasta"
STEPS = 16
LEARNING_RATE = 3e-3
"""Learns both examples (loss 3.9 -> 0.05 here); the default 2e-4 barely moves in 16 steps."""
EXAMPLES = [
    {"prompt": "Give two tips for sleep.", "accepted": True,
     "annotated": "Two tips:<scope>\n1. Dark room:<promise/><async> Light keeps you awake.</async>\n"
                  "2. Fixed hours:<promise/><async> A routine sets your clock.</async></scope>\nSleep well."},
    {"prompt": "Name two fruits and say why they are good.", "accepted": True,
     "annotated": "<scope>- Apples:<promise/><async> They have fibre.</async>\n"
                  "- Oranges:<promise/><async> They have vitamin C.</async></scope>"},
]
GREEDY_TOKENS = 20


@pytest.fixture(scope="module")
def base_dir() -> Path:
    from actors.models import ModelError, resolve_model

    try:
        return resolve_model(TEST_MODEL).path
    except ModelError as exc:
        require(False, f"{TEST_MODEL} is not ready: {exc}")


@pytest.fixture(scope="module")
def trained(base_dir: Path, engine_ready: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """(training record, model directory, (step, loss) list) of one short run, in a cache of the module's own.

    ``engine_ready`` (session-wide) resolves the test model before the cache moves, so it stays resolved.
    """
    from actors.vllm_engine import kernel_cache_dir
    from orchestrator.pasta_train import TrainConfig, train

    root = tmp_path_factory.mktemp("pasta-train")
    data = root / "examples.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in EXAMPLES))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCHINDUCTOR_CACHE_DIR", str(kernel_cache_dir()))  # the real kernel cache, not the module's
        patch.setenv("FORKJOIN_CACHE", str(root / "cache"))
        steps: list[tuple[int, float]] = []
        config = TrainConfig(data=data, base=str(base_dir), name=NAME, steps=STEPS, max_len=256, lr=LEARNING_RATE)
        info, path = train(config, lambda step, loss: steps.append((step, loss)), lambda text: None)
        yield info, path, steps


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


def test_a_few_steps_make_a_merged_model_the_registry_lists(trained) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from actors.models import list_models, resolve_model
    from orchestrator.pasta_run import pasta_for_model

    info, path, steps = trained
    assert [step for step, _ in steps] == list(range(1, STEPS + 1)) and all(loss > 0 for _, loss in steps)
    assert (info.steps, info.examples, info.skipped, info.held_out, info.stopped) == (STEPS, 2, 0, 0, "steps")
    assert info.final_loss < info.first_loss / 2
    assert path.name == NAME and path.parent.name == "models"
    assert resolve_model(NAME).path == path
    listed = {model.name: model for model in list_models()}
    assert listed[NAME].role == "trained" and f"{STEPS} steps" in listed[NAME].description
    assert pasta_for_model(NAME, 64).mode.value == "tags"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    assert not any("lora" in name for name, _ in model.named_parameters())  # merged: plain weights only


def hf_greedy(path: Path, ids: list[int], tokens: int) -> list[int]:
    """Greedy continuation of ``ids`` by transformers on the merged weights (float32, as the test starts vLLM)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=tokens, do_sample=False)
    return out[0, len(ids):].tolist()


async def serve_and_ask(prompt: str) -> tuple[list, object, object, object]:
    """Start vLLM on the merged model; one greedy answer, a pasta strategy run on it, the engine's stats."""
    from actors.config import Dtype, EngineConfig
    from actors.engine import GenerateRequest
    from actors.vllm_engine import VllmEngine
    from graphs.params import SamplingParams
    from orchestrator.pasta_run import pasta_for_model, run_pasta

    # float32 as transformers below, so greedy tokens compare exactly on any CPU (auto may pick bfloat16).
    config = EngineConfig(model=NAME, max_model_len=1024, kv_cache_gib=0.25, max_num_seqs=4, enforce_eager=True,
                          dtype=Dtype.FLOAT32)
    async with asyncio.timeout(config.start_timeout_s + 60):
        engine = await VllmEngine.start(config, name="tuned")
    try:
        request = GenerateRequest(request_id="greedy", prompt=prompt,
                                  params=SamplingParams(max_tokens=GREEDY_TOKENS, temperature=0.0))
        async with asyncio.timeout(120):
            chunks = [chunk async for chunk in engine.generate(request)]
            run, result = await run_pasta(engine, prompt, pasta_for_model(NAME, 64))
            stats = await engine.stats()
        return chunks, run, result, stats
    finally:
        await engine.aclose()


def test_vllm_serves_the_merged_model_and_pasta_decodes_on_it(trained, engine_ready) -> None:
    from transformers import AutoTokenizer

    from actors.engine import GenerateRequest
    from actors.vllm_engine import render_prompt

    _, path, _ = trained
    prompt = EXAMPLES[0]["prompt"]
    chunks, run, result, stats = asyncio.run(serve_and_ask(prompt))
    assert all(chunk.replica == "tuned" for chunk in chunks) and chunks[-1].finish_reason in ("stop", "length")
    text = "".join(chunk.text for chunk in chunks)
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = render_prompt(tokenizer, GenerateRequest(request_id="hf", prompt=prompt))
    expected = hf_greedy(path, ids, GREEDY_TOKENS)
    served = sum(chunk.tokens for chunk in chunks)
    assert text.strip() and text == tokenizer.decode(expected[:served], skip_special_tokens=True)
    assert text.startswith("Two tips:<scope>\n1. Dark room:<promise/>")  # the served weights are the tuned ones
    assert run.ok and result is not None and result.fell_back is None, result
    assert result.forks == 2 and [node.name for node in run.nodes].count("main-1") == 1
    assert run.answer.startswith("Two tips:\n1. Dark room:") and "Fixed hours:" in run.answer
    assert not any(tag in run.answer for tag in ("<scope>", "<promise/>", "<async>", "</async>"))
    assert (stats.running, stats.waiting) == (0, 0)
