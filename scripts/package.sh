#!/usr/bin/env bash
# Builds the Debian package `xvswitch` (xvswitchd, xvsctl, the systemd unit,
# the man pages, xvsctl's shell completions): <target>/debian/xvswitch_*.deb.
# The man pages and completions are generated here from the programs' own
# clap definitions (`xvswitchd --man-pages`, `xvsctl man`, `xvsctl
# completions`), so they always match --help. Needs cargo-deb
# (scripts/setup.sh installs it); prints the path of the package.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p datapath --bin xvswitchd -p control --bin xvsctl
. scripts/target-dir.sh
gen="$BIN/xvswitch-pkg"
rm -rf "$gen"
mkdir -p "$gen/man" "$gen/completions"
"$BIN/xvswitchd" --man-pages "$gen/man"
"$BIN/xvsctl" man "$gen/man"
gzip -9n "$gen"/man/*.8
"$BIN/xvsctl" completions bash >"$gen/completions/xvsctl"
"$BIN/xvsctl" completions zsh >"$gen/completions/_xvsctl"
"$BIN/xvsctl" completions fish >"$gen/completions/xvsctl.fish"
out="$target_dir/debian"
rm -f "$out"/xvswitch_*.deb
# --no-build: the binaries above are the ones packaged; --strip: the
# release profile keeps line tables for perf work, the package does not.
cargo deb -p datapath --no-build --strip --quiet -o "$out/" >/dev/null
ls "$out"/xvswitch_*.deb
