"""forkjoin's vLLM plugin: which CPU kernel serves the dense linear layers.

vLLM loads the ``vllm.general_plugins`` entry points in every process it
starts, EngineCore included, so this is how a setting reaches the process
where the model runs. It acts only when ``FORKJOIN_CPU_GEMM`` says so
(:func:`actors.vllm_engine.engine_env` sets it for forkjoin's replica and for
the plain vLLM baseline alike); any other vLLM use of this venv is untouched.

``FORKJOIN_CPU_GEMM=sgl``: on a CPU with AMX, vLLM 0.32 serves bf16 layers of
at most 1 MiB with its sgl kernel (``weight_packed_linear``) and larger ones
with oneDNN. Measured on 2 cores of an Intel Xeon with AMX (the default model,
0.99 GB of weights a step, ad-hoc scripts): the step's linear layers, with
cold caches, took 86.8-90.3 ms with oneDNN against 68.6-71.0 ms with sgl at one
sequence, and about the same at eight (96.6-106.5 against 102.4-104.5 ms);
plain vLLM's single stream rose 19% and 39% in two pairs, the second on a slowing machine
(details in the README). Any other value,
or a CPU without AMX (vLLM's own check), leaves vLLM's dispatch as it is.
"""

from __future__ import annotations

import os

GEMM_VARIABLE = "FORKJOIN_CPU_GEMM"
SGL = "sgl"
SGL_MAX_WEIGHT_BYTES = 1 << 40
"""Large enough for every dense layer: vLLM's shape checks (AMX, dtype, alignment) still decide."""


def register() -> None:
    """The entry point vLLM calls in each of its processes."""
    if os.environ.get(GEMM_VARIABLE) != SGL:
        return
    from vllm.model_executor.layers import utils

    utils._CPU_SGL_GEMM_MAX_WEIGHT_BYTES = SGL_MAX_WEIGHT_BYTES
