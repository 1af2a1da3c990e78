#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make demo: a COLO primary/secondary pair on this machine, live.  Builds
# the tiny guest if needed, starts the pair in a network namespace of its
# own, shows the colo-compare counters while identical traffic flows,
# provokes a divergence, kills the primary, fails over and shows two
# open connections surviving; then removes every process, namespace and
# temporary file it made (also on Ctrl-C).
#
#   COLO_DEMO_PAUSE=0 make demo     no pauses between the steps
#   COLO_DEMO_NIC=virtio make demo  virtio-net-pci instead of e1000

. "$(dirname "$0")/lib.sh"
set +e

qemu=$COLO_BUILD/qemu-system-x86_64
[ "$(id -u)" = 0 ] ||
    die "the demo needs root, to create a network namespace and tap devices: run 'sudo make demo'."
[ -c /dev/net/tun ] ||
    die "/dev/net/tun is missing, so QEMU cannot open a tap device: load the tun module ('modprobe tun')."
command -v ip >/dev/null 2>&1 ||
    die "the 'ip' command is missing: install iproute2 ('make deps')."
[ -x "$qemu" ] ||
    die "build/qemu-system-x86_64 is not built: run 'make' first."

state=$(mktemp -d "${TMPDIR:-/tmp}/colo-demo.XXXXXX")
py=

cleanup()
{
    local pid ns
    trap - EXIT INT TERM HUP
    [ -n "$py" ] && kill -TERM "$py" 2>/dev/null && wait "$py" 2>/dev/null
    if [ -f "$state/pids" ]; then
        while read -r pid; do
            grep -qsF "$state" "/proc/$pid/cmdline" && kill -KILL "$pid" 2>/dev/null
        done < "$state/pids"
    fi
    if [ -f "$state/netns" ]; then
        read -r ns < "$state/netns"
        ip netns del "$ns" 2>/dev/null
    fi
    rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

COLO_DEMO_QEMU=$qemu COLO_DEMO_STATE=$state \
    python3 "$COLO_ROOT/tests/functional/colo/colo_demo.py" &
py=$!
wait "$py"
rc=$?
py=
exit "$rc"
