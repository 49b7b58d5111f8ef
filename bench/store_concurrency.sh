#!/usr/bin/env bash
# The long run of the store's concurrency test: several real ctlookup processes (syncs, queries,
# clears, a tiny --store-max) in random order on one store, every answer compared with the fake
# server's data. Usage: bench/store_concurrency.sh [OPS] [SEED] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export CTLOOKUP_STRESS_OPS="${1:-300}" CTLOOKUP_STRESS_SEED="${2:-$RANDOM}" CTLOOKUP_STRESS_SECS="${3:-900}"
echo "ops=$CTLOOKUP_STRESS_OPS seed=$CTLOOKUP_STRESS_SEED budget=${CTLOOKUP_STRESS_SECS}s"
cargo test --test tests processes_in_random_order_on_one_store -- --nocapture
