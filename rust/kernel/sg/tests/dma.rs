// SPDX-License-Identifier: GPL-2.0

//! Suite `rust_kernel_sg_dma`: the tests whose outcome depends on the DMA set-up of the boot
//! (dma-direct, swiotlb bounce buffers, an IOMMU), and concurrency. Each adapts its
//! expectations to the set-up it finds, and says which.

use super::*;

/// Whether `dev` is DMA-coherent (`dev_is_dma_coherent()`): if not, every map, sync and unmap
/// goes through the architecture's cache maintenance.
fn dma_coherent(dev: &Device) -> bool {
    // SAFETY: `dev` is a valid device.
    unsafe { bindings::dev_is_dma_coherent(dev.as_raw()) }
}

/// Whether every mapping for `dev` bounces through swiotlb (`is_swiotlb_force_bounce()`, as
/// when booted with `swiotlb=force`). Not whether swiotlb is active: arm64 keeps a pool for
/// devices whose mask does not reach all of RAM, which ours do.
fn bounces(dev: &Device) -> bool {
    // SAFETY: `dev` is a valid device.
    unsafe { bindings::is_swiotlb_force_bounce(dev.as_raw()) }
}

/// Bytes of a mapped segment as the device sees them: a cacheable `memremap()` of their DMA
/// address, which is their physical address where no IOMMU translates it.
struct AsDevice {
    ptr: NonNull<u8>,
    len: usize,
}

impl AsDevice {
    /// Maps the `len` bytes at `addr`.
    ///
    /// # Safety
    ///
    /// The `len` bytes at `addr` are RAM: part of a segment that stays mapped for DMA, without
    /// an IOMMU, while the returned value lives (the buffer or its bounce slot).
    unsafe fn new(addr: DmaAddress, len: usize) -> Result<Self> {
        // SAFETY: The range is RAM, by the safety requirements.
        let p = unsafe { bindings::memremap(addr, len, bindings::MEMREMAP_WB as c_ulong) };
        Ok(Self {
            ptr: NonNull::new(p).ok_or(ENOMEM)?.cast(),
            len,
        })
    }

    /// Reads byte `i` as the device would.
    fn read(&self, i: usize) -> u8 {
        assert!(i < self.len);
        // SAFETY: `ptr` maps `len` bytes while `self` lives (`new()`), and `i < len`.
        unsafe { self.ptr.as_ptr().add(i).read_volatile() }
    }

    /// Writes byte `i` as the device would.
    fn write(&self, i: usize, v: u8) {
        assert!(i < self.len);
        // SAFETY: As in `read()`.
        unsafe { self.ptr.as_ptr().add(i).write_volatile(v) }
    }
}

impl Drop for AsDevice {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `memremap()` in `new()` and is not used after this.
        unsafe { bindings::memunmap(self.ptr.as_ptr().cast()) };
    }
}

/// The size of the bounce pool in bytes, as booted with `swiotlb=` (0 without swiotlb).
fn swiotlb_pool_size() -> usize {
    // SAFETY: Reads a value set during boot.
    // CAST: An `unsigned long` fits in a `usize`.
    unsafe { bindings::swiotlb_pool_size() as usize }
}

/// The slots of the bounce pool of `dev` in use now (2 KiB each), as debugfs counts them when
/// booted with `swiotlb=...,track_hiwater`; 0 otherwise.
fn swiotlb_used_slots(dev: &Device) -> usize {
    // SAFETY: `dev` is a valid device; this reads an atomic counter of its pool.
    // CAST: An `unsigned long` fits in a `usize`.
    unsafe { bindings::swiotlb_used_slots(dev.as_raw()) as usize }
}

/// Skips the running test for `reason`, unless the kernel was booted for a set-up in `needed`:
/// then returns `ENODEV`, which fails it.
fn skip_unless_needed(needed: &[Setup], reason: &str) -> Result {
    match intended_setup() {
        Some(setup) if needed.contains(&setup) => {
            pr_err!("{:?} set-up, but {}\n", setup, reason);
            Err(ENODEV)
        }
        _ => {
            skip(reason);
            Ok(())
        }
    }
}

#[macros::kunit_tests(rust_kernel_sg_dma)]
mod kunit {
    use super::*;

