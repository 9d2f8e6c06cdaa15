#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What kernel::sg must and must not compile, checked with Kbuild:
# - tests/compile/*_ok.rs compile, and every other file there fails with the error its name
#   is about (each is built alone in the tree's samples/rust/, against $BUILD);
# - kernel::sg and its KUnit tests compile without PCI (configs/nopci.config, rust/ only), and
#   for riscv64 with Clang, where CONFIG_NEED_SG_DMA_LENGTH is off (configs/riscv.config).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

mkdir -p "$OUT"
bad=0

# NAME: the object to build from tests/compile/NAME.rs; ERROR: what rustc must say.
for src in "$REPO"/tests/compile/*.rs; do
	name=$(basename "$src" .rs)
	cp "$src" "$KDIR/samples/rust/$name.rs"
	rc=0
	kmake O="$BUILD" "samples/rust/$name.o" >"$OUT/compile-$name.log" 2>&1 || rc=$?
	rm -f "$KDIR/samples/rust/$name.rs" "$BUILD/samples/rust/$name.o"
	case $name in
	*_ok) want=0 why="must compile" ;;
	*) want=1 why="must not compile (E0277: a bound kernel::sg requires)" ;;
	esac
	if [ "$want" = 0 ] && [ "$rc" = 0 ]; then
		say "compile: $name compiles"
	elif [ "$want" = 1 ] && [ "$rc" != 0 ] && grep -q 'error\[E0277\]' "$OUT/compile-$name.log"; then
		say "compile: $name is refused: $(grep -m1 -o 'the trait bound `[^`]*` is not satisfied' "$OUT/compile-$name.log")"
	else
		say "compile: FAILED: $name $why (log: $OUT/compile-$name.log)"
		tail -20 "$OUT/compile-$name.log"
		bad=1
	fi
done

# rust_only NAME ARCH FRAGMENT CHECK: configures a kernel for ARCH from FRAGMENT alone
# (kunit.py checks that every option took), builds rust/, and checks its .config with CHECK.
rust_only() {
	local name=$1 arch=$2 fragment=$3 check=$4 dir=$CACHE/build/$1-$(basename "$BUILD") opts=()
	local LIBCLANG_PATH=$LIBCLANG_PATH
	# Clang 19 passes riscv64 ISA extensions (zabha) that bindgen's libclang 18 rejects:
	# bindgen gets Debian's libclang 19 there.
	[ "$arch" = x86_64 ] || opts=(LLVM=-19)
	[ "$arch" = riscv ] && LIBCLANG_PATH=/usr/lib/llvm-19/lib
	mkdir -p "$dir"
	python3 "$KDIR/tools/testing/kunit/kunit.py" config --arch="$arch" --build_dir="$dir" \
		--kunitconfig="$fragment" "${MAKE_OPTS[@]/#/--make_options=}" "${opts[@]/#/--make_options=}" \
		>"$OUT/compile-$name.log" 2>&1 &&
		KARCH=$arch kmake O="$dir" "${opts[@]}" rust/ >>"$OUT/compile-$name.log" 2>&1 &&
		grep -q '^CONFIG_RUST_SG_KUNIT_TEST=y' "$dir/.config" && $check "$dir/.config"
}
no_pci() { ! grep -q '^CONFIG_PCI=y' "$1"; }
no_dma_length() { ! grep -q '^CONFIG_NEED_SG_DMA_LENGTH=y' "$1"; }

if rust_only nopci x86_64 "$REPO/configs/nopci.config" no_pci; then
	say "compile: kernel::sg and its tests build without PCI"
else
	tail -20 "$OUT/compile-nopci.log"
	say "compile: FAILED: kernel::sg without PCI (log: $OUT/compile-nopci.log)"
	bad=1
fi
if rust_only riscv riscv "$REPO/configs/riscv.config" no_dma_length; then
	say "compile: kernel::sg and its tests build for riscv64, without a separate DMA length"
else
	tail -20 "$OUT/compile-riscv.log"
	say "compile: FAILED: kernel::sg for riscv64 (log: $OUT/compile-riscv.log)"
	bad=1
fi
[ $bad = 0 ]
