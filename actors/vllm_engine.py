"""The vLLM adapter: an :class:`~actors.engine.Engine` on vLLM v1's ``AsyncLLM``, in-process.

This is the only module that imports vllm, and it does so inside functions, so
importing it (or ``actors``) works where vLLM is not installed. One engine is
one ``AsyncLLM``: this process holds the front end (tokenizer, detokenizer,
output handler), vLLM spawns the EngineCore process. On CPU with one
tensor-parallel rank the model runs inside EngineCore (vLLM's one-process
executor): one spawn fewer and no per-step message passing to a worker
process, which on a 2-core machine halved the engine start and raised
decoding 1.3-1.5x (README, "Measured performance").

Invariants:
- ``forkjoin`` sampling parameters become vLLM's in exactly one function,
  :func:`to_vllm_params`; outputs stream as deltas.
- A request leaves the engine when its stream ends: finished, or aborted in a
  ``finally`` when the consumer closes or cancels the stream.
- A failed request raises :class:`RequestError`; a dead engine raises
  :class:`EngineDeadError`; a failed start raises :class:`EngineStartError`
  with a one-line message. Every wait here is bounded.
- The process environment vLLM needs is set in one place, :func:`engine_env`.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import importlib
import json
import math
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors.config import CPU_BLOCK_SIZE, Dtype, EngineConfig, cpu_ids
from actors.engine import (
    Chunk,
    EngineDeadError,
    EngineStartError,
    EngineStats,
    GenerateRequest,
    RequestError,
)
from actors.models import ModelError, cache_dir, resolve_model
from actors.vllm_plugin import GEMM_VARIABLE
from graphs.params import SamplingParams

if TYPE_CHECKING:
    import vllm

GiB = 1 << 30
ABORT_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 30.0
RATE_WINDOW_S = 5.0
CPU_OVERHEAD_GIB = 2.0  # 3 processes' runtime + activations beyond weights and KV cache (measured ~2)
MESSAGE_CHARS = 300
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
"""CPU flags of cores that compute bfloat16 natively (x86; ARM's ``bf16`` too)."""


def kernel_cache_dir() -> Path:
    """Where torch.compile keeps the kernels it compiled: beside the prepared models, not in /tmp."""
    return cache_dir().parent / "torchinductor"


def engine_env(config: EngineConfig) -> dict[str, str]:
    """The environment vLLM reads; values a user already exported win (see :func:`apply_env`)."""
    cpus = cpu_ids(config.cpu_threads)
    env = {
        # The first compiled start compiles kernels for minutes; keep them where a reboot does not clear them.
        "TORCHINDUCTOR_CACHE_DIR": str(kernel_cache_dir()),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        # The AOT compile cache fails to load on CPU and doubles the start time.
        "VLLM_USE_AOT_COMPILE": "0",
        # Small machines: bind OpenMP to every allowed core, reserve none for the scheduler.
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "VLLM_CPU_OMP_THREADS_BIND": ",".join(str(i) for i in cpus),
        # Every dense layer on vLLM's sgl kernel where AMX serves it (actors.vllm_plugin): faster at one sequence.
        GEMM_VARIABLE: config.cpu_gemm.value,
    }
    if one_process(config):
        # vLLM's CPU platform replaces the one-process executor by the multiprocess one unless this is 0;
        # AsyncLLM still runs EngineCore in its own process either way.
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    return env


def one_process(config: EngineConfig) -> bool:
    """Whether the model runs inside EngineCore (vLLM's ``uni`` executor) rather than in a worker process."""
    return config.one_process and config.tensor_parallel_size == 1


def apply_env(config: EngineConfig) -> None:
    """Export :func:`engine_env` into this process before vLLM starts (user exports win)."""
    for key, value in engine_env(config).items():
        os.environ.setdefault(key, value)


def to_vllm_params(params: SamplingParams, json_schema: dict | None = None) -> vllm.SamplingParams:
    """The one conversion from forkjoin's sampling parameters to vLLM's."""
    from vllm import SamplingParams as VllmSamplingParams
    from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

    structured = None if json_schema is None else StructuredOutputsParams(json=json_schema)
    return VllmSamplingParams(
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        stop=list(params.stop) or None,
        seed=params.seed,
        output_kind=RequestOutputKind.DELTA,
        structured_outputs=structured,
    )


def render_prompt(tokenizer: Any, request: GenerateRequest) -> list[int]:
    """Token ids of the request: chat template (system, prompt, assistant prefix) unless raw."""
    if request.raw:
        return list(tokenizer.encode(request.prompt))
    if not getattr(tokenizer, "chat_template", None):
        raise RequestError("the model has no chat template: send the request with raw=True")
    messages = [{"role": "user", "content": request.prompt}]
    if request.system is not None:
        messages.insert(0, {"role": "system", "content": request.system})
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer.encode(text + request.assistant_prefix, add_special_tokens=False))


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The instruction-set flags of this machine's CPU (from ``/proc/cpuinfo``; empty if unreadable)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def served_dtype(config: EngineConfig, *, is_cpu: bool, flags: set[str] | None = None) -> str:
    """The dtype vLLM is started with: ``config.dtype``, with ``auto`` resolved on CPU.

    Measured on a 2-core AVX2 machine (no bf16 instructions): bfloat16 decoded 7.9 tokens/s
    alone and 9.1 at 16 streams (no batching gain), float32 4.6 alone and 31 at 16 streams.
    """
    if config.dtype is not Dtype.AUTO or not is_cpu:
        return config.dtype.value
    flags = cpu_flags() if flags is None else flags
    return Dtype.BFLOAT16.value if flags & NATIVE_BF16_FLAGS else Dtype.FLOAT32.value


