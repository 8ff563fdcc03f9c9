#!/usr/bin/env bash
# Installs what building and running xvswitch needs on a Debian machine
# (run as root): the C toolchain and headers libxdp-sys/libbpf-sys and the
# BPF programs build with, and the tools the testbed drives. Idempotent:
# apt-get runs only when a package is missing.
set -euo pipefail

PACKAGES=(
  clang llvm m4 libelf-dev zlib1g-dev pkg-config gcc-multilib linux-libc-dev  # build
  iproute2 ethtool iputils-ping tcpdump procps                                # testbed
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (network namespaces, XDP and apt-get need it)" >&2
  exit 1
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
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
