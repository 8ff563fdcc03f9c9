#!/usr/bin/env bash
# Smoke run of the fuzz targets (fuzz/, cargo-fuzz and libFuzzer): each
# target runs for a few seconds over its committed seed corpus, which it
# only reads: what the fuzzer finds goes to a temporary corpus that is
# removed afterwards. Exits non-zero when a target crashes (its reproducer
# is kept in fuzz/artifacts/<target>/) or when
# cargo-fuzz is missing. FUZZ_SMOKE_SECONDS sets the seconds per target.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(parse geneve_decap guards pipeline_vif pipeline_uplink)
SECONDS_EACH=${FUZZ_SMOKE_SECONDS:-5}

# cargo-fuzz passes flags only nightly takes. Use the nightly toolchain
# where there is one; else the stable one with RUSTC_BOOTSTRAP=1 (which
# makes it accept them), said out loud.
toolchain=(+nightly)
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz-smoke: no nightly toolchain: building with the stable one and RUSTC_BOOTSTRAP=1" >&2
  toolchain=()
  export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: cargo-fuzz is missing: run scripts/setup.sh or" \
    "'cargo install cargo-fuzz --locked'." >&2
  exit 1
fi

tmp=$(mktemp -d)
artifacts=fuzz/artifacts
# Only what this run made: the temporary corpora, and the artifacts
# directories libFuzzer created but left empty (no crash).
cleanup() {
  rm -rf "$tmp"
  for t in "${TARGETS[@]}"; do
    rmdir "$artifacts/$t" 2>/dev/null || true
  done
  rmdir "$artifacts" 2>/dev/null || true
}
trap cleanup EXIT

# The fuzz crate is its own workspace with its own target dir (whatever
# CARGO_TARGET_DIR says for the main workspace). -a: debug assertions and
# overflow checks on, as in the campaigns.
target_dir="$PWD/fuzz/target"
echo "fuzz-smoke: building ${#TARGETS[@]} targets"
cargo "${toolchain[@]}" fuzz build -a --target-dir "$target_dir" >"$tmp/build.log" 2>&1 || {
  cat "$tmp/build.log" >&2
  echo "fuzz-smoke: build failed" >&2
  exit 1
}

passed=0
failed=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$tmp/corpus-$t"
  log="$tmp/$t.log"
  if cargo "${toolchain[@]}" fuzz run -a --target-dir "$target_dir" "$t" \
    "$tmp/corpus-$t" "fuzz/corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
    echo "fuzz-smoke: $t ok: $runs runs in ${SECONDS_EACH}s, $cov"
    passed=$((passed + 1))
  else
    tail -n 40 "$log" >&2
    echo "fuzz-smoke: $t FAILED; reproducer (if any) in $artifacts/$t/:" >&2
    ls "$artifacts/$t" >&2 2>/dev/null || true
    failed=$((failed + 1))
  fi
done
echo "fuzz-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
