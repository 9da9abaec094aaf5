"""Plain vLLM, driven over a pipe: the baseline ``forkjoin bench engine --baseline`` compares against.

Run as a child process (``python -m actors.baseline CONFIG_JSON LOG_FILE``):
vLLM's own ``AsyncLLM`` with the same engine arguments and environment as
forkjoin's replica (:func:`~actors.vllm_engine.build_engine_args`,
:func:`~actors.vllm_engine.apply_env`) but none of forkjoin's request path:
no Ray, no actor, no replica. ``bench engine`` starts it, then forkjoin's
replica, and sends the same requests to both, point by point in turn
(``orchestrator.bench``), so that a change in this VM's pace falls on both
sides alike. While one side runs, the other waits idle: an idle EngineCore
blocks on its input queue.

This is the one module besides :mod:`actors.vllm_engine` that imports vLLM,
by design. It also reads the machine's memory bandwidth on request, which
bounds single-stream decoding on CPU: one decode step reads every weight once.

Protocol, one JSON object per line. The child's stdout carries only its
replies (vLLM's logs go to LOG_FILE): first ``{"ready": true, ...}``, then one
reply per command read from stdin:
- ``{"op": "streams", "indices": [i, ...]}``: those streams at once ->
  ``{"runs": [[tokens, first_s, elapsed_s], ...]}``;
- ``{"op": "serial"}``: the serial prompt -> ``{"runs": [[...]]}``;
- ``{"op": "bandwidth"}`` -> ``{"gb_s": x}``.
A failure replies ``{"error": "<one line>"}`` and exits 1. The end of stdin
(the parent closed it, or died however it died) shuts the engine down and
exits, so the child never outlives the parent's pipe.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field

from actors.config import EngineConfig
from actors.models import resolve_model

BANDWIDTH_BYTES = 1 << 30
BANDWIDTH_REPEATS = 5
MESSAGE_CHARS = 300

Run = tuple[int, float, float]
"""One streamed request: (tokens, seconds to the first output, seconds to the end)."""


class BaselineConfig(BaseModel):
    """What the baseline child serves (the fields of ``orchestrator.bench.BenchConfig`` it needs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: EngineConfig = Field(description="The engine, exactly as forkjoin's replica starts it.")
    max_tokens: int = Field(ge=1, description="Tokens asked of each stream.")
    prompt: str = Field(description="Prompt of every stream (suffixed with ' (stream i)' to make each distinct).")
    serial_prompt: str = Field(description="The prompt timed as one serial request.")


def stream_prompt(prompt: str, index: int) -> str:
    """Stream ``index``'s prompt: both sides of the comparison send exactly these."""
    return f"{prompt} (stream {index})"


class BandwidthProbe:
    """Read bandwidth on demand with every allowed core: the best of a few sums over one 1 GiB float32 buffer."""

    def __init__(self) -> None:
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        self._data = torch.ones(BANDWIDTH_BYTES // 4, dtype=torch.float32)
        self._data.sum()  # touch every page once

    def __call__(self) -> float:
        best = float("inf")
        for _ in range(BANDWIDTH_REPEATS):
            began = time.perf_counter()
            self._data.sum()
            best = min(best, time.perf_counter() - began)
        return BANDWIDTH_BYTES / best / 1e9


async def serve(config: BaselineConfig, replies: IO[str]) -> None:
    """Start plain vLLM with forkjoin's settings, say so, then answer commands until stdin ends."""
    from actors.vllm_engine import apply_env, build_engine_args, served_dtype, weight_bytes
    from vllm.v1.engine.async_llm import AsyncLLM

    model_path = resolve_model(config.engine.model).path
    dtype = served_dtype(config.engine, is_cpu=True)
    probe = BandwidthProbe()
    apply_env(config.engine)
    began = time.perf_counter()
    llm = AsyncLLM.from_engine_args(build_engine_args(config.engine, str(model_path), is_cpu=True))
    try:
        await _stream(llm, config, stream_prompt(config.prompt, 0))  # warm-up, as forkjoin's bench does
        _reply(replies, ready=True, engine_start_s=round(time.perf_counter() - began, 2), dtype=dtype,
               weight_bytes=weight_bytes(model_path, dtype, per_decode_step=True))
        async for command in _commands():
            match command.get("op"):
                case "streams":
                    prompts = [stream_prompt(config.prompt, i) for i in command["indices"]]
                    runs = await asyncio.gather(*(_stream(llm, config, prompt) for prompt in prompts))
                    _reply(replies, runs=runs)
                case "serial":
                    _reply(replies, runs=[await _stream(llm, config, config.serial_prompt)])
                case "bandwidth":
                    _reply(replies, gb_s=round(probe(), 2))
                case other:
                    raise ValueError(f"unknown command {other!r}")
    finally:
        llm.shutdown()


async def _commands() -> AsyncIterator[dict[str, Any]]:
    """The JSON commands on stdin, until it ends."""
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield json.loads(line)


def _reply(replies: IO[str], **fields: Any) -> None:
    replies.write(json.dumps(fields) + "\n")
    replies.flush()


async def _stream(llm: Any, config: BaselineConfig, prompt: str) -> Run:
    """(tokens, seconds to first output, seconds to the end) of one streamed request."""
    from actors.engine import GenerateRequest
    from actors.vllm_engine import render_prompt, to_vllm_params
    from graphs.params import SamplingParams
    from vllm.inputs import TokensPrompt

    request = GenerateRequest(
        request_id=f"baseline-{uuid.uuid4().hex[:10]}", prompt=prompt,
        params=SamplingParams(max_tokens=config.max_tokens),
    )
    ids = render_prompt(llm.get_tokenizer(), request)
    began = time.perf_counter()
    first, tokens = None, 0
    stream = llm.generate(TokensPrompt(prompt_token_ids=ids), to_vllm_params(request.params), request.request_id)
    async for out in stream:
        first = first if first is not None else time.perf_counter() - began
        tokens += len(out.outputs[0].token_ids)
    elapsed = time.perf_counter() - began
    return tokens, first if first is not None else elapsed, elapsed


def main(argv: list[str]) -> int:
    """``CONFIG_JSON LOG_FILE``: replies on stdout, everything else (vLLM's logs, tracebacks) into LOG_FILE."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    with open(argv[1], "ab") as log:
        os.dup2(log.fileno(), sys.stdout.fileno())
        os.dup2(log.fileno(), sys.stderr.fileno())
    try:
        asyncio.run(serve(BaselineConfig.model_validate_json(argv[0]), replies))
    except BrokenPipeError:
        return 1  # the parent is gone: nobody to tell
    except Exception as exc:  # noqa: BLE001 - the one line the parent shows; the traceback stays in the log
        import traceback

        traceback.print_exc()
        _reply(replies, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:MESSAGE_CHARS])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
