"""The vLLM adapter's pure parts: prompt rendering, parameter conversion, env, start errors.

Runs without vLLM except the conversion tests, which skip when it is absent.
"""

from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace

import pytest

from actors import vllm_plugin
from actors.config import CPU_BLOCK_SIZE, CpuGemm, Dtype, EngineConfig
from actors.engine import EngineStartError, GenerateRequest, RequestError
from actors.vllm_engine import VllmEngine, engine_env, render_prompt
from actors.vllm_plugin import GEMM_VARIABLE
from graphs.params import SamplingParams


class FakeTokenizer:
    """Chat template: '<role>content' per message, then '<assistant>'; encode = one id per char."""

    chat_template = "fake"

    def __init__(self) -> None:
        self.encoded: list[tuple[str, bool]] = []

    def apply_chat_template(self, messages, *, tokenize: bool, add_generation_prompt: bool) -> str:
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        self.encoded.append((text, add_special_tokens))
        return [ord(c) for c in text]


def request(**fields) -> GenerateRequest:
    return GenerateRequest(request_id="r1", prompt="Hi?", **fields)


def test_chat_prompt_has_system_prompt_and_assistant_prefix() -> None:
    tokenizer = FakeTokenizer()
    render_prompt(tokenizer, request(system="Be brief.", assistant_prefix="Sure:"))
    assert tokenizer.encoded == [("<system>Be brief.<user>Hi?<assistant>Sure:", False)]


def test_chat_prompt_without_system() -> None:
    tokenizer = FakeTokenizer()
    ids = render_prompt(tokenizer, request())
    assert ids == [ord(c) for c in "<user>Hi?<assistant>"]


def test_raw_prompt_skips_the_template() -> None:
    tokenizer = FakeTokenizer()
    render_prompt(tokenizer, request(raw=True, system="ignored"))
    assert tokenizer.encoded == [("Hi?", True)]


def test_model_without_chat_template_needs_raw() -> None:
    tokenizer = FakeTokenizer()
    tokenizer.chat_template = None
    with pytest.raises(RequestError, match="no chat template: send the request with raw=True"):
        render_prompt(tokenizer, request())


def test_engine_env_binds_the_allowed_cores() -> None:
    env = engine_env(EngineConfig(cpu_threads=1))
    first = min(os.sched_getaffinity(0))
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == str(first)
    assert env["HF_HUB_OFFLINE"] == "1" and env["VLLM_USE_AOT_COMPILE"] == "0"
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"


