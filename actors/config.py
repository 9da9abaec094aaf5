"""Engine configuration: what one vLLM engine replica is started with.

:class:`EngineConfig` is plain validated data (no vLLM import), so it can be
built on a driver without vLLM installed and shipped to a Ray actor. Only
``actors.vllm_engine`` turns it into vLLM's own arguments and environment.
"""

from __future__ import annotations

import os
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from actors.models import DEFAULT_MODEL


class Dtype(StrEnum):
    """Weight and activation precision (``auto``: see :func:`actors.vllm_engine.served_dtype`)."""

    AUTO = "auto"
    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"
    FLOAT32 = "float32"


class CpuGemm(StrEnum):
    """Which kernel serves bf16 dense layers on CPU (see :mod:`actors.vllm_plugin`)."""

    VLLM = "vllm"
    """vLLM's own choice: sgl for layers of at most 1 MiB on AMX, oneDNN for the rest."""
    SGL = "sgl"
    """sgl for every layer vLLM's shape checks allow, where the CPU has AMX."""


CPU_BLOCK_SIZE = 32
"""KV block size on CPU: measured ~20% faster than vLLM's CPU default of 128."""


class EngineConfig(BaseModel):
    """How to start one vLLM engine (one replica)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        DEFAULT_MODEL,
        description="Registry name (see `forkjoin models list`), a local Hugging Face "
        "model directory, or a .gguf file prepared with `forkjoin models prepare`.",
    )
    max_model_len: int = Field(
        4096, ge=128, le=131072, description="Longest prompt + output, in tokens, one request may use."
    )
    kv_cache_gib: float = Field(
        1.0, gt=0.0, le=1024.0, description="Memory reserved for the KV cache, in GiB (per replica)."
    )
    dtype: Dtype = Field(
        Dtype.AUTO,
        description="Precision of weights and activations. auto: on CPU bfloat16 where the cores compute "
        "it natively (AVX512-BF16 or AMX), else float32 (emulated bfloat16 does not batch); on GPU the "
        "model's own dtype.",
    )
    block_size: int | None = Field(
        None,
        ge=1,
        le=1024,
        description=f"Tokens per KV cache block; None means {CPU_BLOCK_SIZE} on CPU and "
        "vLLM's default on GPU.",
    )
    tensor_parallel_size: int = Field(
        1, ge=1, le=64, description="GPUs one replica spans (1 on CPU)."
    )
    enforce_eager: bool | None = Field(
        None, description="Skip torch.compile / CUDA graphs. None: eager on CPU (measured on the 2-core CPU: "
        "the engine started in 37 s against 106 s compiled, and decoded 8 and 16 streams at the same rate), "
        "compiled on GPU, where CUDA graphs pay.",
    )
    one_process: bool = Field(
        True, description="With one rank, run the model inside vLLM's EngineCore process (its one-process "
        "executor) instead of a worker process of its own: one spawn fewer at start.",
    )
    cpu_gemm: CpuGemm = Field(
        CpuGemm.SGL, description="CPU kernel of the dense layers: 'sgl' (where AMX serves it; one stream decoded "
        "19-39% faster on a 2-core Xeon, eight at about the same rate) or 'vllm' (vLLM's own dispatch).",
    )
    cpu_threads: int | None = Field(
        None,
        ge=1,
        description="CPU cores the engine's OpenMP threads bind to (the first N this process "
        "may use); None means all of them. Ignored on GPU.",
    )
    max_num_seqs: int = Field(
        64, ge=1, le=4096, description="Most requests the engine decodes together in one step."
    )
    enable_prefix_caching: bool = Field(
        True, description="Reuse KV cache blocks of shared prompt prefixes (forks of one prompt)."
    )
    seed: int = Field(0, description="Engine seed; requests may still set their own seed.")
    start_timeout_s: float = Field(
        600.0, gt=0.0, description="Longest wait for the engine to load the model and start."
    )


def cpu_ids(threads: int | None) -> list[int]:
    """The CPU ids OpenMP threads bind to: the first ``threads`` this process may run on."""
    allowed = sorted(os.sched_getaffinity(0))
    return allowed if threads is None else allowed[:threads]
