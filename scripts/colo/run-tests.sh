#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run every test of the series and print one summary line:
#   N passed, N failed, N skipped
# Exits non-zero when anything failed.
#
#   run-tests.sh [SUITE...]     suites: unit qtest fuzz style build series e2e
#                               (default: all of them)
#
# Each test program speaks TAP (glib's --tap); a program that dies
# without reporting is one failure of its own.

. "$(dirname "$0")/lib.sh"

obj=$COLO_BUILD/obj
logdir=$COLO_BUILD/test-logs
mkdir -p "$logdir"

pass=0
fail=0
skip=0
todo=0
rm -f "$logdir/known-failures"
failed_names=()

# run_tap NAME CMD... : run a TAP-speaking program, fold its results in.
run_tap()
{
    local name=$1 log=$logdir/$1.log rc p f s t
    shift
    mkdir -p "$(dirname "$log")"
    printf '%-44s ' "$name"
    set +e
    timeout -k 10 "${COLO_TEST_TIMEOUT:-600}" "$@" > "$log" 2>&1
    rc=$?
    set -e
    p=$(grep -E '^ok [0-9]+' "$log" | grep -vc '# SKIP' || true)
    s=$(grep -E '^ok [0-9]+' "$log" | grep -c '# SKIP' || true)
    # TAP TODO: a known bug, reported and listed but not a failure
    t=$(grep -E '^not ok [0-9]+' "$log" | grep -c '# TODO' || true)
    f=$(grep -E '^not ok [0-9]+' "$log" | grep -vc '# TODO' || true)
    s=$((s + t))
    todo=$((todo + t))
    if [ "$t" != 0 ]; then
        grep -E '^not ok [0-9]+.*# TODO' "$log" | sed "s|^|$name: |" >> "$logdir/known-failures"
    fi
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        f=1
        echo "exit status $rc without a failed test: counted as one failure" >> "$log"
    fi
    if [ "$((p + f + s))" = 0 ]; then
        f=1
        echo "the program reported no test at all: counted as one failure" >> "$log"
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    skip=$((skip + s))
    if [ "$f" != 0 ]; then
        failed_names+=("$name")
        printf 'FAIL (%d passed, %d failed; log: %s)\n' "$p" "$f" "${log#"$COLO_ROOT"/}"
        grep -E '^not ok|ERROR|Assertion|runtime error|AddressSanitizer' "$log" | head -n 8 | sed 's/^/    /' || true
    else
        printf 'ok (%d passed%s)\n' "$p" "$( [ "$s" != 0 ] && echo ", $s skipped")"
    fi
}

suite_unit()
{
    local t
    for t in test-colo-packet test-colo-conn test-colo-stream \
             test-colo-compare-engine test-colo-rewrite; do
        run_tap "unit/$t" "$obj/tests/unit/$t" --tap -k
    done
}

suite_qtest()
{
    local t
    for t in test-filter-mirror test-filter-redirector test-colo-compare \
             test-filter-rewriter; do
        QTEST_QEMU_BINARY=$obj/qemu-system-x86_64 \
        QTEST_QEMU_IMG=/bin/false \
            run_tap "qtest/$t" "$obj/tests/qtest/$t" --tap -k
    done
}

suite_fuzz()
{
    run_tap "fuzz/corpus-replay" "$COLO_ROOT/scripts/colo/fuzz.sh" replay
}

suite_build()
{
    run_tap "build/assembly" "$COLO_ROOT/scripts/colo/tests/test-assembly.sh"
}

suite_series()
{
    run_tap "build/series" "$COLO_ROOT/scripts/colo/tests/test-series.sh"
}

suite_style()
{
    run_tap "style/checkpatch" "$COLO_ROOT/scripts/colo/tests/test-style.sh"
}

suite_e2e()
{
    if [ -x "$COLO_ROOT/tests/functional/colo/run.sh" ]; then
        run_tap "e2e/colo-pair" "$COLO_ROOT/tests/functional/colo/run.sh"
    fi
}

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit qtest fuzz style build series e2e)
for s in "${suites[@]}"; do
    case "$s" in
    unit|qtest|fuzz|style|build|series|e2e) "suite_$s" ;;
    *) die "unknown test suite '$s' (unit qtest fuzz style build series e2e)" ;;
    esac
done

if [ "$todo" != 0 ]; then
    echo "known failures (TAP TODO, counted as skipped): $todo"
    sort -u "$logdir/known-failures" | head -n 10 | sed 's/^/    /'
fi
if [ ${#failed_names[@]} -gt 0 ]; then
    echo "failed: ${failed_names[*]}"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
