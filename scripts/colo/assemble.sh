#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Assemble the source tree we build: the base QEMU tree, minus the stock
# COLO-proxy, plus our files, our patches to base files and our trace
# event fragments.  The tree is put together in a staging folder and only
# synchronised into build/src once it is complete and verified; files
# whose content did not change keep their timestamps, so the next build
# only recompiles what really changed.

. "$(dirname "$0")/lib.sh"

colo_lock
base=$("$COLO_ROOT/scripts/colo/fetch-base.sh")
dest=$COLO_BUILD/src
stamp=$dest/.colo-assembled
staging=$COLO_BUILD/.staging

need_cmd rsync
need_cmd patch

cd "$COLO_ROOT"
mapfile -t overlay < <(colo_overlay_files)
mapfile -t patches < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' patches/series)
mapfile -t required < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' \
                         scripts/colo/required-files)

# Everything the result depends on, so an unchanged input costs nothing.
inputs=$( {
    echo "base=$base $(cat "$base/VERSION")"
    printf 'stock=%s\n' "${COLO_STOCK_FILES[@]}"
    sha256sum "${overlay[@]}" scripts/colo/assemble.sh scripts/colo/lib.sh
    for p in "${patches[@]}"; do sha256sum "patches/$p"; done
    find append -type f | LC_ALL=C sort | xargs -r sha256sum
} | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
    exit 0
fi

# From here on the old tree no longer matches our inputs: a failure below
# must leave nothing a later build would trust.
rm -f "$stamp"

for f in "${required[@]}"; do
    [ -f "$f" ] || die "our file $f is missing from the repo; the build must contain only our implementation, so it stops here."
done

log "assembling $base + our tree"
rm -rf "$staging"
mkdir -p "$COLO_BUILD"
rsync -a --link-dest="$base" --exclude=/.git --exclude=/build \
      --exclude=/.colo-base-ok "$base"/ "$staging"/

# A hard-linked file must be copied before we change it, so the cached
# base is never modified.
own_copy()
{
    local f=$staging/$1
    if [ -f "$f" ]; then
        cp "$f" "$f.colo-tmp" && mv -f "$f.colo-tmp" "$f"
    fi
}

for f in "${COLO_STOCK_FILES[@]}"; do
    rm -f "$staging/$f"
done

declare -A stock=()
for f in "${COLO_STOCK_FILES[@]}"; do stock[$f]=1; done
for f in "${overlay[@]}"; do
    if [ -e "$staging/$f" ] && [ -z "${stock[$f]:-}" ]; then
        die "our file $f would replace the base's own $f; change base files with a patch in patches/ instead."
    fi
    mkdir -p "$(dirname "$staging/$f")"
    cp "$f" "$staging/$f"
done

for p in "${patches[@]}"; do
    [ -f "patches/$p" ] || die "patches/series names $p, which is not in patches/."
    for t in $(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "patches/$p"); do
        own_copy "$t"
    done
    if ! patch -d "$staging" -p1 -F0 -N --dry-run -s < "patches/$p" >/dev/null 2>&1; then
        die "patches/$p does not apply to the base ($(cat "$base/VERSION")); refresh it against that tree."
    fi
    patch -d "$staging" -p1 -F0 -N -s --no-backup-if-mismatch < "patches/$p" >/dev/null
done

# append/<path>/*: fragments added, in name order, to the end of <path>.
while IFS= read -r dir; do
    target=${dir#append/}
    [ -f "$staging/$target" ] || die "append/$target: the base has no $target to append to."
    own_copy "$target"
    for frag in $(find "$dir" -maxdepth 1 -type f | LC_ALL=C sort); do
        cat "$frag" >> "$staging/$target"
    done
done < <(find append -mindepth 1 -type d | while read -r d; do
             [ -n "$(find "$d" -maxdepth 1 -type f)" ] && echo "$d"; done |
         LC_ALL=C sort)

for f in "${required[@]}"; do
    cmp -s "$f" "$staging/$f" ||
        die "assembled tree lacks our $f; assembly is broken."
done
for f in "${COLO_STOCK_FILES[@]}"; do
    if [ -e "$staging/$f" ] && ! [ -f "$f" ]; then
        die "stock $f survived assembly."
    fi
done

mkdir -p "$dest"
rsync -rlpc --delete --exclude=/.colo-assembled "$staging"/ "$dest"/
echo "$inputs" > "$stamp"
rm -rf "$staging"
log "assembled tree in $dest"
