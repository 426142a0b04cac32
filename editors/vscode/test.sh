#!/usr/bin/env bash
# Builds and tests the VS Code extension for .pipe files from a clean checkout. Needs only
# Node.js (18 or later) and npm with the npm registry; no VS Code, no pipec binary.
#
#   bash editors/vscode/test.sh
#
# Steps: npm ci (exactly package-lock.json), npm run compile (tsc), npm test (the grammar's
# unit tests, the grammar over every .pipe file in examples/ and stdlib/, the extension's unit
# tests). Each step is limited to 10 minutes, so a grammar that makes the tokenizer hang fails
# instead of stalling CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "error: $tool is needed to build the VS Code extension (Node.js 18 or later)" >&2
    exit 1
  fi
done
echo "== node $(node --version), npm $(npm --version)"

step() {
  echo "== $*"
  if command -v timeout >/dev/null; then
    timeout 600 "$@"
  else
    "$@"
  fi
}

step npm ci --no-audit --no-fund
step npm run compile
step npm test
