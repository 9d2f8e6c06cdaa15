#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# build.sh [kasan]: configures and builds the kernel with kunit.py (x86_64): $BUILD from
# .kunitconfig with the default compiler (GCC); with "kasan", $BUILD-kasan from .kunitconfig
# and configs/kasan.config with Clang 19 (LLVM=-19), which KASAN next to Rust needs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
dir=$BUILD configs=("$REPO/.kunitconfig") opts=("${MAKE_OPTS[@]}") what=GCC
if [ "${1:-}" = kasan ]; then
	command -v clang-19 >/dev/null || die "clang-19 not found: run 'make deps'"
	dir=$BUILD-kasan configs+=("$REPO/configs/kasan.config") opts+=(LLVM=-19) what="Clang, KASAN"
fi
mkdir -p "$dir"
stage "build: kunit.py build (x86_64, $what, -j$JOBS) in $dir" \
	python3 "$KDIR/tools/testing/kunit/kunit.py" build --arch=x86_64 \
		--build_dir="$dir" "${configs[@]/#/--kunitconfig=}" --jobs="$JOBS" \
		"${opts[@]/#/--make_options=}"
