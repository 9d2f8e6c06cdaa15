#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots the built kernel once per DMA set-up, has kunit.py parse each run, judges it with
# results.py and ends with the one line CI reads: "N passed, N failed".
. "$(dirname "$0")/lib.sh"

KUNIT=$KDIR/tools/testing/kunit/kunit.py
# What every boot must show: our suites and the doctests ran, the fault-injection suite again
# from qemu/init with fault injection armed; the sample did its round trip at probe and again
# after qemu/init rebound it through sysfs; init finished (kmemleak scanned); the checkers were on.
CHECKS=(--suite rust_kernel_sg --suite rust_kernel_sg_dma --suite rust_kernel_sg_fault
	--suite rust_doctests_kernel
	--expect 'rust_sg: round trip OK=2' --expect 'rust_sg: unbinding=1'
	--expect 'kernel-sg: kmemleak scan done=1' --expect 'kernel-sg: init done=1'
	--expect 'DMA-API: debugging enabled by kernel config=1' --expect 'kernel-sg: DMA-API error_count=1'
	--expect 'kmemleak: Kernel memory leak detector initialized=1' --expect 'kfence: initialized=1'
	--expect 'rust_kernel_sg_fault: new_mapped\(\) on kunit device \(armed\)=1'
	--expect 'rust_kernel_sg_fault: map\(\) on kunit device \(armed\)=1'
	--expect 'rust_kernel_sg_fault: from_owner\(\) \(armed\)=1'
	--expect 'BUG: sleeping function called from invalid context at rust/kernel/sg/=3'
	--expect 'rust_kernel_sg_dma: unbind raced 4 workers=1'
	--expect 'Lock dependency validator: Copyright=1')
mkdir -p "$OUT"
passed=0 failed=0 bad=0
summary=()

# parse NAME: kunit.py's own reading of the console log, as text and JSON; the suite qemu/init
# runs again after boot is read from the results KUnit keeps in debugfs, which qemu/init prints
# with a prefix of its own.
parse() {
	python3 "$KUNIT" parse --json="$OUT/$1.json" "$OUT/$1.log" >"$OUT/$1.kunit.txt"
	sed -n 's/^kunit-results: //p' "$OUT/$1.log" >"$OUT/$1.again.log"
	python3 "$KUNIT" parse --json="$OUT/$1.again.json" "$OUT/$1.again.log" >"$OUT/$1.again.kunit.txt"
}

# setup NAME MEM QEMU-ARGS KERNEL-ARGS [EXPECTED-LINE=COUNT...]: one boot of $image_dir's
# kernel (for $image_arch, on QEMU's $machine, with a non-coherent PCIe host if $noncoherent),
# parsed and judged. The tests learn the DMA set-up from NAME (kasan-iommu, arm64-iommu: iommu).
image_dir=$BUILD image_arch=x86_64 machine= noncoherent=0
setup() {
	local name=$1 mem=$2 qemu=$3 kargs=$4 log=$OUT/$1.log line p f s d l w m e expect=() json=()
	shift 4
	for e in "$@"; do expect+=(--expect "$e"); done
	# DMA-API debug needs an entry per mapped segment: the 256 MiB table alone maps 65536.
	# shellcheck disable=SC2086 # kargs is a list of words.
	# rust_sg_test.setup: the tests assert what the set-up must show, instead of skipping.
	if ! BUILD=$image_dir KARCH=$image_arch MACHINE=$machine NONCOHERENT=$noncoherent MEM=$mem \
		QEMU_ARGS=$qemu stage "test[$name]: boot QEMU" \
		"$REPO/scripts/boot.sh" "$log" dma_debug_entries=262144 "rust_sg_test.setup=${name##*-}" $kargs; then
		failed=$((failed + 1)) bad=1
		summary+=("$name: boot failed, see $log")
		return
	fi
	rm -f "$OUT/$name.json" "$OUT/$name.again.json"
	stage "test[$name]: kunit.py parse" parse "$name" || true
	grep -hE '^\[..:..:..\] (Testing complete|=+ \[(PASSED|FAILED)\]|.*\[FAILED\]|.*\[CRASHED\])' \
		"$OUT/$name.kunit.txt" "$OUT/$name.again.kunit.txt" | grep -v '^\[..:..:..\] *\[PASSED\]' || true
	for j in "$OUT/$name.json" "$OUT/$name.again.json"; do
		[ -f "$j" ] && json+=(--json "$j")
	done
	line=$(python3 "$REPO/scripts/results.py" "$log" "${json[@]}" "${CHECKS[@]}" "${expect[@]}" | tee "$OUT/$name.verdict" |
		sed -n 's/^counts: //p') || true
	grep -v '^counts: ' "$OUT/$name.verdict" || true
	read -r p f s d l w m <<<"$line"
	passed=$((passed + p)) failed=$((failed + f))
	if [ "$f" != 0 ]; then
		bad=1
	elif [ "$d" != 0 ] || [ "$l" != 0 ] || [ "$w" != 0 ] || [ "$m" != 0 ] || [ "$p" = 0 ]; then
		# All cases passed, but the kernel complained: the boot counts as one failure.
		bad=1 failed=$((failed + 1))
	fi
	summary+=("$(printf '%-8s %4d passed, %d failed, %d skipped; DMA-API errors %d, leaks %d, warnings %d; checks missing %d' \
		"$name:" "$p" "$f" "$s" "$d" "$l" "$w" "$m")")
}

