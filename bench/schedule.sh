#!/usr/bin/env bash
# Scheduling overhead of `pipec run` against `make -r -j2` (and ninja, when installed) on
# the same work: 1000 no-op actions (`true`), as 10 stages x 100 parallel actions ("wide")
# and as a 1000-step chain ("chain"), with durable history on (a fresh state directory per
# run). Goal (issues 3 and 12): pipec's wall time <= 1.2x make's and ninja's on both shapes
# (stretch: <= 1.05x make).
#
#   bash bench/schedule.sh            # 5 runs of each, medians
#   RUNS=11 bash bench/schedule.sh
#   PIPEC=path/to/pipec PIPEC_BEFORE=path/to/older/pipec bash bench/schedule.sh
#                                     # another binary, and a second one in the same runs
#
# Uses hyperfine when it is installed (apt-get install hyperfine), else a bash timing loop.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
JOBS=2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "${PIPEC:-}" ]; then
  cargo build --release --locked --quiet
  # A copy: a shared target dir may be rebuilt while this runs.
  cp "${CARGO_TARGET_DIR:-$PWD/target}/release/pipec" "$work/pipec"
  PIPEC=$work/pipec
fi
BEFORE=${PIPEC_BEFORE:-}

# --- the workloads -------------------------------------------------------------------------
{
  echo "pipeline wide {"
  for s in $(seq 1 10); do
    echo "  stage s$s {"
    for a in $(seq 1 100); do echo "    action a$a: sh { run = \"true\" }"; done
    echo "  }"
  done
  echo "}"
} > "$work/wide.pipe"
{
  echo "pipeline chain {"
  for s in $(seq 1 10); do
    echo "  stage s$s {"
    echo "    action a1: sh { run = \"true\" }"
    for a in $(seq 2 100); do echo "    action a$a: sh { run = \"true\" after = [a$((a - 1))] }"; done
    echo "  }"
  done
  echo "}"
} > "$work/chain.pipe"
{
  echo ".PHONY: all"
  echo "all: s10"
  prev=""
  for s in $(seq 1 10); do
    targets=""
    for a in $(seq 1 100); do
      echo "s${s}a$a: $prev"; printf '\ttrue\n'
      targets="$targets s${s}a$a"
    done
    echo "s$s:$targets"
    echo ".PHONY: s$s$targets"
    prev="s$s"
  done
} > "$work/wide.mk"
{
  echo ".PHONY: all"
  echo "all: c1000"
  echo "c1:"; printf '\ttrue\n'
  for i in $(seq 2 1000); do echo "c$i: c$((i - 1))"; printf '\ttrue\n'; done
  echo ".PHONY: $(seq -f 'c%g' -s ' ' 1 1000)"
} > "$work/chain.mk"
if command -v ninja >/dev/null; then
  {
    echo "rule t"
    echo "  command = true"
    prev=""
    for s in $(seq 1 10); do
      outs=""
      for a in $(seq 1 100); do
        echo "build s${s}a$a: t${prev:+ || $prev}"
        outs="$outs s${s}a$a"
      done
      echo "build s$s: phony$outs"
      prev="s$s"
    done
    echo "default s10"
  } > "$work/wide.ninja"
  {
    echo "rule t"
    echo "  command = true"
    echo "build c1: t"
    for i in $(seq 2 1000); do echo "build c$i: t || c$((i - 1))"; done
    echo "default c1000"
  } > "$work/chain.ninja"
fi
"$PIPEC" check "$work/wide.pipe" "$work/chain.pipe" >/dev/null

# --- timing -------------------------------------------------------------------------------
# The tools take turns (make, ninja, pipec, make, …) so that a noisy neighbour slows all of
# them alike; the medians are compared.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
once() { # CMD: wall seconds of one run
  local t0 t1
  t0=$(date +%s%N); eval "$1" >/dev/null 2>&1 || { echo "failed: $1" >&2; exit 1; }; t1=$(date +%s%N)
  echo "scale=4; ($t1 - $t0) / 1000000000" | bc -l
}
printf '%-6s %9s %9s %9s %9s %9s\n' shape make ninja pipec '/make' '/ninja'
for shape in wide chain; do
  m=(); n=(); p=(); b=()
  for _ in $(seq 1 "$RUNS"); do
    m+=("$(once "make -r -s -j$JOBS -f $work/$shape.mk")")
    if [ -f "$work/$shape.ninja" ]; then
      rm -f "$work/.ninja_log" "$work/.ninja_deps"
      n+=("$(once "ninja -C $work -j$JOBS -f $shape.ninja")")
    fi
    rm -rf "$work/state"
    p+=("$(once "$PIPEC run $work/$shape.pipe --state-dir $work/state --jobs $JOBS")")
    if [ -n "$BEFORE" ]; then
      rm -rf "$work/state"
      b+=("$(once "$BEFORE run $work/$shape.pipe --state-dir $work/state --jobs $JOBS")")
    fi
  done
  mm=$(printf '%s\n' "${m[@]}" | median)
  pm=$(printf '%s\n' "${p[@]}" | median)
  nm="-"
  nr="-"
  if [ "${#n[@]}" -gt 0 ]; then
    nmed=$(printf '%s\n' "${n[@]}" | median)
    nm=$(printf '%.3fs' "$nmed")
    nr=$(printf '%.2fx' "$(echo "$pm / $nmed" | bc -l)")
  fi
  printf '%-6s %8.3fs %9s %8.3fs %8.2fx %9s\n' "$shape" "$mm" "$nm" "$pm" "$(echo "$pm / $mm" | bc -l)" "$nr"
  if [ "${#b[@]}" -gt 0 ]; then
    bm=$(printf '%s\n' "${b[@]}" | median)
    br="-"
    [ "${#n[@]}" -gt 0 ] && br=$(printf '%.2fx' "$(echo "$bm / $nmed" | bc -l)")
    printf '%-6s %9s %9s %8.3fs %8.2fx %9s  (PIPEC_BEFORE; after/before %.3f)\n' "" "" "" "$bm" "$(echo "$bm / $mm" | bc -l)" "$br" "$(echo "$pm / $bm" | bc -l)"
  fi
done
