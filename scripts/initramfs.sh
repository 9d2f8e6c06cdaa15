#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# initramfs.sh [x86_64|arm64]: packs qemu/init and a static busybox for the architecture into
# $CACHE/initramfs.cpio.gz (x86_64, the host's busybox) or $CACHE/initramfs-arm64.cpio.gz
# (Debian's arm64 busybox, which make deps fetches) for the test VM.
. "$(dirname "$0")/lib.sh"

if [ "${1:-x86_64}" = arm64 ]; then
	out=$CACHE/initramfs-arm64.cpio.gz busybox=$CACHE/tools/busybox-arm64/bin/busybox
	[ -x "$busybox" ] || die "no arm64 busybox at $busybox: run 'make deps'"
else
	out=$CACHE/initramfs.cpio.gz busybox=/bin/busybox
	[ -x "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
		busybox=$(command -v busybox) || die "no busybox: run 'make deps' (it installs busybox-static)"
fi
if [ -f "$out" ] && [ "$out" -nt "$REPO/qemu/init" ] && [ "$out" -nt "$busybox" ]; then
	exit 0
fi
dir=$(mktemp -d)
mkdir -p "$dir"/{bin,proc,sys,dev,tmp}
cp "$busybox" "$dir/bin/busybox"
cp "$REPO/qemu/init" "$dir/init"
chmod +x "$dir/init"
(cd "$dir" && find . | cpio -o -H newc --quiet | gzip -9) >"$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$dir"
say "initramfs: $out"
