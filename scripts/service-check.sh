#!/usr/bin/env bash
# Checks packaging/xvswitchd.service's privileges by running xvswitchd as
# the unit would, as far as that is possible without systemd as PID 1: as
# an unprivileged user (DynamicUser=yes) holding only the unit's
# AmbientCapabilities (also its bounding set), with no_new_privs and the
# unit's LimitMEMLOCK, in a throwaway netns with a vif and an uplink (veth).
# It must start, attach XDP and AF_XDP to both, and count the frames a
# peer sends, and every syscall and socket family it uses must pass the
# unit's SystemCallFilter= and RestrictAddressFamilies= (traced with
# strace, checked against systemd-analyze's filter sets). Then, to show
# each privilege is needed: without each capability in turn, and with the
# default 8 MiB memlock limit, it must fail to start. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/target-dir.sh
unit=${UNIT:-packaging/xvswitchd.service}
fail() { echo "service-check: FAILED: $*" >&2; exit 1; }
value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }

caps=$(value AmbientCapabilities)
[ -n "$caps" ] || fail "$unit has no AmbientCapabilities="
[ "$(value CapabilityBoundingSet)" = "$caps" ] || fail "bounding set and ambient capabilities differ"
[ "$(value DynamicUser)" = yes ] || fail "the check assumes DynamicUser=yes"
[ "$(value LimitMEMLOCK)" = infinity ] || fail "the check assumes LimitMEMLOCK=infinity"
# CAP_NET_ADMIN CAP_BPF -> +net_admin,+bpf (setpriv's spelling)
setpriv_caps() {
  local out="-all" c
  for c in "$@"; do
    c=${c#CAP_}
    out+=",+${c,,}"
  done
  echo "$out"
}

work=$(mktemp -d)
ns="xvs-svc-$$"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    d=$(daemon_pid) && kill -TERM "$d"
    wait "$pid" 2>/dev/null
  fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# Copied out of the checkout, which the unprivileged user may not enter.
install -m 0755 "$BIN/xvswitchd" "$work/xvswitchd"
chmod 0755 "$work"
# uid/gid 65534 stands for the dynamic user.
install -d -o 65534 -g 65534 -m 0750 "$work/state" "$work/run" "$work/log"

ip netns add "$ns"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up
in_ns ip link add vm1 type veth peer name vm1-peer
in_ns ip link add uplink mtu 1600 type veth peer name ul-peer mtu 1600
for i in vm1 vm1-peer uplink ul-peer; do in_ns ip link set "$i" up; done
in_ns ip addr add 198.18.0.1/24 dev uplink
in_ns ip addr add 10.0.0.1/24 dev vm1-peer
mac=$(in_ns cat /sys/class/net/vm1-peer/address)
cat >"$work/config.json" <<JSON
{
  "local_tep": { "uplink": "uplink", "ip": "198.18.0.1" },
  "switches": [ { "name": "blue", "vni": 5001, "remote_teps": ["198.18.0.2"] } ],
  "vifs": [ { "name": "vm1", "interface": "vm1" } ],
  "ports": [ { "name": "pod", "vif": "vm1", "switch": "blue", "mac": "$mac", "ips": ["10.0.0.1"] } ]
}
JSON
chmod 0644 "$work/config.json"

# LimitMEMLOCK=infinity: where this machine lets root raise the memlock
# limit (CAP_SYS_RESOURCE), the default UMEM (16384 frames, 64 MiB) under
# an unlimited one. Where it does not (a container), a UMEM that fits the
# limit there is (1024 frames, 4 MiB, under 8 MiB), and the failure check
# below shows the default UMEM does not fit it.
if prlimit --memlock=unlimited:unlimited true 2>/dev/null; then
  memlock=unlimited frames=16384
else
  memlock=$(ulimit -H -l) frames=1024
  [ "$memlock" != unlimited ] && memlock=$((memlock * 1024))
  [ "$memlock" -ge $((frames * 4096 + 1048576)) ] || fail "memlock limit $memlock too small even for 1024 frames"
  echo "service-check: cannot raise RLIMIT_MEMLOCK here (no CAP_SYS_RESOURCE): running with --frames $frames under $memlock bytes"
fi

# Starts xvswitchd with capabilities $1 (setpriv form), memlock limit $2
# and --frames $3, in the background, under $4 (a wrapper: strace, or
# nothing); waits until it is ready (returns 0) or has exited (returns 1).
start() {
  rm -f "$work/run/xvswitchd.sock" "$work/state/state.json"
  : >"$work/stderr"
  # Not through in_ns: a backgrounded function would be a subshell, and
  # $pid must be the process that becomes xvswitchd (or strace).
  ip netns exec "$ns" ${4:-} prlimit --memlock="$2:$2" \
    setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs \
    --inh-caps="$1" --ambient-caps="$1" --bounding-set="$1" \
    "$work/xvswitchd" --config "$work/config.json" --state-file "$work/state/state.json" \
    --socket "$work/run/xvswitchd.sock" --firewall-log "$work/log/firewall.log" \
    --ring-size 256 --frames "$3" >/dev/null 2>"$work/stderr" &
  pid=$!
  for _ in $(seq 100); do
    grep -q "xvswitchd: ready" "$work/stderr" && return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" || true; pid=""; return 1; }
    sleep 0.1
  done
  fail "xvswitchd neither ready nor exited after 10 s: $(cat "$work/stderr")"
}
# The daemon started last: that process itself (ip netns exec, prlimit and
# setpriv exec it), or strace's child.
daemon_pid() {
  local p=$pid
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = xvswitchd ] ||
    p=$(ps -o pid= --ppid "$pid" | tr -d ' ' | sed -n 1p)
  [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = xvswitchd ] && echo "$p"
}
stop() {
  local daemon
  daemon=$(daemon_pid) || fail "cannot find xvswitchd under $pid"
  kill -TERM "$daemon"
  wait "$pid" || fail "xvswitchd exited $? on SIGTERM: $(cat "$work/stderr")"
  pid=""
}

