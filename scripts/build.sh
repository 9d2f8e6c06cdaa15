#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# build.sh [kasan|arm64]: configures and builds the kernel with kunit.py: $BUILD for x86_64
# from the .kunitconfig files, configs/x86_64.config and configs/checkers.config with the default compiler
# (GCC); with "kasan", $BUILD-kasan from those and configs/kasan.config with Clang 19
# (LLVM=-19), which KASAN next to Rust needs; with "arm64", $BUILD-arm64 for arm64 from
# the .kunitconfig files, configs/arm64.config and configs/checkers.config with Clang 19.
if [ "${1:-}" = arm64 ]; then export KARCH=arm64; fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

dir=$BUILD configs=("$REPO/configs/checkers.config") what=GCC
case "${1:-}" in
kasan)
	command -v clang-19 >/dev/null || die "clang-19 not found: run 'make deps'"
	dir=$BUILD-kasan configs+=("$REPO/configs/kasan.config") MAKE_OPTS+=(LLVM=-19) what="Clang, KASAN"
	;;
arm64)
	command -v clang-19 >/dev/null || die "clang-19 not found: run 'make deps'"
	dir=$BUILD-arm64 what=Clang
	;;
esac
mkdir -p "$dir"
stage "build: kunit.py build ($KARCH, $what, -j$JOBS) in $dir" \
	kunit_build "$dir" "${configs[@]/#/--kunitconfig=}"
