// SPDX-License-Identifier: GPL-2.0

//! KUnit tests for [`kernel::sg`](crate::sg), run on a device of the KUnit bus.
//!
//! Every source (borrowed by reference, borrowed with a kept owner, owned) is taken through
//! every state, and every operation is tried in each: what must fail fails with the right error
//! and leaves the state as it was. DMA-API debug, when enabled, checks the mappings themselves.

use crate::{
    alloc::Flags,
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
        AsPageIter,
        Page,
        PAGE_SIZE, //
    },
    prelude::*,
    sg::{
        Pages,
        SgTable,
        State, //
    },
    sync::{
        aref::ARef,
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
    },
    time::{
        delay::fsleep,
        Delta, //
    },
    workqueue,
};
use core::ptr::NonNull;

/// A device on the KUnit bus, bound to a stub driver, with a 32-bit DMA mask.
///
/// KUnit unregisters it when the test ends, unless [`TestDevice::unregister`] did.
struct TestDevice(NonNull<bindings::device>);

impl TestDevice {
    fn new(name: &CStr) -> Result<Self> {
        // SAFETY: Always safe to call; we run inside a KUnit test, so it is not NULL.
        let test = unsafe { bindings::kunit_get_current_test() };
        // SAFETY: `test` is the running test and `name` a C string, which KUnit copies.
        let dev =
            from_err_ptr(unsafe { bindings::kunit_device_register(test, name.as_char_ptr()) })?;
        let dev = NonNull::new(dev).ok_or(ENODEV)?;
        // SAFETY: `dev` is a registered device, so its bus is valid.
        dma_debug_watch(unsafe { (*dev.as_ptr()).bus });
        Ok(Self(dev))
    }

    fn bound(&self) -> &Device<Bound> {
        // SAFETY: `kunit_device_register()` returned a registered device bound to its stub
        // driver; it stays bound until `unregister()` consumes `self`, or the test ends,
        // after every borrow of `self` is gone.
        unsafe { Device::<Normal>::from_raw(self.0.as_ptr()).as_bound() }
    }

    /// Unbinds and unregisters the device now.
    fn unregister(self) {
        // SAFETY: `self.0` was registered by `kunit_device_register()` in the current test
        // and is unregistered only here, once, consuming `self`.
        unsafe {
            bindings::kunit_device_unregister(bindings::kunit_get_current_test(), self.0.as_ptr())
        };
    }
}

/// Has DMA-API debug check the KUnit bus as it checks PCI: at driver unbind, any mapping a
/// device still holds is reported (with a `WARNING:`, which fails `make test`).
fn dma_debug_watch(bus: *const bindings::bus_type) {
    #[cfg(CONFIG_DMA_API_DEBUG)]
    {
        use crate::sync::atomic::{
            AtomicFlag,
            Relaxed, //
        };

        extern "C" {
            // Built in (kernel/dma/debug.c) but not exported, as is this test.
            fn dma_debug_add_bus(bus: *const bindings::bus_type);
        }
        static WATCHED: AtomicFlag = AtomicFlag::new(false);
        if !WATCHED.xchg(true, Relaxed) {
            // SAFETY: `bus` is a registered bus, which stays registered; the notifier is
            // added once per boot.
            unsafe { dma_debug_add_bus(bus) };
        }
    }
    #[cfg(not(CONFIG_DMA_API_DEBUG))]
    let _ = bus;
}

/// A vmalloc buffer of `pages` pages filled with a pattern.
fn buffer(pages: usize, seed: u8) -> Result<VVec<u8>> {
    let size = pages * PAGE_SIZE;
    let mut buf = VVec::with_capacity(size, GFP_KERNEL)?;
    buf.resize(size, 0, GFP_KERNEL)?;
    for (i, b) in buf.iter_mut().enumerate() {
        // CAST: Truncation wanted: a repeating pattern.
        *b = (i as u8) ^ seed;
    }
    Ok(buf)
}

