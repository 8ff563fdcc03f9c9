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
# end-to-end tests on the netns testbed last (their summary line closes the
# run).
cargo test --release --workspace --exclude testbed
# The datapath's pipeline, parser and guard tests need no privileges: run
# them again as nobody with every capability dropped, so that stays true.
datapath_tests=$(cargo test --release -p datapath --lib --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | sed -n 1p)
# (Copied out of the checkout, which nobody may not be allowed to enter.)
unprivileged=$(mktemp -d)
trap 'rm -rf "$unprivileged"' EXIT
install -m 0755 "$datapath_tests" "$unprivileged/datapath-tests"
chmod 0755 "$unprivileged"
(cd "$unprivileged" && setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
  --bounding-set=-all ./datapath-tests --quiet)
rm -rf "$unprivileged"
# A few seconds of each fuzz target over its seed corpus (fuzz/).
./scripts/fuzz-smoke.sh
# The benchmark runner, as a smoke run of a few seconds with xvswitchd only
# (the full run, with testpmd and Open vSwitch: scripts/bench.sh).
bench_out=$(mktemp -d)
"$BIN/xvs-bench" --smoke --out "$bench_out"
rm -rf "$bench_out"
# The Debian package builds and holds what it should; the systemd unit
# verifies; xvswitchd runs with only the unit's privileges and needs each.
./scripts/package-check.sh
./scripts/service-check.sh
cargo test --release -p testbed --lib --bins
cargo test --release -p testbed --test control_plane
cargo test --release -p testbed --test port_security
cargo test --release -p testbed --test firewall
cargo test --release -p testbed --test trace
cargo test --release -p testbed --test capture
cargo test --release -p testbed --test e2e
cargo test --release -p testbed --test workers
