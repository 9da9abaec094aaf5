"""GGUF -> bf16 safetensors Hugging Face directory; run as ``python -m actors.convert GGUF OUT``.

Runs in a child process of :func:`actors.models.prepare_model`, so torch and
transformers (seconds to import, ~1 GB for the 0.5B model) never load in the
caller, least of all inside an actor's event loop. transformers dequantizes the
GGUF (``gguf_file=``); the quantization config and quantizer are dropped
before saving so the directory reads as a plain bf16 checkpoint. The
tokenizer and its chat template are saved beside the weights.
"""

from __future__ import annotations

import sys
from pathlib import Path


def convert(gguf: Path, out: Path) -> None:
    """Write ``out`` (must not exist) as a bf16 Hugging Face directory of ``gguf``."""
    _step("importing torch and transformers")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    _step("reading the tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if not getattr(tokenizer, "chat_template", None):
        print(f"warning: {name} has no chat template; use raw requests", file=sys.stderr)
    _step("dequantizing the weights")
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.bfloat16)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    _step("writing safetensors")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _step(what: str) -> None:
    print(f"step {what}", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m actors.convert GGUF OUT", file=sys.stderr)
        return 2
    convert(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