    #[test]
    fn syncs_move_data_between_cpu_and_device() -> Result {
        let dev = TestDevice::new(c"rust-sg-sync")?;
        let bounce = bounces(dev.bound());
        let mut t = SgTable::new(buffer(2, 0)?, GFP_KERNEL)?;
        let mut byte = [0u8; 1];

        // What the CPU wrote before mapping reaches the device at map time.
        t.write_at(0, &[0x11; 64])?;
        t.map(dev.bound(), DataDirection::Bidirectional)?;
        let seg = t.dma_iter()?.next().ok_or(ENOENT)?;
        // Act as the device: without an IOMMU the DMA address is the physical address.
        // SAFETY: `seg` is a mapped segment of RAM (the buffer or its bounce slot), which stays
        // mapped until `unmap()` below, after `device` is dropped.
        let device = unsafe { AsDevice::new(seg.dma_address(), 64) }?;
        assert_eq!(device.read(0), 0x11);

        // What the device writes reaches the CPU at `sync_for_cpu()`, not before (if bounced).
        device.write(0, 0x22);
        t.read_at(0, &mut byte)?;
        assert_eq!(byte[0], if bounce { 0x11 } else { 0x22 });
        t.sync_for_cpu()?;
        t.read_at(0, &mut byte)?;
        assert_eq!(byte[0], 0x22);

        // What the CPU writes reaches the device at `sync_for_device()`, not before.
        t.write_at(1, &[0x33])?;
        assert_eq!(device.read(1), if bounce { 0x11 } else { 0x33 });
        t.sync_for_device()?;
        assert_eq!(device.read(1), 0x33);

        // What the device writes last reaches the CPU at unmap.
        device.write(2, 0x44);
        drop(device);
        t.unmap()?;
        t.read_at(2, &mut byte)?;
        assert_eq!(byte[0], 0x44);
        if let Some(setup) = intended_setup() {
            assert_eq!(bounce, setup == Setup::Swiotlb);
        }
        pr_info!(
            "rust_kernel_sg_dma: syncs moved data through {}\n",
            if bounce {
                "bounce buffers"
            } else {
                "shared memory"
            }
        );
        Ok(())
    }

    /// A range sync moves exactly its range, across a DMA segment boundary, and nothing else
    /// (seen with bounce buffers; without, the memory is shared and every byte is seen at once).
    #[test]
    fn range_syncs_move_only_their_range() -> Result {
        let dev = TestDevice::with_parms(c"rust-sg-range", &PAGE_SEGMENTS)?;
        let bounce = bounces(dev.bound());
        let mut t = SgTable::new_for_device(dev.bound(), buffer(2, 0)?, GFP_KERNEL)?;
        t.write_at(0, &[0x11; 2 * PAGE_SIZE])?;
        t.map_bound(dev.bound(), DataDirection::Bidirectional)?;
        let segs = collect(t.dma_iter()?)?;
        assert_eq!(segs.len(), 2);
        // Act as the device on the last 16 bytes of the first segment and the first 16 of the
        // second: without an IOMMU the DMA address is the physical address.
        let mut device = KVec::new();
        for (seg, at) in [(segs[0], PAGE_SIZE - 16), (segs[1], 0)] {
            // SAFETY: The 16 bytes lie in a mapped segment of RAM (the buffer or its bounce slot),
            // which stays mapped until `unmap()` below, after `device` is dropped.
            let part = unsafe { AsDevice::new(seg.dma_address() + at as DmaAddress, 16) }?;
            device.push(part, GFP_KERNEL)?;
        }
        // Byte `i` of the 32 the device sees, around the segment boundary at `PAGE_SIZE`: the
        // part and the byte in it.
        let dev_at = |i: usize| (&device[i / 16], i % 16);
        let cpu_at = |t: &SgTable<'_>, i: usize| -> Result<u8> {
            let mut byte = [0u8; 1];
            t.read_at(PAGE_SIZE - 16 + i, &mut byte)?;
            Ok(byte[0])
        };

        // The device writes all 32 bytes; the CPU syncs 8 around the boundary (12..20).
        for i in 0..32 {
            let (part, at) = dev_at(i);
            part.write(at, 0x22);
        }
        t.sync_range_for_cpu(PAGE_SIZE - 4, 8)?;
        for i in 0..32 {
            let synced = (12..20).contains(&i);
            let want = if synced || !bounce { 0x22 } else { 0x11 };
            assert!(same(fmt!("byte {i}"), cpu_at(&t, i)?, want));
        }

