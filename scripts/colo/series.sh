#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Write our work as a git-am-able patch series against the base tree.
#
#   series.sh [OUTDIR]     (default: build/series)
#
# series/NN-*.txt describe the patches in order.  Each starts with
# header lines, then a blank line, then the commit message body:
#   Subject: net/colo: ...
#   Delete:  stock files this patch removes
#   Files:   our files (paths or bash patterns) this patch adds
#   Patches: files in patches/ this patch applies
#   Append:  fragments in append/ this patch adds to their base file
# Every one of our files, patches and fragments must be used exactly
# once, and the tree at the end of the series must equal the tree that
# "make" assembles; otherwise the series is not written.

. "$(dirname "$0")/lib.sh"

out=${1:-$COLO_BUILD/series}
base=$("$COLO_ROOT/scripts/colo/fetch-base.sh")
work=$COLO_BUILD/series-work
assembled=$COLO_BUILD/src
author=${COLO_SERIES_AUTHOR:-$(git -C "$COLO_ROOT" config user.name 2>/dev/null || echo "COLO-proxy developers") <$(git -C "$COLO_ROOT" config user.email 2>/dev/null || echo colo-proxy@localhost)>}

[ -f "$assembled/.colo-assembled" ] || die "no assembled tree; run 'make' first."
need_cmd git

cd "$COLO_ROOT"
mapfile -t overlay < <(colo_overlay_files)
mapfile -t patches < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' patches/series)
mapfile -t fragments < <(find append -type f | LC_ALL=C sort)
declare -A used=()

log "preparing a git copy of the base in build/series-work"
rm -rf "$work"
mkdir -p "$work"
rsync -a --exclude=/.git --exclude=/build --exclude=/.colo-base-ok "$base"/ "$work"/
name=${author% <*}
email=${author##*<}
email=${email%>}
gitw() { git -C "$work" -c user.name="$name" -c user.email="$email" \
             -c core.autocrlf=false "$@"; }
gitw init -q
gitw add -A -f
gitw commit -q -m "base: QEMU $(cat "$base/VERSION")"
basecommit=$(gitw rev-parse HEAD)

header()
{
    sed -n '1,/^$/p' "$1" | sed -n "s/^$2:[[:space:]]*//p"
}

for m in series/*.txt; do
    subject=$(header "$m" Subject)
    [ -n "$subject" ] || die "$m has no Subject: line."
    for f in $(header "$m" Delete); do
        gitw rm -q "$f" || die "$m: cannot delete $f from the base."
    done
    read -r -a pats <<< "$(header "$m" Files)"
    for pat in "${pats[@]}"; do
        matched=
        for f in "${overlay[@]}"; do
            # shellcheck disable=SC2053
            if [[ $f == $pat ]]; then
                [ -z "${used[$f]:-}" ] || die "$f is in two series entries (again in $m)."
                used[$f]=$m
                matched=y
                mkdir -p "$work/$(dirname "$f")"
                cp "$f" "$work/$f"
            fi
        done
        [ -n "$matched" ] || die "$m: '$pat' matches none of our files."
    done
    for p in $(header "$m" Patches); do
        [ -z "${used[patches/$p]:-}" ] || die "patches/$p is in two series entries."
        used[patches/$p]=$m
        patch -d "$work" -p1 -F0 -N -s --no-backup-if-mismatch < "patches/$p" >/dev/null ||
            die "$m: patches/$p does not apply at this point of the series."
    done
    for a in $(header "$m" Append); do
        [ -f "$a" ] || die "$m: no fragment $a."
        [ -z "${used[$a]:-}" ] || die "$a is in two series entries."
        used[$a]=$m
        t=${a#append/}
        t=${t%/*}
        cat "$a" >> "$work/$t"
    done
    gitw add -A
    {
        echo "$subject"
        echo
        sed '1,/^$/d' "$m"
    } | gitw commit -q -s -F - || die "$m: nothing to commit."
done

for f in "${overlay[@]}"; do
    [ -n "${used[$f]:-}" ] || die "our file $f is in no series entry; add it to one of series/*.txt."
done
for p in "${patches[@]}"; do
    [ -n "${used[patches/$p]:-}" ] || die "patches/$p is in no series entry."
done
for a in "${fragments[@]}"; do
    [ -n "${used[$a]:-}" ] || die "fragment $a is in no series entry."
done

if ! diff -r -q -x .git -x .colo-assembled "$work" "$assembled" > "$COLO_BUILD/series-diff.log" 2>&1; then
    head -n 5 "$COLO_BUILD/series-diff.log" >&2
    die "the series does not produce the tree 'make' assembles (see build/series-diff.log)."
fi

rm -rf "$out"
mkdir -p "$out"
gitw format-patch -q --binary -o "$out" "$basecommit..HEAD"
echo "$basecommit" > "$out/.base-commit"
log "wrote $(ls "$out"/*.patch | wc -l) patches to $out"
