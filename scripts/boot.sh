#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# boot.sh LOG [KERNEL-ARGS...]: boots $BUILD's bzImage in QEMU x86_64 (TCG unless KVM=1), with
# QEMU_ARGS (devices) and MEM, and writes the serial console to LOG. KUnit runs during boot;
# then qemu/init (in an initramfs) exercises the sample through sysfs and powers off.
# Not `kunit.py exec`: it always adds `-accel kvm` (which hangs under nested virtualisation)
# and takes no q35, intel-iommu or edu; its `parse` reads the log afterwards instead.
. "$(dirname "$0")/lib.sh"

log=$1
shift
image=$BUILD/arch/x86/boot/bzImage
[ -f "$image" ] || die "no kernel image at $image: run 'make build' first"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found: run 'make deps'"
"$(dirname "$0")/initramfs.sh"

accel=tcg
if [ "${KVM:-0}" = 1 ]; then
	[ -w /dev/kvm ] || die "KVM=1 but /dev/kvm is not usable; drop KVM=1 to use TCG"
	accel=kvm
fi
mkdir -p "$(dirname "$log")"
# shellcheck disable=SC2206 # QEMU_ARGS is a list of words on purpose.
cmd=(qemu-system-x86_64 -accel "$accel" -machine q35 -cpu max -smp 2 -m "${MEM:-1G}"
	-nographic -no-reboot -nodefaults -serial stdio
	-kernel "$image" -initrd "$CACHE/initramfs.cpio.gz" ${QEMU_ARGS:-}
	-append "console=ttyS0 rdinit=/init panic=-1 $*")
printf '%q ' "${cmd[@]}"
printf '\n'
timeout --foreground "${BOOT_TIMEOUT:-900}" "${cmd[@]}" </dev/null >"$log" 2>&1 || {
	rc=$?
	[ $rc = 124 ] && die "QEMU did not power off within ${BOOT_TIMEOUT:-900} s; see $log"
	die "QEMU failed (exit $rc); see $log"
}
