// SPDX-License-Identifier: GPL-2.0

//! Suite `rust_kernel_sg_fault`: each allocation of a call fails in turn.
//!
//! Every allocation of owned construction and of mapping fails in turn, and each time the call
//! returns `ENOMEM`, the table is as it was, and nothing leaks (DMA-API debug checks the mappings
//! when the devices are unbound, kmemleak scans at the end of the boot). The cases skip in a
//! kernel without failslab and fail_page_alloc (`CONFIG_FAILSLAB`, `CONFIG_FAIL_PAGE_ALLOC`).
//!
//! By default failslab and fail_page_alloc leave alone allocations that may sleep, and single
//! pages; lowering that takes debugfs, which nobody can write while the tests run during boot.
//! Then the tests build with `GFP_NOWAIT` and miss the page and the `Devres` of a mapping (they
//! must not skip: KUnit never runs a skipped case again); user space arms both and runs the
//! suite again, through `/sys/kernel/debug/kunit/rust_kernel_sg_fault/run`, where every step
//! fails.

use super::*;

/// Whether this kernel can fail the allocation `fail-nth` points at (failslab and
/// fail_page_alloc are built in); if not, marks the running case skipped. Without them nothing
/// consumes `fail-nth`, and without fault injection it does not exist: a case would then see
/// no failure, or fail every run.
fn can_fail() -> bool {
    let built = cfg!(CONFIG_FAILSLAB) && cfg!(CONFIG_FAIL_PAGE_ALLOC);
    if !built {
        skip("needs CONFIG_FAILSLAB and CONFIG_FAIL_PAGE_ALLOC");
    }
    built
}

/// Whether failslab and fail_page_alloc fail any allocation `fail-nth` points at, including
/// allocations that may sleep and single pages, which they leave alone by default.
fn fault_injection_armed() -> bool {
    set_fail_nth(1);
    let slab = KBox::new(0u8, GFP_KERNEL | __GFP_NOWARN).is_err();
    set_fail_nth(1);
    let page = Page::alloc_page(GFP_KERNEL | __GFP_NOWARN).is_err();
    set_fail_nth(0);
    slab && page
}

/// Fails the allocations of a call in turn: the first in the first run, the second in the
/// second, and so on, until a run makes fewer allocations than the one to fail.
struct FailEach {
    nth: u32,
    /// Runs that returned an error.
    failed: u32,
    /// Runs that succeeded although an allocation failed: one with a fallback, e.g. kmemleak's
    /// bookkeeping, or the IOVA allocator, which flushes its caches and tries again.
    absorbed: u32,
}

impl FailEach {
    fn new() -> Self {
        Self {
            nth: 0,
            failed: 0,
            absorbed: 0,
        }
    }

    /// Runs `f` with its next allocation made to fail. Returns what `f` returned, and whether
    /// a failure was injected (otherwise `f` made fewer allocations: every one has failed once).
    fn run<T>(&mut self, f: impl FnOnce() -> Result<T>) -> (Result<T>, bool) {
        self.nth += 1;
        set_fail_nth(self.nth);
        let res = f();
        if set_fail_nth(0) > 0 {
            return (res, false);
        }
        if res.is_ok() {
            self.absorbed += 1;
        } else {
            self.failed += 1;
        }
        (res, true)
    }
}

#[macros::kunit_tests(rust_kernel_sg_fault)]
mod kunit {
    use super::*;

    /// Runs `f` on a KUnit device, then on the edu device if it is bound (its 32-bit mask
    /// reaches all the RAM of every set-up), with the allocation flags to build with, and a name
    /// for the log.
    ///
    /// The tests map `ToDevice`: for mappings a device may write, DMA-API debug tracks
    /// cachelines in a radix tree, and it disables itself when that allocation fails. The tests
    /// are about our allocations, and need the checker.
    fn with_devices(f: impl Fn(&Device<Bound>, Flags, &str) -> Result) -> Result {
        let flags = injectable_flags();
        let dev = TestDevice::new(c"rust-sg-fault")?;
        f(dev.bound(), flags, "kunit device")?;
        dev.unregister();
        match Edu::get() {
            Some(pdev) => f(pdev.bound(), flags, "edu")?,
            // The sample binds edu in every set-up.
            None => assert!(intended_setup().is_none()),
        }
        Ok(())
    }

