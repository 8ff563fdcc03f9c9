#!/usr/bin/env bash
# Runs every test: unit and property tests of all crates and the end-to-end
# tests on the netns testbed (as root). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Leftovers of a killed earlier run would only waste memory: remove them.
cargo build --release --workspace --bins
. scripts/target-dir.sh
"$BIN/xvs-testbed" down --all >/dev/null
# Unit, property and doc tests of every crate, the fuzz smoke run; then the
# end-to-end tests on the netns testbed last (their summary line closes the run).
cargo test --release --workspace --exclude testbed
# A few seconds of each fuzz target over its seed corpus (fuzz/).
./scripts/fuzz-smoke.sh
cargo test --release -p testbed --lib --bins
cargo test --release -p testbed --test control_plane
cargo test --release -p testbed --test port_security
cargo test --release -p testbed --test e2e
