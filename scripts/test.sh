#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots the built kernel once per DMA set-up, has kunit.py parse each run, judges it with
# results.py and ends with the one line CI reads: "N passed, N failed".
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
KUNIT=$KDIR/tools/testing/kunit/kunit.py
SUITES="rust_kernel_sg rust_doctests_kernel"
mkdir -p "$OUT"
passed=0 failed=0 bad=0
summary=()

# parse NAME: kunit.py's own reading of the console log, as text and JSON.
parse() {
	python3 "$KUNIT" parse --json="$OUT/$1.json" "$OUT/$1.log" >"$OUT/$1.kunit.txt"
}

# setup NAME QEMU-ARGS KERNEL-ARGS...: one boot, parsed and judged.
setup() {
	local name=$1 qemu=$2 log=$OUT/$1.log line p f s c m
	shift 2
	if ! QEMU_ARGS=$qemu stage "test[$name]: boot QEMU" "$REPO/scripts/boot.sh" "$log" "$@"; then
		failed=$((failed + 1)) bad=1
		summary+=("$name: boot failed, see $log")
		return
	fi
	stage "test[$name]: kunit.py parse" parse "$name" || true
	grep -E '^\[..:..:..\] (Testing complete|=+ \[(PASSED|FAILED)\]|.*\[FAILED\]|.*\[CRASHED\])' \
		"$OUT/$name.kunit.txt" | grep -v '^\[..:..:..\] *\[PASSED\]' || true
	line=$(python3 "$REPO/scripts/results.py" "$OUT/$name.json" "$log" $SUITES | tee "$OUT/$name.verdict" |
		sed -n 's/^counts: //p') || true
	grep -v '^counts: ' "$OUT/$name.verdict" || true
	read -r p f s c m <<<"$line"
	passed=$((passed + p)) failed=$((failed + f))
	[ "$f" = 0 ] && [ "$c" = 0 ] && [ "$m" = 0 ] && [ "$p" -gt 0 ] || bad=1
	summary+=("$(printf '%-8s %4d passed, %d failed, %d skipped, %d kernel complaints, %d suites missing' \
		"$name:" "$p" "$f" "$s" "$c" "$m")")
}

setup direct "-device edu"

say "summary (logs and results in $OUT):"
printf '    %s\n' "${summary[@]}"
[ $bad = 0 ] && [ $failed = 0 ] || { [ $failed -gt 0 ] || failed=1; }
echo "$passed passed, $failed failed"
[ $bad = 0 ]
