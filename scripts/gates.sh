#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The kernel's own quality gates, on the overlaid tree in $KDIR (built in $BUILD):
# rustfmtcheck, a CLIPPY=1 build, rustdoc, htmldocs (Documentation/rust) and checkpatch, each
# failing on anything about our files. (`make patches` runs checkpatch on the series as well.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

# Ours (scripts/overlay.py lists them): our new files, and the upstream files the series converts.
NEW=$(python3 "$REPO/scripts/overlay.py" --list new)
CONVERTED=$(python3 "$REPO/scripts/overlay.py" --list converted)
OURS=$(printf '%s\n' $NEW $CONVERTED | grep '\.rs$' | paste -sd'|')
DOCS='Documentation/rust/sg'

# check NAME LOG: fails if LOG has a warning or error pointing at our files.
check() {
	local hits
	hits=$(grep -E -A3 '^(warning|error)' "$2" | grep -E -B3 -- "--> .*($OURS)" || true)
	if [ -n "$hits" ]; then
		printf '%s\n' "$hits"
		die "$1: findings in our files (full log: $2)"
	fi
}

# logged NAME MAKE-ARGS...: one kernel make, its output in $OUT/NAME.log, shown on failure.
logged() {
	local name=$1
	shift
	kmake O="$BUILD" "$@" >"$OUT/$name.log" 2>&1 || { tail -30 "$OUT/$name.log"; die "$name failed (log: $OUT/$name.log)"; }
	check "$name" "$OUT/$name.log"
}

# htmldocs: Sphinx on Documentation/rust (in a build tree of its own); fails on any warning
# or error about our pages.
htmldocs() {
	make -s -C "$KDIR" O="$CACHE/build/docs-$(basename "$BUILD")" htmldocs SPHINXDIRS=rust \
		>"$OUT/htmldocs.log" 2>&1 || { tail -30 "$OUT/htmldocs.log"; die "htmldocs failed"; }
	if grep -E -A8 "$DOCS.*(WARNING|ERROR)" "$OUT/htmldocs.log"; then
		die "htmldocs: warnings about our pages (log: $OUT/htmldocs.log)"
	fi
}

# checkpatch: --strict on our new files (not the local-only benchmark), and on the changes we
# make to the converted files (their diff from the pinned kernel's, as a patch: the rest is
# upstream's).
checkpatch() {
	local files rc=0
	files=$(printf '%s\n' $NEW | grep -v -F -x -f <(tr ' ' '\n' <"$REPO/series/local-only.txt"))
	# checkpatch's tools (e.g. its Python spelling helpers) must be the system's. It exits
	# non-zero on findings, which it prints, and when it cannot run, which it says on stderr.
	# shellcheck disable=SC2086 # one word per file.
	(cd "$KDIR" && PATH=/usr/bin:$PATH perl scripts/checkpatch.pl --strict --no-summary --terse \
		-f $files) >"$OUT/checkpatch.log" 2>&1 || rc=$?
	if [ -f "$CACHE/src/linux-source-$KERNEL.tar.xz" ]; then
		(cd "$KDIR" && converted_diff | PATH=/usr/bin:$PATH perl scripts/checkpatch.pl --strict \
			--no-summary --terse --no-signoff --ignore COMMIT_MESSAGE -) >>"$OUT/checkpatch.log" 2>&1 || rc=$?
	else
		say "checkpatch: no Debian linux-source-$KERNEL (KDIR=): converted files not checked"
	fi
	cat "$OUT/checkpatch.log"
	[ "$rc" = 0 ] && [ ! -s "$OUT/checkpatch.log" ] ||
		die "checkpatch: findings in our files, or it could not run (log: $OUT/checkpatch.log)"
}

# converted_diff: our converted files as a diff from the pinned kernel's (Debian's tarball).
converted_diff() {
	local tarball=$CACHE/src/linux-source-$KERNEL.tar.xz tmp f
	tmp=$(mktemp -d)
	# shellcheck disable=SC2086 # one word per file.
	tar -C "$tmp" --strip-components=1 -xf "$tarball" $(printf "linux-source-$KERNEL/%s " $CONVERTED)
	for f in $CONVERTED; do
		diff -u --label "a/$f" --label "b/$f" "$tmp/$f" "$REPO/$f" || true
	done
	rm -rf "$tmp"
}

# The gates are a function of our files and the toolchain: a clean run on exactly these is not
# repeated (GATES_AGAIN=1 forces it).
stamp=$CACHE/gates-$(basename "$BUILD").clean
key=$( (cd "$REPO" && git ls-files -z | xargs -0 sha1sum && git status --porcelain) |
	cat - "$CACHE/toolchain.env" | sha1sum | cut -d' ' -f1)
if [ "${GATES_AGAIN:-0}" != 1 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
	say "gates: clean on these very files before ($stamp); not run again"
	exit 0
fi
rm -f "$stamp"

mkdir -p "$OUT"
stage "gates: checkpatch --strict" checkpatch
stage "gates: make rustfmtcheck" logged rustfmtcheck rustfmtcheck
stage "gates: make CLIPPY=1 (kernel crate, samples, nova-core)" logged clippy CLIPPY=1 \
	samples/rust/rust_sg.o samples/rust/rust_dma.o drivers/gpu/nova-core/
stage "gates: make rustdoc" logged rustdoc rustdoc
stage "gates: make htmldocs SPHINXDIRS=rust" htmldocs
echo "$key" >"$stamp"
