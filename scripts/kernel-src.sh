#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Unpacks Debian's linux-source-$KERNEL into $CACHE/src/linux-$KERNEL (a pinned version,
# KERNEL_DEB=... to override; the newest one the archive has if the pin is gone).
. "$(dirname "$0")/lib.sh"

: "${KERNEL:?}"
PIN=${KERNEL_DEB:-}
dest=$CACHE/src/linux-$KERNEL
stamp=$dest/.kernel-sg-source

if [ -n "$PIN" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PIN" ]; then
	say "kernel source: linux-source-$KERNEL $PIN present in $dest"
	exit 0
fi

papt_update
avail=$(versions_of "linux-source-$KERNEL")
[ -n "$avail" ] || die "Debian's $SUITE has no linux-source-$KERNEL: pick another KERNEL= or give your own tree with KDIR="
if [ -n "$PIN" ] && ! grep -qxF "$PIN" <<<"$avail"; then
	say "WARNING: pinned linux-source-$KERNEL $PIN has left the archive; using the newest one instead."
	say "WARNING: set KERNEL_DEB=<version> to choose (available: $(tr '\n' ' ' <<<"$avail"))"
	PIN=
fi
ver=${PIN:-$(head -1 <<<"$avail")}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver" ]; then
	say "kernel source: linux-source-$KERNEL $ver present in $dest"
	exit 0
fi

say "kernel source: downloading linux-source-$KERNEL $ver"
tmp=$CACHE/src/.unpack
rm -rf "$tmp"
fetch_deb "linux-source-$KERNEL" "$ver" "$tmp" || die "cannot download linux-source-$KERNEL $ver"
tarball=$(find "$tmp/usr/src" -maxdepth 1 -name "linux-source-$KERNEL.tar.*" | head -1)
[ -n "$tarball" ] || die "linux-source-$KERNEL $ver holds no tarball under /usr/src"
say "kernel source: unpacking $(basename "$tarball")"
# Keep the tarball: `make patches` builds its git base from it.
mv "$tarball" "$CACHE/src/linux-source-$KERNEL.tar.xz"
tar -C "$tmp" -xf "$CACHE/src/linux-source-$KERNEL.tar.xz"
rm -rf "$dest"
mv "$tmp/linux-source-$KERNEL" "$dest"
rm -rf "$tmp"
echo "$ver" >"$stamp"
say "kernel source: $(make -s -C "$dest" kernelversion) in $dest"
