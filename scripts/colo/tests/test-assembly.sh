#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Tests of the assembly step (TAP): it builds only our implementation,
# refuses bad inputs with one clear sentence, and never leaves a tree a
# later build would trust.

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

base=$("$root/scripts/colo/fetch-base.sh") || { echo "not ok 1 - base available"; exit 1; }
n=0
failed=0
ok()     { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; sed 's/^/# /' "$tmp/out" | tail -n 5; }
check()  { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

# A copy of our repo, as a fresh clone would have it.
fresh_repo()
{
    rm -rf "$tmp/repo"
    rsync -a --exclude=/build --exclude=/.git "$root"/ "$tmp/repo"/
}
assemble()
{
    COLO_BUILD=$tmp/build "$tmp/repo/scripts/colo/assemble.sh" > "$tmp/out" 2>&1
}

# A QEMU_SRC checkout: a hard-linked copy of the base.
cp -al "$base" "$tmp/qemu"
export QEMU_SRC=$tmp/qemu

fresh_repo
assemble
check "assembles onto a QEMU_SRC checkout" '[ $? = 0 ] && [ -f "$tmp/build/src/.colo-assembled" ]'
check "our files replace the stock ones" \
    'cmp -s "$tmp/repo/net/colo-compare.c" "$tmp/build/src/net/colo-compare.c" &&
     cmp -s "$tmp/repo/net/filter-mirror.c" "$tmp/build/src/net/filter-mirror.c"'
check "stock files we do not replace are gone" '[ ! -e "$tmp/build/src/docs/colo-proxy.txt" ]'
check "the cached base is untouched" 'cmp -s "$base/net/meson.build" "$tmp/qemu/net/meson.build" &&
     ! cmp -s "$base/net/meson.build" "$tmp/build/src/net/meson.build"'

touch -d '2001-01-01' "$tmp/build/src/net/net.c" "$tmp/build/src/net/colo.c"
echo "/* changed */" >> "$tmp/repo/net/colo.c"
assemble
check "an edit rewrites only the edited file" \
    '[ $? = 0 ] && [ "$(stat -c %Y "$tmp/build/src/net/net.c")" = "$(date -d 2001-01-01 +%s)" ] &&
     [ "$(stat -c %Y "$tmp/build/src/net/colo.c")" != "$(date -d 2001-01-01 +%s)" ]'

mkdir -p "$tmp/old/net"
echo 9.2.0 > "$tmp/old/VERSION"
touch "$tmp/old/net/net.c"
QEMU_SRC=$tmp/old assemble
check "a QEMU_SRC of another major version is refused" \
    '[ $? != 0 ] && grep -q "is QEMU 9.2.0, but this series is for QEMU 10.0" "$tmp/out"'

fresh_repo
rm "$tmp/repo/net/colo.c"
assemble
check "a missing overlay file stops the build" \
    '[ $? != 0 ] && grep -q "net/colo.c is missing" "$tmp/out" &&
     [ ! -f "$tmp/build/src/.colo-assembled" ]'

fresh_repo
sed -i '0,/^ /s/^ .*/ this line is not in the base/' "$tmp/repo/patches/0001-net-build-our-colo-proxy-files.patch"
assemble
check "a patch that no longer applies stops with a clear error" \
    '[ $? != 0 ] && grep -q "does not apply to the base" "$tmp/out"'
check "and leaves no tree a later build would trust" '[ ! -f "$tmp/build/src/.colo-assembled" ]'
COLO_BUILD=$tmp/build "$tmp/repo/scripts/colo/build.sh" > "$tmp/out" 2>&1
check "the build refuses an untrusted tree" '[ $? != 0 ] && grep -q "not a complete assembled tree" "$tmp/out"'

fresh_repo
echo "/* not ours to replace */" > "$tmp/repo/net/net.c"
assemble
check "an overlay file may not replace a base file" \
    '[ $? != 0 ] && grep -q "would replace the base.s own net/net.c" "$tmp/out"'

# No network and nothing cached: apt-get fails at once.
mkdir -p "$tmp/fakebin" "$tmp/emptycache"
printf '#!/bin/sh\necho "E: could not connect" >&2\nexit 100\n' > "$tmp/fakebin/apt-get"
chmod +x "$tmp/fakebin/apt-get"
fresh_repo
( unset QEMU_SRC
  PATH=$tmp/fakebin:$PATH COLO_CACHE=$tmp/emptycache assemble )
check "no archive and no cache: one clear sentence" \
    '[ $? != 0 ] && grep -q "could not download Debian.s qemu 10.0 source package" "$tmp/out" &&
     [ "$(grep -c "^error:" "$tmp/out")" = 1 ]'

echo "1..$n"
exit $failed
