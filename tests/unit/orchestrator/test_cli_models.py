"""``forkjoin models``: list shows registry state; prepare reports where the model is."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from actors import models
from actors.models import ResolvedModel
from orchestrator import cli
from orchestrator.cli import models as cli_models


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="forkjoin")
    cli_models.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_list_json_names_default_and_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("FORKJOIN_CACHE", str(tmp_path))
    args = parse(["models", "list", "--json"])
    assert args.handler(args) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert listed[models.DEFAULT_MODEL]["role"] == "default"
    assert listed[models.TEST_MODEL]["role"] == "test"
    assert listed[models.TEST_MODEL]["state"] in {"not-prepared", "not-installed"}
    assert listed[models.TEST_MODEL]["path"] == str(tmp_path / "models" / models.TEST_MODEL)


def test_prepare_defaults_to_the_default_model(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    seen: list[tuple[str, bool]] = []

    def fake_prepare(name: str, *, force: bool = False, on_progress=None) -> ResolvedModel:
        seen.append((name, force))
        return ResolvedModel(name=name, path=Path("/cache") / name)

    monkeypatch.setattr(cli_models, "prepare_model", fake_prepare)
    args = parse(["models", "prepare", "--json", "--force"])
    assert args.handler(args) == 0
    assert seen == [(models.DEFAULT_MODEL, True)]
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == models.DEFAULT_MODEL and out["path"] == f"/cache/{models.DEFAULT_MODEL}"


def test_prepare_shows_each_step_on_stderr(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def fake_prepare(name: str, *, force: bool = False, on_progress=None) -> ResolvedModel:
        for done in (0, 1 << 20, 2 << 20):
            on_progress("checking the sha256", done, 2 << 20)
        on_progress("converting to a Hugging Face directory", 0, None)
        return ResolvedModel(name=name, path=Path("/cache") / name)

    monkeypatch.setattr(cli_models, "prepare_model", fake_prepare)
    assert cli.main(["models", "prepare", "tiny", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["name"] == "tiny"
    lines = err.splitlines()
    assert lines[0] == "preparing tiny"
    assert lines[1].startswith("checking the sha256: 2.0 MiB in ")
    assert lines[2] == "converting to a Hugging Face directory ..."
    assert lines[3].startswith("converting to a Hugging Face directory: done in ")
    assert len(lines) == 4
    assert cli.main(["models", "prepare", "tiny", "--json", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_prepare_reports_steps_through_the_callback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = [tmp_path / "a.bin", tmp_path / "b.bin"]
    parts[0].write_bytes(b"GGUF" + b"x" * 100)
    parts[1].write_bytes(b"y" * 50)
    monkeypatch.setattr(models, "_run_converter", lambda gguf, out, report: (report("converting: writing safetensors", 0, None), out.mkdir(),
                                                                 (out / "config.json").write_text("{}")))
    steps: list[tuple[str, int, int | None]] = []
    models._convert(parts, None, tmp_path / "out", force=True, report=lambda *step: steps.append(step))
    assert steps == [
        ("joining the GGUF parts", 0, 154), ("joining the GGUF parts", 104, 154), ("joining the GGUF parts", 154, 154),
        ("checking the sha256", 0, 154), ("checking the sha256", 154, 154),
        ("converting: writing safetensors", 0, None),
    ]
    assert (tmp_path / "out" / models.MARKER).is_file()
