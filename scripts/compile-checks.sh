#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What kernel::sg must and must not compile, checked with Kbuild:
# - tests/compile/*_ok.rs compile, and every other file there fails with the error its
#   "Refused with:" line names (E0277 if none; each is built alone in the tree's
#   samples/rust/, against $BUILD);
# - kernel::sg and its KUnit tests compile (rust/ only) for 32-bit ARM without LPAE and without
#   PCI, where dma_addr_t has 32 bits (configs/armv7.config), and for UML, kunit.py's default,
#   whose scatterlist entries have no DMA length of their own (configs/uml.config); the kernel
#   crate compiles for UML without a DMA API (configs/uml-nodma.config). Each `#[cfg]` branch
#   of ours compiles in one of these or in the booted kernels. The three builds run at once,
#   next to the cases: each is mostly a chain of single-threaded rustc runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

mkdir -p "$OUT"
bad=0

# rust_only NAME ARCH FRAGMENT CHECK: configures a kernel for ARCH from FRAGMENT alone
# (kunit.py checks that every option took), builds rust/, and checks its .config with CHECK.
rust_only() {
	local name=$1 arch=$2 fragment=$3 check=$4 dir=$CACHE/build/$1-$(basename "$BUILD") opts=()
	local LIBCLANG_PATH=$LIBCLANG_PATH
	# Clang 19 passes flags that bindgen's libclang 18 rejects: bindgen gets Debian's
	# libclang 19 wherever the kernel is built with Clang.
	case $arch in
	um) ;;
	*) opts=(LLVM=-19) LIBCLANG_PATH=/usr/lib/llvm-19/lib ;;
	esac
	mkdir -p "$dir"
	python3 "$KDIR/tools/testing/kunit/kunit.py" config --arch="$arch" --build_dir="$dir" \
		--kunitconfig="$fragment" "${MAKE_OPTS[@]/#/--make_options=}" "${opts[@]/#/--make_options=}" \
		>"$OUT/compile-$name.log" 2>&1 &&
		KARCH=$arch kmake O="$dir" "${opts[@]}" rust/ >>"$OUT/compile-$name.log" 2>&1 &&
		$check "$dir/.config"
}
sg_tests() { grep -q '^CONFIG_RUST_SG_KUNIT_TEST=y' "$1"; }
no_pci() { sg_tests "$1" && ! grep -q '^CONFIG_PCI=y' "$1"; }
no_dma_length() { sg_tests "$1" && ! grep -q '^CONFIG_NEED_SG_DMA_LENGTH=y' "$1"; }
dma_addr_32() { no_pci "$1" && ! grep -q '^CONFIG_ARCH_DMA_ADDR_T_64BIT=y' "$1"; }
no_dma() { grep -q '^CONFIG_RUST_KUNIT_TESTS=y' "$1" && ! grep -q '^CONFIG_HAS_DMA=y' "$1"; }

# check NAME ARCH WHAT CHECK: rust_only with configs/NAME.config, said as WHAT.
check() {
	if rust_only "$1" "$2" "$REPO/configs/$1.config" "$4"; then
		say "compile: $3"
	else
		tail -20 "$OUT/compile-$1.log"
		say "compile: FAILED: $3 (log: $OUT/compile-$1.log)"
		return 1
	fi
}
# Started now, waited for after the cases below.
pids=()
check armv7 arm "kernel::sg and its tests build for 32-bit ARM without LPAE (32-bit DMA addresses), without PCI" \
	dma_addr_32 &
pids+=($!)
check uml um "kernel::sg and its tests build for UML as kunit.py run configures it, without a separate DMA length" \
	no_dma_length &
pids+=($!)
check uml-nodma um "the kernel crate builds for UML without a DMA API (no kernel::sg there)" no_dma &
pids+=($!)

# NAME: the object to build from tests/compile/NAME.rs; ERROR: what rustc must say.
for src in "$REPO"/tests/compile/*.rs; do
	name=$(basename "$src" .rs)
	cp "$src" "$KDIR/samples/rust/$name.rs"
	rc=0
	kmake O="$BUILD" "samples/rust/$name.o" >"$OUT/compile-$name.log" 2>&1 || rc=$?
	rm -f "$KDIR/samples/rust/$name.rs" "$BUILD/samples/rust/$name.o"
	# The error a refused file must get: its "Refused with:" line (E0277 if none).
	code=$(sed -n 's#^//! Refused with: \(E[0-9]*\)$#\1#p' "$src")
	code=${code:-E0277}
	case $name in
	*_ok) want=0 why="must compile" ;;
	*) want=1 why="must not compile ($code)" ;;
	esac
	if [ "$want" = 0 ] && [ "$rc" = 0 ]; then
		say "compile: $name compiles"
	elif [ "$want" = 1 ] && [ "$rc" != 0 ] && grep -q "error\[$code\]" "$OUT/compile-$name.log"; then
		say "compile: $name is refused: $(grep -m1 "error\[$code\]" "$OUT/compile-$name.log")"
	else
		say "compile: FAILED: $name $why (log: $OUT/compile-$name.log)"
		tail -20 "$OUT/compile-$name.log"
		bad=1
	fi
done

for pid in "${pids[@]}"; do wait "$pid" || bad=1; done
[ $bad = 0 ]