# 1. The unit's privileges: starts, attaches, forwards frames into AF_XDP.
read -ra cap_list <<<"$caps"
full=$(setpriv_caps "${cap_list[@]}")
start "$full" "$memlock" "$frames" "strace -f -qq -o $work/trace" ||
  fail "xvswitchd did not start with $caps: $(cat "$work/stderr")"
for i in vm1 uplink; do
  in_ns ip -d link show "$i" | grep "prog/xdp" >/dev/null || fail "no XDP program on $i"
done
in_ns ping -c 3 -i 0.2 -W 1 -I vm1-peer 10.0.0.2 >/dev/null 2>&1 || true
rx=$("$BIN/xvsctl" --socket "$work/run/xvswitchd.sock" --json stats port pod |
  sed -n 's/^ *"rx_packets": \([0-9]*\).*/\1/p' | sed -n 1p)
[ "${rx:-0}" -ge 3 ] || fail "port rx_packets ${rx:-none} after 3 ARP requests: frames did not reach the datapath"
stop
grep -q "XDP programs detached" "$work/stderr" || fail "no clean stop: $(cat "$work/stderr")"
echo "service-check: with $caps only, as uid 65534: vif and uplink attached, $rx frames counted, clean stop"

# 2. Every syscall it made passes SystemCallFilter=, every socket family
#    RestrictAddressFamilies=.
expand() {
  systemd-analyze syscall-filter "$1" | tail -n +2 | sed 's/#.*//' | tr -s ' \t' '\n\n' | grep . |
    while read -r s; do case $s in @*) expand "$s" ;; *) echo "$s" ;; esac; done
}
: >"$work/allowed"
for f in $(value SystemCallFilter); do
  case $f in @*) expand "$f" ;; *) echo "$f" ;; esac >>"$work/allowed"
