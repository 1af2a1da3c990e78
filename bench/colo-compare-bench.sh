#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# colo-compare end to end, our build against a stock build of the
# untouched base, in one run (see bench/colo-compare-bench.c).  A first
# row per scenario, "floor", is the bench's built-in relay: what the
# sockets carry through one thread that only pairs and copies records,
# the ceiling for any colo-compare on this machine.
#
#   bench/colo-compare-bench.sh [--quick] [--seconds S] [--window N]
#                               [--repeat N]
#                               [--proto udp|tcp] [--conns N] [--size N]
#   bench/colo-compare-bench.sh build-stock     # (re)build the stock QEMU
#
# COLO_QEMU        our QEMU (default build/qemu-system-x86_64)
# COLO_STOCK_QEMU  the stock QEMU (default: /tmp/qstock-build/... if it
#                  exists, else build/stock/obj/qemu-system-x86_64, built
#                  on first use from the cached base with the configure
#                  line of scripts/colo/build.sh)
#
# On a shared machine, --repeat 3 or more gives medians that move much
# less between runs than single runs do; repeats go round all scenarios
# and QEMUs.  With 1 and 10,000 connections in one run (no --conns), a
# "scaling" table gives each QEMU's 10,000-connection rate over its
# 1-connection rate, from paired runs.
#
# Figures are printed, never asserted; the exit status is non-zero only if
# a QEMU lost, duplicated or reordered frames.  The machine should be
# otherwise idle: the feeder, the reader and QEMU share its cores.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${COLO_BUILD:-$root/build}
stock_dir=$build/stock

log()
{
    printf '==> %s\n' "$*" >&2
}

die()
{
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# The configure arguments of scripts/colo/build.sh, one per line.
configure_args()
{
    sed -n '/^CONFIGURE_ARGS=(/,/^)/p' "$root/scripts/colo/build.sh" |
        sed -e '1d' -e '$d' -e 's/^[[:space:]]*//' -e '/^$/d'
}

build_stock()
{
    local base args=()

    base=$("$root/scripts/colo/fetch-base.sh")
    log "stock QEMU: copying $base to $stock_dir/src"
    mkdir -p "$stock_dir"
    rsync -a --delete --exclude=/.git --exclude=/build "$base"/ \
          "$stock_dir/src"/
    mapfile -t args < <(configure_args)
    # The base's own COLO-proxy: nothing of ours is built.
    if [ ! -f "$stock_dir/obj/build.ninja" ]; then
        log "stock QEMU: configuring (${args[*]})"
        rm -rf "$stock_dir/obj"
        mkdir -p "$stock_dir/obj"
        (cd "$stock_dir/obj" && "$stock_dir/src/configure" "${args[@]}") \
            > "$stock_dir/configure.log" 2>&1 ||
            die "configuring the stock QEMU failed; see $stock_dir/configure.log"
    fi
    log "stock QEMU: building qemu-system-x86_64"
    (
        export PATH=/usr/lib/ccache:$PATH
        export CCACHE_BASEDIR=$stock_dir CCACHE_NOHASHDIR=1
        export CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/colo-proxy/ccache}
        ninja -C "$stock_dir/obj" qemu-system-x86_64
    ) > "$stock_dir/ninja.log" 2>&1 ||
        die "building the stock QEMU failed; see $stock_dir/ninja.log"
    log "stock QEMU: $stock_dir/obj/qemu-system-x86_64"
}

if [ "${1:-}" = build-stock ]; then
    build_stock
    exit 0
fi

ours=${COLO_QEMU:-$build/qemu-system-x86_64}
[ -x "$ours" ] || die "$ours does not exist; run 'make' first."
if [ -n "${COLO_STOCK_QEMU:-}" ]; then
    stock=$COLO_STOCK_QEMU
elif [ -x /tmp/qstock-build/qemu-system-x86_64 ]; then
    stock=/tmp/qstock-build/qemu-system-x86_64
else
    stock=$stock_dir/obj/qemu-system-x86_64
    [ -x "$stock" ] || build_stock
fi
[ -x "$stock" ] || die "no stock QEMU at $stock."

mkdir -p "$build/bench"
gcc -O2 -g -Wall -pthread -o "$build/bench/colo-compare-bench" \
    "$root/bench/colo-compare-bench.c" ||
    die "building bench/colo-compare-bench.c failed."
log "ours:  $ours"
log "stock: $stock"
exec "$build/bench/colo-compare-bench" "$@" floor=relay ours="$ours" \
    stock="$stock"
