#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Writes our overlay as a patch series on the pinned Debian base, one logical change per patch
# (series/NN-*.txt: the files the patch adds, its message, and how it grows earlier patches'
# files; 00-cover.txt is the cover letter), into $OUT/patches; runs checkpatch.pl --strict on
# it; checks that `git am` of the series on the base gives the tree `make overlay` gives; and
# (unless FAST=1) that every patch builds on its own.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/toolchain.sh"

SERIES=$CACHE/series/linux-$KERNEL
tarball=$CACHE/src/linux-source-$KERNEL.tar.xz
stamp=$CACHE/src/linux-$KERNEL/.kernel-sg-source
[ -f "$stamp" ] || die "make patches needs Debian's linux-source (it does not work with KDIR=)"
git() { command git -C "$SERIES" -c user.name="kernel::sg" -c user.email="kernel-sg@example.invalid" "$@"; }

base_repo() {
	[ -d "$SERIES/.git" ] && return
	if [ ! -f "$tarball" ]; then
		local tmp
		tmp=$(mktemp -d)
		papt_update
		fetch_deb "linux-source-$KERNEL" "$(cat "$stamp")" "$tmp" || die "cannot download linux-source-$KERNEL"
		mv "$tmp"/usr/src/linux-source-"$KERNEL".tar.* "$tarball"
		rm -rf "$tmp"
	fi
	rm -rf "$SERIES.tmp" && mkdir -p "$SERIES.tmp"
	tar -C "$SERIES.tmp" --strip-components=1 -xf "$tarball"
	command git -C "$SERIES.tmp" init -q
	mv "$SERIES.tmp" "$SERIES"
	git add -A -f .
	git commit -q -m "Linux $(make -s -C "$SERIES" kernelversion) (Debian linux-source-$KERNEL $(cat "$stamp"))"
	git tag base
}

# A patch's message ends at a line `---`; what follows, if anything, is how the patch grows files
# that earlier patches added (a `mod` line, an enum's new variant, fixtures for a new suite), as
# a diff. Our repository holds only the final files: a file enters the series as it is in the
# repository less what later patches add to it (their diffs, undone from the last one down).
message() { sed -n '3,${/^---$/q;p}' "$1"; }
growth() { sed -n '/^---$/,${/^---$/d;p}' "$1"; }

commits() {
	git checkout -q -f -B kernel-sg base
	git clean -q -fdx
	local patches=("$REPO"/series/[0-9][0-9]-*.txt) i j files include
	for ((i = 1; i < ${#patches[@]}; i++)); do
		head -1 "${patches[i]}" | grep -q '^Files:' ||
			die "${patches[i]}: the first line must be 'Files: <paths>' (none: a patch that only grows)"
		files=$(sed -n '1s/^Files: *//p' "${patches[i]}")
		KDIR=$SERIES OVERLAY_ONLY=$files "$REPO/scripts/overlay.py" >/dev/null
		include=$(printf -- '--include=%s\n' $files)
		for ((j = ${#patches[@]} - 1; j > i && ${#files} > 0; j--)); do
			growth "${patches[j]}" | git apply -R --allow-empty $include ||
				die "${patches[j]##*/}: its diff does not undo on ${files// /, } as the repository has it"
		done
		growth "${patches[i]}" | git apply --allow-empty ||
			die "${patches[i]##*/}: its diff does not apply to what the patches before it add"
		git add -A -f .
		message "${patches[i]}" | git commit -q -F -
	done
	# The series must hold the whole overlay, but for what is ours only (series/local-only.txt).
	KDIR=$SERIES OVERLAY_EXCLUDE="$(cat "$REPO/series/local-only.txt")" "$REPO/scripts/overlay.py" >/dev/null
	[ -z "$(git status --porcelain --ignored=matching)" ] ||
		{ git status --short --ignored=matching; die "series/*.txt leave these out"; }
}

format() {
	rm -rf "$OUT/patches" && mkdir -p "$OUT/patches"
	git format-patch -q --cover-letter --base=base -o "$OUT/patches" base..kernel-sg
	python3 - "$OUT/patches/0000-cover-letter.patch" "$REPO/series/00-cover.txt" <<'PY'
import sys
path, cover = sys.argv[1:]
subject, _, blurb = open(cover).read().partition("\n\n")
text = open(path).read().replace("*** SUBJECT HERE ***", subject.strip())
open(path, "w").write(text.replace("*** BLURB HERE ***", blurb.rstrip()))
PY
}

checkpatch() {
	local p verdict bad=0
	for p in "$OUT"/patches/0*.patch; do
		[ "${p##*/}" = 0000-cover-letter.patch ] && continue
		# Findings the cover letter explains are listed in series/checkpatch-explained.txt.
		verdict=$(cd "$SERIES" && PATH=/usr/bin:$PATH ./scripts/checkpatch.pl --strict --no-signoff \
			--quiet --ignore "$(sed -n "s/^${p##*/} //p" "$REPO/series/checkpatch-explained.txt" |
				paste -sd, -)" "$p" 2>&1 || true)
		if [ -n "$verdict" ]; then
			bad=1
			printf '%s\n%s\n' "${p##*/}:" "$verdict"
		else
			say "checkpatch --strict: ${p##*/}: clean"
		fi
	done
	return $bad
}

am_check() {
	git checkout -q -f -B am-check base
	git am -q "$OUT"/patches/000[1-9]-*.patch "$OUT"/patches/00[1-9][0-9]-*.patch 2>/dev/null ||
		git am -q "$OUT"/patches/000[1-9]-*.patch
	[ "$(git rev-parse 'am-check^{tree}')" = "$(git rev-parse 'kernel-sg^{tree}')" ] ||
		die "git am of the series does not give the overlay's tree"
	say "git am of the series on the base gives the same tree as make overlay"
	git checkout -q -f kernel-sg
}

build_each() {
	local out=$CACHE/build/series-$KERNEL c n=0
	mkdir -p "$out"
	for c in $(git rev-list --reverse base..kernel-sg); do
		n=$((n + 1))
		git checkout -q -f "$c"
		cp "$BUILD/.config" "$out/.config"
		make -s -C "$SERIES" O="$out" ARCH=x86_64 -j"$JOBS" "${MAKE_OPTS[@]}" olddefconfig >/dev/null
		make -s -C "$SERIES" O="$out" ARCH=x86_64 -j"$JOBS" "${MAKE_OPTS[@]}" >"$out/build-$n.log" 2>&1 ||
			{ tail -20 "$out/build-$n.log"; die "patch $n does not build (log: $out/build-$n.log)"; }
		grep -E '^(warning|error)' "$out/build-$n.log" && die "patch $n builds with warnings"
		say "patch $n builds: $(git log -1 --format=%s "$c")"
	done
	git checkout -q -f kernel-sg
}

stage "patches: git base of linux-source-$KERNEL" base_repo
stage "patches: one commit per series/*.txt" commits
stage "patches: git format-patch into $OUT/patches" format
stage "patches: git am on the base" am_check
[ "${FAST:-0}" = 1 ] || stage "patches: build every patch (FAST=1 skips)" build_each
if stage "patches: checkpatch.pl --strict" checkpatch; then
	say "patches: $(ls "$OUT"/patches | wc -l) files in $OUT/patches; checkpatch: clean"
else
	die "checkpatch --strict has findings (above)"
fi
