#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What kernel::sg must and must not compile, checked with Kbuild:
# - tests/compile/*_ok.rs compile, and every other file there fails with the error its name
#   is about (each is built alone in the tree's samples/rust/, against $BUILD);
# - kernel::sg and its KUnit tests compile without PCI (configs/nopci.config, rust/ only).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

NOPCI=$CACHE/build/nopci-$(basename "$BUILD")
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

# Without PCI: configure from the fragment (kunit.py checks every option took), build rust/.
mkdir -p "$NOPCI"
python3 "$KDIR/tools/testing/kunit/kunit.py" config --arch=x86_64 --build_dir="$NOPCI" \
	--kunitconfig="$REPO/configs/nopci.config" "${MAKE_OPTS[@]/#/--make_options=}" \
	>"$OUT/compile-nopci.log" 2>&1 &&
	kmake O="$NOPCI" rust/ >>"$OUT/compile-nopci.log" 2>&1 &&
	grep -q '^CONFIG_RUST_SG_KUNIT_TEST=y' "$NOPCI/.config" && ! grep -q '^CONFIG_PCI=y' "$NOPCI/.config" ||
	{ tail -20 "$OUT/compile-nopci.log"; say "compile: FAILED: kernel::sg without PCI (log: $OUT/compile-nopci.log)"; bad=1; }
[ $bad = 0 ] && say "compile: kernel::sg and its tests build without PCI"
[ $bad = 0 ]
