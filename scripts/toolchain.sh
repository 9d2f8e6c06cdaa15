# SPDX-License-Identifier: GPL-2.0
# Sourced: loads what scripts/deps.sh recorded, as the environment and make options that
# every kernel make (and kunit.py) needs.
[ -f "$CACHE/toolchain.env" ] || die "no $CACHE/toolchain.env: run 'make deps' first"
. "$CACHE/toolchain.env"
export LIBCLANG_PATH
MAKE_OPTS=("RUST_LIB_SRC=$RUST_LIB_SRC" "BINDGEN=$BINDGEN")

# kmake ARGS...: a kernel make in $KDIR (x86_64, $JOBS jobs) with the toolchain's options.
kmake() { make -s -C "$KDIR" ARCH=x86_64 -j"$JOBS" "${MAKE_OPTS[@]}" "$@"; }

# kunit_build DIR [KUNIT.PY-ARGS...]: kunit.py build (x86_64) into DIR with the toolchain.
kunit_build() {
	local dir=$1
	shift
	python3 "$KDIR/tools/testing/kunit/kunit.py" build --arch=x86_64 --build_dir="$dir" \
		--jobs="$JOBS" "${MAKE_OPTS[@]/#/--make_options=}" "$@"
}
