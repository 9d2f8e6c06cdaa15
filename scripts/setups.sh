# SPDX-License-Identifier: GPL-2.0
# Sourced: the DMA set-ups, the one table that `make test` (all of them) and `make run` (one)
# boot.
#
# QEMU's edu device masks the addresses it is given to its dma_mask (28 bits unless told): set
# to 32 bits, as the sample does. The direct and swiotlb boots get 256 MiB; the others have
# room (1 GiB) for the 256 MiB table. The swiotlb pool is 8 MiB (4096 slots of 2 KiB), small
# enough for a test to run it dry; track_hiwater has debugfs count the slots in use, which a
# test reads. The x86_64 IOMMU boots also have QEMU's pci-testdev, for rust_dma. The kasan
# set-ups boot the kernel built with Clang and KASAN; the arm64 ones QEMU's virt machine,
# where arm64-direct's PCIe host lacks dma-coherent (QEMU has no option for a non-coherent
# device; boot.sh edits the device tree), so that every map, sync and unmap does cache
# maintenance, and arm64-iommu puts edu behind an SMMUv3.
SETUPS_ALL="direct swiotlb iommu kasan-direct kasan-iommu arm64-direct arm64-iommu"

# setup_of NAME: sets, for set-up NAME, `kernel` (the build of scripts/build.sh: empty for
# x86_64 with GCC, kasan or arm64), `machine` (QEMU's -machine, empty for the architecture's
# default), `noncoherent`, `mem`, `qemu` (QEMU's devices) and `kargs` (kernel arguments).
setup_of() {
	local edu="-device edu,dma_mask=0xffffffff"
	kernel= machine= noncoherent=0 mem=1G qemu=$edu kargs=
	case $1 in
	direct | kasan-direct) mem=256M ;;
	swiotlb) mem=256M kargs=swiotlb=4096,force,track_hiwater ;;
	iommu | kasan-iommu) qemu="-device intel-iommu $edu -device pci-testdev" kargs=intel_iommu=on ;;
	arm64-direct) machine=virt noncoherent=1 ;;
	arm64-iommu) machine=virt,iommu=smmuv3 ;;
	*) die "unknown set-up '$1' (one of: $SETUPS_ALL)" ;;
	esac
	case $1 in
	kasan-*) kernel=kasan ;;
	arm64-*) kernel=arm64 ;;
	esac
}
