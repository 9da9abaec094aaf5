"""Model registry: resolution errors say what to run; preparation is atomic and checked."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import pytest

from actors import models
from actors.models import (
    MARKER,
    ModelCorruptError,
    ModelNotInstalledError,
    ModelNotPreparedError,
    ModelSpec,
    ModelState,
    UnknownModelError,
    prepare_model,
    resolve_model,
)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FORKJOIN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


@pytest.fixture
def chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """A registry entry whose GGUF is two chunk files, located without any package."""
    chunks = [tmp_path / "part1.bin", tmp_path / "part2.bin"]
    chunks[0].write_bytes(b"GGUF-first-half/")
    chunks[1].write_bytes(b"second-half")
    spec = ModelSpec(
        name="tiny-test",
        description="two chunks",
        parts=(("pkg-a", "a/part1.bin"), ("pkg-b", "b/part2.bin")),
        sha256=hashlib.sha256(b"GGUF-first-half/second-half").hexdigest(),
        license="none",
    )
    monkeypatch.setitem(models.REGISTRY, spec.name, spec)
    monkeypatch.setattr(models, "locate_parts", lambda s: chunks if s.name == spec.name else pytest.fail("wrong spec"))
    return spec


def fake_converter(calls: list[bytes]):
    def convert(gguf: Path, out: Path, report) -> None:
        calls.append(gguf.read_bytes())
        out.mkdir()
        (out / "config.json").write_text("{}")

    return convert


def test_unknown_name_lists_the_registry() -> None:
    with pytest.raises(UnknownModelError, match=r"unknown model 'nope': not a registry model \(qwen2.5"):
        resolve_model("nope")


def test_directory_without_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="is not a Hugging Face model directory"):
        resolve_model(str(tmp_path))


def test_hugging_face_directory_resolves_to_itself(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path)).path == tmp_path


def test_missing_gguf_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match=r"^no such GGUF file: .*missing\.gguf$"):
        resolve_model(str(tmp_path / "missing.gguf"))


def test_unconverted_gguf_says_to_prepare_it(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ModelNotPreparedError, match=rf"run `forkjoin models prepare {gguf}`"):
        resolve_model(str(gguf))


def test_missing_package_says_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ModelSpec(name="ghost", description="", parts=(("no-such-dist-xyz", "f.gguf"),), sha256="0" * 64, license="")
    monkeypatch.setitem(models.REGISTRY, "ghost", spec)
    with pytest.raises(ModelNotInstalledError, match="needs package 'no-such-dist-xyz': run scripts/setup-venv.sh"):
        resolve_model("ghost")
    assert models.model_state(spec) is ModelState.NOT_INSTALLED


def test_unprepared_registry_model_says_what_to_run(chunked: ModelSpec) -> None:
    with pytest.raises(ModelNotPreparedError, match=r"^model 'tiny-test' is not prepared: run `forkjoin models prepare tiny-test`$"):
        resolve_model("tiny-test")


def test_incomplete_directory_is_corrupt(chunked: ModelSpec, cache: Path) -> None:
    (cache / "tiny-test").mkdir(parents=True)
    with pytest.raises(ModelCorruptError, match="is incomplete: run `forkjoin models prepare tiny-test`"):
        resolve_model("tiny-test")


def test_prepare_joins_chunks_checks_and_marks(chunked: ModelSpec, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    monkeypatch.setattr(models, "_run_converter", fake_converter(calls))
    resolved = prepare_model("tiny-test")
    assert calls == [b"GGUF-first-half/second-half"]
    assert resolved.path == cache / "tiny-test"
    assert (resolved.path / MARKER).read_text().strip() == chunked.sha256
    assert resolve_model("tiny-test") == resolved
    assert [p.name for p in cache.iterdir()] == ["tiny-test"], "temporary directories left behind"
    prepare_model("tiny-test")
    assert len(calls) == 1, "a prepared model is not converted again"
    prepare_model("tiny-test", force=True)
    assert len(calls) == 2


def test_prepare_rejects_a_corrupt_gguf(chunked: ModelSpec, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(models.REGISTRY, "tiny-test", chunked.model_copy(update={"sha256": "f" * 64}))
    monkeypatch.setattr(models, "_run_converter", lambda g, o, r: pytest.fail("must not convert a corrupt file"))
    with pytest.raises(ModelCorruptError, match=r"GGUF of 'tiny-test' has sha256 .*, expected ffffffffffff"):
        prepare_model("tiny-test")
    assert not (cache / "tiny-test").exists()


def test_stale_marker_is_not_ready(chunked: ModelSpec, cache: Path) -> None:
    target = cache / "tiny-test"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    (target / MARKER).write_text("0" * 64)
    assert models.model_state(chunked) is ModelState.NOT_PREPARED


def test_failed_conversion_leaves_nothing(chunked: ModelSpec, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(gguf: Path, out: Path, report) -> None:
        out.mkdir()
        raise models.ModelError("converting x failed: boom")

    monkeypatch.setattr(models, "_run_converter", boom)
    with pytest.raises(models.ModelError, match="boom"):
        prepare_model("tiny-test")
    assert list(cache.iterdir()) == []


def test_prepare_gguf_file_then_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF-user")
    calls: list[bytes] = []
    monkeypatch.setattr(models, "_run_converter", fake_converter(calls))
    prepared = prepare_model(str(gguf))
    assert calls == [b"GGUF-user"]
    assert resolve_model(str(gguf)).path == prepared.path


def test_registry_defaults() -> None:
    assert models.DEFAULT_MODEL in models.REGISTRY and models.TEST_MODEL in models.REGISTRY
    roles = {info.name: info.role for info in models.list_models()}
    assert roles[models.DEFAULT_MODEL] == "default" and roles[models.TEST_MODEL] == "test"


def test_converter_steps_reach_the_callback_and_its_error_line_the_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = "import sys; print('step importing', flush=True); print('noise'); print('step writing'); "
    monkeypatch.setattr(models, "_converter_command", lambda g, o: [sys.executable, "-c", script + "sys.exit(0)"])
    steps: list[tuple[str, int, int | None]] = []
    models._run_converter(tmp_path / "m.gguf", tmp_path / "out", lambda *step: steps.append(step))
    assert steps == [("converting: importing", 0, None), ("converting: writing", 0, None)]
    failing = script + "print('first', file=sys.stderr); print('ValueError: bad tensor', file=sys.stderr); sys.exit(1)"
    monkeypatch.setattr(models, "_converter_command", lambda g, o: [sys.executable, "-c", failing])
    with pytest.raises(models.ModelError, match=r"converting m.gguf failed: ValueError: bad tensor$"):
        models._run_converter(tmp_path / "m.gguf", tmp_path / "out", lambda *step: None)


def test_a_converter_over_its_time_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "CONVERT_TIMEOUT_S", 0.5)
    monkeypatch.setattr(models, "_converter_command", lambda g, o: [sys.executable, "-c", "import time; time.sleep(60)"])
    start = time.monotonic()
    with pytest.raises(models.ModelError, match=r"converting m.gguf took over 0.5 s"):
        models._run_converter(tmp_path / "m.gguf", tmp_path / "out", lambda *step: None)
    assert time.monotonic() - start < 30