    /// The flags to build with: `GFP_KERNEL` when fault injection is armed, or else flags whose
    /// allocations can fail without it.
    fn injectable_flags() -> Flags {
        if fault_injection_armed() {
            GFP_KERNEL
        } else {
            GFP_NOWAIT | __GFP_NOWARN
        }
    }

    /// What the log says of a run with `flags`.
    fn armed(flags: Flags) -> &'static str {
        if flags == GFP_KERNEL {
            " (armed)"
        } else {
            ""
        }
    }

    #[test]
    fn every_step_of_new_mapped_may_fail() -> Result {
        if !can_fail() {
            return Ok(());
        }
        /// Fails each allocation of `SgTable::new_mapped()` in turn, over buffers `make` makes.
        fn each_step<P: Pages>(
            dev: &Device<Bound>,
            make: impl Fn() -> Result<P>,
            size: usize,
            flags: Flags,
        ) -> Result<FailEach> {
            let mut each = FailEach::new();
            loop {
                let buf = make()?;
                let (res, injected) =
                    each.run(|| SgTable::new_mapped(dev, buf, DataDirection::ToDevice, flags));
                match res {
                    Ok(t) => {
                        assert_eq!(state(&t), Is::Managed);
                        assert_eq!(dma_bytes(&t), Ok(size));
                    }
                    Err(e) => {
                        assert_eq!(e, ENOMEM);
                        assert!(injected);
                    }
                }
                if !injected {
                    return Ok(each);
                }
            }
        }

        with_devices(|dev, flags, name| {
            // More entries than fit in a page: a chained table, whose first chunk is a page.
            let chained = each_step(
                dev,
                || spaced_pages(200, GFP_KERNEL),
                200 * PAGE_SIZE,
                flags,
            )?;
            let vmalloc = each_step(dev, || buffer(64, 7), 64 * PAGE_SIZE, flags)?;
            pr_info!(
                "rust_kernel_sg_fault: new_mapped() on {}{}: ENOMEM {} + {}, absorbed {} + {}\n",
                name,
                armed(flags),
                chained.failed,
                vmalloc.failed,
                chained.absorbed,
                vmalloc.absorbed
            );
            // Our allocations: the list of runs, the entries (a page and a kmalloc chunk when
            // chained, one chunk otherwise), the box for table and pages, the `Devres` of the
            // mapping; unarmed, neither page nor `Devres`. Each run fails one of them or one
            // that kmemleak, KASAN or kvmalloc's fallback to vmalloc make on the way, which
            // absorb the failure or fail in turn: how many runs end in ENOMEM varies (measured
            // 0-6 per buffer, 3-7 for both: with KASAN and an IOMMU, once, every failure of the
            // chained run was absorbed), how many runs there are does not fall below our
            // allocations.
            let all = flags == GFP_KERNEL;
            assert!(chained.failed + vmalloc.failed >= 1);
            for each in [&chained, &vmalloc] {
                assert!(each.failed + each.absorbed >= if all { 4 } else { 3 });
            }
            Ok(())
        })
    }

    #[test]
    fn a_failed_map_leaves_the_table_unmapped() -> Result {
        if !can_fail() {
            return Ok(());
        }
        with_devices(|dev, flags, name| {
            // Through an IOMMU, 80 pages need an IOVA range too big for its caches: mapping
            // allocates there too.
            let mut t = SgTable::new_for_device(dev, spaced_pages(80, GFP_KERNEL)?, GFP_KERNEL)?;
            let size = t.size();
            let unmapped = || expect(Err(EINVAL), size, Is::Unmapped);
            let mut each = FailEach::new();
            loop {
                let (res, injected) = each.run(|| t.map(dev, DataDirection::ToDevice));
                match res {
                    Ok(()) => {
                        assert_eq!(dma_bytes(&t), Ok(size));
                        assert_eq!(t.unmap(), Ok(()));
                    }
                    Err(e) => {
                        assert_eq!(e, ENOMEM);
                        assert!(injected);
                    }
                }
                assert_eq!(ops(&t), unmapped());
                if !injected {
                    break;
                }
            }
            pr_info!(
                "rust_kernel_sg_fault: map() on {}{}: ENOMEM {} times, absorbed {}\n",
                name,
                armed(flags),
                each.failed,
                each.absorbed
            );
            // When armed, at least the `Devres` of the mapping is failed once: ENOMEM, unless
            // an allocation the IOMMU or KASAN made on the way took that turn (the loop ends at
            // the first run with nothing left to fail, and their number varies).
            if flags == GFP_KERNEL {
                assert!(each.failed + each.absorbed >= 1);
            }
            Ok(())
        })
    }

    /// The allocations a lifetime-bound mapping makes are those of `dma_map_sgtable()` and
    /// `dma_unmap_sgtable()` in C (none on dma-direct); a devres mapping adds its `Devres`.
    ///
    /// Counted as the allocations `fail-nth` passes (each decrements it): all of them when
    /// armed, only those that may not sleep otherwise. The fewest of three runs, so that a refill
    /// of a cache on the way (IOVAs, DMA-API debug entries) does not count.
    #[test]
    fn a_lifetime_bound_map_allocates_only_what_the_dma_api_does() -> Result {
        if !can_fail() {
            return Ok(());
        }
        /// The allocations `f` makes: the fewest of three runs.
        fn allocations(mut f: impl FnMut() -> Result) -> Result<u32> {
            let mut fewest = u32::MAX;
            for _ in 0..3 {
                set_fail_nth(u32::MAX);
                let res = f();
                let left = set_fail_nth(0);
                res?;
                fewest = fewest.min(u32::MAX - left);
            }
            Ok(fewest)
        }

        with_devices(|dev, flags, name| {
            let dir = DataDirection::ToDevice;
            let mut t = SgTable::new_for_device(dev, spaced_pages(16, GFP_KERNEL)?, GFP_KERNEL)?;
            let sgt = t.as_raw();
            let c = allocations(|| {
                // SAFETY: `sgt` is a valid table that `t` does not have mapped while `t` is not
                // used, and it is unmapped again with the same arguments.
                unsafe {
                    let (dev, dir) = (dev.as_raw(), dir.into());
                    to_result(bindings::dma_map_sgtable(dev, sgt, dir, 0))?;
                    bindings::dma_unmap_sgtable(dev, sgt, dir, 0);
                }
                Ok(())
            })?;
            let bound = allocations(|| {
                t.map_bound(dev, dir)?;
                t.unmap()
            })?;
            let devres = allocations(|| {
                t.map(dev, dir)?;
                t.unmap()
            })?;
            pr_info!(
                "rust_kernel_sg_fault: allocations per map and unmap on {}{}: C {}, map_bound {}, map {}\n",
                name,
                armed(flags),
                c,
                bound,
                devres
            );
            assert_eq!(bound, c);
            // The `Arc` and the devres node of the `Devres`, when the count sees them.
            if flags == GFP_KERNEL {
                assert!(devres >= c + 2);
            }
            Ok(())
        })
    }

    #[test]
    fn a_failed_from_owner_drops_the_owner() -> Result {
        if !can_fail() {
            return Ok(());
        }
        let flags = injectable_flags();
        let dev = TestDevice::new(c"rust-sg-fault-kept")?;
        let mut each = FailEach::new();
        loop {
            let mut owner = SgTable::new(buffer(3, 5)?, GFP_KERNEL)?;
            owner.map(dev.bound(), DataDirection::ToDevice)?;
            // SAFETY: `owner` keeps its table alive and mapped (the device stays bound until
            // the end of the test), and nobody changes it.
            let (res, injected) = each.run(|| unsafe {
                SgTable::from_owner(owner, |o| o.as_raw(), Terms::Mapped, flags)
            });
            match res {
                Ok(t) => assert_eq!(dma_bytes(&t), Ok(3 * PAGE_SIZE)),
                Err(e) => {
                    assert_eq!(e, ENOMEM);
                    assert!(injected);
                }
            }
            if !injected {
                break;
            }
        }
        // The box for the owner. (A failure that leaked the owner would leak its memory, which
        // kmemleak reports, but not its mapping: its `Devres` unmaps it when the device goes.)
        assert!(each.failed >= 1);
        dev.unregister();
        pr_info!(
            "rust_kernel_sg_fault: from_owner(){}: ENOMEM {} times, absorbed {}\n",
            armed(flags),
            each.failed,
            each.absorbed
        );
        Ok(())
    }
}
