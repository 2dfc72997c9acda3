"""``model = "auto"``: the largest installed code model this machine can serve in time.

The 1.5B writes far better code than the 0.5B and is several times slower per token on a CPU
(bench/RESULTS.md), so the choice is measured, not guessed: a short timed run of a typical keystroke (a few new prompt
tokens after a cached prefix, then a line decoded), once per machine and runtime, remembered in
the model cache. The user sees the choice and the reason (``ananke models``, the provenance)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from ..errors import ModelError
from .catalog import AUTO_CANDIDATES, PinnedModel
from .store import cache_dir, install_hint, is_installed

# A typical inline suggestion must arrive within this; a larger model that cannot is passed over.
SUGGESTION_BUDGET_MS = 800.0
Measure = Callable[[Path], float]  # a model file -> milliseconds for one typical suggestion


class AutoChoice(BaseModel):
    model: str
    reason: str
    measured_ms: dict[str, float] = {}


def machine_key(runtime: str) -> str:
    """Which measurements stay valid: the CPU, the core count and the runtime build."""
    cpu = ""
    try:
        cpu = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")), "")
    except OSError:
        cpu = platform.processor()
    text = f"{platform.machine()}|{os.cpu_count()}|{cpu}|{runtime}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _remembered_path() -> Path:
    return cache_dir() / "auto-choice.json"


def _remembered(key: str) -> dict[str, float]:
    try:
        saved = json.loads(_remembered_path().read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in saved.get(key, {}).items()} if isinstance(saved, dict) else {}


def _remember(key: str, measured: dict[str, float]) -> None:
    path = _remembered_path()
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    saved[key] = measured
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=1))


def choose(measure: Measure, path_of: Callable[[PinnedModel], Path], runtime: str) -> AutoChoice:
    """The largest installed candidate whose measured suggestion time is within the budget,
    else the smallest installed one; ``ModelError`` when no code model is installed."""
    installed = [m for m in AUTO_CANDIDATES if is_installed(m)]
    if not installed:
        hint = install_hint(AUTO_CANDIDATES[-1])
        raise ModelError(f"no code model is installed: run `{hint}` (or `ananke models install` for all)")
    if len(installed) == 1:
        return AutoChoice(model=installed[0].name, reason="the only code model installed")
    key = machine_key(runtime)
    measured = _remembered(key)
    for model in installed[:-1]:
        if model.name not in measured:
            measured[model.name] = measure(path_of(model))
            _remember(key, measured)
        took = measured[model.name]
        if took <= SUGGESTION_BUDGET_MS:
            reason = f"a typical suggestion takes {took:.0f} ms on this machine (budget {SUGGESTION_BUDGET_MS:.0f} ms)"
            return AutoChoice(model=model.name, reason=reason, measured_ms=measured)
    fallback = installed[-1]
    slowest = ", ".join(f"{name} {ms:.0f} ms" for name, ms in measured.items())
    reason = f"larger models miss the {SUGGESTION_BUDGET_MS:.0f} ms suggestion budget here ({slowest})"
    return AutoChoice(model=fallback.name, reason=reason, measured_ms=measured)