done
# strace -f lines: "PID name(...", "PID <... name resumed>..."; also the
# wrappers' own syscalls before the exec of xvswitchd (those are systemd's).
sed -n '/execve("[^"]*xvswitchd"/,$p' "$work/trace" |
  sed -n 's/^[0-9]* *\([a-z_0-9]*\)(.*/\1/p' | sort -u >"$work/used"
[ -s "$work/used" ] || fail "strace recorded nothing: $(head -c 600 "$work/trace")"
denied=$(grep -vxF -f "$work/allowed" "$work/used" || true)
[ -z "$denied" ] || fail "syscalls outside SystemCallFilter=$(value SystemCallFilter): $denied"
families=$(sed -n 's/^[0-9]* *socket(\(AF_[A-Z0-9]*\).*/\1/p' "$work/trace" | sort -u)
# The next-hop resolver's probe (a raw ICMP socket) must have run too.
[[ " $(echo $families) " == *" AF_INET "* ]] || fail "no AF_INET socket: the TEP next-hop probe did not run (families: $families)"
! grep -E ' socket\(AF_(INET|XDP).* = -1 ' "$work/trace" >/dev/null ||
  fail "a socket was refused: $(grep -E ' socket\(AF_(INET|XDP).* = -1 ' "$work/trace" | sed -n 1p)"
for f in $families; do
  [[ " $(value RestrictAddressFamilies) " == *" $f "* ]] || fail "socket family $f outside RestrictAddressFamilies="
done
echo "service-check: $(wc -l <"$work/used") syscalls, all in SystemCallFilter=; socket families" $families "allowed"
# ProtectSystem=strict: it writes only in its three directories (here
# $work/{state,run,log}); PrivateDevices: it opens no device but the
# pseudo-devices; MemoryDenyWriteExecute: no writable and executable page.
sed -n '/execve("[^"]*xvswitchd"/,$p' "$work/trace" >"$work/daemon-trace"
writes=$(grep -E ' (openat\(AT_FDCWD, "[^"]*", [^)]*(O_WRONLY|O_RDWR|O_CREAT)|(mkdir|mkdirat|unlink|unlinkat|rename|renameat2?|bind)\()' "$work/daemon-trace" |
  grep -oE '"/[^"]*"' | tr -d '"' | grep -vE "^$work/(state|run|log)(/|$)" | sort -u || true)
[ -z "$writes" ] || fail "writes outside StateDirectory/RuntimeDirectory/LogsDirectory (ProtectSystem=strict): $writes"
devices=$(grep -oE 'openat\(AT_FDCWD, "/dev/[^"]*"' "$work/daemon-trace" | grep -oE '/dev/[^"]*' |
  grep -vxE '/dev/(null|zero|full|random|urandom|tty)' | sort -u || true)
[ -z "$devices" ] || fail "opens devices PrivateDevices=yes hides: $devices"
! grep -E '(mmap|mprotect)\(.*(PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE)' "$work/daemon-trace" >/dev/null ||
  fail "maps memory writable and executable (MemoryDenyWriteExecute=yes)"
echo "service-check: writes only its own directories, opens no device, no W+X memory"

# 3. Each privilege is needed.
for drop in "${cap_list[@]}"; do
  rest=()
  for c in "${cap_list[@]}"; do [ "$c" = "$drop" ] || rest+=("$c"); done
  if start "$(setpriv_caps "${rest[@]}")" "$memlock" "$frames"; then
    stop
    fail "xvswitchd started without $drop: the unit grants more than it needs"
  fi
  echo "service-check: without $drop it fails: $(tail -n 1 "$work/stderr")"
done
if start "$full" 8388608 16384; then
  stop
  fail "xvswitchd started with an 8 MiB memlock limit: LimitMEMLOCK=infinity is not needed"
fi
echo "service-check: with the default 8 MiB memlock limit and the default 64 MiB UMEM it fails: $(tail -n 1 "$work/stderr")"
echo "service-check: ok"