def eager(config: EngineConfig, *, is_cpu: bool) -> bool:
    """Whether the engine runs eager: as configured, else on CPU (see ``EngineConfig.enforce_eager``)."""
    return is_cpu if config.enforce_eager is None else config.enforce_eager


def build_engine_args(config: EngineConfig, model_path: str, *, is_cpu: bool) -> Any:
    """vLLM ``AsyncEngineArgs`` for ``config`` (the model already resolved to a directory)."""
    from vllm.engine.arg_utils import AsyncEngineArgs

    block_size = config.block_size or (CPU_BLOCK_SIZE if is_cpu else None)
    return AsyncEngineArgs(
        model=model_path,
        max_model_len=config.max_model_len,
        kv_cache_memory_bytes=int(config.kv_cache_gib * GiB),
        dtype=served_dtype(config, is_cpu=is_cpu),
        block_size=block_size,
        tensor_parallel_size=config.tensor_parallel_size,
        enforce_eager=eager(config, is_cpu=is_cpu),
        max_num_seqs=config.max_num_seqs,
        enable_prefix_caching=config.enable_prefix_caching,
        seed=config.seed,
        disable_log_stats=True,
        distributed_executor_backend="uni" if is_cpu and one_process(config) else None,
    )


class StatsRecorder:
    """Collects vLLM's per-step stats (a vLLM stat logger, duck-typed): queue, cache hits, rate."""

    def __init__(self) -> None:
        self.waiting = 0
        self.prefix_queries = 0
        self.prefix_hits = 0
        self.generated = 0
        self._recent: collections.deque[tuple[float, int]] = collections.deque()

    def __call__(self, vllm_config: Any, engine_index: int = 0) -> StatsRecorder:
        """vLLM calls its stat logger factories with (config, engine index)."""
        return self

    def record(self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None,
               engine_idx: int = 0) -> None:
        if scheduler_stats is not None:
            self.waiting = scheduler_stats.num_waiting_reqs
            self.prefix_queries += scheduler_stats.prefix_cache_stats.queries
            self.prefix_hits += scheduler_stats.prefix_cache_stats.hits
        if iteration_stats is not None and iteration_stats.num_generation_tokens:
            self.generated += iteration_stats.num_generation_tokens
            self._recent.append((iteration_stats.iteration_timestamp, iteration_stats.num_generation_tokens))

    def tokens_per_s(self, now: float) -> float:
        """Generated tokens per second over the last few seconds (0 when idle)."""
        while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
            self._recent.popleft()
        return sum(n for _, n in self._recent) / RATE_WINDOW_S

    def hit_rate(self) -> float | None:
        return self.prefix_hits / self.prefix_queries if self.prefix_queries else None

    def log_engine_initialized(self) -> None:
        pass

    def log(self) -> None:
        pass

    def record_sleep_state(self, is_awake: int, level: int) -> None:
        pass


