#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# boot.sh LOG [KERNEL-ARGS...]: boots $BUILD's kernel in QEMU for $KARCH (x86_64: q35; arm64:
# virt, or $MACHINE, e.g. virt,iommu=smmuv3), TCG unless KVM=1 (x86_64), with QEMU_ARGS
# (devices) and MEM, and writes the serial console to LOG. NONCOHERENT=1 (arm64) boots a device
# tree whose PCIe host lacks `dma-coherent`: QEMU has no option for a non-coherent PCIe device.
# KUnit runs during boot; then qemu/init (in an initramfs) exercises the sample through sysfs
# and powers off.
# Not `kunit.py exec`: it always adds `-accel kvm` (which hangs under nested virtualisation)
# and takes no q35, intel-iommu, smmuv3 or edu; its `parse` reads the log afterwards instead.
. "$(dirname "$0")/lib.sh"

log=$1
shift
arch=${KARCH:-x86_64}
accel=tcg
if [ "$arch" = arm64 ]; then
	qemu=qemu-system-aarch64 image=$BUILD/arch/arm64/boot/Image console=ttyAMA0
	initrd=$CACHE/initramfs-arm64.cpio.gz
	# pauth-impdef: TCG emulates the architected pointer authentication slowly.
	machine=(-machine "${MACHINE:-virt}" -cpu max,pauth-impdef=on -smp 2)
else
	qemu=qemu-system-x86_64 image=$BUILD/arch/x86/boot/bzImage console=ttyS0
	initrd=$CACHE/initramfs.cpio.gz
	machine=(-machine q35 -cpu max -smp 2)
	if [ "${KVM:-0}" = 1 ]; then
		[ -w /dev/kvm ] || die "KVM=1 but /dev/kvm is not usable; drop KVM=1 to use TCG"
		accel=kvm
	fi
fi
[ -f "$image" ] || die "no kernel image at $image: run 'make build' first"
command -v $qemu >/dev/null || die "$qemu not found: run 'make deps'"
"$(dirname "$0")/initramfs.sh" "$arch"
mkdir -p "$(dirname "$log")"

if [ "${NONCOHERENT:-0}" = 1 ]; then
	# QEMU's own device tree for exactly this machine, without `dma-coherent` on the PCIe host
	# (phandles depend on -machine, -cpu and -smp; QEMU still fills in memory and bootargs).
	command -v fdtput >/dev/null || die "fdtput not found: run 'make deps' (device-tree-compiler)"
	dtb=$OUT/$(basename "$log" .log).dtb
	$qemu -accel "$accel" "${machine[@]}" -machine dumpdtb="$dtb" -nographic -nodefaults \
		${QEMU_ARGS:-} >/dev/null 2>&1 || die "QEMU could not dump its device tree"
	node=$(fdtget -l "$dtb" / | grep '^pcie@' | head -1)
	fdtput -d "$dtb" "/$node" dma-coherent || die "no dma-coherent on /$node in $dtb"
	machine+=(-dtb "$dtb")
fi
# shellcheck disable=SC2206 # QEMU_ARGS is a list of words on purpose.
cmd=($qemu -accel "$accel" "${machine[@]}" -m "${MEM:-1G}"
	-nographic -no-reboot -nodefaults -serial stdio
	-kernel "$image" -initrd "$initrd" ${QEMU_ARGS:-}
	-append "console=$console rdinit=/init panic=-1 $*")
printf '%q ' "${cmd[@]}"
printf '\n'
timeout --foreground "${BOOT_TIMEOUT:-900}" "${cmd[@]}" </dev/null >"$log" 2>&1 || {
	rc=$?
	[ $rc = 124 ] && die "QEMU did not power off within ${BOOT_TIMEOUT:-900} s; see $log"
	die "QEMU failed (exit $rc); see $log"
}
