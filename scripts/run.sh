#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots the built kernel with QEMU's edu device (behind an emulated IOMMU if IOMMU=1) and shows
# what kernel::sg did: the rust_sg sample's report, its unbind and rebind, and the KUnit verdict.
. "$(dirname "$0")/lib.sh"

log=$OUT/run.log
# edu masks DMA addresses to its dma_mask (28 bits by default): 32 bits, as the sample sets.
if [ "${IOMMU:-0}" = 1 ]; then
	qemu="-device intel-iommu -device edu,dma_mask=0xffffffff" args=intel_iommu=on
	what="behind an Intel IOMMU" mem=1G
else
	qemu="-device edu,dma_mask=0xffffffff" args= what="without an IOMMU (dma-direct)" mem=256M
fi
MEM=$mem QEMU_ARGS=$qemu stage "run: booting QEMU x86_64 with the edu device $what" \
	"$REPO/scripts/boot.sh" "$log" $args
say "run: what the kernel said (whole console in $log):"
grep -E 'rust_sg|kernel-sg:|DMAR: IOMMU enabled|# rust_kernel_sg: pass|ok [0-9]+ rust_kernel_sg' "$log" |
	sed -E 's/^\[ *[0-9.]+\] //; s/^rust_sg 0000:[0-9a-f:.]+: //'
grep -q 'rust_sg: round trip OK' "$log" || die "the sample did not report a successful round trip; see $log"
