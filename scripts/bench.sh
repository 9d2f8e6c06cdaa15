#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: builds two kernels like the test kernel but without the checkers that would
# dominate the timings (.kunitconfig without configs/checkers.config): one with GCC, and one
# with Clang 22 (LLVM=-22, the LLVM of rustc) and configs/inline-helpers.config, where the C
# helpers are inlined into the Rust code (CONFIG_RUST_INLINE_HELPERS). Boots each with
# rust_sg_bench=full, timed and under QEMU's instruction counting, and turns the "sg-bench:"
# lines into results/bench.md and results/bench.svg.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

BENCH_BUILD=$CACHE/build/bench-$(basename "$BUILD")
INLINE_BUILD=$CACHE/build/bench-inline-$(basename "$BUILD")
RESULTS=${RESULTS:-$REPO/results}
mkdir -p "$OUT" "$RESULTS" "$BENCH_BUILD" "$INLINE_BUILD"

# need CMD WHY PKG...: installs PKG... with apt-get unless CMD is found.
need() {
	local cmd=$1 why=$2
	shift 2
	command -v "$cmd" >/dev/null && return
	say "bench: installing $* ($why)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
		die "cannot install $*: run 'apt-get update' as root, then make bench again"
}

# inline_build DIR: the bench kernel with Clang 22 (LLVM=-22) and configs/inline-helpers.config
# in DIR, bindgen on Clang 22's libclang: the kernel gives Clang 22 flags that deps.sh's libclang
# 18 rejects (-fexperimental-late-parse-attributes, for __counted_by on pointers).
inline_build() {
	local dir=$1
	local MAKE_OPTS=("${MAKE_OPTS[@]}" LLVM=-22)
	local -x LIBCLANG_PATH
	LIBCLANG_PATH=$(llvm-config-22 --libdir)
	compgen -G "$LIBCLANG_PATH/libclang*.so*" >/dev/null || die "no libclang in $LIBCLANG_PATH (libclang1-22)"
	kunit_build "$dir" --kunitconfig="$REPO/configs/inline-helpers.config" || {
		inline_check "$dir"
		return 1
	}
	inline_check "$dir"
}

# inline_check DIR: dies, saying why, unless DIR/.config has CONFIG_RUST_INLINE_HELPERS=y.
inline_check() {
	local cfg=$1/.config
	[ -f "$cfg" ] || die "no $cfg: configuring the inline-helpers kernel failed (see above)"
	grep -qx 'CONFIG_RUST_INLINE_HELPERS=y' "$cfg" && return
	say "bench: CONFIG_RUST_INLINE_HELPERS=y did not take effect in $cfg, which has:"
	grep -E '^(# )?CONFIG_(CC_IS_CLANG|CLANG_VERSION|RUSTC_LLVM_MAJOR_VERSION|RUSTC_CLANG_LLVM_COMPATIBLE|EXPERT|X86_64|ARM64)[= ]' \
		"$cfg" | sed 's/^/    /' || true
	die "CONFIG_RUST_INLINE_HELPERS needs EXPERT, x86_64 or arm64, and Clang on rustc's LLVM major (rustc: LLVM $(rustc -vV | sed -n 's/^LLVM version: //p'); $(clang-22 --version | head -1))"
}

# boots DIR NAME: boots DIR's kernel with rust_sg_bench=full into $OUT/NAME.log, timed, then
# into $OUT/NAME-icount.log under -icount shift=0, where the guest's clock advances one ns per
# instruction executed, so that the same "ns" are instruction counts (deterministic; one vCPU
# runs at a time then).
boots() {
	local dir=$1 name=$2 run log
	for run in "$name":"" "$name-icount":"-icount shift=0"; do
		log=$OUT/${run%%:*}.log
		BUILD=$dir MEM=2G QEMU_ARGS=${run#*:} stage "bench: boot $name with rust_sg_bench=full, QEMU ${run#*:} (under a minute under TCG)" \
			"$REPO/scripts/boot.sh" "$log" rust_sg_bench=full kunit.filter_glob=rust_kernel_sg_bench
		python3 "$KDIR/tools/testing/kunit/kunit.py" parse "$log" | grep -E 'Testing complete|FAILED' || true
		grep -q 'sg-bench: ' "$log" || die "the benchmark printed nothing; see $log"
	done
}

need gnuplot "for the plot" gnuplot-nox
need clang-22 "Clang 22, LLVM=-22, for the inline-helpers kernel" clang-22 lld-22 llvm-22

stage "bench: build the benchmark kernel (GCC) in $BENCH_BUILD" \
	kunit_build "$BENCH_BUILD"
boots "$BENCH_BUILD" bench
stage "bench: build the benchmark kernel (Clang 22, inline helpers) in $INLINE_BUILD" \
	inline_build "$INLINE_BUILD"
boots "$INLINE_BUILD" bench-inline
python3 "$REPO/scripts/bench.py" "$OUT/bench.log" "$OUT/bench-icount.log" \
	"$OUT/bench-inline.log" "$OUT/bench-inline-icount.log" "$RESULTS"
