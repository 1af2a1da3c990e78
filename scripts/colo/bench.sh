#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run the benchmarks in bench/ (figures are printed, never asserted).
#
#   bench.sh [NAME...]   default: every C benchmark in bench/targets,
#                        then every executable bench/*.sh and bench/*.py
#   bench.sh --instructions NAME [ARG...]
#                        run C benchmark NAME with ARGs under valgrind's
#                        cachegrind and print how many instructions it
#                        ran: a figure the machine's load does not move
#
# Scripts get COLO_QEMU (our build) in the environment.

. "$(dirname "$0")/lib.sh"

src=$COLO_BUILD/src
out=$COLO_BUILD/bench
mkdir -p "$out"
[ -f "$COLO_BUILD/obj/config-host.h" ] || die "no configured build in build/obj; run 'make' first."
read -r -a CFLAGS <<< "-O2 -g $(colo_pure_cflags)"
read -r -a LIBS <<< "$(colo_pure_libs)"
export COLO_QEMU=$COLO_BUILD/qemu-system-x86_64

build_c()
{
    local name=$1 line files=() f
    line=$(grep -E "^$name:" "$COLO_ROOT/bench/targets") ||
        die "bench/targets does not list $name."
    for f in ${line#*:}; do files+=("$src/$f"); done
    gcc "${CFLAGS[@]}" -o "$out/$name" "$COLO_ROOT/bench/$name.c" \
        "${files[@]}" "${LIBS[@]}" || die "building bench/$name.c failed."
}

run_c()
{
    log "bench: $1"
    build_c "$1"
    "$out/$1"
}

if [ "${1:-}" = --instructions ]; then
    [ $# -ge 2 ] || die "usage: bench.sh --instructions NAME [ARG...]"
    command -v valgrind > /dev/null || die "valgrind is not installed."
    name=$2
    shift 2
    build_c "$name"
    log "bench: $name $* under cachegrind"
    valgrind --tool=cachegrind --cache-sim=no \
        --cachegrind-out-file=/dev/null "$out/$name" "$@" 2> "$out/$name.vg" ||
        die "$name failed under valgrind (see $out/$name.vg)."
    refs=$(sed -n 's/^==[0-9]*== I *refs: *//p' "$out/$name.vg")
    [ -n "$refs" ] || die "no instruction count in $out/$name.vg."
    printf 'instructions: %s\n' "$refs"
    exit 0
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    mapfile -t names < <(sed -n 's/^\([a-z0-9_-]*\):.*/\1/p' "$COLO_ROOT/bench/targets")
    for s in "$COLO_ROOT"/bench/*.sh "$COLO_ROOT"/bench/*.py; do
        [ -x "$s" ] && names+=("$(basename "$s")")
    done
fi
for n in "${names[@]}"; do
    if [ -x "$COLO_ROOT/bench/$n" ]; then
        log "bench: $n"
        "$COLO_ROOT/bench/$n"
    else
        run_c "$n"
    fi
done
