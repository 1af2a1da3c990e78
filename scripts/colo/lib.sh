# SPDX-License-Identifier: GPL-2.0-or-later
#
# Shared settings and helpers for the COLO-proxy build scripts.
# Sourced, never run.

set -euo pipefail

COLO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COLO_BUILD=${COLO_BUILD:-$COLO_ROOT/build}
COLO_CACHE=${COLO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/colo-proxy}

# The Debian source package we build on, and the major.minor we accept
# when the pinned version has left the archive.
COLO_BASE_PIN=${COLO_BASE_PIN:-1:10.0.13+ds-0+deb13u1}
COLO_BASE_SERIES=10.0

# Stock files our series replaces; they are deleted from the base before
# our tree is laid over it.
COLO_STOCK_FILES=(
    net/colo.c net/colo.h net/colo-compare.c net/colo-compare.h
    net/filter-mirror.c net/filter-rewriter.c
    tests/qtest/test-filter-mirror.c tests/qtest/test-filter-redirector.c
    docs/colo-proxy.txt
)

# Top-level folders of our repo whose files are laid over the base at the
# same paths.
COLO_OVERLAY_DIRS=(net include qapi docs tests migration)

log()
{
    printf '==> %s\n' "$*" >&2
}

# One clear sentence, then stop.
die()
{
    printf 'error: %s\n' "$*" >&2
    exit 1
}

need_cmd()
{
    command -v "$1" >/dev/null 2>&1 ||
        die "'$1' is not installed; run 'make deps' (as root) first."
}

# The overlay: every file git would track under COLO_OVERLAY_DIRS, minus
# drafts.  Works in a git checkout and in an exported tree.
colo_overlay_files()
{
    local d
    (
        cd "$COLO_ROOT"
        for d in "${COLO_OVERLAY_DIRS[@]}"; do
            [ -d "$d" ] || continue
            find "$d" -type f ! -name '*-draft' ! -name '*.orig' \
                 ! -name '*.rej' ! -name '*~' ! -path '*/__pycache__/*'
        done | LC_ALL=C sort
    )
}

# Serialise assembly and builds: several shells may run "make" at once.
colo_lock()
{
    mkdir -p "$COLO_BUILD"
    exec 9>"$COLO_BUILD/.lock"
    flock 9
}

# Compiler flags for building our pure files (packet layer, engine,
# rewrite logic, framing) outside meson: fuzzers and benchmarks.
colo_pure_cflags()
{
    local src=$COLO_BUILD/src obj=$COLO_BUILD/obj
    echo -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
         -iquote "$obj" -iquote "$src" -iquote "$src/include" \
         -I "$obj" -I "$obj/qapi" -I "$src/include" \
         -I "$src/host/include/x86_64" -I "$src/host/include/generic" \
         -I "$src/linux-headers" $(pkg-config --cflags glib-2.0)
}

colo_pure_libs()
{
    echo $(pkg-config --libs glib-2.0) -lm
}