        // The CPU writes all 32 bytes; it syncs 4 on each side of the boundary for the device.
        t.write_at(PAGE_SIZE - 16, &[0x33; 32])?;
        t.sync_range_for_device(PAGE_SIZE - 4, 8)?;
        for i in 0..32 {
            let synced = (12..20).contains(&i);
            let want = if synced || !bounce { 0x33 } else { 0x22 };
            let (part, at) = dev_at(i);
            assert!(same(fmt!("byte {i}"), part.read(at), want));
        }
        drop(device);
        t.unmap()?;
        if let Some(setup) = intended_setup() {
            assert_eq!(bounce, setup == Setup::Swiotlb);
        }
        Ok(())
    }

    /// Every state and transition on each kind of device the boot has: DMA-coherent ones (x86),
    /// and ones that are not, where mapping, syncing and unmapping do cache maintenance (arm64's
    /// KUnit devices, and edu when booted with a device tree whose PCIe host lacks
    /// `dma-coherent`, as the arm64 direct set-up is).
    #[test]
    fn the_transition_matrix_on_each_kind_of_device() -> Result {
        let edu = Edu::get();
        // Every set-up boots edu: the matrix must run on it there.
        if edu.is_none() && intended_setup().is_some() {
            return skip_unless_needed(&[Setup::Direct, Setup::Swiotlb, Setup::Iommu], "no edu");
        }
        let a = TestDevice::new(c"rust-sg-coherence")?;
        let b = TestDevice::new(c"rust-sg-coherence-2")?;
        let mut devices = KVec::new();
        devices.push(("kunit device", a.bound()), GFP_KERNEL)?;
        if let Some(edu) = &edu {
            devices.push(("edu", edu.bound()), GFP_KERNEL)?;
        }
        for (name, dev) in devices {
            let coherent = dma_coherent(dev);
            // arm64 makes devices without a firmware node (KUnit's) non-coherent; its direct
            // set-up boots edu non-coherent too.
            let arm64_direct = intended_setup() == Some(Setup::Direct);
            let expected = !cfg!(CONFIG_ARM64) || (name == "edu" && !arm64_direct);
            assert!(same(name, coherent, expected));
            for kind in Kind::BOTH {
                owned_every_state_with(kind, dev, b.bound())?;
            }
            pr_info!(
                "rust_kernel_sg_dma: the transition matrix on {}, DMA-coherent: {}\n",
                name,
                coherent
            );
        }
        Ok(())
    }

    #[test]
    fn syncs_for_edu_are_skipped_if_coherent_and_not_bouncing() -> Result {
        let Some(edu) = Edu::get() else {
            return skip_unless_needed(
                &[Setup::Direct, Setup::Swiotlb, Setup::Iommu],
                "no bound edu device",
            );
        };
        let dev = edu.bound();
        // The first mapping through swiotlb makes the DMA API sync for the device.
        let t = SgTable::new_mapped_bound(dev, buffer(1, 0)?, DataDirection::ToDevice, GFP_KERNEL)?;
        // SAFETY: `dev` is a valid device.
        let skip = unsafe { bindings::dev_dma_skip_sync(dev.as_raw()) };
        drop(t);
        // edu's driver set its DMA mask, which decides from the device's coherence.
        assert_eq!(skip, dma_coherent(dev) && !bounces(dev));
        // What each set-up must give: skipped on x86_64's dma-direct (coherent), not where
        // edu bounces or, on arm64's direct set-up, is not coherent.
        match intended_setup() {
            Some(Setup::Direct) => assert_eq!(skip, !cfg!(CONFIG_ARM64)),
            Some(Setup::Swiotlb) => assert!(!skip),
            _ => (),
        }
        Ok(())
    }

    #[test]
    fn iommu_merges_segments() -> Result {
        let Some(edu) = Edu::get() else {
            return skip_unless_needed(&[Setup::Iommu], "no bound edu device");
        };
        if !edu.behind_iommu() {
            return skip_unless_needed(&[Setup::Iommu], "the edu device is not behind an IOMMU");
        }
        const PAGES: usize = 16;
        let mut t =
            SgTable::new_for_device(edu.bound(), spaced_pages(PAGES, GFP_KERNEL)?, GFP_KERNEL)?;
        assert_eq!(t.orig_nents(), PAGES);
        t.map(edu.bound(), DataDirection::Bidirectional)?;
        let nents = t.nents()?;
        // The IOMMU put the scattered pages at consecutive IOVAs: fewer DMA segments.
        assert!(nents < PAGES);
        assert_eq!(t.dma_iter()?.count(), nents);
        assert_eq!(dma_bytes(&t), Ok(PAGES * PAGE_SIZE));
        // Syncs and unmap go over `orig_nents` (DMA-API debug checks it). A range sync of merged
        // segments syncs the whole table: a merged segment is not physically contiguous.
        assert_eq!(t.sync_for_cpu(), Ok(()));
        assert_eq!(t.sync_for_device(), Ok(()));
        assert_eq!(t.sync_range_for_cpu(PAGE_SIZE - 8, 16), Ok(()));
        assert_eq!(t.sync_range_for_device(0, PAGE_SIZE), Ok(()));
        assert_eq!(t.unmap(), Ok(()));
        pr_info!(
            "rust_kernel_sg_dma: IOMMU merged {} CPU entries into {} DMA segments\n",
            PAGES,
            nents
        );
        Ok(())
    }

    #[test]
    fn big_chained_table() -> Result {
        const SIZE: usize = 256 << 20;
        let mut info = core::mem::MaybeUninit::<bindings::sysinfo>::zeroed();
        // SAFETY: `info` is valid for writing.
        unsafe { bindings::si_meminfo(info.as_mut_ptr()) };
        // SAFETY: `si_meminfo()` filled it in.
        let info = unsafe { info.assume_init() };
        if info.totalram.saturating_mul(info.mem_unit as usize) < 3 * SIZE {
            return skip_unless_needed(&[Setup::Iommu], "needs 768 MiB of RAM");
        }
        let dev = TestDevice::new(c"rust-sg-big")?;
        let mut buf = VVec::<u8>::with_capacity(SIZE, GFP_KERNEL)?;
        buf.resize(SIZE, 0, GFP_KERNEL)?;
        let mut t = SgTable::new_for_device(dev.bound(), buf, GFP_KERNEL)?;
        assert!(t.orig_nents() <= SIZE / PAGE_SIZE);
        assert_eq!(t.cpu_iter()?.count(), t.orig_nents());
        assert_eq!(t.size(), SIZE);
        t.map(dev.bound(), DataDirection::ToDevice)?;
        assert_eq!(t.dma_iter()?.count(), t.nents()?);
        assert_eq!(dma_bytes(&t), Ok(SIZE));
        t.unmap()?;
        pr_info!(
            "rust_kernel_sg_dma: 256 MiB table: {} CPU entries\n",
            t.orig_nents()
        );
        Ok(())
    }

    #[test]
    fn workers_build_map_and_drop_their_own_tables() -> Result {
        let dev = TestDevice::new(c"rust-sg-stress")?;
        let device: ARef<Device> = dev.bound().into();
        let work = |_| {
            let device = device.clone();
            Ok(move |shared: &Shared| {
                // SAFETY: The test keeps the device registered, so bound, until every worker is
                // done.
                let dev = unsafe { device.as_bound() };
                stress(dev, shared)
            })
        };
        fn stress(dev: &Device<Bound>, shared: &Shared) -> Result {
            for i in 0..50 {
                let mut t = SgTable::new(buffer(1 + i % 4, i as u8)?, GFP_KERNEL)?;
                t.map(dev, DataDirection::Bidirectional)?;
                let bytes: usize = t.dma_iter()?.map(|seg| seg.dma_len() as usize).sum();
                t.sync_for_cpu()?;
                t.sync_for_device()?;
                if bytes != t.size() {
                    return Err(EDOM);
                }
                shared.sum.add(bytes as u64, Relaxed);
                if i % 2 == 0 {
                    t.unmap()?;
                }
            }
            Ok(())
        }
        let shared = on_workers(4, work, |_| Ok(()))?;
        assert_eq!(shared.errors.load(Relaxed), 0);
        // Each worker maps 12 times 1 + 2 + 3 + 4 pages, then 1 + 2 more.
        assert_eq!(shared.sum.load(Relaxed), 4 * 123 * PAGE_SIZE as u64);
        Ok(())
    }

    #[test]
    fn one_table_iterated_by_many() -> Result {
        let dev = TestDevice::new(c"rust-sg-shared")?;
        let pages = 64;
        let table = Arc::new(
            SgTable::new_mapped(
                dev.bound(),
                spaced_pages(pages, GFP_KERNEL)?,
                DataDirection::ToDevice,
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
        let work = |_| {
            let t = table.clone();
            Ok(move |shared: &Shared| {
                for _ in 0..200 {
                    let bytes: usize = t.dma_iter()?.map(|seg| seg.dma_len() as usize).sum();
                    let cpu: usize = t.cpu_iter()?.map(|seg| seg.len()).sum();
                    shared.sum.add((bytes + cpu) as u64, Relaxed);
                }
                Ok(())
            })
        };
        let shared = on_workers(4, work, |_| Ok(()))?;
        assert_eq!(shared.errors.load(Relaxed), 0);
        assert_eq!(
            shared.sum.load(Relaxed),
            4 * 200 * 2 * (pages * PAGE_SIZE) as u64
        );
        assert!(table.is_mapped());
        Ok(())
    }

    #[test]
    fn unreachable_memory_fails_cleanly() -> Result {
        let dev = TestDevice::new(c"rust-sg-mask")?;
        if bounces(dev.bound()) {
            let needed = [Setup::Direct, Setup::Iommu];
            return skip_unless_needed(&needed, "bounce buffers would reach the memory");
        }
        // 16 MiB of reach (ZONE_DMA): the pages below are allocated above it. Where RAM
        // starts higher (arm64's virt: at 1 GiB), dma-direct refuses such a mask (EIO): there
        // is nothing to map beyond it.
        // SAFETY: `dev` is a valid device, and nothing of it is mapped yet.
        let masked = to_result(unsafe {
            bindings::dma_set_mask_and_coherent(dev.bound().as_raw(), (1 << 24) - 1)
        });
        if cfg!(CONFIG_ARM64) && masked == Err(EIO) {
            pr_info!("rust_kernel_sg_dma: a 24-bit DMA mask is refused below arm64's RAM\n");
            return Ok(());
        }
        masked?;
        let mut pages = KVec::new();
        for _ in 0..4 {
            let page = Page::alloc_page(GFP_KERNEL)?;
            pages.push(page, GFP_KERNEL)?;
        }
        let mut t = SgTable::new(pages, GFP_KERNEL)?;
        // dma-direct WARNs about the overflow, once: here, between the markers that tell the
        // log's readers it is expected. (A warning KUnit suppresses is not latched: it would
        // warn again below, and what a warning does may allocate, e.g. a stack depot page.)
        let mapped = complaining(|| t.map(dev.bound(), DataDirection::ToDevice));
        assert!(mapped.is_err());
        assert_ne!(mapped, Err(ENOMEM));
        // A failed `dma_map_sgtable()` allocates nothing: mapped again, without a warning now,
        // the allocation `fail-nth` points at is still to come afterwards.
        set_fail_nth(1);
        let again = t.map(dev.bound(), DataDirection::ToDevice);
        let untouched = set_fail_nth(0);
        assert_eq!(again, mapped);
        if cfg!(CONFIG_FAULT_INJECTION) {
            assert_eq!(untouched, 1);
        }
        assert_eq!(state(&t), Is::Unmapped);
        assert_eq!(t.dma_iter().err(), Some(EINVAL));
        pr_info!(
            "rust_kernel_sg_dma: mapping beyond the DMA mask failed with {:?}\n",
            mapped
        );
        Ok(())
    }

    /// A lifetime-bound mapping lasts while its table does; the borrow checker cannot see a
    /// leak (`KBox::leak()`, `core::mem::forget()`), which ends the borrow of the device and
    /// keeps the mapping. Memory stays safe, since the pages and the table leak with it; but
    /// its bounce slots stay taken (here, counted), and at unbind DMA-API debug reports the
    /// mapping as pending. Taking the table back and dropping it returns them.
    #[test]
    fn a_leaked_lifetime_bound_mapping_keeps_its_bounce_slots() -> Result {
        let dev = TestDevice::new(c"rust-sg-leak")?;
        if !bounces(dev.bound()) || !cfg!(CONFIG_DEBUG_FS) {
            return skip_unless_needed(&[Setup::Swiotlb], "no bounce buffers, or no debugfs");
        }
        let before = swiotlb_used_slots(dev.bound());
        let t = SgTable::new_mapped_bound(
            dev.bound(),
            buffer(4, 0)?,
            DataDirection::ToDevice,
            GFP_KERNEL,
        )?;
        // What safe code can do: nothing will drop the table, or unmap it.
        let leaked: *mut SgTable<'_> = KBox::into_raw(KBox::new(t, GFP_KERNEL)?);
        let leaking = swiotlb_used_slots(dev.bound());
        // Taken back before anything is asserted, so that a failure leaks nothing.
        // SAFETY: `leaked` came from `KBox::into_raw()` above and nothing else uses it; `dev`
        // is still bound.
        drop(unsafe { KBox::from_raw(leaked) });
        // Four pages, in 2 KiB slots.
        assert!(leaking >= before + 4 * PAGE_SIZE / 2048);
        assert_eq!(swiotlb_used_slots(dev.bound()), before);
        Ok(())
    }

    #[test]
    fn bounce_buffers_run_out() -> Result {
        const MAX_POOL: usize = 16 << 20;
        let dev = TestDevice::new(c"rust-sg-bounce")?;
        if !bounces(dev.bound()) || cfg!(CONFIG_SWIOTLB_DYNAMIC) {
            return skip_unless_needed(
                &[Setup::Swiotlb],
                "no bounce buffers, or a pool that grows",
            );
        }
        let pool = swiotlb_pool_size();
        if pool > MAX_POOL {
            let reason = "the bounce pool is bigger than 16 MiB (boot with swiotlb=4096,force)";
            return skip_unless_needed(&[Setup::Swiotlb], reason);
        }
        // More than the whole pool: mapping bounces entries until the pool runs out.
        let too_big = pool + (1 << 20);
        let mut big =
            SgTable::new_for_device(dev.bound(), buffer(too_big / PAGE_SIZE, 3)?, GFP_KERNEL)?;
        let mapped = big.map(dev.bound(), DataDirection::ToDevice);
        assert_eq!(mapped, Err(EIO));
        assert_eq!(ops(&big), expect(Err(EINVAL), too_big, Is::Unmapped));
        // What was bounced before it ran out has been given back (DMA-API debug cannot tell: it
        // only sees mappings that succeeded): all but 1 MiB of the pool maps.
        let fits = pool - (1 << 20);
        let mut most =
            SgTable::new_for_device(dev.bound(), buffer(fits / PAGE_SIZE, 4)?, GFP_KERNEL)?;
        assert_eq!(most.map(dev.bound(), DataDirection::ToDevice), Ok(()));
        assert_eq!(dma_bytes(&most), Ok(fits));
        assert_eq!(most.unmap(), Ok(()));
        // Trying again fails the same way, and changes nothing either.
        assert_eq!(big.map(dev.bound(), DataDirection::ToDevice), Err(EIO));
        assert_eq!(state(&big), Is::Unmapped);
        pr_info!(
            "rust_kernel_sg_dma: a {} KiB table ran out of a {} KiB bounce pool: {:?}\n",
            too_big >> 10,
            pool >> 10,
            mapped
        );
        Ok(())
    }

    #[test]
    fn unmap_uses_the_attributes_of_map() -> Result {
        use crate::dma::attrs::DMA_ATTR_SKIP_CPU_SYNC;
        let dev = TestDevice::new(c"rust-sg-attrs")?;
        let bounce = bounces(dev.bound());
        for kind in Kind::BOTH {
            let mut t = SgTable::new(buffer(1, 0)?, GFP_KERNEL)?;
            t.write_at(0, &[0x11])?;
            let (dir, attrs) = (DataDirection::FromDevice, DMA_ATTR_SKIP_CPU_SYNC);
            match kind {
                Kind::Devres => t.map_with_attrs(dev.bound(), dir, attrs)?,
                Kind::Lifetime => t.map_bound_with_attrs(dev.bound(), dir, attrs)?,
            }
            let seg = t.dma_iter()?.next().ok_or(ENOENT)?;
            // Act as the device, as `syncs_move_data_between_cpu_and_device` does.
            // SAFETY: `seg` is a mapped segment of RAM (the buffer or its bounce slot), which
            // stays mapped until `unmap()` below, after the view is dropped.
            unsafe { AsDevice::new(seg.dma_address(), 1) }?.write(0, 0x22);
            // Unmapping with `DMA_ATTR_SKIP_CPU_SYNC` too does not copy the bounce buffer back
            // (without bouncing, the device wrote the buffer itself).
            t.unmap()?;
            let mut byte = [0u8; 1];
            t.read_at(0, &mut byte)?;
            assert!(same(
                fmt!("{kind:?}"),
                byte[0],
                if bounce { 0x11 } else { 0x22 }
            ));
            pr_info!(
                "rust_kernel_sg_dma: unmap kept DMA_ATTR_SKIP_CPU_SYNC ({:?}){}\n",
                kind,
                if bounce { ": no copy-back" } else { "" }
            );
        }
        Ok(())
    }

    #[test]
    fn syncs_race_reads() -> Result {
        let dev = TestDevice::new(c"rust-sg-race-sync")?;
        let table = Arc::new(
            SgTable::new_mapped(
                dev.bound(),
                buffer(8, 3)?,
                DataDirection::Bidirectional,
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
        let work = |i: u32| {
            let t = table.clone();
            Ok(move |shared: &Shared| {
                let mut buf = [0u8; 64];
                for k in 0..500 {
                    if i % 2 == 0 {
                        t.sync_for_cpu()?;
                        t.sync_for_device()?;
                    } else {
                        t.read_at((k * 61) % (8 * PAGE_SIZE - 64), &mut buf)?;
                    }
                }
                shared.sum.add(1, Relaxed);
                Ok(())
            })
        };
        let shared = on_workers(4, work, |_| Ok(()))?;
        assert_eq!(shared.errors.load(Relaxed), 0);
        assert_eq!(shared.sum.load(Relaxed), 4);
        Ok(())
    }

    #[test]
    fn unbind_races_drop_unmap_syncs_and_iteration() -> Result {
        // Unbinding revokes every mapping while workers sync, iterate, unmap and drop theirs.
        // Each call either works or reports `ENODEV`; nothing is unmapped twice or leaked
        // (DMA-API debug, kmemleak), nothing is used after it was freed (KFENCE, KASAN).
        const WORKERS: u32 = 4;
        const TABLES: usize = 8;
        let dev = TestDevice::new(c"rust-sg-race-unbind")?;
        let mut sets = KVec::with_capacity(WORKERS as usize, GFP_KERNEL)?;
        for _ in 0..WORKERS {
            let mut tables = KVec::with_capacity(TABLES, GFP_KERNEL)?;
            for i in 0..TABLES {
                let dir = if i % 2 == 0 {
                    DataDirection::ToDevice
                } else {
                    DataDirection::Bidirectional
                };
                let t = SgTable::new_mapped(dev.bound(), buffer(1 + i % 3, 0)?, dir, GFP_KERNEL)?;
                tables.push(t, GFP_KERNEL)?;
            }
            sets.push(tables, GFP_KERNEL)?;
        }
        let work = |_| {
            let mut tables = sets.pop().ok_or(ENOENT)?;
            Ok(move |shared: &Shared| {
                // Until the unbind is seen (`ENODEV`), or for long enough that it must have come.
                for round in 0..100_000 {
                    let mut gone = false;
                    for t in tables.iter() {
                        for r in [
                            t.sync_for_cpu(),
                            t.sync_for_device(),
                            t.dma_iter().map(|it| {
                                shared.sum.add(it.count() as u64, Relaxed);
                            }),
                        ] {
                            match r {
                                Ok(()) => (),
                                Err(ENODEV) => gone = true,
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    // Now and then drop one table, and unmap and drop another, revoked or not.
                    if round % 256 == 255 {
                        drop(tables.pop());
                        if let Some(mut t) = tables.pop() {
                            t.unmap()?;
                            // A worker's assertion would not reach KUnit: an error does.
                            if t.unmap() != Err(EINVAL) {
                                return Err(EDOM);
                            }
                        }
                    }
                    if gone || tables.is_empty() {
                        return Ok(());
                    }
                }
                Err(ETIMEDOUT)
            })
        };
        let shared = on_workers(WORKERS, work, move |shared| {
            // Once every worker has iterated at least once (or a second has passed).
            for _ in 0..1000 {
                if shared.sum.load(Relaxed) >= u64::from(WORKERS) {
                    break;
                }
                fsleep(Delta::from_millis(1));
            }
            dev.unregister();
            Ok(())
        })?;
        assert_eq!(shared.errors.load(Relaxed), 0);
        pr_info!(
            "rust_kernel_sg_dma: unbind raced {} workers: {} segments iterated\n",
            WORKERS,
            shared.sum.load(Relaxed)
        );
        Ok(())
    }
}