# The three DMA set-ups share one kernel build. QEMU's edu device masks the addresses it is
# given to its dma_mask (28 bits unless told): set to 32 bits, as the sample does. The direct and
# swiotlb boots get 256 MiB; the IOMMU boot has room (1 GiB) for the 256 MiB table.
# The swiotlb pool is 8 MiB (4096 slots of 2 KiB), small enough for a test to run it dry;
# track_hiwater has debugfs count the slots in use, which a test reads.
# Each boot tells the tests which set-up it is (rust_sg_test.setup=); they check it was.
setups=${SETUPS:-direct swiotlb iommu kasan-direct kasan-iommu arm64-direct arm64-iommu}
wanted() { [[ " $setups " == *" $1 "* ]]; }
edu="-device edu,dma_mask=0xffffffff"
# The DMA API skips syncs for a coherent edu until it bounces: both answers, read as C reads them.
wanted direct && setup direct 256M "$edu" "" 'syncs for edu skipped: true=1'
wanted swiotlb && setup swiotlb 256M "$edu" "swiotlb=4096,force,track_hiwater" 'syncs for edu skipped: false=1'
# The iommu boots also have QEMU's pci-testdev, for rust_dma (converted to kernel::sg by the
# series): it maps at probe, logs its DMA segments and unmaps at unbind, and probes again.
testdev="-device pci-testdev"
rust_dma=('rust_dma 0000:[^ ]*: Probe DMA test driver=2' 'rust_dma 0000:[^ ]*: Unload DMA test driver=1'
	'rust_dma 0000:[^ ]*: Entry\[0\]: DMA address: 0x=1')
wanted iommu && setup iommu 1G "-device intel-iommu $edu $testdev" "intel_iommu=on" "${rust_dma[@]}"

# The same tests in a kernel built with Clang and KASAN, which sees every use-after-free and
# out-of-bounds access (KFENCE only samples), in the direct and IOMMU set-ups.
if wanted kasan-direct || wanted kasan-iommu; then
	if stage "test[kasan]: build with Clang and KASAN" "$REPO/scripts/build.sh" kasan; then
		image_dir=$BUILD-kasan
		kasan=('KernelAddressSanitizer initialized=1')
		wanted kasan-direct && setup kasan-direct 256M "$edu" "" "${kasan[@]}"
		wanted kasan-iommu && setup kasan-iommu 1G "-device intel-iommu $edu $testdev" "intel_iommu=on" \
			"${kasan[@]}" "${rust_dma[@]}"
	else
		failed=$((failed + 1)) bad=1
		summary+=("kasan:   the Clang/KASAN build FAILED")
	fi
fi

# arm64 (QEMU virt, Clang), where a device that is not DMA-coherent makes every map, sync and
# unmap do cache maintenance (arch_sync_dma_for_*), twice: dma-direct with edu on a PCIe host
# whose device-tree node lacks dma-coherent (RAM starts at 1 GiB there: the 32-bit mask
# reaches the first 3 GiB), and behind an SMMUv3. KUnit's devices are never coherent on arm64.
if wanted arm64-direct || wanted arm64-iommu; then
	if stage "test[arm64]: build for arm64 with Clang" "$REPO/scripts/build.sh" arm64; then
		image_dir=$BUILD-arm64 image_arch=arm64 machine=virt noncoherent=1
		wanted arm64-direct && setup arm64-direct 1G "$edu" "" \
			'rust_kernel_sg_dma: the transition matrix on edu, DMA-coherent: false=1' \
			'rust_kernel_sg_dma: the transition matrix on kunit device, DMA-coherent: false=1'
		machine=virt,iommu=smmuv3 noncoherent=0
		wanted arm64-iommu && setup arm64-iommu 1G "$edu" "" \
			'rust_kernel_sg_dma: IOMMU merged 16 CPU entries into=1' \
			'rust_kernel_sg_dma: the transition matrix on kunit device, DMA-coherent: false=1'
	else
		failed=$((failed + 1)) bad=1
		summary+=("arm64:   the arm64 build FAILED")
	fi
fi

# The kernel's own gates on our files: checkpatch, rustfmtcheck, CLIPPY=1, rustdoc, htmldocs.
if stage "test[gates]: checkpatch, rustfmtcheck, clippy, rustdoc, htmldocs" "$REPO/scripts/gates.sh"; then
	summary+=("gates:   checkpatch --strict, rustfmtcheck, CLIPPY=1, rustdoc and htmldocs clean for our files")
else
	failed=$((failed + 1)) bad=1
	summary+=("gates:   FAILED (see above and $OUT/*.log)")
fi

# What must and must not compile: typed memory as DMA bytes, APIs that must not exist, and the
# kernel crate in configurations the boots do not cover.
if stage "test[compile]: compile-fail cases, and rust/ without PCI, for riscv64, ARMv7 and UML" "$REPO/scripts/compile-checks.sh"; then
	summary+=("compile: typed and foreign Pages refused, Pages over bytes accepted, no references into memory; tests build without PCI, for riscv64, ARMv7 (32-bit DMA addresses) and UML, and the kernel crate for UML without DMA")
else
	failed=$((failed + 1)) bad=1
	summary+=("compile: FAILED (see above and $OUT/compile-*.log)")
fi

say "summary (logs and results in $OUT):"
printf '    %s\n' "${summary[@]}"
[ $bad = 0 ] && [ $failed = 0 ] || { [ $failed -gt 0 ] || failed=1; }
echo "$passed passed, $failed failed"
[ $bad = 0 ]
