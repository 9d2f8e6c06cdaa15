#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Packs qemu/init and a static busybox into $CACHE/initramfs.cpio.gz for the test VM.
. "$(dirname "$0")/lib.sh"

out=$CACHE/initramfs.cpio.gz
busybox=/bin/busybox
[ -x "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	busybox=$(command -v busybox) || die "no busybox: run 'make deps' (it installs busybox-static)"
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
