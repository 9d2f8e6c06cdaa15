# SPDX-License-Identifier: GPL-2.0
# Sourced: loads what scripts/deps.sh recorded, as the environment and make options that
# every kernel make (and kunit.py) needs.
[ -f "$CACHE/toolchain.mk" ] || die "no $CACHE/toolchain.mk: run 'make deps' first"
eval "$(sed -n 's/^\([A-Z_]*\) := \(.*\)$/\1=\2/p' "$CACHE/toolchain.mk")"
export LIBCLANG_PATH
MAKE_OPTS=("RUST_LIB_SRC=$RUST_LIB_SRC" "BINDGEN=$BINDGEN")
