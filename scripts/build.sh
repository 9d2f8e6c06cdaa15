#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Configures $BUILD from .kunitconfig and builds the kernel with kunit.py (x86_64).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BUILD"
stage "build: kunit.py build (x86_64, -j$JOBS) in $BUILD" \
	python3 "$KDIR/tools/testing/kunit/kunit.py" build --arch=x86_64 \
		--build_dir="$BUILD" --kunitconfig="$REPO/.kunitconfig" --jobs="$JOBS" \
		"${MAKE_OPTS[@]/#/--make_options=}"
