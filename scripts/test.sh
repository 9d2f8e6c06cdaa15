#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots the built kernel once per DMA set-up, has kunit.py parse each run, judges it with
# results.py, runs the gates and the compile checks, and ends with the one line CI reads:
# "N passed, N failed". Builds go one at a time; a kernel's boots run next to the next build.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/setups.sh"

KUNIT=$KDIR/tools/testing/kunit/kunit.py
# What every boot must show: our suites and the doctests ran, the fault-injection suite again
# from qemu/init with fault injection armed; the sample did its round trip at probe and again
# after qemu/init rebound it through sysfs; init finished (kmemleak scanned); the checkers were on.
CHECKS=(--suite rust_kernel_sg --suite rust_kernel_sg_borrowed --suite rust_kernel_sg_layout
	--suite rust_kernel_sg_ranges --suite rust_kernel_sg_dma --suite rust_kernel_sg_fault
	--suite rust_doctests_kernel
	--expect 'rust_sg: round trip OK=2' --expect 'rust_sg: unbinding=1'
	--expect 'kernel-sg: kmemleak scan done=1' --expect 'kernel-sg: init done=1'
	--expect 'DMA-API: debugging enabled by kernel config=1' --expect 'kernel-sg: DMA-API error_count=1'
	--expect 'kmemleak: Kernel memory leak detector initialized=1' --expect 'kfence: initialized=1'
	--expect 'rust_kernel_sg_fault: new_mapped\(\) on kunit device \(armed\)=1'
	--expect 'rust_kernel_sg_fault: map\(\) on kunit device \(armed\)=1'
	--expect 'rust_kernel_sg_fault: from_owner\(\) \(armed\)=1'
	--expect 'BUG: sleeping function called from invalid context at rust/kernel/sg/=3'
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

# setup NAME: one boot of set-up NAME (scripts/setups.sh) on the
# kernel built for it, parsed and judged into $OUT/NAME.verdict (which `tally` reads). The tests
# learn the DMA set-up from NAME (kasan-iommu, arm64-iommu: iommu), and assert what it must show
# instead of skipping.
setup() {
	local name=$1 log=$OUT/$1.log image_dir=$BUILD image_arch=x86_64 e expect=() json=()
	setup_of "$name"
	[ -n "$kernel" ] && image_dir=$BUILD-$kernel
	[ "$kernel" = arm64 ] && image_arch=arm64
	while read -r e; do expect+=(--expect "$e"); done < <(expected "$name")
	rm -f "$OUT/$name.json" "$OUT/$name.again.json" "$OUT/$name.verdict"
	# DMA-API debug needs an entry per mapped segment: the 256 MiB table alone maps 65536.
	# shellcheck disable=SC2086 # kargs is a list of words.
	if ! BUILD=$image_dir KARCH=$image_arch MACHINE=$machine NONCOHERENT=$noncoherent MEM=$mem \
		QEMU_ARGS=$qemu stage "test[$name]: boot QEMU" \
		"$REPO/scripts/boot.sh" "$log" dma_debug_entries=262144 "rust_sg_test.setup=${name##*-}" $kargs; then
		echo "boot failed" >"$OUT/$name.verdict"
		return
	fi
	stage "test[$name]: kunit.py parse" parse "$name" || true
	grep -hE '^\[..:..:..\] (Testing complete|=+ \[(PASSED|FAILED)\]|.*\[FAILED\]|.*\[CRASHED\])' \
		"$OUT/$name.kunit.txt" "$OUT/$name.again.kunit.txt" | grep -v '^\[..:..:..\] *\[PASSED\]' || true
	for j in "$OUT/$name.json" "$OUT/$name.again.json"; do
		[ -f "$j" ] && json+=(--json "$j")
	done
	python3 "$REPO/scripts/results.py" "$log" "${json[@]}" "${CHECKS[@]}" "${expect[@]}" \
		>"$OUT/$name.verdict" || true
	grep -v '^counts: ' "$OUT/$name.verdict" | sed "s/^/test[$name]: /" || true
}

# tally NAME: adds the verdict of set-up NAME's boot to the counts and the summary.
tally() {
	local name=$1 p f s d l w m
	if ! grep -q '^counts: ' "$OUT/$name.verdict" 2>/dev/null; then
		failed=$((failed + 1)) bad=1
		summary+=("$name: boot failed or not judged, see $OUT/$name.log")
		return
	fi
	read -r p f s d l w m <<<"$(sed -n 's/^counts: //p' "$OUT/$name.verdict")"
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

# boots NAME...: the set-ups NAME..., one after another, in the background: a boot keeps one
# core busy, so each kernel's boots run while the next kernel builds (or the gates run). At
# most two groups boot at once (when builds have nothing to do, two groups do): a third waits
# for the older. wait_boots waits for them all.
boots_pids=() booted=()
boots() {
	if [ ${#boots_pids[@]} -ge 2 ]; then
		wait "${boots_pids[0]}" || true
		boots_pids=("${boots_pids[@]:1}")
	fi
	booted+=("$@")
	{ for name; do setup "$name"; done; } &
	boots_pids+=($!)
}
wait_boots() {
	local pid
	for pid in "${boots_pids[@]}"; do wait "$pid" || true; done
	boots_pids=()
}

# built KERNEL: builds the kernel of a group of set-ups (scripts/build.sh) once; a failed build
# counts as one failure.
built() {
	stage "test[$1]: build ($1)" "$REPO/scripts/build.sh" "$1" && return
	failed=$((failed + 1)) bad=1
	summary+=("$(printf '%-8s the %s build FAILED' "$1:" "$1")")
	return 1
}

# expected NAME: what the log of set-up NAME must show besides CHECKS, a line each (the tests
# assert the rest themselves: each boot tells them its set-up). rust_dma (converted to kernel::sg
# by the series), on pci-testdev in the IOMMU boots, maps at probe, logs its DMA segments and
# unmaps at unbind, and probes again. KASAN sees every use-after-free and out-of-bounds access
# (KFENCE only samples).
expected() {
	case $1 in
	iommu | kasan-iommu)
		printf '%s\n' 'rust_dma 0000:[^ ]*: Probe DMA test driver=2' \
			'rust_dma 0000:[^ ]*: Unload DMA test driver=1' \
			'rust_dma 0000:[^ ]*: Entry\[0\]: DMA address: 0x=1'
		;;
	esac
	case $1 in
	kasan-*) echo 'KernelAddressSanitizer initialized=1' ;;
	esac
}

# group KERNEL: the set-ups wanted that boot the kernel build KERNEL (empty: x86_64 with GCC).
setups=${SETUPS:-$SETUPS_ALL}
for name in $setups; do setup_of "$name"; done
group() {
	local name
	for name in $setups; do
		setup_of "$name"
		[ "$kernel" != "$1" ] || printf '%s ' "$name"
	done
}
gcc=$(group '') kasan=$(group kasan) arm64=$(group arm64)
# shellcheck disable=SC2086 # each group is a list of words.
{
	[ -z "$gcc" ] || boots $gcc
	[ -z "$kasan" ] || ! built kasan || boots $kasan
	[ -z "$arm64" ] || ! built arm64 || boots $arm64
}

# The kernel's own gates on our files: checkpatch, rustfmtcheck, CLIPPY=1, rustdoc, htmldocs.
# Their summary lines go after the boots' (`later`).
later=()
if stage "test[gates]: checkpatch, rustfmtcheck, clippy, rustdoc, htmldocs" "$REPO/scripts/gates.sh"; then
	later+=("gates:   checkpatch --strict, rustfmtcheck, CLIPPY=1, rustdoc and htmldocs clean for our files")
else
	failed=$((failed + 1)) bad=1
	later+=("gates:   FAILED (see above and $OUT/*.log)")
fi

# What must and must not compile: typed memory as DMA bytes, APIs that must not exist, and the
# kernel crate in configurations the boots do not cover.
if stage "test[compile]: compile-fail cases, and rust/ for ARMv7 and UML" "$REPO/scripts/compile-checks.sh"; then
	later+=("compile: typed and foreign Pages refused, Pages over bytes accepted, no references into memory; tests build for ARMv7 (32-bit DMA addresses, no PCI) and UML (no separate DMA length), and the kernel crate for UML without DMA")
else
	failed=$((failed + 1)) bad=1
	later+=("compile: FAILED (see above and $OUT/compile-*.log)")
fi

wait_boots
for name in "${booted[@]}"; do tally "$name"; done
summary+=("${later[@]}")
say "summary (logs and results in $OUT):"
printf '    %s\n' "${summary[@]}"
[ $bad = 0 ] && [ $failed = 0 ] || { [ $failed -gt 0 ] || failed=1; }
echo "$passed passed, $failed failed"
[ $bad = 0 ]
