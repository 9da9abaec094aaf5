"""``forkjoin models``: list shows registry state; prepare reports where the model is."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from actors import models
from actors.models import ResolvedModel
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

    def fake_prepare(name: str, *, force: bool = False) -> ResolvedModel:
        seen.append((name, force))
        return ResolvedModel(name=name, path=Path("/cache") / name)

    monkeypatch.setattr(cli_models, "prepare_model", fake_prepare)
    args = parse(["models", "prepare", "--json", "--force"])
    assert args.handler(args) == 0
    assert seen == [(models.DEFAULT_MODEL, True)]
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == models.DEFAULT_MODEL and out["path"] == f"/cache/{models.DEFAULT_MODEL}"
