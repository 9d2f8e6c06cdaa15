#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: builds a kernel like the test kernel but without the checkers that would
# dominate the timings (.kunitconfig without configs/checkers.config),
# boots it once with rust_sg_bench=full, and turns the "sg-bench:" lines into
# results/bench.md and results/bench.svg.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

BENCH_BUILD=$CACHE/build/bench-$(basename "$BUILD")
RESULTS=${RESULTS:-$REPO/results}
mkdir -p "$OUT" "$RESULTS" "$BENCH_BUILD"

command -v gnuplot >/dev/null || {
	say "bench: installing gnuplot-nox (for the plot)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null ||
		die "cannot install gnuplot-nox: run 'apt-get update' as root, then make bench again"
}

stage "bench: build the benchmark kernel in $BENCH_BUILD" \
	kunit_build "$BENCH_BUILD" --kunitconfig="$REPO/.kunitconfig"
BUILD=$BENCH_BUILD MEM=2G QEMU_ARGS= stage "bench: boot with rust_sg_bench=full (a few minutes under TCG)" \
	"$REPO/scripts/boot.sh" "$OUT/bench.log" rust_sg_bench=full kunit.filter_glob=rust_kernel_sg_bench
python3 "$KDIR/tools/testing/kunit/kunit.py" parse "$OUT/bench.log" | grep -E 'Testing complete|FAILED' || true
grep -q 'sg-bench: ' "$OUT/bench.log" || die "the benchmark printed nothing; see $OUT/bench.log"
python3 "$REPO/scripts/bench.py" "$OUT/bench.log" "$RESULTS"
