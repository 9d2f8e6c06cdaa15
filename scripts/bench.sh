#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: builds a kernel like the test kernel but without the checkers that would
# dominate the timings (.kunitconfig without configs/checkers.config),
# boots it with rust_sg_bench=full, timed and under QEMU's instruction counting, and turns the
# "sg-bench:" lines into results/bench.md and results/bench.svg.
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
	kunit_build "$BENCH_BUILD"
# Twice: timed, then under -icount shift=0, where the guest's clock advances one ns per
# instruction executed, so that the same "ns" are instruction counts (deterministic; one vCPU
# runs at a time then).
for run in bench:"" bench-icount:"-icount shift=0"; do
	log=$OUT/${run%%:*}.log
	BUILD=$BENCH_BUILD MEM=2G QEMU_ARGS=${run#*:} stage "bench: boot with rust_sg_bench=full, QEMU ${run#*:} (a few minutes under TCG)" \
		"$REPO/scripts/boot.sh" "$log" rust_sg_bench=full kunit.filter_glob=rust_kernel_sg_bench
	python3 "$KDIR/tools/testing/kunit/kunit.py" parse "$log" | grep -E 'Testing complete|FAILED' || true
	grep -q 'sg-bench: ' "$log" || die "the benchmark printed nothing; see $log"
done
python3 "$REPO/scripts/bench.py" "$OUT/bench.log" "$OUT/bench-icount.log" "$RESULTS"