def test_one_rank_runs_the_model_inside_enginecore_several_ranks_keep_the_worker_processes() -> None:
    assert engine_env(EngineConfig())["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in engine_env(EngineConfig(tensor_parallel_size=2))
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in engine_env(EngineConfig(one_process=False))


def test_config_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra_field"):
        EngineConfig(extra_field=1)


def test_start_with_unknown_model_is_a_one_line_start_error() -> None:
    with pytest.raises(EngineStartError, match=r"^unknown model 'no-such-model': not a registry model") as info:
        asyncio.run(VllmEngine.start(EngineConfig(model="no-such-model")))
    assert "\n" not in str(info.value)


def test_sampling_params_conversion() -> None:
    pytest.importorskip("vllm")
    from vllm.sampling_params import RequestOutputKind

    from actors.vllm_engine import to_vllm_params

    params = SamplingParams(max_tokens=7, temperature=0.5, top_p=0.9, stop=("\n\n", "END"), seed=3)
    converted = to_vllm_params(params)
    assert (converted.max_tokens, converted.temperature, converted.top_p, converted.seed) == (7, 0.5, 0.9, 3)
    assert converted.stop == ["\n\n", "END"]
    assert converted.output_kind is RequestOutputKind.DELTA
    assert converted.structured_outputs is None


def test_sampling_params_conversion_with_schema_and_no_stop() -> None:
    pytest.importorskip("vllm")
    from actors.vllm_engine import to_vllm_params

    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    converted = to_vllm_params(SamplingParams(), schema)
    assert converted.structured_outputs.json == schema
    assert not converted.stop
    assert converted.temperature == 0.0


def test_engine_args_on_cpu(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("vllm")
    from actors.vllm_engine import build_engine_args, served_dtype

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as engine_env sets it: model must be a local path
    model = str(tmp_path)
    args = build_engine_args(EngineConfig(kv_cache_gib=0.5, max_model_len=1024), model, is_cpu=True)
    assert args.block_size == CPU_BLOCK_SIZE
    assert args.kv_cache_memory_bytes == 1 << 29
    assert args.enable_prefix_caching is True
    assert (args.model, args.max_model_len) == (model, 1024)
    assert args.dtype == served_dtype(EngineConfig(), is_cpu=True) in ("bfloat16", "float32")
    forced = build_engine_args(EngineConfig(dtype=Dtype.BFLOAT16), model, is_cpu=True)
    assert forced.dtype == "bfloat16"
    assert build_engine_args(EngineConfig(), model, is_cpu=False).block_size is None
    assert args.distributed_executor_backend == "uni"
    assert build_engine_args(EngineConfig(), model, is_cpu=False).distributed_executor_backend is None
    for several in (EngineConfig(tensor_parallel_size=2), EngineConfig(one_process=False)):
        assert build_engine_args(several, model, is_cpu=True).distributed_executor_backend is None
    assert args.enforce_eager is True  # eager on CPU unless told
    assert build_engine_args(EngineConfig(), model, is_cpu=False).enforce_eager is False
    assert build_engine_args(EngineConfig(enforce_eager=False), model, is_cpu=True).enforce_eager is False
    assert build_engine_args(EngineConfig(enforce_eager=True), model, is_cpu=False).enforce_eager is True


def test_auto_dtype_is_bfloat16_only_where_the_cpu_computes_it() -> None:
    from actors.vllm_engine import cpu_flags, served_dtype

    avx2 = cpu_flags("processor : 0\nflags : fpu sse avx avx2 fma f16c\n")
    sapphire = cpu_flags("flags\t: avx2 avx512f avx512_bf16 amx_bf16\n")
    graviton = cpu_flags("Features : fp asimd bf16 i8mm\n")
    assert served_dtype(EngineConfig(), is_cpu=True, flags=avx2) == "float32"
    assert served_dtype(EngineConfig(), is_cpu=True, flags=sapphire) == "bfloat16"
    assert served_dtype(EngineConfig(), is_cpu=True, flags=graviton) == "bfloat16"
    assert served_dtype(EngineConfig(dtype=Dtype.FLOAT16), is_cpu=True, flags=avx2) == "float16"
    assert served_dtype(EngineConfig(), is_cpu=False, flags=avx2) == "auto"


def test_weight_bytes_count_parameters_in_the_served_dtype(tmp_path) -> None:
    import json

    from actors.vllm_engine import weight_bytes

    header = {
        "model.embed_tokens.weight": {"dtype": "BF16", "shape": [10, 4], "data_offsets": [0, 80]},
        "lm_head.weight": {"dtype": "BF16", "shape": [10, 4], "data_offsets": [80, 160]},
        "layer.weight": {"dtype": "BF16", "shape": [4, 4], "data_offsets": [160, 192]},
        "__metadata__": {"format": "pt"},
    }
    raw = json.dumps(header).encode()
    (tmp_path / "model.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + b"\0" * 192)
    assert weight_bytes(tmp_path, "bfloat16") == 192
    assert weight_bytes(tmp_path, "float32") == 384
    assert weight_bytes(tmp_path, "float32", per_decode_step=True) == (40 + 16) * 4


def test_quantized_weights_count_at_their_stored_size(tmp_path) -> None:
    import json

    from actors.vllm_engine import weight_bytes

    header = {
        "lm_head.weight": {"dtype": "BF16", "shape": [10, 4], "data_offsets": [0, 80]},
        "layer.weight": {"dtype": "I8", "shape": [4, 4], "data_offsets": [80, 96]},
        "layer.weight_scale": {"dtype": "F32", "shape": [4, 1], "data_offsets": [96, 112]},
        "packed.weight_packed": {"dtype": "I32", "shape": [4, 1], "data_offsets": [112, 128]},
        "fp8.weight": {"dtype": "F8_E4M3", "shape": [4, 4], "data_offsets": [128, 144]},
    }
    raw = json.dumps(header).encode()
    (tmp_path / "model.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + b"\0" * 144)
    # served bfloat16: the float tensors at 2 bytes, the int8, packed int4 and FP8 weights as stored
    assert weight_bytes(tmp_path, "bfloat16") == 40 * 2 + 16 * 1 + 4 * 2 + 4 * 4 + 16 * 1


def test_model_that_does_not_fit_is_refused_before_starting(tmp_path) -> None:
    pytest.importorskip("psutil")
    from actors.vllm_engine import check_fits_in_memory

    (tmp_path / "model.safetensors").write_bytes(b"0" * 1024)
    with pytest.raises(EngineStartError, match=r"does not fit: weights 0.0 GiB \+ KV cache 1000 GiB .* available"):
        check_fits_in_memory(EngineConfig(kv_cache_gib=1000), tmp_path)
    check_fits_in_memory(EngineConfig(kv_cache_gib=0.1), tmp_path)


def test_error_lines_are_single_and_short() -> None:
    from pydantic import BaseModel, field_validator

    from actors.vllm_engine import _one_line

    class Strict(BaseModel):
        n: int

        @field_validator("n")
        @classmethod
        def small(cls, v: int) -> int:
            raise ValueError(f"n ({v}) is too big\nsecond line")

    with pytest.raises(ValueError) as info:
        Strict(n=5)
    assert _one_line(info.value) == "n (5) is too big"
    assert _one_line(RuntimeError("x" * 1000)).endswith("...") and len(_one_line(RuntimeError("x" * 1000))) == 300
    assert _one_line(RuntimeError()) == "RuntimeError"


def _output(stop_reason: object, *, finished: bool = True) -> SimpleNamespace:
    finish_reason = "stop" if finished else None
    completion = SimpleNamespace(text="x", token_ids=[1], finish_reason=finish_reason, stop_reason=stop_reason)
    return SimpleNamespace(outputs=[completion], finished=finished, num_cached_tokens=0)


def test_final_chunk_reports_the_stop_string_only() -> None:
    engine = SimpleNamespace(name="replica-0")
    assert VllmEngine._chunk(engine, _output("</scope>"), None).stop_reason == "</scope>"
    assert VllmEngine._chunk(engine, _output(151645), None).stop_reason is None  # a stop token id
    assert VllmEngine._chunk(engine, _output(None), None).stop_reason is None  # end of sequence
    assert VllmEngine._chunk(engine, _output("</scope>", finished=False), None).stop_reason is None


def test_engine_env_names_the_cpu_gemm_kernel_for_the_plugin() -> None:
    assert engine_env(EngineConfig())[GEMM_VARIABLE] == "sgl"
    assert engine_env(EngineConfig(cpu_gemm=CpuGemm.VLLM))[GEMM_VARIABLE] == "vllm"


def test_the_plugin_is_registered_with_vllm_and_acts_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import entry_points

    [plugin] = [e for e in entry_points(group="vllm.general_plugins") if e.name == "forkjoin_cpu_gemm"]
    assert plugin.load() is vllm_plugin.register
    pytest.importorskip("vllm", reason="vLLM is not installed (run scripts/setup-venv.sh)")
    import torch
    from vllm.model_executor.layers import utils

    monkeypatch.setattr(utils, "_CPU_SGL_GEMM_MAX_WEIGHT_BYTES", 1 << 20)  # restored after the test
    monkeypatch.setenv(GEMM_VARIABLE, "vllm")
    vllm_plugin.register()
    assert utils._CPU_SGL_GEMM_MAX_WEIGHT_BYTES == 1 << 20
    monkeypatch.setenv(GEMM_VARIABLE, "sgl")
    vllm_plugin.register()
    assert utils._CPU_SGL_GEMM_MAX_WEIGHT_BYTES == vllm_plugin.SGL_MAX_WEIGHT_BYTES
    # vLLM's own checks still decide: the default model's lm_head (151936 x 896 bf16) now qualifies.
    assert utils.check_cpu_sgl_kernel(151936, 896, torch.bfloat16) == torch.cpu._is_amx_tile_supported()


class LateLlm:
    """Stands in for an AsyncLLM that finished starting: records its shutdown."""

    def __init__(self) -> None:
        self.shut_down = False

    def shutdown(self) -> None:
        self.shut_down = True


def test_an_engine_that_starts_after_the_timeout_is_shut_down_not_leaked(tmp_path, monkeypatch) -> None:
    import threading

    from actors import vllm_engine

    (tmp_path / "config.json").write_text("{}")
    late, release = LateLlm(), threading.Event()

    def slow_build(config, model_path, recorder):
        release.wait(10)
        return late

    monkeypatch.setattr(vllm_engine, "_import_vllm", lambda: None)
    monkeypatch.setattr(vllm_engine, "_build_llm", slow_build)
    monkeypatch.setattr(vllm_engine, "apply_env", lambda config: None)  # leave this process's environment alone

    async def start_then_let_it_finish() -> None:
        with pytest.raises(EngineStartError, match=r"did not start within 0\.2 s$"):
            await VllmEngine.start(EngineConfig(model=str(tmp_path), start_timeout_s=0.2))
        assert not late.shut_down  # still being built when the caller gave up
        release.set()
        for _ in range(100):
            if late.shut_down:
                return
            await asyncio.sleep(0.05)

    asyncio.run(start_then_let_it_finish())
    assert late.shut_down