class VllmEngine:
    """One in-process vLLM ``AsyncLLM`` behind the :class:`~actors.engine.Engine` protocol.

    Build it with ``await VllmEngine.start(config, name=...)``; release it with ``aclose()``.
    """

    def __init__(self, llm: Any, config: EngineConfig, recorder: StatsRecorder, *, name: str) -> None:
        self.name = name
        self.config = config
        self._llm = llm
        self._recorder = recorder
        self._tokenizer = llm.get_tokenizer()
        self._live: set[str] = set()
        self._closed = False

    @classmethod
    async def start(cls, config: EngineConfig, *, name: str = "vllm") -> VllmEngine:
        """Resolve the model, start vLLM (bounded by ``config.start_timeout_s``) and return the engine."""
        try:
            model_path = resolve_model(config.model).path
        except ModelError as e:
            raise EngineStartError(str(e)) from e
        apply_env(config)
        recorder = StatsRecorder()
        loop = asyncio.get_running_loop()
        building: asyncio.Future[Any] | None = None
        try:
            async with asyncio.timeout(config.start_timeout_s):
                await loop.run_in_executor(None, _import_vllm)
                building = loop.run_in_executor(None, _build_llm, config, model_path, recorder)
                llm = await asyncio.shield(building)
        except TimeoutError as e:
            _shut_down_when_built(building)
            raise EngineStartError(
                f"vLLM engine for {model_path} did not start within {config.start_timeout_s:g} s"
            ) from e
        except asyncio.CancelledError:
            _shut_down_when_built(building)
            raise
        except EngineStartError:
            raise
        except Exception as e:  # vLLM raises many types on start; all mean "could not start"
            raise EngineStartError(f"vLLM engine for {model_path} failed to start: {_one_line(e)}") from e
        return cls(llm, config, recorder, name=name)

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Chunk]:
        """Stream deltas of the request; closing or cancelling the stream aborts it in vLLM."""
        from vllm.inputs import TokensPrompt
        from vllm.v1.engine.exceptions import EngineDeadError as VllmEngineDeadError

        self._check_alive()
        ids = render_prompt(self._tokenizer, request)
        params = to_vllm_params(request.params, request.json_schema)
        stream = self._llm.generate(TokensPrompt(prompt_token_ids=ids), params, request.request_id)
        self._live.add(request.request_id)
        prompt_tokens: int | None = len(ids)  # reported on the first chunk only
        finished = False
        try:
            async for out in stream:
                chunk = self._chunk(out, prompt_tokens)
                prompt_tokens = None
                finished = chunk.finish_reason is not None
                yield chunk
        except VllmEngineDeadError as e:
            raise EngineDeadError(f"vLLM engine {self.name} died during request {request.request_id}") from e
        except Exception as e:  # any other vLLM failure concerns this request only
            raise RequestError(f"request {request.request_id} failed: {_one_line(e)}") from e
        finally:
            self._live.discard(request.request_id)
            if not finished:
                await self._abort(request.request_id)
            await stream.aclose()

    def _chunk(self, out: Any, prompt_tokens: int | None) -> Chunk:
        completion = out.outputs[0]
        queue_s, ttft_s = engine_timings(getattr(out, "metrics", None)) if out.finished else (None, None)
        return Chunk(
            text=completion.text,
            tokens=len(completion.token_ids),
            finish_reason=completion.finish_reason if out.finished else None,
            stop_reason=_stop_string(completion.stop_reason) if out.finished else None,
            prompt_tokens=prompt_tokens,
            cached_tokens=out.num_cached_tokens if prompt_tokens is not None else None,
            replica=self.name,
            queue_s=queue_s,
            engine_ttft_s=ttft_s,
        )

    async def _abort(self, request_id: str) -> None:
        """Abort one request (bounded); a dead engine has nothing left to abort."""
        if self._llm.errored:
            return
        async with asyncio.timeout(ABORT_TIMEOUT_S):
            await self._llm.abort(request_id)

    async def stats(self) -> EngineStats:
        """Running and waiting requests, prefix-cache hit rate and recent tokens/s."""
        self._check_alive()
        unfinished = self._llm.get_num_unfinished_requests()
        waiting = min(self._recorder.waiting, unfinished)
        return EngineStats(
            name=self.name,
            running=unfinished - waiting,
            waiting=waiting,
            prefix_cache_hit_rate=self._recorder.hit_rate(),
            tokens_per_s=self._recorder.tokens_per_s(time.time()),
            generated_tokens=self._recorder.generated,
        )

    async def aclose(self) -> None:
        """Abort pending requests and shut vLLM down (its processes exit). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._live and not self._llm.errored:
            async with asyncio.timeout(ABORT_TIMEOUT_S):
                await self._llm.abort(list(self._live))
        async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
            await self._stop_output_handler()
            await asyncio.to_thread(self._llm.shutdown)
        # AsyncLLM.__del__ shuts down again; let it run now, not noisily at interpreter exit.
        self._llm = _ClosedLlm()
        gc.collect()

    async def _stop_output_handler(self) -> None:
        """Cancel vLLM's output loop first, so stopping EngineCore is not logged as a crash."""
        handler = getattr(self._llm, "output_handler", None)
        if handler is None or handler.done():
            return
        handler.cancel()
        await asyncio.wait([handler])

    def _check_alive(self) -> None:
        if self._closed:
            raise EngineDeadError(f"engine {self.name} is closed")
        if self._llm.errored:
            raise EngineDeadError(f"engine {self.name} is dead: {_one_line(self._llm.dead_error)}")


