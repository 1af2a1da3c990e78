#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Configure (once) and build the assembled tree: qemu-system-x86_64, the
# x86 option ROMs from pc-bios/optionrom, and our tests.  The binary
# finds all of its firmware by itself: SeaBIOS and iPXE through the
# configured firmware path (Debian's seabios and ipxe-qemu packages), the
# option ROMs through the build tree's qemu-bundle data directory.

. "$(dirname "$0")/lib.sh"

src=$COLO_BUILD/src
obj=$COLO_BUILD/obj
colo_lock

[ -f "$src/.colo-assembled" ] ||
    die "build/src is not a complete assembled tree; run 'make' (it assembles first)."

# ccache through Debian's masquerade directory; relative paths in the
# cache key so that other build trees (the series check) hit it too.
export PATH=/usr/lib/ccache:$PATH
export CCACHE_BASEDIR=$COLO_BUILD
export CCACHE_NOHASHDIR=1
export CCACHE_DIR=${CCACHE_DIR:-$COLO_CACHE/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

CONFIGURE_ARGS=(
    --target-list=x86_64-softmmu
    --python=/usr/bin/python3
    --disable-download
    --disable-install-blobs
    --without-default-features
    --enable-system
    --enable-colo-proxy
    --enable-replication
    --enable-slirp
    --enable-kvm
    --enable-tcg
    --enable-fdt=system
    --disable-docs
    --disable-werror
    --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
)
# Extra arguments for experiments (e.g. --enable-debug); part of the key.
read -r -a extra <<< "${COLO_CONFIGURE_EXTRA:-}"
CONFIGURE_ARGS+=("${extra[@]}")

# Our test programs, by ninja target.
TEST_TARGETS=(
    tests/unit/test-colo-packet tests/unit/test-colo-conn
    tests/unit/test-colo-stream tests/unit/test-colo-compare-engine
    tests/unit/test-colo-rewrite
    tests/qtest/test-filter-mirror tests/qtest/test-filter-redirector
    tests/qtest/test-colo-compare tests/qtest/test-filter-rewriter
)

key=$(printf '%s\n' "$src" "${CONFIGURE_ARGS[@]}" | sha256sum | cut -c1-16)
if [ ! -f "$obj/build.ninja" ] || [ "$(cat "$obj/.colo-configured" 2>/dev/null)" != "$key" ]
then
    log "configuring (${CONFIGURE_ARGS[*]})"
    rm -rf "$obj"
    mkdir -p "$obj"
    (cd "$obj" && "$src/configure" "${CONFIGURE_ARGS[@]}") > "$COLO_BUILD/configure.log" 2>&1 ||
        die "configure failed; see build/configure.log (last lines: $(tail -n 3 "$COLO_BUILD/configure.log" | tr '\n' ' '))"
    [ -f "$obj/pc-bios/optionrom/config.mak" ] ||
        die "configure found no compiler for the x86 option ROMs (install gcc-multilib: 'make deps')."
    echo "$key" > "$obj/.colo-configured"
fi

jobs=${COLO_JOBS:-$(nproc)}
targets=(qemu-system-x86_64)
if [ "${COLO_BUILD_TESTS:-1}" = 1 ]; then
    targets+=("${TEST_TARGETS[@]}")
fi
log "building ${targets[*]}"
ninja -C "$obj" -j "$jobs" "${targets[@]}" > "$COLO_BUILD/ninja.log" 2>&1 || {
    grep -E 'error|FAILED' "$COLO_BUILD/ninja.log" | head -n 40 >&2
    die "the build failed; the full log is build/ninja.log."
}

log "building the x86 option ROMs"
make -C "$obj" -j "$jobs" pc-bios/optionrom/all > "$COLO_BUILD/optionrom.log" 2>&1 ||
    die "building pc-bios/optionrom failed; see build/optionrom.log."
datadir=$obj/qemu-bundle/usr/local/share/qemu
mkdir -p "$datadir"
for rom in "$obj"/pc-bios/optionrom/*.bin; do
    ln -sf "$rom" "$datadir/$(basename "$rom")"
done

# Run from the build tree, QEMU looks for the configured firmware path
# inside qemu-bundle; point those folders at Debian's packages.
for dir in /usr/share/seabios /usr/lib/ipxe/qemu; do
    [ -d "$dir" ] || die "$dir is missing; install Debian's seabios and ipxe-qemu packages ('make deps')."
    mkdir -p "$obj/qemu-bundle$(dirname "$dir")"
    ln -sfn "$dir" "$obj/qemu-bundle$dir"
done

ln -sfn obj/qemu-system-x86_64 "$COLO_BUILD/qemu-system-x86_64"
log "built build/qemu-system-x86_64"
