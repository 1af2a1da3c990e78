#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Obtain the base QEMU tree and print its path.
#
# With QEMU_SRC set, that checkout is the base (it must be QEMU 10.0.x).
# Otherwise Debian's qemu source package is used: the pinned version if
# the archive still has it, else any 10.0.x the archive offers.  The
# download and the unpacked tree (Debian patches applied) are cached in
# $COLO_CACHE, so later runs need no network.

. "$(dirname "$0")/lib.sh"

check_version()
{
    local dir=$1 v
    [ -f "$dir/VERSION" ] && [ -f "$dir/net/net.c" ] ||
        die "$dir is not a QEMU source tree (no VERSION or net/net.c)."
    v=$(cat "$dir/VERSION")
    case "$v" in
    "$COLO_BASE_SERIES".*) ;;
    *) die "$dir is QEMU $v, but this series is for QEMU $COLO_BASE_SERIES.x; use a $COLO_BASE_SERIES checkout or unset QEMU_SRC." ;;
    esac
}

if [ -n "${QEMU_SRC:-}" ]; then
    [ -d "$QEMU_SRC" ] || die "QEMU_SRC=$QEMU_SRC is not a directory."
    QEMU_SRC=$(cd "$QEMU_SRC" && pwd)
    check_version "$QEMU_SRC"
    echo "$QEMU_SRC"
    exit 0
fi

src=$COLO_CACHE/src
mkdir -p "$src"

# The .dsc of a complete download, newest 10.0.x first.
cached_dsc()
{
    local f
    for f in $(ls -1 "$src"/qemu_*.dsc 2>/dev/null | sort -rV); do
        local ok=y file
        for file in $(awk '/^Files:/{f=1;next} /^[^ ]/{f=0} f{print $3}' "$f"); do
            [ -s "$src/$file" ] || ok=
        done
        if [ -n "$ok" ] && grep -q "^Version: 1:$COLO_BASE_SERIES\." "$f"; then
            echo "$f"
            return 0
        fi
    done
    return 1
}

pin_upstream=${COLO_BASE_PIN#*:}
pin_dsc=$src/qemu_${pin_upstream}.dsc

download()
{
    local what=$1 tmp
    tmp=$(mktemp -d "$src/.dl.XXXXXX")
    if (cd "$tmp" && apt-get source --download-only -qq "$what") \
            >"$tmp/.log" 2>&1; then
        mv "$tmp"/qemu_* "$src"/
        rm -rf "$tmp"
        return 0
    fi
    rm -rf "$tmp"
    return 1
}

if [ ! -s "$pin_dsc" ] || ! cached_dsc >/dev/null; then
    need_cmd apt-get
    log "downloading Debian source package qemu=$COLO_BASE_PIN"
    if ! download "qemu=$COLO_BASE_PIN"; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq >/dev/null 2>&1 || true
        fi
        download "qemu=$COLO_BASE_PIN" ||
            { log "qemu=$COLO_BASE_PIN is not in the archive; trying trixie's current qemu";
              download "qemu/trixie"; } || true
    fi
fi

dsc=$(cached_dsc) ||
    die "could not download Debian's qemu $COLO_BASE_SERIES source package (no network to the archive, or no trixie deb-src entry: run 'make deps' as root), and none is cached in $src."

version=$(sed -n 's/^Version: //p' "$dsc")
base=$COLO_CACHE/base/${version#*:}
if [ ! -f "$base/.colo-base-ok" ]; then
    need_cmd dpkg-source
    log "unpacking $(basename "$dsc") (Debian patches applied)"
    rm -rf "$base" "$base.tmp"
    mkdir -p "$(dirname "$base")"
    dpkg-source -q -x "$dsc" "$base.tmp" >/dev/null 2>&1 ||
        die "dpkg-source could not unpack $dsc; delete $src and try again."
    rm -rf "$base.tmp/.pc"
    mv "$base.tmp" "$base"
    touch "$base/.colo-base-ok"
fi
check_version "$base"
echo "$base"
