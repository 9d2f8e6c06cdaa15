#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# build.sh [kasan]: configures and builds the kernel with kunit.py (x86_64): $BUILD from
# .kunitconfig and configs/checkers.config with the default compiler (GCC); with "kasan",
# $BUILD-kasan from those and configs/kasan.config with Clang 19 (LLVM=-19), which KASAN next
# to Rust needs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

dir=$BUILD configs=("$REPO/.kunitconfig" "$REPO/configs/checkers.config") what=GCC
if [ "${1:-}" = kasan ]; then
	command -v clang-19 >/dev/null || die "clang-19 not found: run 'make deps'"
	dir=$BUILD-kasan configs+=("$REPO/configs/kasan.config") MAKE_OPTS+=(LLVM=-19) what="Clang, KASAN"
fi
mkdir -p "$dir"
stage "build: kunit.py build (x86_64, $what, -j$JOBS) in $dir" \
	kunit_build "$dir" "${configs[@]/#/--kunitconfig=}"
