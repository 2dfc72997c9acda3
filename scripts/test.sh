#!/usr/bin/env bash
# Every test, from a fresh machine: sets up .venv (scripts/setup.sh), runs the pytest suite
# (unit, real HTTP, the language server over stdio, Neovim headless, the real model), then the
# VS Code extension end to end in a real VS Code (scripts/vscode-e2e.sh, which installs
# Chromium, Node 24 and code-server when they are missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -q
bash scripts/vscode-e2e.sh