class _ClosedLlm:
    """Stands in for a shut-down AsyncLLM: nothing is running, nothing can be aborted."""

    errored = False

    def get_num_unfinished_requests(self) -> int:
        return 0

    async def abort(self, request_id: str | list[str]) -> None:
        return None


def _import_vllm() -> None:
    """Import vLLM's front end; run in a thread of its own, before :func:`_build_llm`.

    vLLM keeps exceptions it caught while importing (a missing ``torchcodec``) with their
    tracebacks, and those pin every frame of the importing thread's stack. Imported in the same
    executor call that builds the engine, they would pin the engine too, past ``aclose``, until
    ``AsyncLLM.__del__`` fails at interpreter exit.
    """
    importlib.import_module("vllm.v1.engine.async_llm")


def _build_llm(config: EngineConfig, model_path: Path, recorder: StatsRecorder) -> Any:
    """Create the AsyncLLM (blocking: loads the model, starts EngineCore); run in a thread."""
    from vllm.platforms import current_platform
    from vllm.v1.engine.async_llm import AsyncLLM

    is_cpu = current_platform.is_cpu()
    if is_cpu:
        check_fits_in_memory(config, model_path)
    args = build_engine_args(config, str(model_path), is_cpu=is_cpu)
    return AsyncLLM.from_engine_args(args, stat_loggers=[recorder])


DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
SAFETENSORS_BYTES = {
    "BF16": 2, "F16": 2, "F32": 4, "F64": 8, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "I32": 4, "I64": 8,
}
FLOAT_DTYPES = frozenset({"BF16", "F16", "F32", "F64"})


