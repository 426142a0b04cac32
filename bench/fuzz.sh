#!/usr/bin/env bash
# Coverage-guided fuzzing of pipec's entry points with cargo-fuzz (libFuzzer), on stable Rust
# (no sanitizer; debug assertions and overflow checks on): check, fmt, compile, graph, the
# language server's analysis (lsp) and `pipec import codepipeline` (import). fuzz/src/lib.rs says what each target checks;
# docs/fuzzing.md how to minimise a finding and keep it as a regression test.
#
#   bash bench/fuzz.sh [TARGET…]        (default: all six)
#
# FUZZ_SECONDS (default 600) is the total time, shared evenly by the targets. Each corpus
# (fuzz/corpus/TARGET, kept between runs) is seeded from examples/, stdlib/, tests/fixtures/
# and the target's regression cases (tests/fuzz-regressions/TARGET); graph's also from the
# examples' IR JSON. libFuzzer runs in fork mode and keeps going after a finding; findings
# are saved in fuzz/artifacts/TARGET/. Prints executions and findings per target; exits 1
# when something was found.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(check fmt compile graph lsp import)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")
total="${FUZZ_SECONDS:-600}"
each=$((total / ${#targets[@]}))
[ "$each" -ge 1 ] || { echo "error: FUZZ_SECONDS=$total is too short for ${#targets[@]} targets" >&2; exit 2; }

if ! command -v cargo-fuzz >/dev/null; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

echo "== building the fuzz targets (release, debug assertions, no sanitizer)"
cargo fuzz build -s none

echo "== seeding the corpora"
cargo build --locked --quiet
seed() { # seed DIR FILE…: copies each file in under the hash of its contents
  local dir="$1" f
  shift
  for f in "$@"; do
    [ -f "$f" ] && cp "$f" "$dir/$(sha1sum <"$f" | cut -c1-40)"
  done
}
shopt -s nullglob globstar
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  seed "$corpus" examples/**/*.pipe stdlib/*.pipe tests/fixtures/**/*.pipe tests/fuzz-regressions/"$t"/*
  if [ "$t" = graph ]; then
    ir="$(mktemp)"
    for f in examples/**/*.pipe; do
      target/debug/pipec compile "$f" -o "$ir" 2>/dev/null && seed "$corpus" "$ir"
    done
    rm -f "$ir"
  fi
  if [ "$t" = import ]; then
    # The CodePipeline corpus (vendored), and the templates pipec compiles.
    seed "$corpus" tests/data/corpus/codepipeline/*
    tpl="$(mktemp)"
    for f in examples/**/*.pipe; do
      target/debug/pipec compile "$f" --target codepipeline -o "$tpl" 2>/dev/null && seed "$corpus" "$tpl"
    done
    rm -f "$tpl"
  fi
done

summary=()
found=0
for t in "${targets[@]}"; do
  echo "== fuzzing $t for ${each}s"
  artifacts="fuzz/artifacts/$t"
  before="$(ls "$artifacts")"
  log="fuzz/artifacts/$t.log"
  # -fork=1 with -ignore_*: a finding is saved and fuzzing goes on (one worker: 2 cores are shared).
  cargo fuzz run -s none "$t" -- \
    -max_total_time="$each" -timeout=10 -rss_limit_mb=2048 -dict=fuzz/pipe.dict \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 >"$log" 2>&1 || true
  # The last status line: `#RUNS: cov: … corp: … exec/s: …` (fork mode) or `#RUNS DONE …`.
  last="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
  runs="$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")"
  cov="$(grep -oE 'cov: [0-9]+' <<<"$last" | cut -d' ' -f2 || true)"
  corpus="$(ls "fuzz/corpus/$t" | wc -l)"
  new="$(comm -13 <(echo "$before") <(ls "$artifacts") | grep -E '^(crash|timeout|oom|leak)-' || true)"
  crashes="$(grep -c '^crash-' <<<"$new" || true)"
  timeouts="$(grep -c '^timeout-' <<<"$new" || true)"
  ooms="$(grep -c -E '^(oom|leak)-' <<<"$new" || true)"
  found=$((found + crashes + timeouts + ooms))
  line="$(printf '%-8s %6ss  %12s executions  %6s/s  coverage %6s  corpus %6s  findings: %s crashes, %s timeouts, %s out of memory' \
    "$t" "$each" "${runs:-?}" "$(( ${runs:-0} / each ))" "${cov:-?}" "$corpus" "$crashes" "$timeouts" "$ooms")"
  echo "$line"
  summary+=("$line")
  for f in $new; do echo "  new finding: $artifacts/$f"; done
done

echo "== summary (FUZZ_SECONDS=$total)"
printf '%s\n' "${summary[@]}"
if [ "$found" -gt 0 ]; then
  echo "$found new finding(s) in fuzz/artifacts/: see docs/fuzzing.md to reproduce and minimise them"
  exit 1
fi
