"""What an engine start says it is doing: the kernel-compile warning only where kernels compile."""

from __future__ import annotations

import pytest

from actors.config import EngineConfig
from orchestrator import engines


def test_the_compile_warning_appears_only_for_a_compiled_first_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "has_compile_cache", lambda: False)
    eager_default = engines.start_message(EngineConfig(model="m"), 1, embedded=True)
    assert eager_default.startswith("starting 1 vLLM replica of m (two processes each import vLLM")
    assert "compiles kernels" not in eager_default  # eager on CPU by default: nothing to compile
    compiled = engines.start_message(EngineConfig(model="m", enforce_eager=False), 2, embedded=True)
    assert compiled.startswith("starting 2 vLLM replicas of m") and "compiles kernels" in compiled
    monkeypatch.setattr(engines, "has_compile_cache", lambda: True)
    assert "compiles kernels" not in engines.start_message(EngineConfig(model="m", enforce_eager=False), 1,
                                                           embedded=True)