def weight_bytes(model_path: Path, dtype: str, *, per_decode_step: bool = False) -> int:
    """Bytes the model's weights take once loaded as ``dtype`` (parameters from the safetensors headers).

    Floating-point tensors of 16 bits or more count at ``dtype``; quantized ones (integer,
    packed or not, and FP8) at their stored size, since vLLM serves them as stored.
    ``per_decode_step``: only what one decode step reads, i.e. without an input embedding
    table that has its own output head (a step looks up one row of it, not all of it).
    """
    served = DTYPE_BYTES.get(dtype)
    sizes: dict[str, int] = {}
    for file in sorted(model_path.glob("*.safetensors")):
        header = _safetensors_header(file)
        if header is None:  # not a readable safetensors file: count its bytes as bf16 weights
            sizes[file.name] = file.stat().st_size * (served or 2) // 2
            continue
        for name, tensor in header.items():
            if name != "__metadata__":
                stored = SAFETENSORS_BYTES.get(tensor["dtype"], 2)
                floating = tensor["dtype"] in FLOAT_DTYPES
                sizes[name] = math.prod(tensor["shape"]) * (served if served and floating else stored)
    if per_decode_step and any("lm_head" in name for name in sizes):
        sizes = {name: size for name, size in sizes.items() if "embed_tokens" not in name}
    return sum(sizes.values())


def _safetensors_header(file: Path) -> dict | None:
    """The JSON header of a safetensors file (tensor names, dtypes, shapes), or None if unreadable."""
    try:
        with file.open("rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 2 <= size <= min(file.stat().st_size, 1 << 27):
                return None
            header = json.loads(handle.read(size))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return header if isinstance(header, dict) else None


def check_fits_in_memory(config: EngineConfig, model_path: Path) -> None:
    """On CPU, refuse to start when weights + KV cache + overhead exceed the available memory."""
    import psutil

    weights = weight_bytes(model_path, served_dtype(config, is_cpu=True)) / GiB
    needed = weights + config.kv_cache_gib + CPU_OVERHEAD_GIB
    available = psutil.virtual_memory().available / GiB
    if needed > available:
        raise EngineStartError(
            f"model {model_path.name} does not fit: weights {weights:.1f} GiB + KV cache "
            f"{config.kv_cache_gib:g} GiB + ~{CPU_OVERHEAD_GIB:g} GiB overhead > {available:.1f} GiB "
            "available; lower kv_cache_gib or use a smaller model"
        )


def _shut_down_when_built(building: asyncio.Future[Any] | None) -> None:
    """The caller gave up on a start: shut the engine down if it is still being built (None: not begun)."""
    if building is not None:
        building.add_done_callback(_shutdown_late)


def _shutdown_late(building: asyncio.Future) -> None:
    """An engine that finished starting after its caller gave up: shut it down, do not leak it."""
    if not building.cancelled() and building.exception() is None:
        building.result().shutdown()


def engine_timings(metrics: Any) -> tuple[float | None, float | None]:
    """Queue wait and time to first token from vLLM's ``RequestOutput.metrics`` (a ``RequestStateStats``).

    vLLM fills it whenever it logs stats, which the :class:`StatsRecorder` stat logger already
    turns on, so reading it costs nothing more. Queue wait is EngineCore's SCHEDULED minus QUEUED
    timestamp (one monotonic clock, the first scheduling: preemptions are not counted); time to
    first token is the front end's, from the request's arrival. None where vLLM recorded nothing.
    """
    if metrics is None:
        return None, None
    queued, scheduled = metrics.queued_ts, metrics.scheduled_ts
    queue_s = max(0.0, scheduled - queued) if queued > 0 and scheduled > 0 else None
    ttft_s = metrics.first_token_latency if metrics.first_token_latency > 0 else None
    return queue_s, ttft_s


def _stop_string(stop_reason: object) -> str | None:
    """vLLM's ``stop_reason``: the matched stop string, an int for a stop token id, or None (EOS, length)."""
    return stop_reason if isinstance(stop_reason, str) else None


def _one_line(error: BaseException) -> str:
    """A short single line for an error message (pydantic errors: the first error's text)."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        try:
            text = str(errors()[0]["msg"]).removeprefix("Value error, ")
        except (TypeError, IndexError, KeyError):
            text = str(error)
    else:
        text = str(error)
    lines = text.strip().splitlines()
    line = lines[0] if lines else type(error).__name__
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 3] + "..."
