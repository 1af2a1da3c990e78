#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# QEMU's checkpatch.pl over every C file of ours (TAP, one line a file):
# no errors and no warnings.

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
checkpatch=${COLO_BUILD:-$root/build}/src/scripts/checkpatch.pl
[ -f "$checkpatch" ] || { echo "not ok 1 - no assembled tree with scripts/checkpatch.pl"; exit 1; }

cd "$root"
n=0
failed=0
for f in $(git ls-files -co --exclude-standard -- 'net/*.[ch]' 'include/*.[ch]' \
               'tests/unit/*.[ch]' 'tests/qtest/*.[ch]' 'tests/fuzz/*.[ch]' \
               'bench/*.[ch]' | LC_ALL=C sort -u); do
    [ -f "$f" ] || continue
    n=$((n + 1))
    out=$(perl "$checkpatch" --no-tree --terse -f "$f" 2>&1)
    if echo "$out" | grep -qE '(ERROR|WARNING):'; then
        failed=1
        echo "not ok $n - $f"
        echo "$out" | grep -E '(ERROR|WARNING):' | head -n 10 | sed 's/^/# /'
    else
        echo "ok $n - $f"
    fi
done
echo "1..$n"
exit $failed
