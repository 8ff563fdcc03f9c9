#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh) and checks it without
# installing it on this machine: its control fields and maintainer scripts,
# that it holds the binaries, the unit, /etc/default/xvswitchd (a
# conffile), a man page for xvswitchd and for every xvsctl command, and the
# shell completions; that the packaged binaries run, the man pages render,
# the bash completion completes, and the unit passes `systemd-analyze
# verify` with no warning at all. (scripts/install-check.sh installs it on
# a fresh root.)
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "package-check: FAILED: $*" >&2; exit 1; }
deb=$(./scripts/package.sh | tail -n 1)
[ -f "$deb" ] || fail "scripts/package.sh made no package"
. scripts/target-dir.sh
x=$(mktemp -d)
trap 'rm -rf "$x"' EXIT

# Control fields.
dpkg-deb -I "$deb" >"$x/info"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = xvswitch ] || fail "package name $(field Package)"
version=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"name":"datapath","version":"\([^"]*\)".*/\1/p')
[ "$(field Version)" = "$version-1" ] || fail "version $(field Version), the crate is $version"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "architecture $(field Architecture)"
for lib in libc6 libelf1 zlib1g; do
  field Depends | grep "$lib" >/dev/null || fail "Depends lacks $lib: $(field Depends)"
done
synopsis=$(field Description | sed -n 1p)
[ -n "$synopsis" ] && [ ${#synopsis} -le 80 ] || fail "synopsis empty or over 80 characters: $synopsis"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"

# Maintainer scripts: valid sh, and the unit is enabled/started/stopped.
dpkg-deb -e "$deb" "$x/DEBIAN"
for s in postinst prerm postrm; do
  [ -f "$x/DEBIAN/$s" ] || fail "no $s"
  sh -n "$x/DEBIAN/$s" || fail "$s is not valid sh"
done
grep -q "deb-systemd-helper enable xvswitchd.service" "$x/DEBIAN/postinst" || fail "postinst does not enable the unit"
grep -q "deb-systemd-invoke stop xvswitchd.service" "$x/DEBIAN/prerm" || fail "prerm does not stop the unit"
grep -qx /etc/default/xvswitchd "$x/DEBIAN/conffiles" || fail "/etc/default/xvswitchd is not a conffile"

# Contents.
dpkg-deb -c "$deb" | awk '{print $1, $NF}' >"$x/contents"
has() { grep -qxF -- "$1 ./$2" "$x/contents" || fail "no $2 ($1) in the package"; }
has -rwxr-xr-x usr/bin/xvswitchd
has -rwxr-xr-x usr/bin/xvsctl
has -rw-r--r-- usr/lib/systemd/system/xvswitchd.service
has -rw-r--r-- etc/default/xvswitchd
has -rw-r--r-- usr/share/man/man8/xvswitchd.8.gz
has -rw-r--r-- usr/share/man/man8/xvsctl.8.gz
has -rw-r--r-- usr/share/bash-completion/completions/xvsctl
has -rw-r--r-- usr/share/zsh/vendor-completions/_xvsctl
has -rw-r--r-- usr/share/fish/vendor_completions.d/xvsctl.fish
has -rw-r--r-- usr/share/doc/xvswitch/copyright
dpkg-deb -x "$deb" "$x/root"
root=$x/root
# The packaged binaries run, and are the ones just built.
"$root/usr/bin/xvsctl" --version | grep -x "xvsctl $version" >/dev/null || fail "packaged xvsctl --version"
"$root/usr/bin/xvswitchd" --version | grep -x "xvswitchd $version" >/dev/null || fail "packaged xvswitchd --version"
cmp -s "$root/usr/share/bash-completion/completions/xvsctl" <("$BIN/xvsctl" completions bash) ||
  fail "packaged bash completion differs from xvsctl completions bash"
# A man page for every xvsctl command, as `--help` lists them.
commands=$("$root/usr/bin/xvsctl" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p' | grep -vx help)
[ "$(echo "$commands" | wc -l)" -ge 15 ] || fail "xvsctl --help lists too few commands: $commands"
for c in $commands; do
  [ -f "$root/usr/share/man/man8/xvsctl-$c.8.gz" ] || fail "no man page for xvsctl $c"
done
has -rw-r--r-- usr/share/man/man8/xvsctl-port-add.8.gz
# They render, and say what --help says.
render() { MANWIDTH=100 man -l "$root/usr/share/man/man8/$1.8.gz" 2>/dev/null | col -b; }
render xvsctl-port-add | grep -- "--vlan <VLAN>" >/dev/null || fail "xvsctl-port-add(8) lacks --vlan"
render xvswitchd | grep -- "--state-file <STATE_FILE>" >/dev/null || fail "xvswitchd(8) lacks --state-file"
render xvswitchd | grep -- "/var/lib/xvswitch/state.json" >/dev/null || fail "xvswitchd(8) lacks the state file default"
! render xvswitchd | grep -- "--man-pages" >/dev/null || fail "xvswitchd(8) shows the hidden --man-pages"
# The bash completion completes commands and subcommands.
complete_bash() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _xvsctl xvsctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"; echo "${COMPREPLY[*]}"' \
    bash "$root/usr/share/bash-completion/completions/xvsctl" "$@"
}
[ "$(complete_bash xvsctl remote-t)" = remote-tep ] || fail "bash completion of 'xvsctl remote-t': $(complete_bash xvsctl remote-t)"
complete_bash xvsctl port "" | grep -w add >/dev/null || fail "bash completion of 'xvsctl port ': $(complete_bash xvsctl port "")"
# The unit: no warning at all from systemd-analyze verify (it exits 0 on
# unknown keys). Checked as installed: ExecStart pointed at the packaged
# binary, man: links looked up in the packaged pages.
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (scripts/setup.sh installs systemd)"
mkdir "$x/unit"
sed "s|^ExecStart=/usr/bin/xvswitchd |ExecStart=$root/usr/bin/xvswitchd |" \
  "$root/usr/lib/systemd/system/xvswitchd.service" >"$x/unit/xvswitchd.service"
grep -q "^ExecStart=$root/" "$x/unit/xvswitchd.service" || fail "unexpected ExecStart="
out=$(MANPATH="$root/usr/share/man" systemd-analyze verify "$x/unit/xvswitchd.service" 2>&1) ||
  fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
echo "package-check: ok: $deb ($(grep -c 'man8/.*\.8\.gz' "$x/contents") man pages, $(du -k "$deb" | cut -f1) KiB)"
