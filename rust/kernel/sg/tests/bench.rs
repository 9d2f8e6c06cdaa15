// SPDX-License-Identifier: GPL-2.0

//! Benchmark of [`kernel::sg`](crate::sg) against C loops and [`kernel::scatterlist`].
//!
//! Not part of the kernel::sg patch series: the project's `make bench` builds it in
//! (`CONFIG_RUST_SG_BENCH`, rust/kernel/lib.rs includes this file) and boots with
//! `rust_sg_bench=full`. Each measurement prints one line
//! `sg-bench: <operation> <entries> <implementation> <median ns> <p10 ns> <p90 ns>`, timing a
//! batch of repetitions per sample, 15 samples each. Without `rust_sg_bench=full` it makes one
//! quick pass, so that `make test` keeps the code working.

#[macros::kunit_tests(rust_kernel_sg_bench)]
mod bench {
    use crate::{
        bindings,
        device::{
            Bound,
            Device,
            Normal, //
        },
        dma::DataDirection,
        error::{
            from_err_ptr,
            to_result, //
        },
        page::{
            Page,
            PAGE_SIZE, //
        },
        prelude::*,
        scatterlist::SGTable,
        sg::SgTable,
        time::{
            Instant,
            Monotonic, //
        },
    };
    use core::{
        hint::black_box,
        ptr::NonNull, //
    };

    const SAMPLES: usize = 15;

    /// Whether the kernel command line asks for a full run.
    fn full() -> bool {
        // SAFETY: `saved_command_line` is a C string set early in boot and never freed.
        let cmdline = unsafe { CStr::from_char_ptr(bindings::saved_command_line) };
        cmdline
            .to_bytes()
            .windows(b"rust_sg_bench=full".len())
            .any(|w| w == b"rust_sg_bench=full")
    }

    /// Times `reps` calls of `f` per sample; prints and returns the median per call.
    fn measure(
        op: &str,
        n: usize,
        imp: &str,
        reps: u32,
        mut f: impl FnMut() -> Result,
    ) -> Result<u64> {
        let mut ns = [0u64; SAMPLES];
        f()?;
        for sample in ns.iter_mut() {
            let start = Instant::<Monotonic>::now();
            for _ in 0..reps {
                f()?;
            }
            // CAST: A sample lasts far less than 2^63 ns.
            *sample = start.elapsed().as_nanos() as u64 / u64::from(reps);
        }
        ns.sort_unstable();
        let (p10, median, p90) = (ns[1], ns[SAMPLES / 2], ns[SAMPLES - 2]);
        pr_info!(
            "sg-bench: {} {} {} {} {} {}\n",
            op,
            n,
            imp,
            median,
            p10,
            p90
        );
        Ok(median)
    }

    /// A device on the KUnit bus (dma-direct, 32-bit mask), bound to its stub driver until the
    /// test ends.
    struct BenchDevice(NonNull<bindings::device>);

    impl BenchDevice {
        fn new() -> Result<Self> {
            // SAFETY: Inside a KUnit test.
            let test = unsafe { bindings::kunit_get_current_test() };
            // SAFETY: `test` is the running test.
            let dev = from_err_ptr(unsafe {
                bindings::kunit_device_register(test, c"sg-bench".as_char_ptr())
            })?;
            Ok(Self(NonNull::new(dev).ok_or(ENODEV)?))
        }

        /// The bound device, for as long as `self` is borrowed.
        fn bound(&self) -> &Device<Bound> {
            // SAFETY: KUnit keeps the device registered, so bound to its stub driver, until the
            // test ends, after every borrow of `self` (a local of the test) is gone.
            unsafe { Device::<Normal>::from_raw(self.0.as_ptr()).as_bound() }
        }
    }

