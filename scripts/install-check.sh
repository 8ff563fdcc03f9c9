#!/usr/bin/env bash
# Installs the Debian package system-wide and checks what it installed, then
# purges it: meant for a fresh machine, e.g.
#   ../shared/tools/fresh-machine-check ./scripts/install-check.sh
# (a fresh Debian 12 root with only build-essential and a Rust toolchain:
# scripts/setup.sh installs the rest). Refuses to run outside CI (CI=true)
# unless FORCE=1: it changes the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "install-check: FAILED: $*" >&2; exit 1; }
[ "${CI:-}" = true ] || [ "${FORCE:-0}" = 1 ] ||
  fail "installs and purges the xvswitch package on this machine: run it in a fresh root (CI=true) or with FORCE=1"
./scripts/setup.sh
deb=$(./scripts/package.sh | tail -n 1)
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb"
dpkg -s xvswitch | grep -x "Status: install ok installed" >/dev/null || fail "xvswitch not installed"

# The programs, on PATH.
xvsctl --help | grep "^Usage: xvsctl" >/dev/null || fail "xvsctl --help"
xvswitchd --help | grep "^Usage: xvswitchd" >/dev/null || fail "xvswitchd --help"
# No daemon: xvsctl names the default socket and exits 2.
set +e
msg=$(xvsctl switch list 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] && [[ $msg == *"/run/xvswitch/xvswitchd.sock"* ]] || fail "xvsctl without a daemon: exit $rc: $msg"
# Man pages, where man finds them.
for page in xvswitchd xvsctl xvsctl-port-add xvsctl-apply; do
  man -w "$page" | grep -x "/usr/share/man/man8/$page.8.gz" >/dev/null || fail "man -w $page: $(man -w "$page" 2>&1)"
done
MANWIDTH=100 man xvsctl-port-add 2>/dev/null | col -b | grep -- "--vlan <VLAN>" >/dev/null || fail "man xvsctl-port-add lacks --vlan"
# Completions, where the shells look for them.
for f in /usr/share/bash-completion/completions/xvsctl /usr/share/zsh/vendor-completions/_xvsctl \
  /usr/share/fish/vendor_completions.d/xvsctl.fish; do
  [ -s "$f" ] || fail "no $f"
done
bash -c 'source /usr/share/bash-completion/completions/xvsctl && complete -p xvsctl' | grep "_xvsctl" >/dev/null ||
  fail "the bash completion does not register for xvsctl"
# The unit: installed, enabled by the postinst, and no warning at all from
# systemd-analyze verify (it exits 0 on unknown keys).
unit=/usr/lib/systemd/system/xvswitchd.service
[ -f "$unit" ] || fail "no $unit"
[ -L /etc/systemd/system/multi-user.target.wants/xvswitchd.service ] || fail "the unit was not enabled"
[ -f /etc/default/xvswitchd ] || fail "no /etc/default/xvswitchd"
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
echo "install-check: installed: $(dpkg-query -W -f='${Package} ${Version}' xvswitch); xvsctl, xvswitchd, man pages, completions, unit (verified, enabled)"

# Purge leaves nothing behind.
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q xvswitch >/dev/null
for f in /usr/bin/xvsctl /usr/bin/xvswitchd "$unit" /etc/default/xvswitchd \
  /etc/systemd/system/multi-user.target.wants/xvswitchd.service /usr/share/man/man8/xvsctl.8.gz; do
  [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f left after purge"
done
echo "install-check: ok: purge removed it all"
