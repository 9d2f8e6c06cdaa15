#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# run.sh [x86_64|arm64]: builds the kernel for the architecture and boots it with QEMU's edu
# device (behind an emulated IOMMU if IOMMU=1: VT-d on x86_64's q35, an SMMUv3 on arm64's virt),
# and shows what kernel::sg did: the rust_sg sample's report, its unbind and rebind, and the
# KUnit verdict.
. "$(dirname "$0")/lib.sh"

arch=${1:-x86_64}
[ "$arch" = x86 ] && arch=x86_64
log=$OUT/run.log
# edu masks DMA addresses to its dma_mask (28 bits by default): 32 bits, as the sample sets.
edu="-device edu,dma_mask=0xffffffff"
case $arch-${IOMMU:-0} in
x86_64-1) qemu="-device intel-iommu $edu" args=intel_iommu=on what="behind an Intel IOMMU" mem=1G ;;
x86_64-0) qemu=$edu args= what="without an IOMMU (dma-direct)" mem=256M ;;
arm64-1) qemu=$edu args= what="behind an SMMUv3" mem=1G machine=virt,iommu=smmuv3 ;;
arm64-0) qemu=$edu args= what="without an IOMMU (dma-direct)" mem=1G machine=virt ;;
*) die "run: unknown architecture '$arch' (x86_64 or arm64)" ;;
esac
if [ "$arch" = arm64 ]; then
	"$REPO/scripts/build.sh" arm64
	export BUILD=$BUILD-arm64 KARCH=arm64 MACHINE=$machine
else
	"$REPO/scripts/build.sh"
fi
MEM=$mem QEMU_ARGS=$qemu stage "run: booting QEMU $arch with the edu device $what" \
	"$REPO/scripts/boot.sh" "$log" $args
say "run: what the kernel said (whole console in $log):"
grep -E 'rust_sg|kernel-sg:|DMAR: IOMMU enabled|arm-smmu-v3|# rust_kernel_sg: pass|ok [0-9]+ rust_kernel_sg' "$log" |
	sed -E 's/^\[ *[0-9.]+\] //; s/^rust_sg 0000:[0-9a-f:.]+: //'
grep -q 'rust_sg: round trip OK' "$log" || die "the sample did not report a successful round trip; see $log"