    /// `n` pages, none physically next to the one before: a table of them has `n` entries.
    fn pages(n: usize) -> Result<KVec<Page>> {
        let mut pages = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut between = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            pages.push(Page::alloc_page(GFP_KERNEL)?, GFP_KERNEL)?;
            between.push(Page::alloc_page(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(pages)
    }

    /// A zeroed vmalloc buffer of `pages` pages (a table covers a vector's length).
    fn buffer(pages: usize) -> Result<VVec<u8>> {
        let mut buf = VVec::with_capacity(pages * PAGE_SIZE, GFP_KERNEL)?;
        buf.resize(pages * PAGE_SIZE, 0, GFP_KERNEL)?;
        Ok(buf)
    }

    /// The sum of the DMA segments of `table`, as the C loop makes it.
    fn dma_sum(table: &SgTable<'_>) -> Result<u64> {
        Ok(table.dma_iter()?.fold(0u64, |s, seg| {
            s.wrapping_add(seg.dma_address().wrapping_add(u64::from(seg.dma_len())))
        }))
    }

    #[test]
    fn iteration() -> Result {
        let dev = BenchDevice::new()?;
        let dev = dev.bound();
        let sizes: &[usize] = if full() {
            &[1, 64, 4096, 65536]
        } else {
            &[1, 64]
        };
        for &n in sizes {
            let reps = (1 << 20) / n as u32 + 1;
            let reps = if full() { reps } else { 1 };
            let table =
                SgTable::new_mapped_bound(dev, pages(n)?, DataDirection::ToDevice, GFP_KERNEL)?;
            assert_eq!(table.nents(), Ok(n));
            let sgt = table.as_raw();
            // SAFETY: `table` keeps `sgt` valid and unchanged while `upstream` is used.
            let upstream = unsafe { SGTable::from_raw(sgt) };

            let mut sum = 0;
            measure("dma_iter", n, "kernel::sg", reps, || {
                sum = dma_sum(black_box(&table))?;
                Ok(())
            })?;
            let ours = sum;
            measure("dma_iter", n, "C", reps, || {
                // SAFETY: `sgt` is a valid, mapped table.
                sum = unsafe { bindings::sg_bench_c_dma_sum(black_box(sgt)) };
                Ok(())
            })?;
            assert_eq!(sum, ours);
            measure("dma_iter", n, "scatterlist", reps, || {
                sum = black_box(upstream).iter().fold(0u64, |s, e| {
                    s.wrapping_add(e.dma_address().wrapping_add(e.dma_len()))
                });
                Ok(())
            })?;
            assert_eq!(sum, ours);
            // The same walk over a devres mapping, which checks that its device is still bound.
            let devres = SgTable::new_mapped(dev, pages(n)?, DataDirection::ToDevice, GFP_KERNEL)?;
            let devres_sgt = devres.as_raw();
            measure("dma_iter_devres", n, "kernel::sg", reps, || {
                sum = dma_sum(black_box(&devres))?;
                Ok(())
            })?;
            let ours = sum;
            measure("dma_iter_devres", n, "C", reps, || {
                // SAFETY: `devres_sgt` is a valid, mapped table.
                sum = unsafe { bindings::sg_bench_c_dma_sum(black_box(devres_sgt)) };
                Ok(())
            })?;
            assert_eq!(sum, ours);

            measure("cpu_iter", n, "kernel::sg", reps, || {
                sum = black_box(&table).cpu_iter()?.fold(0u64, |s, seg| {
                    // As the C loop, without overflow checks.
                    let entry = (seg.offset().wrapping_add(seg.len())) as u64;
                    s.wrapping_add((seg.page() as u64).wrapping_add(entry))
                });
                Ok(())
            })?;
            let ours = sum;
            measure("cpu_iter", n, "C", reps, || {
                // SAFETY: `sgt` is a valid table.
                sum = unsafe { bindings::sg_bench_c_cpu_sum(black_box(sgt)) };
                Ok(())
            })?;
            assert_eq!(sum, ours);
        }
        Ok(())
    }

    #[test]
    fn map_unmap() -> Result {
        let dev = BenchDevice::new()?;
        let dev = dev.bound();
        let sizes: &[usize] = if full() { &[1, 64, 4096] } else { &[1] };
        for &n in sizes {
            let reps = if full() { 4096 / n as u32 + 4 } else { 1 };
            let mut table = SgTable::new_for_device(dev, pages(n)?, GFP_KERNEL)?;
            let sgt = table.as_raw();
            let c = || {
                // SAFETY: `sgt` is a valid table that `table` does not have mapped.
                to_result(unsafe {
                    bindings::sg_bench_c_map_unmap(
                        dev.as_raw(),
                        sgt,
                        DataDirection::ToDevice.into(),
                    )
                })
            };
            measure("map_bound_unmap", n, "kernel::sg", reps, || {
                table.map_bound(dev, DataDirection::ToDevice)?;
                table.unmap()
            })?;
            measure("map_bound_unmap", n, "C", reps, c)?;
            measure("map_unmap", n, "kernel::sg", reps, || {
                table.map(dev, DataDirection::ToDevice)?;
                table.unmap()
            })?;
            measure("map_unmap", n, "C", reps, c)?;
        }
        Ok(())
    }

    #[test]
    fn sync() -> Result {
        let dev = BenchDevice::new()?;
        let dev = dev.bound();
        let sizes: &[usize] = if full() { &[1, 64, 4096] } else { &[1] };
        let dir = DataDirection::Bidirectional;
        for &n in sizes {
            let reps = if full() { (1 << 16) / n as u32 + 4 } else { 1 };
            let mut table = SgTable::new_for_device(dev, pages(n)?, GFP_KERNEL)?;
            let sgt = table.as_raw();
            for (op, devres) in [("sync", false), ("sync_devres", true)] {
                if devres {
                    table.map(dev, dir)?;
                } else {
                    table.map_bound(dev, dir)?;
                }
                measure(op, n, "kernel::sg", reps, || {
                    let t = black_box(&table);
                    t.sync_for_cpu()?;
                    t.sync_for_device()
                })?;
                measure(op, n, "C", reps, || {
                    // SAFETY: `sgt` is mapped for `dev` and `dir` (by `table`).
                    unsafe { bindings::sg_bench_c_sync(dev.as_raw(), black_box(sgt), dir.into()) };
                    Ok(())
                })?;
                table.unmap()?;
            }
        }
        Ok(())
    }

    /// A byte window of a mapped table (the middle half): its DMA addresses, and a range sync of
    /// it both ways, against the loop a C driver writes.
    #[test]
    fn windows() -> Result {
        let dev = BenchDevice::new()?;
        let dev = dev.bound();
        let sizes: &[usize] = if full() { &[64, 4096] } else { &[64] };
        let dir = DataDirection::Bidirectional;
        for &n in sizes {
            let reps = if full() { (1 << 18) / n as u32 + 4 } else { 1 };
            let table = SgTable::new_mapped_bound(dev, pages(n)?, dir, GFP_KERNEL)?;
            let sgt = table.as_raw();
            let (offset, len) = (n * PAGE_SIZE / 4 + 100, n * PAGE_SIZE / 2);
            let mut sum = 0;
            measure("dma_window", n, "kernel::sg", reps, || {
                sum = black_box(&table)
                    .dma_window(offset, len)?
                    .fold(0u64, |s, seg| {
                        s.wrapping_add(seg.dma_address().wrapping_add(u64::from(seg.dma_len())))
                    });
                Ok(())
            })?;
            let ours = sum;
            measure("dma_window", n, "C", reps, || {
                // SAFETY: `sgt` is a valid, mapped table.
                sum = unsafe {
                    bindings::sg_bench_c_window_sum(black_box(sgt), offset as u64, len as u64)
                };
                Ok(())
            })?;
            assert_eq!(sum, ours);
            measure("sync_range", n, "kernel::sg", reps, || {
                let t = black_box(&table);
                t.sync_range_for_cpu(offset, len)?;
                t.sync_range_for_device(offset, len)
            })?;
            measure("sync_range", n, "C", reps, || {
                // SAFETY: `sgt` is mapped for `dev` and `dir` (by `table`).
                unsafe {
                    bindings::sg_bench_c_sync_range(
                        dev.as_raw(),
                        black_box(sgt),
                        offset as u64,
                        len as u64,
                        dir.into(),
                    )
                };
                Ok(())
            })?;
        }
        Ok(())
    }

    #[test]
    fn construction() -> Result {
        let dev = BenchDevice::new()?;
        let dev = dev.bound();
        let sizes: &[usize] = if full() { &[1, 64, 1024] } else { &[1] };
        for &n in sizes {
            let reps = if full() { 1024 / n as u32 + 4 } else { 1 };
            // The buffer is allocated outside the timed part only in spirit: both sides pay for
            // it alike, and both free it on drop.
            measure("vvec_map_drop", n, "kernel::sg", reps, || {
                let t = SgTable::new_mapped_bound(
                    dev,
                    buffer(n)?,
                    DataDirection::ToDevice,
                    GFP_KERNEL,
                )?;
                drop(black_box(t));
                Ok(())
            })?;
            measure("vvec_map_devres_drop", n, "kernel::sg", reps, || {
                let t = SgTable::new_mapped(dev, buffer(n)?, DataDirection::ToDevice, GFP_KERNEL)?;
                drop(black_box(t));
                Ok(())
            })?;
            for op in ["vvec_map_drop", "vvec_map_devres_drop"] {
                measure(op, n, "scatterlist", reps, || {
                    let t = KBox::pin_init(
                        SGTable::new(dev, buffer(n)?, DataDirection::ToDevice, GFP_KERNEL),
                        GFP_KERNEL,
                    )?;
                    drop(black_box(t));
                    Ok(())
                })?;
            }
        }
        pr_info!(
            "sg-bench: size_of SgTable {} SGTable<Owned<VVec<u8>>> {} Pin<KBox<SGTable<Owned<VVec<u8>>>>> {}\n",
            core::mem::size_of::<SgTable<'static>>(),
            core::mem::size_of::<SGTable<crate::scatterlist::Owned<VVec<u8>>>>(),
            core::mem::size_of::<Pin<KBox<SGTable<crate::scatterlist::Owned<VVec<u8>>>>>>()
        );
        Ok(())
    }
}
