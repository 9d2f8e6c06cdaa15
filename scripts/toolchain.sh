# SPDX-License-Identifier: GPL-2.0
# Sourced: loads what scripts/deps.sh recorded, as the environment and make options that
# every kernel make (and kunit.py) needs.
[ -f "$CACHE/toolchain.env" ] || die "no $CACHE/toolchain.env: run 'make deps' first"
. "$CACHE/toolchain.env"
export LIBCLANG_PATH
MAKE_OPTS=("RUST_LIB_SRC=$RUST_LIB_SRC" "BINDGEN=$BINDGEN")

# The architecture to build for: x86_64, or arm64 (always with Clang, LLVM=-19).
KARCH=${KARCH:-x86_64}
if [ "$KARCH" = arm64 ]; then MAKE_OPTS+=(LLVM=-19); fi

# kmake ARGS...: a kernel make in $KDIR ($KARCH, $JOBS jobs) with the toolchain's options.
kmake() { make -s -C "$KDIR" ARCH="$KARCH" -j"$JOBS" "${MAKE_OPTS[@]}" "$@"; }

# kunit_build DIR [KUNIT.PY-ARGS...]: kunit.py build ($KARCH) into DIR with the toolchain, from
# rust/kernel/sg/.kunitconfig, .kunitconfig, the architecture's fragment and the fragments given. kunit.py hides make's
# output, so a line every 30 s says how far the build is (see `progress`).
kunit_build() {
	local dir=$1 ticker rc=0
	shift
	progress "$dir" &
	ticker=$!
	python3 "$KDIR/tools/testing/kunit/kunit.py" build --arch="$KARCH" --build_dir="$dir" \
		--jobs="$JOBS" "${MAKE_OPTS[@]/#/--make_options=}" \
		--kunitconfig="$REPO/rust/kernel/sg/.kunitconfig" --kunitconfig="$REPO/.kunitconfig" \
		--kunitconfig="$REPO/configs/$KARCH.config" "$@" || rc=$?
	kill "$ticker" 2>/dev/null
	wait "$ticker" 2>/dev/null
	return "$rc"
}

# progress DIR: every 30 s while this script runs, the time since the start, how many objects
# were built in DIR meanwhile and the newest one.
progress() {
	local dir=$1 t0=$SECONDS start=$1/.progress-start newest
	mkdir -p "$dir" && touch "$start"
	while kill -0 $$ 2>/dev/null && sleep 30; do
		newest=$(find "$dir" -name '*.o' -newer "$start" -printf '%T@ %P\n' 2>/dev/null | sort -n)
		printf '    %d min %02d s: %d objects built, last %s\n' $(((SECONDS - t0) / 60)) \
			$(((SECONDS - t0) % 60)) "$(printf '%s' "$newest" | grep -c .)" \
			"$(printf '%s' "$newest" | tail -1 | cut -d' ' -f2)"
	done
}
