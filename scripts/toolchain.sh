# SPDX-License-Identifier: GPL-2.0
# Sourced: loads what scripts/deps.sh recorded, as the environment and make options that
# every kernel make (and kunit.py) needs.
[ -f "$CACHE/toolchain.env" ] || die "no $CACHE/toolchain.env: run 'make deps' first"
. "$CACHE/toolchain.env"
export LIBCLANG_PATH
MAKE_OPTS=("RUST_LIB_SRC=$RUST_LIB_SRC" "BINDGEN=$BINDGEN")
