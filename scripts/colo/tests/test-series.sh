#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Test of "make series" (TAP): the series is written, applies with
# "git am" to a fresh copy of the base, gives exactly the tree "make"
# builds, and that tree builds.

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=${COLO_BUILD:-$root/build}
check_dir=$build/series-check
out=$check_dir/patches

n=0
failed=0
ok()     { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -f "${2:-/dev/null}" ] && tail -n 15 "$2" | sed 's/^/# /'; }
finish() { echo "1..$n"; exit $failed; }

rm -rf "$check_dir"
mkdir -p "$check_dir"
if "$root/scripts/colo/series.sh" "$out" > "$check_dir/series.log" 2>&1; then
    ok "make series writes $(ls "$out"/*.patch | wc -l) patches"
else
    not_ok "make series" "$check_dir/series.log"
    finish
fi

bad=
for p in "$out"/*.patch; do
    grep -q '^Signed-off-by: ' "$p" || bad="$bad $(basename "$p")"
    [ "$(sed -n 's/^Subject: \[PATCH [0-9]*\/[0-9]*\] //p' "$p")" != "" ] || bad="$bad $(basename "$p")"
done
if [ -z "$bad" ]; then ok "every patch has a subject and a Signed-off-by"; else not_ok "patches without subject or Signed-off-by:$bad"; fi

base=$("$root/scripts/colo/fetch-base.sh")
src=$check_dir/src
rsync -a --exclude=/.git --exclude=/.colo-base-ok "$base"/ "$src"/
(
    cd "$src" &&
    git init -q &&
    git -c user.name=check -c user.email=check@localhost add -A -f &&
    git -c user.name=check -c user.email=check@localhost commit -q -m base &&
    git -c user.name=check -c user.email=check@localhost am -q "$out"/*.patch
) > "$check_dir/am.log" 2>&1
if [ $? = 0 ]; then ok "git am applies the series to a fresh copy of the base"; else not_ok "git am" "$check_dir/am.log"; finish; fi

if diff -r -q -x .git -x .colo-assembled "$src" "$build/src" > "$check_dir/diff.log" 2>&1; then
    ok "the series gives exactly the tree make assembles"
else
    not_ok "the series differs from the assembled tree" "$check_dir/diff.log"
fi

# Build it like the main tree (ccache makes this mostly cache hits).
rm -rf "$src/.git"
touch "$src/.colo-assembled"
if COLO_BUILD=$check_dir COLO_BUILD_TESTS=0 "$root/scripts/colo/build.sh" > "$check_dir/build.log" 2>&1 &&
   "$check_dir/obj/qemu-system-x86_64" -version > "$check_dir/version.log" 2>&1 &&
   "$check_dir/obj/qemu-system-x86_64" -object help 2>&1 | grep -q '^  colo-compare$'; then
    ok "the patched tree builds a qemu-system-x86_64 with colo-compare"
else
    not_ok "building the patched tree" "$check_dir/build.log"
fi
rm -rf "$check_dir/src" "$check_dir/obj"
finish
