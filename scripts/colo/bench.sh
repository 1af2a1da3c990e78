#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run the benchmarks in bench/ (figures are printed, never asserted).
#
#   bench.sh [NAME...]   default: every C benchmark in bench/targets,
#                        then every executable bench/*.sh and bench/*.py
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

run_c()
{
    local name=$1 line files=() f
    line=$(grep -E "^$name:" "$COLO_ROOT/bench/targets") ||
        die "bench/targets does not list $name."
    for f in ${line#*:}; do files+=("$src/$f"); done
    log "bench: $name"
    gcc "${CFLAGS[@]}" -o "$out/$name" "$COLO_ROOT/bench/$name.c" \
        "${files[@]}" "${LIBS[@]}" || die "building bench/$name.c failed."
    "$out/$name"
}

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
