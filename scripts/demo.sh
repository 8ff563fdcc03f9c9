#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs the two-hypervisor demo: pods on
# three node VMs behind two hypervisors reach each other through xvswitchd
# (hairpin, same hypervisor, Geneve across hypervisors), switches isolated.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --workspace --bins
. scripts/target-dir.sh
exec "$BIN/xvs-testbed" demo "$@"
