#!/usr/bin/env bash
# What spoofguard and counters cost per packet: runs xvs-bench-pipeline
# (pipeline only, no I/O; spoofguard on and off inside each run) built with
# counters and without them (feature `uncounted`), alternating, as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p perf --bin xvs-bench-pipeline
. scripts/target-dir.sh
cargo build --release -q -p perf --bin xvs-bench-pipeline --features uncounted --target-dir "$target_dir/uncounted"
for round in 1 2; do
  echo "round $round"
  "$BIN/xvs-bench-pipeline" "$@"
  "$target_dir/uncounted/release/xvs-bench-pipeline" "$@"
done
