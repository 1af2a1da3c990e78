#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# End-to-end test of the COLO-proxy (TAP on stdout): a primary and a
# secondary QEMU on this machine run a tiny guest under COLO; identical
# traffic, a divergence, and failover with open connections over IPv4
# and IPv6.  Needs root (network namespace, taps) and /dev/net/tun;
# skips otherwise.  See colo_e2e.py for the environment variables.
#
# The Python driver cleans up after itself; this wrapper cleans up what
# it may leave if it is killed outright (QEMU processes, the namespace,
# the temporary directory).

set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "ok 1 - # SKIP needs root (network namespace and tap devices)"
    echo "1..1"
    exit 0
fi
if [ ! -c /dev/net/tun ]; then
    echo "ok 1 - # SKIP /dev/net/tun is missing"
    echo "1..1"
    exit 0
fi

state=$(mktemp -d "${TMPDIR:-/tmp}/colo-e2e.XXXXXX")
py=

cleanup()
{
    local pid ns
    trap - EXIT INT TERM HUP
    [ -n "$py" ] && kill -TERM "$py" 2>/dev/null && wait "$py" 2>/dev/null
    if [ -f "$state/pids" ]; then
        while read -r pid; do
            # only our QEMUs: their command line names the state directory
            grep -qsF "$state" "/proc/$pid/cmdline" && kill -KILL "$pid" 2>/dev/null
        done < "$state/pids"
    fi
    if [ -f "$state/netns" ]; then
        read -r ns < "$state/netns"
        ip netns del "$ns" 2>/dev/null
    fi
    if [ "${COLO_E2E_KEEP:-0}" = 1 ]; then
        echo "# logs kept in $state"
    else
        rm -rf "$state"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

COLO_E2E_STATE=$state python3 "$here/colo_e2e.py" &
py=$!
wait "$py"
rc=$?
py=
exit "$rc"
