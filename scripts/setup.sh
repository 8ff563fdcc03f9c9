#!/usr/bin/env bash
# Installs what building and running xvswitch needs on a Debian machine
# (run as root): the C toolchain and headers libxdp-sys/libbpf-sys and the
# BPF programs build with, and the tools the testbed drives. Idempotent:
# apt-get runs only when a package is missing.
set -euo pipefail

# Each package, with what needs it. Checked by running .ci/run on a fresh
# Debian 12 root that has only build-essential and a Rust toolchain.
PACKAGES=(
  # libxdp-sys builds libxdp and its BPF objects from source: its configure
  # step wants clang and llc (llvm), m4, pkg-config, libelf and zlib (for its
  # bundled libbpf), the 32-bit asm headers of gcc-multilib, the kernel's
  # uapi headers, and refuses to run without the pcap headers.
  clang llvm m4 pkg-config libelf-dev zlib1g-dev gcc-multilib linux-libc-dev libpcap-dev
  # The testbed and its tests: ip (netns, veth, routes), ethtool (offloads
  # off), ping, tcpdump (underlay captures), sysctl (procps).
  iproute2 ethtool iputils-ping tcpdump procps
  # xvs-bench (its smoke run is in the test command): tshark checks what
  # reaches the sink, gnuplot draws the chart.
  tshark gnuplot-nox
  # The service checks (scripts/package-check.sh, scripts/service-check.sh):
  # systemd-analyze (verify the unit, expand its syscall filter sets), man
  # and col (render the packaged man pages), strace (the daemon's syscalls
  # against the unit's filters).
  systemd man-db bsdextrautils strace
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (network namespaces, XDP and apt-get need it)" >&2
  exit 1
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
# The fuzz smoke run (scripts/fuzz-smoke.sh, in the test command) drives
# the fuzz/ targets with cargo-fuzz, libFuzzer's cargo front end; it is
# built from crates.io with the default toolchain. The targets build with
# rustup's nightly toolchain where there is one (cargo-fuzz passes flags
# only nightly takes), else with the stable one and RUSTC_BOOTSTRAP=1.
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "setup: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
# scripts/package.sh builds the Debian package with cargo-deb (pinned: 3.8.0
# builds with the toolchain the workspace needs).
if ! cargo deb --version 2>/dev/null | grep "^cargo-deb 3\.8\.0\b" >/dev/null; then
  echo "setup: installing cargo-deb"
  cargo install cargo-deb --version 3.8.0 --locked
fi
