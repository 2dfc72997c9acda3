"""Shared fixtures: a real model on llama.cpp. Tests that prove constraint guarantees run the tiny
SmolLM2-135M (fast; the guarantees do not depend on weight quality): ``ANANKE_MODEL`` makes it the
default of this process and of every server it starts. Tests of suggestion quality name the
code model themselves."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("ANANKE_MODEL", "smollm2-135m")

from ananke_lsp.engines.embedded import EmbeddedEngine
from ananke_lsp.models import cache_dir

# Editors under test get a home and XDG folders of their own; the models stay where they are.
os.environ.setdefault("ANANKE_MODEL_CACHE", str(cache_dir()))


@pytest.fixture(scope="session")
def engine() -> EmbeddedEngine:
    return EmbeddedEngine("smollm2-135m")
