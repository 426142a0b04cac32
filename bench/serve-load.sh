#!/usr/bin/env bash
# The load run of `pipec serve` on loopback (docs/serve.md "Load"): PIPEC_LOAD_HOOKS webhook
# deliveries at once (default 200; none lost or doubled, replays start nothing), then the
# dashboard and the API at PIPEC_LOAD_RPS requests/s (default 500) for PIPEC_LOAD_SECS (10)
# while runs write logs and event streams follow them. Prints errors, p50/p90/p99 latency
# and the server's memory; exits non-zero on a lost, doubled or failed request.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked --test integration serve::load::serve_load -- --ignored --nocapture --exact 2>&1 |
  grep -E '^(deliveries|replayed|requests|server memory|event streams|test |thread )' 
