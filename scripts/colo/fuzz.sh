#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fuzz targets of the pure COLO-proxy code (tests/fuzz/colo/).
#
#   fuzz.sh replay [TARGET...]   build each target with gcc ASan+UBSan and
#                                replay its checked-in corpus (TAP output)
#   fuzz.sh run TARGET [RUNS]    build with clang libFuzzer and fuzz,
#                                growing a work corpus in build/fuzz/
#
# tests/fuzz/colo/targets lists each target's sources:
#   NAME: net/colo.c net/colo-conn.c ...

. "$(dirname "$0")/lib.sh"

src=$COLO_BUILD/src
obj=$COLO_BUILD/obj
fz=$COLO_ROOT/tests/fuzz/colo
out=$COLO_BUILD/fuzz
mkdir -p "$out"

[ -f "$obj/config-host.h" ] || die "no configured build in build/obj; run 'make' first."

read -r -a CFLAGS <<< "-g -O1 $(colo_pure_cflags)"
read -r -a LIBS <<< "$(colo_pure_libs)"

target_sources()
{
    local line
    line=$(grep -E "^$1:" "$fz/targets" || true)
    [ -n "$line" ] || die "fuzz target '$1' is not listed in tests/fuzz/colo/targets."
    echo "${line#*:}"
}

all_targets()
{
    sed -n 's/^\([a-z0-9_-]*\):.*/\1/p' "$fz/targets"
}

build_replay()
{
    local t=$1 files=() f
    for f in $(target_sources "$t"); do files+=("$src/$f"); done
    gcc "${CFLAGS[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all \
        -fno-omit-frame-pointer -o "$out/replay-$t" \
        "$fz/fuzz-$t.c" "$fz/replay-main.c" "${files[@]}" "${LIBS[@]}"
}

case "${1:-}" in
replay)
    shift
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(all_targets)
    [ ${#targets[@]} -gt 0 ] || die "tests/fuzz/colo/targets lists no target."
    n=0
    for t in "${targets[@]}"; do
        [ -d "$fz/corpus/$t" ] || die "fuzz target $t has no corpus in tests/fuzz/colo/corpus/$t."
        if ! build_replay "$t" > "$out/build-$t.log" 2>&1; then
            n=$((n + 1))
            echo "not ok $n - $t: build failed"
            sed 's/^/# /' "$out/build-$t.log" | head -n 20
            continue
        fi
        n=$((n + 1))
        if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
           "$out/replay-$t" "$fz/corpus/$t" > "$out/replay-$t.log" 2>&1; then
            echo "ok $n - $t: $(grep -c '^ok' "$out/replay-$t.log") inputs replayed under ASan/UBSan"
        else
            echo "not ok $n - $t: replay failed"
            grep -v '^ok' "$out/replay-$t.log" | head -n 30 | sed 's/^/# /'
        fi
    done
    echo "1..$n"
    ;;
run)
    t=${2:?usage: fuzz.sh run TARGET [RUNS]}
    runs=${3:-1000000}
    need_cmd clang
    files=()
    for f in $(target_sources "$t"); do files+=("$src/$f"); done
    clang "${CFLAGS[@]}" -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -o "$out/fuzz-$t" \
        "$fz/fuzz-$t.c" "${files[@]}" "${LIBS[@]}" ||
        die "building the libFuzzer target failed (apt-get install clang libclang-rt-14-dev)."
    mkdir -p "$out/corpus-$t"
    cp -n "$fz/corpus/$t"/* "$out/corpus-$t"/ 2>/dev/null || true
    cd "$out"
    exec "./fuzz-$t" -runs="$runs" -max_len="${FUZZ_MAX_LEN:-4096}" \
        -print_final_stats=1 "corpus-$t"
    ;;
*)
    die "usage: fuzz.sh replay [TARGET...] | fuzz.sh run TARGET [RUNS]"
    ;;
esac
