"""The releases the Modal deployment runs, pinned in this one place.

`modal_app.py` installs exactly these into the GPU image, and the contract test
(`tests/test_vllm_contract.py`) downloads these same releases and reads their own source, so a bump
here re-runs every check against the new release before anything is deployed. Exact pins, not
ranges: the image must be the thing that was checked.

This module needs only the standard library: `modal_app.py` and the tests read it on machines without vLLM."""

from __future__ import annotations

import re

PYTHON = "3.12"  # the image's interpreter
VLLM = "0.33.0"
# What vLLM 0.33.0 declares (its wheel's Requires-Dist; the contract test checks each pin against it):
TORCH = "2.14.0"  # torch==2.14.0
LLGUIDANCE = "1.7.6"  # llguidance>=1.7.0,<1.8.0: the newest release it allows
TRANSFORMERS = "5.20.2"  # transformers>=5.16.1,<5.21.0

# The oldest `modal` client that has everything modal_app.py calls: `Image.uv_pip_install` came in
# 1.1.0 and `env=` on `@app.function` in 1.2.0. pyproject.toml states the same floor (a test checks).
MODAL_FLOOR = "1.2.0"

GPU_PACKAGES: tuple[str, ...] = (
    f"vllm=={VLLM}",
    f"torch=={TORCH}",
    f"llguidance=={LLGUIDANCE}",
    f"transformers=={TRANSFORMERS}",
)


def release(version: str) -> tuple[int, ...]:
    """The release number as a comparable tuple ("1.2.0" → (1, 2, 0), "1.3.0rc1" → (1, 3, 0))."""
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group().split(".")) if match else ()
