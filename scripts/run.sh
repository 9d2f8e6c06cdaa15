#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# run.sh [x86_64|arm64]: builds the kernel for the architecture and boots it with QEMU's edu
# device (behind an emulated IOMMU if IOMMU=1: VT-d on x86_64's q35, an SMMUv3 on arm64's virt),
# and shows what kernel::sg did: the rust_sg sample's report, its unbind and rebind, and the
# KUnit verdict.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/setups.sh"

arch=${1:-x86_64}
[ "$arch" = x86 ] && arch=x86_64
log=$OUT/run.log
case $arch-${IOMMU:-0} in
x86_64-1) name=iommu what="behind an Intel IOMMU" ;;
x86_64-0) name=direct what="without an IOMMU (dma-direct)" ;;
arm64-1) name=arm64-iommu what="behind an SMMUv3" ;;
arm64-0) name=arm64-direct what="without an IOMMU (dma-direct), on a non-coherent PCIe host" ;;
*) die "run: unknown architecture '$arch' (x86_64 or arm64)" ;;
esac
setup_of "$name"
"$REPO/scripts/build.sh" $kernel
[ "$kernel" = arm64 ] && export BUILD=$BUILD-arm64 KARCH=arm64
# shellcheck disable=SC2086 # kargs is a list of words.
MACHINE=$machine NONCOHERENT=$noncoherent MEM=$mem QEMU_ARGS=$qemu \
	stage "run: booting QEMU $arch with the edu device $what (set-up $name)" \
	"$REPO/scripts/boot.sh" "$log" $kargs
say "run: what the kernel said (whole console in $log):"
grep -E 'rust_sg|kernel-sg:|DMAR: IOMMU enabled|arm-smmu-v3|# rust_kernel_sg: pass|ok [0-9]+ rust_kernel_sg' "$log" |
	sed -E 's/^\[ *[0-9.]+\] //; s/^rust_sg 0000:[0-9a-f:.]+: //'
grep -q 'rust_sg: round trip OK' "$log" || die "the sample did not report a successful round trip; see $log"
