"""LoRA fine-tuning on PASTA-LANG examples, merged into a registry model (``forkjoin pasta train``).

Role: read the accepted examples ``forkjoin pasta annotate`` wrote, turn each
into a :class:`~graphs.pasta.records.TrainingRecord` with the base model's
own tokenizer and chat template, train rank-``rank`` LoRA adapters on the
attention projections (everything else frozen) with each record's attention
restriction as a 4D mask and its position ids, merge the adapters and save
the result in forkjoin's model cache under ``name``, where ``--model name``
and ``forkjoin models list`` find it (:mod:`actors.models`, the training
record ``forkjoin-trained.json``).

Policy: only rows of the ``train`` split are learned (the ``test`` split is
held out, :mod:`graphs.pasta.split`); one record per step (no padding, so the mask is exact), records in a
seeded shuffled order, cycling; a record longer than ``max_len`` tokens is
skipped (cutting it would break its scopes). The run stops after ``steps``
steps or at ``max_minutes``, whichever comes first, and says which. GPU when
one is present (bf16), else CPU (bf16 too: measured faster than float32 here).

Invariants: the merged model is written to a temporary directory beside its
target and renamed, so the cache never holds a half-written model; the
training record names the data's sha256, the steps taken and the losses.
Library code: progress goes to the ``on_step`` callback, never to a stream.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from actors.models import DEFAULT_MODEL, REGISTRY, TRAINED_MARKER, cache_dir, resolve_model
from graphs.errors import ForkjoinError
from graphs.pasta.records import IGNORE, TrainingRecord, build_record
from graphs.pasta.split import Split
from orchestrator.datasets import read_rows

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class TrainError(ForkjoinError):
    """Training cannot start: bad name, no usable example, or a model that cannot be trained. Caused by the user."""


class TrainConfig(BaseModel):
    """What ``forkjoin pasta train`` does."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Path = Field(description="JSONL from `forkjoin pasta annotate`: rows with 'prompt', 'annotated', 'accepted'.")
    base: str = Field(DEFAULT_MODEL, description="Registry model (or directory) to fine-tune.")
    name: str = Field(description="Registry name of the merged model, e.g. qwen2.5-coder-0.5b-pasta.")
    steps: int = Field(300, ge=1, description="Optimizer steps (one record each).")
    max_minutes: float = Field(80.0, gt=0, description="Stop training after this long even if steps remain.")
    max_len: int = Field(512, ge=16, description="Records longer than this many tokens are skipped.")
    rank: int = Field(8, ge=1, description="LoRA rank.")
    alpha: float = Field(16.0, gt=0, description="LoRA alpha (scale alpha / rank).")
    lr: float = Field(2e-4, gt=0, description="AdamW learning rate.")
    targets: tuple[str, ...] = Field(("q_proj", "v_proj"), description="Module names that get adapters.")
    seed: int = Field(0, description="Seed of the record order and the adapters' initialization.")
    all_rows: bool = Field(False, description="Train on every annotated row, not only those both filters accepted.")


class TrainingInfo(BaseModel):
    """How a merged model was made: written beside its weights, shown by `forkjoin models list`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Registry name of the merged model.")
    base: str = Field(description="The model it was fine-tuned from.")
    pasta: bool = Field(True, description="Trained to write PASTA-LANG tags (decode in tags mode, no system prompt).")
    data: str = Field(description="Path of the examples file.")
    data_sha256: str = Field(description="sha256 of the examples file.")
    examples: int = Field(description="Records trained on.")
    skipped: int = Field(description="Examples left out (longer than max_len).")
    held_out: int = Field(0, description="Rows of the test split (or excluded) in the data, never trained on.")
    steps: int = Field(description="Optimizer steps taken.")
    stopped: str = Field(description="'steps' or 'time': why training ended.")
    first_loss: float = Field(description="Loss of the first step.")
    final_loss: float = Field(description="Mean loss of the last ten steps.")
    seconds: float = Field(description="Training time (loading and saving excluded).")
    device: str = Field(description="cpu or cuda.")
    lora: dict[str, Any] = Field(description="rank, alpha, target modules, learning rate, max_len.")

    @property
    def description(self) -> str:
        return (f"{self.base} + PASTA-LANG LoRA (r={self.lora['rank']}): {self.examples} examples "
                f"(data {self.data_sha256[:12]}), {self.steps} steps, loss {self.first_loss:.3f} -> {self.final_loss:.3f}")


StepCallback = Callable[[int, float], None]
"""``(step, loss)`` after every optimizer step."""


def check_name(name: str) -> str:
    """A registry name for the merged model: lower-case, no path, not a shipped model."""
    if not _NAME.match(name):
        raise TrainError(f"--name {name!r}: use lower-case letters, digits, '.', '_' or '-' (at most 64)")
    if name in REGISTRY:
        raise TrainError(f"--name {name!r} is a shipped model; choose another name")
    return name


def load_examples(config: TrainConfig) -> tuple[list[dict], int]:
    """The rows to train on: annotated (and, unless ``all_rows``, accepted by both filters), none of the test split.

    Also returns how many rows of the test split were held out (a row without a split is a training row).
    """
    rows = read_rows(config.data, required=("prompt",), types={"prompt": str})
    held_out = sum(row.get("split", Split.TRAIN) != Split.TRAIN for row in rows)
    usable = [row for row in rows if row.get("split", Split.TRAIN) == Split.TRAIN]
    kept = [row for row in usable if row.get("annotated") and (config.all_rows or row.get("accepted"))]
    if not kept:
        which = "annotated" if config.all_rows else "accepted"
        raise TrainError(f"{config.data}: no {which} example to train on ({len(rows)} rows, {held_out} held out)")
    return kept, held_out


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """The chat template's tokens for one user turn and the assistant's opening, as the engine sends it."""
    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)


def load_tokenizer(model: str) -> Any:
    """The tokenizer of a registry model (or directory), from its prepared directory."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(model).path)


