#!/usr/bin/env bash
# Sets up (like scripts/setup.sh, plus the bench extra) and runs every benchmark, writing
# bench/RESULTS.md. Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[embedded,service,dev,bench]"
.venv/bin/python bench/run.py