/// The state of `t` as a name, with a revoked mapping told apart.
fn state(t: &SgTable<'_>) -> &'static str {
    match t.state() {
        State::Unmapped => "unmapped",
        State::Borrowed => "borrowed",
        State::Managed(m) if m.is_live() => "managed",
        State::Managed(_) => "revoked",
    }
}

/// What every operation that must not change the state returned, and the state afterwards.
#[derive(PartialEq, Debug)]
struct Ops {
    dma: Result,
    sync: [Result; 2],
    cpu_bytes: usize,
    state: &'static str,
}

fn ops(t: &SgTable<'_>) -> Ops {
    let dma = t.dma_iter().map(|_| ());
    let nents = t.nents().map(|_| ());
    Ops {
        // DMA iteration and `nents()` check the same thing; report a disagreement.
        dma: if dma == nents { dma } else { Err(EDOM) },
        sync: [t.sync_for_cpu(), t.sync_for_device()],
        cpu_bytes: t.cpu_iter().map(|seg| seg.len()).sum(),
        state: state(t),
    }
}

fn expect(dma: Result, sync: Result, cpu_bytes: usize, state: &'static str) -> Ops {
    Ops {
        dma,
        sync: [sync, sync],
        cpu_bytes,
        state,
    }
}

/// `Iterator::collect()` into a [`KVec`].
fn collect<T>(iter: impl Iterator<Item = T>) -> Result<KVec<T>> {
    let mut v = KVec::new();
    for x in iter {
        v.push(x, GFP_KERNEL)?;
    }
    Ok(v)
}

/// The DMA bytes of a table, through the one code path any table takes.
fn dma_bytes(t: &SgTable<'_>) -> Result<usize> {
    Ok(t.dma_iter()?.map(|seg| seg.dma_len() as usize).sum())
}

/// Whether `dev` has swiotlb bounce buffers (`is_swiotlb_active()`, not in the bindings).
fn swiotlb_active(dev: &Device) -> bool {
    #[cfg(CONFIG_SWIOTLB)]
    {
        extern "C" {
            // `struct device *`, as `c_void`: bindgen's `struct device` is not FFI-safe to rustc.
            fn is_swiotlb_active(dev: *mut c_void) -> bool;
        }
        // SAFETY: `dev` is a valid device.
        unsafe { is_swiotlb_active(dev.as_raw().cast()) }
    }
    #[cfg(not(CONFIG_SWIOTLB))]
    {
        let _ = dev;
        false
    }
}

/// The size of the bounce pool in bytes, as booted with `swiotlb=` (0 without swiotlb).
fn swiotlb_pool_size() -> usize {
    #[cfg(CONFIG_SWIOTLB)]
    {
        extern "C" {
            // Not in the bindings.
            fn swiotlb_size_or_default() -> c_ulong;
        }
        // SAFETY: Reads a value set during boot.
        unsafe { swiotlb_size_or_default() as usize }
    }
    #[cfg(not(CONFIG_SWIOTLB))]
    0
}

/// `n` pages the test allocates one by one, none physically next to the one before, so that
/// each gets a CPU entry of its own.
fn spaced_pages(n: usize, flags: Flags) -> Result<KVec<Page>> {
    let mut pages = KVec::with_capacity(n, flags)?;
    // Hold on to the pages in between, or the allocator hands each one out again at once.
    let mut between = KVec::with_capacity(n, flags)?;
    for _ in 0..n {
        pages.push(Page::alloc_page(flags)?, flags)?;
        between.push(Page::alloc_page(flags)?, flags)?;
    }
    Ok(pages)
}

/// Marks the running test skipped (there is no Rust API for `kunit_skip()` yet).
fn skip(reason: &str) {
    pr_info!("skipped: {}\n", reason);
    // SAFETY: We run inside a KUnit test, whose `struct kunit` stays valid while it runs; the
    // wrapper set `status` before calling us and reads it after we return.
    unsafe { (*bindings::kunit_get_current_test()).status = bindings::kunit_status_KUNIT_SKIPPED };
}

/// The edu PCI device if it is bound to a driver (the rust_sg sample), with its reference.
struct Edu(NonNull<bindings::pci_dev>);

impl Edu {
    fn get() -> Option<Self> {
        // SAFETY: Takes a reference on the device found, if any; `Drop` puts it.
        let pdev = NonNull::new(unsafe {
            bindings::pci_get_device(0x1234, 0x11e8, core::ptr::null_mut())
        })?;
        let edu = Self(pdev);
        // SAFETY: `pdev` is valid while we hold our reference.
        let bound = unsafe { !(*edu.raw()).driver.is_null() };
        bound.then_some(edu)
    }

    fn raw(&self) -> *mut bindings::device {
        // SAFETY: `self.0` is valid while we hold our reference.
        unsafe { &raw mut (*self.0.as_ptr()).dev }
    }

    fn bound(&self) -> &Device<Bound> {
        // SAFETY: The device was bound when found, and stays bound while the test runs: the
        // tests run during boot, before user space could unbind it, or later from qemu/init,
        // which unbinds it only after the run has finished.
        unsafe { Device::<Normal>::from_raw(self.raw()).as_bound() }
    }

    fn behind_iommu(&self) -> bool {
        #[cfg(CONFIG_IOMMU_API)]
        // SAFETY: The device is valid while we hold our reference.
        return unsafe { !(*self.raw()).iommu_group.is_null() };
        #[cfg(not(CONFIG_IOMMU_API))]
        false
    }
}

impl Drop for Edu {
    fn drop(&mut self) {
        // SAFETY: Puts the reference `pci_get_device()` took.
        unsafe { bindings::pci_dev_put(self.0.as_ptr()) };
    }
}

#[macros::kunit_tests(rust_kernel_sg)]
mod kunit {
    use super::*;

    #[test]
    fn owned_every_state() -> Result {
        use DataDirection::{
            FromDevice,
            ToDevice, //
        };
        let dev = TestDevice::new(c"rust-sg-owned")?;
        let dev2 = TestDevice::new(c"rust-sg-owned-2")?;
        let size = 8 * PAGE_SIZE;
        let mut t = SgTable::new(buffer(8, 1)?, GFP_KERNEL)?;

        // Unmapped: no DMA view, nothing to unmap or sync.
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(state(&t), "unmapped");
        assert_eq!(t.direction(), None);

        // CPU access to our own memory; out of range changes nothing.
        let mut byte = [0u8; 1];
        assert_eq!(t.read_at(PAGE_SIZE + 3, &mut byte), Ok(()));
        assert_eq!(byte[0], ((PAGE_SIZE + 3) as u8) ^ 1);
        assert_eq!(t.write_at(PAGE_SIZE + 3, &[0xee]), Ok(()));
        assert_eq!(t.read_at(PAGE_SIZE + 3, &mut byte), Ok(()));
        assert_eq!(byte[0], 0xee);
        assert_eq!(t.write_at(size - 1, &[1, 2]), Err(ERANGE));
        assert_eq!(t.read_at(size, &mut byte), Err(ERANGE));
        assert_eq!(t.read_at(usize::MAX, &mut byte), Err(ERANGE));
        assert_eq!(t.read_at(size - 1, &mut byte), Ok(()));
        assert_eq!(byte[0], ((size - 1) as u8) ^ 1);

        // Unmapped -> Managed.
        assert_eq!(t.map(dev.bound(), ToDevice), Ok(()));
        assert_eq!(ops(&t), expect(Ok(()), Ok(()), size, "managed"));
        assert_eq!(t.direction(), Some(ToDevice));
        assert!(t.is_mapped());
        assert_eq!(dma_bytes(&t), Ok(size));

        // Managed: a second map is refused and changes nothing.
        assert_eq!(t.map(dev.bound(), FromDevice), Err(EINVAL));
        assert_eq!(t.map(dev2.bound(), ToDevice), Err(EINVAL));
        assert_eq!(t.direction(), Some(ToDevice));
        assert_eq!(ops(&t), expect(Ok(()), Ok(()), size, "managed"));

        // Managed -> Unmapped, and the second unmap is refused.
        assert_eq!(t.unmap(), Ok(()));
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert!(!t.is_mapped());

        // Remapping for another device and direction works.
        assert_eq!(t.map(dev2.bound(), FromDevice), Ok(()));
        assert_eq!(t.direction(), Some(FromDevice));
        if let State::Managed(m) = t.state() {
            assert_eq!(m.device().as_raw(), dev2.bound().as_raw());
        }
        assert_eq!(dma_bytes(&t), Ok(size));

        // Dropping a managed table unmaps it; DMA-API debug reports a leaked mapping at unbind.
        drop(t);
        Ok(())
    }

    #[test]
    fn borrowed_every_state() -> Result {
        let dev = TestDevice::new(c"rust-sg-borrowed")?;
        let size = 4 * PAGE_SIZE;
        let mut owner = SgTable::new(buffer(4, 2)?, GFP_KERNEL)?;

        // SAFETY: `owner` outlives `t`, and nobody maps or changes it while `t` lives.
        let mut t = unsafe { SgTable::from_raw(owner.as_raw()) };
        assert_eq!(t.as_raw(), owner.as_raw());
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        // Not ours to write, so not ours to map.
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.write_at(0, &[0]), Err(EINVAL));
        let mut byte = [0u8; 1];
        assert_eq!(t.read_at(5, &mut byte), Ok(()));
        assert_eq!(byte[0], 5 ^ 2);
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        // Dropping it frees nothing: the owner still works.
        drop(t);
        assert_eq!(
            ops(&owner),
            expect(Err(EINVAL), Err(EINVAL), size, "unmapped")
        );

        // The owner maps its table (like DRM GEM shmem) and lends it out mapped.
        owner.map(dev.bound(), DataDirection::Bidirectional)?;
        // SAFETY: `owner` outlives `t` and keeps the table mapped and unchanged meanwhile.
        let mut t = unsafe { SgTable::from_raw_mapped(owner.as_raw()) };
        assert_eq!(ops(&t), expect(Ok(()), Err(EINVAL), size, "borrowed"));
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(t.direction(), None);
        assert_eq!(ops(&t), expect(Ok(()), Err(EINVAL), size, "borrowed"));
        let mut ours = t.dma_iter()?;
        for seg in owner.dma_iter()? {
            assert_eq!(ours.next(), Some(seg));
        }
        assert_eq!(ours.next(), None);
        // Dropping the borrowed view does not unmap the owner's mapping.
        drop(t);
        assert_eq!(ops(&owner), expect(Ok(()), Ok(()), size, "managed"));
        Ok(())
    }

    #[test]
    fn kept_owner_every_state() -> Result {
        let dev = TestDevice::new(c"rust-sg-kept")?;
        let size = 3 * PAGE_SIZE;

        let owner = Arc::new(SgTable::new(buffer(3, 3)?, GFP_KERNEL)?, GFP_KERNEL)?;
        let raw = owner.as_raw();
        // SAFETY: The `Arc` keeps the table alive, and nobody maps or changes it.
        let mut t = unsafe { SgTable::from_owner(owner.clone(), raw, GFP_KERNEL) }?;
        // The kept owner, not `owner`, now keeps the table alive.
        drop(owner);
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        drop(t);

        let mut mapped = SgTable::new(buffer(3, 4)?, GFP_KERNEL)?;
        mapped.map(dev.bound(), DataDirection::FromDevice)?;
        let owner = Arc::new(mapped, GFP_KERNEL)?;
        let raw = owner.as_raw();
        // SAFETY: The `Arc` keeps the table alive and mapped (the device stays bound), and
        // nobody changes it.
        let mut t = unsafe { SgTable::from_owner_mapped(owner, raw, GFP_KERNEL) }?;
        assert_eq!(ops(&t), expect(Ok(()), Err(EINVAL), size, "borrowed"));
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(ops(&t), expect(Ok(()), Err(EINVAL), size, "borrowed"));
        assert_eq!(dma_bytes(&t), Ok(size));
        // Dropping `t` drops the last `Arc`, which unmaps and frees the owner's table.
        drop(t);

        // SAFETY: A NULL table is refused before anything is kept.
        let null = unsafe { SgTable::from_owner((), core::ptr::null_mut(), GFP_KERNEL) };
        assert_eq!(null.err(), Some(EINVAL));
        Ok(())
    }

    #[test]
    fn empty_buffers_are_refused() {
        assert_eq!(
            SgTable::new(VVec::<u8>::new(), GFP_KERNEL).err(),
            Some(EINVAL)
        );
        assert_eq!(
            SgTable::new(KVec::<Page>::new(), GFP_KERNEL).err(),
            Some(EINVAL)
        );
    }

    #[test]
    fn mapped_entries_match_a_c_walk() -> Result {
        let dev = TestDevice::new(c"rust-sg-walk")?;
        let pages = 16;
        let size = pages * PAGE_SIZE;
        let mut buf = buffer(pages, 5)?;
        let mut buf_pages = KVec::new();
        for page in buf.page_iter() {
            buf_pages.push(page.as_ptr(), GFP_KERNEL)?;
        }
        let t = SgTable::new_mapped(dev.bound(), buf, DataDirection::ToDevice, GFP_KERNEL)?;
        let sgt = t.as_raw();

        // The DMA view against `for_each_sgtable_dma_sg()` written out with the C helpers.
        // SAFETY: `sgt` is valid and mapped while `t` lives.
        let (mut sg, nents) = unsafe { ((*sgt).sgl, (*sgt).nents) };
        assert!(nents > 0);
        assert_eq!(t.nents(), Ok(nents as usize));
        let mut ours = t.dma_iter()?;
        let mut total = 0usize;
        for _ in 0..nents {
            // SAFETY: `sg` is one of the `nents` mapped entries of `sgt`.
            let (addr, len) = unsafe { (bindings::sg_dma_address(sg), bindings::sg_dma_len(sg)) };
            let seg = ours.next().ok_or(ENOENT)?;
            assert_eq!(seg.dma_address(), addr);
            assert_eq!(seg.dma_len(), len);
            total += len as usize;
            // SAFETY: As above.
            sg = unsafe { bindings::sg_next(sg) };
        }
        assert!(ours.next().is_none());
        assert_eq!(total, size);

        // The CPU view against `for_each_sgtable_sg()`, and page by page against the buffer.
        // SAFETY: `dev` is bound.
        let max = unsafe { bindings::dma_get_max_seg_size(dev.bound().as_raw()) } as usize;
        // SAFETY: `sgt` is valid while `t` lives.
        let (mut sg, orig_nents) = unsafe { ((*sgt).sgl, (*sgt).orig_nents) };
        assert_eq!(t.orig_nents(), orig_nents as usize);
        let mut i = 0;
        let mut cpu = t.cpu_iter();
        for _ in 0..orig_nents {
            let seg = cpu.next().ok_or(ENOENT)?;
            // SAFETY: `sg` is one of the `orig_nents` entries of `sgt`.
            let (page, offset, len) =
                unsafe { (bindings::sg_page(sg), (*sg).offset, (*sg).length) };
            assert_eq!(seg.page().as_ptr(), page);
            assert_eq!(seg.offset(), offset as usize);
            assert_eq!(seg.len(), len as usize);
            assert!(seg.len() <= max);
            for k in 0..seg.len() / PAGE_SIZE {
                assert_eq!(Some(&seg.page().as_ptr().wrapping_add(k)), buf_pages.get(i));
                i += 1;
            }
            // SAFETY: As above.
            sg = unsafe { bindings::sg_next(sg) };
        }
        assert!(cpu.next().is_none());
        assert_eq!(i, pages);
        Ok(())
    }

    #[test]
    fn chained_table() -> Result {
        // More entries than one page of `struct scatterlist` holds: every other page, so no two
        // are physically contiguous and none merge.
        const PAGES: usize = 512;
        let per_page = PAGE_SIZE / core::mem::size_of::<bindings::scatterlist>();
        let dev = TestDevice::new(c"rust-sg-chain")?;
        let mut t = SgTable::new(spaced_pages(PAGES, GFP_KERNEL)?, GFP_KERNEL)?;
        assert!(t.orig_nents() > per_page);
        assert_eq!(t.cpu_iter().count(), t.orig_nents());
        assert_eq!(
            ops(&t),
            expect(Err(EINVAL), Err(EINVAL), PAGES * PAGE_SIZE, "unmapped")
        );

        t.map(dev.bound(), DataDirection::Bidirectional)?;
        assert_eq!(
            ops(&t),
            expect(Ok(()), Ok(()), PAGES * PAGE_SIZE, "managed")
        );
        assert_eq!(t.dma_iter()?.count(), t.nents()?);
        assert_eq!(dma_bytes(&t), Ok(PAGES * PAGE_SIZE));
        Ok(())
    }

    #[test]
    fn one_vec_of_mixed_tables() -> Result {
        use DataDirection::{
            Bidirectional,
            FromDevice,
            ToDevice, //
        };
        let dev = TestDevice::new(c"rust-sg-mixed")?;
        let p = PAGE_SIZE;
        let mut tables: KVec<SgTable<'static>> = KVec::new();

        tables.push(SgTable::new(buffer(2, 6)?, GFP_KERNEL)?, GFP_KERNEL)?;
        tables.push(
            SgTable::new_mapped(dev.bound(), buffer(3, 7)?, ToDevice, GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        let owner = Arc::new(
            SgTable::new_mapped(dev.bound(), buffer(5, 8)?, FromDevice, GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        // SAFETY: The kept `Arc` keeps the table alive and mapped (the device stays bound).
        let kept =
            unsafe { SgTable::from_owner_mapped(owner.clone(), owner.as_raw(), GFP_KERNEL) }?;
        tables.push(kept, GFP_KERNEL)?;
        let owner2 = Arc::new(SgTable::new(buffer(7, 9)?, GFP_KERNEL)?, GFP_KERNEL)?;
        // SAFETY: The kept `Arc` keeps the table alive, and nobody maps it.
        let kept = unsafe { SgTable::from_owner(owner2.clone(), owner2.as_raw(), GFP_KERNEL) }?;
        tables.push(kept, GFP_KERNEL)?;

        let states = collect(tables.iter().map(state))?;
        assert_eq!(
            &states[..],
            &["unmapped", "managed", "borrowed", "unmapped"][..]
        );
        let cpu = collect(
            tables
                .iter()
                .map(|t| t.cpu_iter().map(|s| s.len()).sum::<usize>()),
        )?;
        assert_eq!(&cpu[..], &[2 * p, 3 * p, 5 * p, 7 * p][..]);
        let dma = collect(tables.iter().map(dma_bytes))?;
        assert_eq!(
            &dma[..],
            &[Err(EINVAL), Ok(3 * p), Ok(5 * p), Err(EINVAL)][..]
        );

        // Map whatever can be mapped, through the same code path.
        let mapped = collect(tables.iter_mut().map(|t| t.map(dev.bound(), Bidirectional)))?;
        assert_eq!(
            &mapped[..],
            &[Ok(()), Err(EINVAL), Err(EINVAL), Err(EINVAL)][..]
        );
        let states = collect(tables.iter().map(state))?;
        assert_eq!(
            &states[..],
            &["managed", "managed", "borrowed", "unmapped"][..]
        );
        let dma = collect(tables.iter().map(dma_bytes))?;
        assert_eq!(
            &dma[..],
            &[Ok(2 * p), Ok(3 * p), Ok(5 * p), Err(EINVAL)][..]
        );

        // Tables move freely, e.g. out of the vector.
        let last = tables.pop().ok_or(ENOENT)?;
        assert_eq!(last.as_raw(), owner2.as_raw());
        drop(tables);
        drop(last);
        Ok(())
    }

    #[test]
    fn unbind_while_mapped() -> Result {
        use DataDirection::{
            Bidirectional,
            FromDevice,
            ToDevice, //
        };
        let size = 4 * PAGE_SIZE;
        let dev = TestDevice::new(c"rust-sg-unbind")?;
        let mut a = SgTable::new_mapped(dev.bound(), buffer(4, 10)?, Bidirectional, GFP_KERNEL)?;
        let b = SgTable::new_mapped(dev.bound(), buffer(4, 11)?, ToDevice, GFP_KERNEL)?;
        assert_eq!(ops(&a), expect(Ok(()), Ok(()), size, "managed"));

        // Unbinding releases both mappings; the tables live on.
        dev.unregister();
        assert_eq!(ops(&a), expect(Err(ENODEV), Err(ENODEV), size, "revoked"));
        assert_eq!(ops(&b), expect(Err(ENODEV), Err(ENODEV), size, "revoked"));
        assert!(!a.is_mapped());
        assert_eq!(a.direction(), Some(Bidirectional));

        // Still `Managed` (if revoked): a new map is refused and changes nothing.
        let dev2 = TestDevice::new(c"rust-sg-unbind-2")?;
        assert_eq!(a.map(dev2.bound(), FromDevice), Err(EINVAL));
        assert_eq!(state(&a), "revoked");

        // Unmapping does not unmap a second time (DMA-API debug would report it), and the table
        // can be mapped again for another device.
        assert_eq!(a.unmap(), Ok(()));
        assert_eq!(ops(&a), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        assert_eq!(a.map(dev2.bound(), FromDevice), Ok(()));
        assert_eq!(ops(&a), expect(Ok(()), Ok(()), size, "managed"));
        assert_eq!(dma_bytes(&a), Ok(size));

        // Nor does dropping a revoked table.
        drop(b);
        Ok(())
    }
}

/// The tests whose outcome depends on the DMA set-up of the boot: dma-direct, swiotlb bounce
/// buffers, an IOMMU. Each adapts its expectations to the set-up it finds, and says which.
#[macros::kunit_tests(rust_kernel_sg_dma)]
mod dma {
    use super::*;

    #[test]
    fn syncs_move_data_between_cpu_and_device() -> Result {
        let dev = TestDevice::new(c"rust-sg-sync")?;
        let bounce = swiotlb_active(dev.bound());
        let mut t = SgTable::new(buffer(2, 0)?, GFP_KERNEL)?;
        let mut byte = [0u8; 1];

        // What the CPU wrote before mapping reaches the device at map time.
        t.write_at(0, &[0x11; 64])?;
        t.map(dev.bound(), DataDirection::Bidirectional)?;
        let seg = t.dma_iter()?.next().ok_or(ENOENT)?;
        // Act as the device: without an IOMMU the DMA address is the physical address.
        // SAFETY: `seg` is a mapped segment of RAM (the buffer or its bounce slot).
        let device =
            unsafe { bindings::memremap(seg.dma_address(), 64, bindings::MEMREMAP_WB as c_ulong) };
        let device: *mut u8 = NonNull::new(device).ok_or(ENOMEM)?.as_ptr().cast();
        // SAFETY: `device` maps the 64 first bytes of the segment, which stays mapped until
        // `unmap()` below; the device side is only touched through it.
        let dev_read = |i: usize| unsafe { device.add(i).read_volatile() };
        // SAFETY: As above.
        let dev_write = |i: usize, v: u8| unsafe { device.add(i).write_volatile(v) };
        assert_eq!(dev_read(0), 0x11);

        // What the device writes reaches the CPU at `sync_for_cpu()`, not before (if bounced).
        dev_write(0, 0x22);
        t.read_at(0, &mut byte)?;
        assert_eq!(byte[0], if bounce { 0x11 } else { 0x22 });
        t.sync_for_cpu()?;
        t.read_at(0, &mut byte)?;
        assert_eq!(byte[0], 0x22);

        // What the CPU writes reaches the device at `sync_for_device()`, not before.
        t.write_at(1, &[0x33])?;
        assert_eq!(dev_read(1), if bounce { 0x11 } else { 0x33 });
        t.sync_for_device()?;
        assert_eq!(dev_read(1), 0x33);

        // What the device writes last reaches the CPU at unmap.
        dev_write(2, 0x44);
        // SAFETY: `device` came from `memremap()` above and is not used after this.
        unsafe { bindings::memunmap(device.cast()) };
        t.unmap()?;
        t.read_at(2, &mut byte)?;
        assert_eq!(byte[0], 0x44);
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

    #[test]
    fn iommu_merges_segments() -> Result {
        let Some(edu) = Edu::get() else {
            skip("no bound edu device");
            return Ok(());
        };
        if !edu.behind_iommu() {
            skip("the edu device is not behind an IOMMU");
            return Ok(());
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
        // Syncs and unmap go over `orig_nents` (DMA-API debug checks it).
        assert_eq!(t.sync_for_cpu(), Ok(()));
        assert_eq!(t.sync_for_device(), Ok(()));
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
            skip("needs 768 MiB of RAM");
            return Ok(());
        }
        let dev = TestDevice::new(c"rust-sg-big")?;
        let buf = VVec::<u8>::with_capacity(SIZE, GFP_KERNEL)?;
        let mut t = SgTable::new_for_device(dev.bound(), buf, GFP_KERNEL)?;
        assert!(t.orig_nents() <= SIZE / PAGE_SIZE);
        assert_eq!(t.cpu_iter().count(), t.orig_nents());
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

    /// What the workers of a stress test share.
    struct Shared {
        done: Atomic<u32>,
        errors: Atomic<u32>,
        sum: Atomic<u64>,
    }

    /// Runs `work` on `n` workers of the unbound workqueue (kthreads) and waits for them.
    fn on_workers(
        n: u32,
        work: impl Fn(&Shared) -> Result + Clone + Send + 'static,
    ) -> Result<Arc<Shared>> {
        let shared = Arc::new(
            Shared {
                done: Atomic::new(0),
                errors: Atomic::new(0),
                sum: Atomic::new(0),
            },
            GFP_KERNEL,
        )?;
        for _ in 0..n {
            let (shared, work) = (shared.clone(), work.clone());
            workqueue::system_unbound().try_spawn(GFP_KERNEL, move || {
                if work(&shared).is_err() {
                    shared.errors.add(1, Relaxed);
                }
                shared.done.add(1, Relaxed);
            })?;
        }
        // The workers borrow nothing of ours but may use the test's device: wait for all.
        while shared.done.load(Relaxed) < n {
            fsleep(Delta::from_millis(5));
        }
        Ok(shared)
    }

    #[test]
    fn workers_build_map_and_drop_their_own_tables() -> Result {
        let dev = TestDevice::new(c"rust-sg-stress")?;
        let device: ARef<Device> = dev.bound().into();
        let shared = on_workers(4, move |shared| {
            // SAFETY: The test keeps the device registered, so bound, until every worker is done.
            let dev = unsafe { device.as_bound() };
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
        })?;
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
        let t = table.clone();
        let shared = on_workers(4, move |shared| {
            for _ in 0..200 {
                let bytes: usize = t.dma_iter()?.map(|seg| seg.dma_len() as usize).sum();
                let cpu: usize = t.cpu_iter().map(|seg| seg.len()).sum();
                shared.sum.add((bytes + cpu) as u64, Relaxed);
            }
            Ok(())
        })?;
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
        if swiotlb_active(dev.bound()) {
            skip("bounce buffers would reach the memory");
            return Ok(());
        }
        // 16 MiB of reach (ZONE_DMA): the pages below are allocated above it.
        // SAFETY: `dev` is a valid device, and nothing of it is mapped yet.
        to_result(unsafe {
            bindings::dma_set_mask_and_coherent(dev.bound().as_raw(), (1 << 24) - 1)
        })?;
        let mut pages = KVec::new();
        for _ in 0..4 {
            let page = Page::alloc_page(GFP_KERNEL)?;
            pages.push(page, GFP_KERNEL)?;
        }
        let mut t = SgTable::new(pages, GFP_KERNEL)?;
        // dma-direct WARNs once about the overflow: results.py ignores complaints between
        // these two lines, and only there.
        pr_info!("sg-test: expected warning begin\n");
        let mapped = t.map(dev.bound(), DataDirection::ToDevice);
        pr_info!("sg-test: expected warning end\n");
        assert!(mapped.is_err());
        assert_eq!(state(&t), "unmapped");
        assert_eq!(t.dma_iter().err(), Some(EINVAL));
        pr_info!(
            "rust_kernel_sg_dma: mapping beyond the DMA mask failed with {:?}\n",
            mapped
        );
        Ok(())
    }

    #[test]
    fn bounce_buffers_run_out() -> Result {
        const MAX_POOL: usize = 16 << 20;
        let dev = TestDevice::new(c"rust-sg-bounce")?;
        if !swiotlb_active(dev.bound()) || cfg!(CONFIG_SWIOTLB_DYNAMIC) {
            skip("no bounce buffers, or a pool that grows");
            return Ok(());
        }
        let pool = swiotlb_pool_size();
        if pool > MAX_POOL {
            skip("the bounce pool is bigger than 16 MiB (make test boots with swiotlb=4096,force)");
            return Ok(());
        }
        // More than the whole pool: mapping bounces entries until the pool runs out.
        let too_big = pool + (1 << 20);
        let mut big =
            SgTable::new_for_device(dev.bound(), buffer(too_big / PAGE_SIZE, 3)?, GFP_KERNEL)?;
        let mapped = big.map(dev.bound(), DataDirection::ToDevice);
        assert_eq!(mapped, Err(EIO));
        assert_eq!(
            ops(&big),
            expect(Err(EINVAL), Err(EINVAL), too_big, "unmapped")
        );
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
        assert_eq!(state(&big), "unmapped");
        pr_info!(
            "rust_kernel_sg_dma: a {} KiB table ran out of a {} KiB bounce pool: {:?}\n",
            too_big >> 10,
            pool >> 10,
            mapped
        );
        Ok(())
    }
}

/// Makes the `nth` allocation of this task from now on fail (0: none), as writing
/// /proc/self/fail-nth does; returns what was left of the previous count.
fn set_fail_nth(nth: u32) -> u32 {
    #[cfg(CONFIG_FAULT_INJECTION)]
    // SAFETY: Only changes the fault-injection counter of the running task.
    return unsafe { bindings::set_current_fail_nth(nth) };
    #[cfg(not(CONFIG_FAULT_INJECTION))]
    {
        let _ = nth;
        0
    }
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

/// Fault injection: every allocation of owned construction and of mapping fails in turn, and
/// each time the call returns `ENOMEM`, the table is as it was, and nothing leaks (DMA-API debug
/// checks the mappings when the devices are unbound, kmemleak scans at the end of the boot).
///
/// By default failslab and fail_page_alloc leave alone allocations that may sleep, and single
/// pages; lowering that takes debugfs, which nobody can write while the tests run during boot.
/// Then the tests build with `GFP_NOWAIT` and miss the page and the `Devres` of a mapping (they
/// must not skip: KUnit never runs a skipped case again); `qemu/init` arms both and runs the
/// suite again, through `/sys/kernel/debug/kunit/rust_kernel_sg_fault/run`, where every step
/// fails.
#[macros::kunit_tests(rust_kernel_sg_fault)]
mod fault {
    use super::*;

    /// Runs `f` on a KUnit device, then on the edu device if it is bound and can reach all of
    /// memory (its 28-bit mask needs the IOMMU or bounce buffers), with the allocation flags to
    /// build with, and a name for the log.
    ///
    /// The tests map `ToDevice`: for mappings a device may write, DMA-API debug tracks
    /// cachelines in a radix tree, and it disables itself when that allocation fails. The tests
    /// are about our allocations, and need the checker.
    fn with_devices(f: impl Fn(&Device<Bound>, Flags, &str) -> Result) -> Result {
        let flags = injectable_flags();
        let dev = TestDevice::new(c"rust-sg-fault")?;
        f(dev.bound(), flags, "kunit device")?;
        dev.unregister();
        // Bounce buffers do in the swiotlb boot of `make test`: `swiotlb=force`, and all of
        // its 256 MiB of RAM, the pool included, within the 28 bits.
        let reaches_all = |e: &Edu| e.behind_iommu() || swiotlb_active(e.bound());
        if let Some(pdev) = Edu::get().filter(reaches_all) {
            f(pdev.bound(), flags, "edu")?;
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
                        assert_eq!(state(&t), "managed");
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
            // The page list, the entries (a page and a kmalloc chunk when chained), the box for
            // table and pages, the `Devres` of the mapping; unarmed, neither page nor `Devres`.
            let all = flags == GFP_KERNEL;
            assert!(chained.failed >= if all { 5 } else { 3 });
            assert!(vmalloc.failed >= if all { 4 } else { 3 });
            pr_info!(
                "rust_kernel_sg_fault: new_mapped() on {}{}: ENOMEM {} + {}, absorbed {} + {}\n",
                name,
                armed(flags),
                chained.failed,
                vmalloc.failed,
                chained.absorbed,
                vmalloc.absorbed
            );
            Ok(())
        })
    }

    #[test]
    fn a_failed_map_leaves_the_table_unmapped() -> Result {
        with_devices(|dev, flags, name| {
            // Through an IOMMU, 80 pages need an IOVA range too big for its caches: mapping
            // allocates there too.
            let mut t = SgTable::new_for_device(dev, spaced_pages(80, GFP_KERNEL)?, GFP_KERNEL)?;
            let size = t.size();
            let unmapped = || expect(Err(EINVAL), Err(EINVAL), size, "unmapped");
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
            // When armed, at least the `Devres` of the mapping.
            if flags == GFP_KERNEL {
                assert!(each.failed >= 1);
            }
            pr_info!(
                "rust_kernel_sg_fault: map() on {}{}: ENOMEM {} times, absorbed {}\n",
                name,
                armed(flags),
                each.failed,
                each.absorbed
            );
            Ok(())
        })
    }

    #[test]
    fn a_failed_from_owner_drops_the_owner() -> Result {
        let flags = injectable_flags();
        let dev = TestDevice::new(c"rust-sg-fault-kept")?;
        let mut each = FailEach::new();
        loop {
            let mut owner = SgTable::new(buffer(3, 5)?, GFP_KERNEL)?;
            owner.map(dev.bound(), DataDirection::ToDevice)?;
            // The owned table is boxed: its address stays as the owner moves.
            let raw = owner.as_raw();
            // SAFETY: `owner` keeps its table alive and mapped (the device stays bound until
            // the end of the test), and nobody changes it.
            let (res, injected) =
                each.run(|| unsafe { SgTable::from_owner_mapped(owner, raw, flags) });
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
            "rust_kernel_sg_fault: from_owner_mapped(){}: ENOMEM {} times, absorbed {}\n",
            armed(flags),
            each.failed,
            each.absorbed
        );
        Ok(())
    }
}