def token_texts(tokenizer: Any) -> Callable[[str], list[str]]:
    """Text to the model's tokens as strings (what the next-token filter compares and counts)."""
    def tokenize(text: str) -> list[str]:
        return [tokenizer.decode([token]) for token in tokenizer.encode(text, add_special_tokens=False)]

    return tokenize


def record_maker(tokenizer: Any) -> Callable[[str, str], TrainingRecord]:
    """(prompt, annotated) -> its training record in the tokenizer's tokens."""
    def record(prompt: str, annotated: str) -> TrainingRecord:
        return records_for(tokenizer, [{"prompt": prompt, "annotated": annotated}], max_len=1 << 30)[0][0]

    return record


def records_for(tokenizer: Any, rows: Sequence[dict], max_len: int) -> tuple[list[TrainingRecord], int]:
    """Records of ``rows`` in the tokenizer's tokens; those over ``max_len`` tokens are counted, not kept."""
    def encode(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=False))

    end = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    records, skipped = [], 0
    for row in rows:
        record = build_record(prompt_ids(tokenizer, row["prompt"]), row["annotated"], encode, end)
        if len(record.input_ids) > max_len:
            skipped += 1
        else:
            records.append(record)
    return records, skipped


def tensors(record: TrainingRecord, device: Any, dtype: Any) -> dict[str, Any]:
    """Model inputs of one record: ids, position ids, the additive 4D attention mask, and the targets."""
    import torch

    n = len(record.input_ids)
    allowed = torch.zeros((n, n), dtype=torch.bool)
    for i, ranges in enumerate(record.attend):
        for start, end in ranges:
            allowed[i, start:end] = True
    mask = torch.zeros((n, n), dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    return {
        "input_ids": torch.tensor([record.input_ids], device=device),
        "position_ids": torch.tensor([record.position_ids], device=device),
        "attention_mask": mask[None, None].to(device),
        "targets": torch.tensor(record.targets, device=device),
    }


def record_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Cross-entropy of each position's target from that position's logits (targets are pre-placed, not shifted)."""
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                   attention_mask=batch["attention_mask"]).logits[0]
    return F.cross_entropy(logits.float(), batch["targets"], ignore_index=IGNORE)


def _load(config: TrainConfig) -> tuple[Any, Any, str, Any]:
    """The base model with LoRA adapters (frozen elsewhere), its tokenizer, the device and the dtype."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(config.base).path
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="eager").to(device)
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, target_modules=list(config.targets), lora_dropout=0.0,
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora), tokenizer, device, dtype


def _fit(model: Any, records: list[TrainingRecord], config: TrainConfig, device: str, dtype: Any,
         on_step: StepCallback) -> tuple[list[float], str, float]:
    """Train until ``steps`` or ``max_minutes``; the losses, why it stopped, and the seconds it took."""
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    order = random.Random(config.seed)
    queue: list[TrainingRecord] = []
    losses: list[float] = []
    start, stopped = time.perf_counter(), "steps"
    model.train()
    for step in range(1, config.steps + 1):
        if time.perf_counter() - start > config.max_minutes * 60:
            stopped = "time"
            break
        if not queue:
            queue = order.sample(records, len(records))
        loss = record_loss(model, tensors(queue.pop(), device, dtype))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        on_step(step, losses[-1])
    return losses, stopped, time.perf_counter() - start


def _save(model: Any, tokenizer: Any, info: TrainingInfo) -> Path:
    """Merge the adapters and write the model, tokenizer and training record into the cache (atomically)."""
    target = cache_dir() / info.name
    target.parent.mkdir(parents=True, exist_ok=True)
    merged = model.merge_and_unload()
    with tempfile.TemporaryDirectory(prefix=f".{info.name}-", dir=target.parent) as tmp:
        out = Path(tmp) / "model"
        merged.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / TRAINED_MARKER).write_text(json.dumps({**info.model_dump(), "description": info.description}) + "\n")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return target


def train(config: TrainConfig, on_step: StepCallback, on_status: Callable[[str], None]) -> tuple[TrainingInfo, Path]:
    """Fine-tune, merge and save; the training record and where the model is."""
    check_name(config.name)
    rows, held_out = load_examples(config)
    on_status(f"loading {config.base}")
    model, tokenizer, device, dtype = _load(config)
    records, skipped = records_for(tokenizer, rows, config.max_len)
    if not records:
        raise TrainError(f"{config.data}: every example is longer than --max-len {config.max_len} tokens")
    losses, stopped, seconds = _fit(model, records, config, device, dtype, on_step)
    info = TrainingInfo(
        name=config.name, base=config.base, data=str(config.data), data_sha256=file_sha256(config.data),
        examples=len(records), skipped=skipped, held_out=held_out, steps=len(losses), stopped=stopped,
        first_loss=round(losses[0], 4) if losses else float("nan"),
        final_loss=round(sum(losses[-10:]) / len(losses[-10:]), 4) if losses else float("nan"),
        seconds=round(seconds, 2), device=device,
        lora={"rank": config.rank, "alpha": config.alpha, "targets": list(config.targets), "lr": config.lr,
              "max_len": config.max_len},
    )
    on_status(f"merging and saving {config.name}")
    return info, _save(model, tokenizer, info)
