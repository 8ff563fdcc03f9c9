#!/usr/bin/env bash
# The side-by-side benchmark: xvswitchd, DPDK testpmd (net_af_xdp, io) and
# Open vSwitch's AF_XDP datapath on the same veths, every case, 5 runs each.
# Installs what it needs (the test setup, plus dpdk-dev and
# openvswitch-switch), builds, and runs `xvs-bench` with any arguments given
# (see `xvs-bench --help`; e.g. --runs 3 --seconds 5 for a shorter run).
# Writes the table, CSVs and the chart to perf/results/ unless --out says
# otherwise. Takes about an hour with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
missing=()
for p in dpdk-dev openvswitch-switch; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
# The Debian package starts its own Open vSwitch where systemd runs; the
# runner starts its own instances, with their own database, in the
# benchmark namespace.
cargo build --release --workspace --bins
. scripts/target-dir.sh
exec "$BIN/xvs-bench" "$@"
