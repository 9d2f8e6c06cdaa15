// SPDX-License-Identifier: GPL-2.0

//! KUnit tests for [`kernel::sg`](crate::sg), run on devices of the KUnit bus (and on QEMU's
//! `edu` PCI device when a driver has bound it).
//!
//! Six suites, one file each:
//!
//! - `rust_kernel_sg` (states.rs): the state table, cell by cell, and our own tables through
//!   every state: what must fail fails with the right error and leaves the state as it was.
//! - `rust_kernel_sg_borrowed` (borrowed.rs): tables someone else made, on each of their terms.
//! - `rust_kernel_sg_layout` (layout.rs): entries, chains and segment limits.
//! - `rust_kernel_sg_ranges` (ranges.rs): DMA windows, chunks, range syncs, CPU copies.
//! - `rust_kernel_sg_dma` (dma.rs): what depends on the DMA set-up (direct, bounce buffers, an
//!   IOMMU), and concurrency.
//! - `rust_kernel_sg_fault` (fault.rs): each allocation of a call fails in turn.
//!
//! This file holds what they share. DMA-API debug, when enabled, checks the mappings themselves.

mod borrowed;
mod dma;
mod fault;
mod layout;
mod ranges;
mod states;

use crate::{
    alloc::Flags,
    bindings,
    device::{
        Bound,
        Device,
        Normal, //
    },
    dma::{
        DataDirection,
        DmaAddress, //
    },
    error::{
        from_err_ptr,
        to_result, //
    },
    new_spinlock,
    page::{
        Page,
        PAGE_SIZE, //
    },
    prelude::*,
    sg::{
        source::page_phys,
        sync::for_each_piece,
        Mapping,
        Pages,
        SgTable,
        State, //
        Terms,
    },
    sync::{
        aref::ARef,
        atomic::{
            Acquire,
            Atomic,
            Relaxed,
            Release, //
        },
        Arc,
    },
    time::{
        delay::fsleep,
        Delta, //
    },
    types::Opaque,
    workqueue,
};
use core::ptr::NonNull;

/// A device on the KUnit bus, bound to a stub driver, with a 32-bit DMA mask.
///
/// KUnit unregisters it when the test ends, unless [`TestDevice::unregister`] did.
struct TestDevice(NonNull<bindings::device>);

/// Segment limits a test device can be given ([`TestDevice::with_parms`]). C only reads them.
struct Parms(bindings::device_dma_parameters);

// SAFETY: Nobody writes a `Parms`: it is plain data, read by C through `dev->dma_parms`.
unsafe impl Sync for Parms {}

/// Segments of at most 32 KiB that do not cross a 16 KiB boundary.
static SMALL_SEGMENTS: Parms = Parms(bindings::device_dma_parameters {
    max_segment_size: 32 << 10,
    min_align_mask: 0,
    segment_boundary_mask: (16 << 10) - 1,
});

/// Segments of one page at most.
static PAGE_SEGMENTS: Parms = Parms(bindings::device_dma_parameters {
    max_segment_size: PAGE_SIZE as u32,
    min_align_mask: 0,
    segment_boundary_mask: 0,
});

/// A maximum segment smaller than a page.
static SUB_PAGE_SEGMENTS: Parms = Parms(bindings::device_dma_parameters {
    max_segment_size: 2048,
    min_align_mask: 0,
    segment_boundary_mask: 0,
});

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

    /// A device whose DMA segments must keep to `parms`.
    fn with_parms(name: &CStr, parms: &'static Parms) -> Result<Self> {
        let dev = Self::new(name)?;
        // SAFETY: The device is ours and nothing of it is mapped yet; `parms` lives forever and
        // is only read.
        unsafe { (*dev.0.as_ptr()).dma_parms = (&raw const parms.0).cast_mut() };
        Ok(dev)
    }

    /// A device without a DMA mask, as every auxiliary device is: it cannot do DMA.
    fn without_dma_mask(name: &CStr) -> Result<Self> {
        let dev = Self::new(name)?;
        // SAFETY: The device is ours and nothing of it is mapped; nothing frees the mask.
        unsafe { (*dev.0.as_ptr()).dma_mask = core::ptr::null_mut() };
        Ok(dev)
    }

    /// Puts the device behind a bus that adds `offset` to every physical address
    /// (`dma_range_map`, as an SoC's `dma-ranges` does), for all of memory.
    fn set_bus_offset(&self, offset: DmaAddress) -> Result {
        let region = |dma_start, size| bindings::bus_dma_region {
            cpu_start: 0,
            dma_start,
            size,
        };
        // Half of what a `u64` counts covers all memory; the list ends with a region of size 0.
        let map = KBox::new([region(offset, u64::MAX / 2), region(0, 0)], GFP_KERNEL)?;
        // SAFETY: The device is ours, not mapped yet; the driver core frees the map with
        // `kfree()` when the device is unbound, which takes memory from `KBox`.
        unsafe { (*self.0.as_ptr()).dma_range_map = KBox::into_raw(map).cast() };
        Ok(())
    }

    /// The number of devres resources the device holds (a `Devres` per mapping we made).
    fn devres_count(&self) -> usize {
        // SAFETY: The device is registered; nothing else adds or removes its resources while
        // the test (single-threaded here) looks.
        unsafe {
            let head = &raw mut (*self.0.as_ptr()).devres_head;
            let mut n = 0;
            let mut node = (*head).next;
            while node != head {
                n += 1;
                node = (*node).next;
            }
            n
        }
    }

    fn bound(&self) -> &Device<Bound> {
        // SAFETY: `kunit_device_register()` returned a registered device bound to a stub
        // driver; it stays bound until `unregister()` consumes `self`, or the test ends, after
        // every borrow of `self` is gone. Nothing else unbinds it: the suites run at boot,
        // before user space, or from debugfs, whose user must not unbind their devices
        // meanwhile (an assumption only a test may make).
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
/// device still holds is reported (with a `WARNING:` in the kernel log).
fn dma_debug_watch(bus: *const bindings::bus_type) {
    #[cfg(CONFIG_DMA_API_DEBUG)]
    {
        use crate::sync::atomic::{
            AtomicFlag,
            Relaxed, //
        };
        static WATCHED: AtomicFlag = AtomicFlag::new(false);
        if !WATCHED.xchg(true, Relaxed) {
            // SAFETY: `bus` is a registered bus, which stays registered; the notifier is
            // added once per boot.
            unsafe { bindings::dma_debug_add_bus(bus) };
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

/// A table of ours over `pages` pages.
fn owned(pages: usize) -> Result<SgTable<'static>> {
    SgTable::new(buffer(pages, 0)?, GFP_KERNEL)
}

/// The two kinds of [`Mapping`]: the cases that map run with each.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// [`SgTable::map`].
    Devres,
    /// [`SgTable::map_bound`].
    Lifetime,
}

impl Kind {
    const BOTH: [Kind; 2] = [Kind::Devres, Kind::Lifetime];

    /// Maps `t` for `dev` with this kind of mapping.
    fn map<'a>(self, t: &mut SgTable<'a>, dev: &'a Device<Bound>, dir: DataDirection) -> Result {
        match self {
            Kind::Devres => t.map(dev, dir),
            Kind::Lifetime => t.map_bound(dev, dir),
        }
    }
}

/// Whether `got == want`; if not, a KTAP diagnostic line (`# ...`, which `kunit.py` shows
/// with the failed case) names `what` and both values. Rust's KUnit assertions print the
/// expression, not what it evaluated to: a case that loops over rows says which row failed.
fn same<T: PartialEq + core::fmt::Debug>(what: impl crate::fmt::Display, got: T, want: T) -> bool {
    let same = got == want;
    if !same {
        crate::kunit::info(fmt!("    # {what}: got {got:?}, expected {want:?}\n"));
    }
    same
}

/// Runs `f`, which makes the kernel complain on purpose in a way KUnit does not suppress (an
/// atomic-sleep report, or a `WARN_ONCE()` that must latch), between markers in the kernel log,
/// so that whoever reads the log can tell these complaints from real ones.
fn complaining<T>(f: impl FnOnce() -> T) -> T {
    pr_info!("sg-test: expected warning begin\n");
    let r = f();
    pr_info!("sg-test: expected warning end\n");
    r
}

/// What a test sees of a table's [`State`]: the variant, with a revoked mapping told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Is {
    Unmapped,
    Borrowed,
    Managed,
    Revoked,
}

/// The state of `t`, as [`Is`] tells them apart.
fn state(t: &SgTable<'_>) -> Is {
    match t.state() {
        State::Unmapped => Is::Unmapped,
        State::Borrowed(_) => Is::Borrowed,
        State::Managed(m) if m.is_live() => Is::Managed,
        State::Managed(_) => Is::Revoked,
    }
}

/// What every operation that must not change the state returned, and the state afterwards.
#[derive(PartialEq, Debug)]
struct Ops {
    dma: Result,
    /// The whole-table syncs, then the range syncs over the first byte.
    sync: [Result; 4],
    cpu_bytes: Result<usize>,
    state: Is,
}

fn ops(t: &SgTable<'_>) -> Ops {
    let dma = t.dma_iter().map(|_| ());
    let nents = t.nents().map(|_| ());
    let window = t.dma_window(0, 1).map(|_| ());
    Ops {
        // DMA iteration, windows and `nents()` check the same thing; report a disagreement.
        dma: if dma == nents && dma == window {
            dma
        } else {
            Err(EDOM)
        },
        sync: [
            t.sync_for_cpu(),
            t.sync_for_device(),
            t.sync_range_for_cpu(0, 1),
            t.sync_range_for_device(0, 1),
        ],
        cpu_bytes: t.cpu_iter().map(|iter| iter.map(|seg| seg.len()).sum()),
        state: state(t),
    }
}

/// What [`ops`] must see of a table whose DMA view returns `dma`, with `cpu_bytes` bytes in its
/// CPU view, in `state`. Its syncs return what its DMA view does, unless [`Ops::syncs`] says.
fn expect(dma: Result, cpu_bytes: usize, state: Is) -> Ops {
    Ops {
        dma,
        sync: [dma; 4],
        cpu_bytes: Ok(cpu_bytes),
        state,
    }
}

impl Ops {
    /// The same, but for syncs that return `sync`: `EINVAL` for a table its owner mapped for a
    /// device it did not name.
    fn syncs(self, sync: Result) -> Self {
        Self {
            sync: [sync; 4],
            ..self
        }
    }
}

/// The mapping of a `Managed` table; `ENOENT` (failing the test) for any other state.
fn mapping<'t>(t: &'t SgTable<'_>) -> Result<&'t Mapping<'t>> {
    match t.state() {
        State::Managed(m) => Ok(m),
        State::Unmapped | State::Borrowed(_) => Err(ENOENT),
    }
}

/// The DMA segments of a mapped table as C's `for_each_sgtable_dma_sg()` sees them: through
/// the C helpers `sg_next()`, `sg_dma_address()` and `sg_dma_len()`, not our iterator.
fn c_dma_walk(t: &SgTable<'_>) -> Result<KVec<(DmaAddress, u32)>> {
    let sgt = t.as_raw();
    let mut segs = KVec::new();
    // SAFETY: `sgt` is valid while `t` lives, and mapped (the caller checks `nents()` first).
    let (mut sg, nents) = unsafe { ((*sgt).sgl, (*sgt).nents) };
    for _ in 0..nents {
        // SAFETY: `sg` is one of the `nents` mapped entries of `sgt`.
        let (addr, len) = unsafe { (bindings::sg_dma_address(sg), bindings::sg_dma_len(sg)) };
        segs.push((addr, len), GFP_KERNEL)?;
        // SAFETY: As above.
        sg = unsafe { bindings::sg_next(sg) };
    }
    Ok(segs)
}

/// Checks that the DMA view of `t` is what C sees, and returns its number of bytes.
fn dma_matches_c(t: &SgTable<'_>) -> Result<usize> {
    let c = c_dma_walk(t)?;
    let ours = collect(t.dma_iter()?.map(|s| (s.dma_address(), s.dma_len())))?;
    assert_eq!(&ours[..], &c[..]);
    assert!(!c.is_empty());
    Ok(c.iter().map(|(_, len)| *len as usize).sum())
}

/// An owned table through every state and transition with one kind of mapping, on two devices
/// (the case `owned_every_state` of the suite `rust_kernel_sg`).
fn owned_every_state_with(kind: Kind, dev: &Device<Bound>, dev2: &Device<Bound>) -> Result {
    use DataDirection::{
        FromDevice,
        ToDevice, //
    };
    let size = 8 * PAGE_SIZE;
    let mut t = SgTable::new(buffer(8, 1)?, GFP_KERNEL)?;
    assert_eq!(t.size(), size);

    // Unmapped: no DMA view, nothing to unmap or sync.
    assert_eq!(ops(&t), expect(Err(EINVAL), size, Is::Unmapped));
    assert_eq!(t.unmap(), Err(EINVAL));
    assert_eq!(state(&t), Is::Unmapped);
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
    assert_eq!(kind.map(&mut t, dev, ToDevice), Ok(()));
    assert_eq!(ops(&t), expect(Ok(()), size, Is::Managed));
    assert_eq!(t.direction(), Some(ToDevice));
    assert_eq!(mapping(&t)?.is_devres(), kind == Kind::Devres);
    assert!(t.is_mapped());
    assert_eq!(dma_matches_c(&t), Ok(size));

    // Managed: a second map is refused and changes nothing.
    assert_eq!(kind.map(&mut t, dev, FromDevice), Err(EINVAL));
    assert_eq!(kind.map(&mut t, dev2, ToDevice), Err(EINVAL));
    assert_eq!(t.direction(), Some(ToDevice));
    assert_eq!(ops(&t), expect(Ok(()), size, Is::Managed));

    // Managed -> Unmapped, and the second unmap is refused.
    assert_eq!(t.unmap(), Ok(()));
    assert_eq!(ops(&t), expect(Err(EINVAL), size, Is::Unmapped));
    assert_eq!(t.unmap(), Err(EINVAL));
    assert!(!t.is_mapped());

    // Remapping for another device and direction works.
    assert_eq!(kind.map(&mut t, dev2, FromDevice), Ok(()));
    assert_eq!(t.direction(), Some(FromDevice));
    assert_eq!(mapping(&t)?.device().as_raw(), dev2.as_raw());
    assert_eq!(dma_matches_c(&t), Ok(size));
    Ok(())
}

/// A table C made (`sg_alloc_table_from_pages_segment()`, one entry per page), held by value
/// with its pages, like a driver's per-request table; page `i` holds the byte `i + 1`.
struct CTable {
    sgt: bindings::sg_table,
    _pages: KVec<Page>,
}

// SAFETY: The table is plain memory, which any task may free.
unsafe impl Send for CTable {}
// SAFETY: Through `&CTable` nothing is written.
unsafe impl Sync for CTable {}

impl CTable {
    /// The table, at wherever `self` is now.
    fn as_raw(&self) -> *mut bindings::sg_table {
        (&raw const self.sgt).cast_mut()
    }
}

impl Drop for CTable {
    fn drop(&mut self) {
        // SAFETY: `sgt` was allocated by `sg_alloc_table_from_pages_segment()`.
        unsafe { bindings::sg_free_table(&mut self.sgt) };
    }
}

/// Fills `page` with `byte`, a small buffer at a time (a page may be 64 KiB).
fn fill_page(page: &Page, byte: u8) -> Result {
    let fill = [byte; 256];
    for offset in (0..PAGE_SIZE).step_by(fill.len()) {
        // SAFETY: The page is ours and nobody else uses it; `offset + 256` is within it.
        unsafe { page.write_raw(fill.as_ptr(), offset, fill.len()) }?;
    }
    Ok(())
}

/// A [`CTable`] over `n` pages, none next to the one before.
fn c_table(n: usize) -> Result<CTable> {
    let pages = spaced_pages(n, GFP_KERNEL)?;
    let mut raw = KVec::new();
    for (i, page) in pages.iter().enumerate() {
        raw.push(page.as_ptr(), GFP_KERNEL)?;
        // CAST: The tests use a few pages.
        fill_page(page, i as u8 + 1)?;
    }
    let mut c = CTable {
        sgt: bindings::sg_table::default(),
        _pages: pages,
    };
    // SAFETY: `raw` holds `n` valid pages of `PAGE_SIZE` bytes each; one entry per page.
    to_result(unsafe {
        bindings::sg_alloc_table_from_pages_segment(
            &mut c.sgt,
            raw.as_mut_ptr(),
            // CAST: The tests use a few pages.
            n as c_uint,
            0,
            n * PAGE_SIZE,
            PAGE_SIZE as u32,
            GFP_KERNEL.as_raw(),
        )
    })?;
    Ok(c)
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

/// `n` pages, none starting right where the one before ends, so that each gets a CPU entry of
/// its own whatever order the allocator hands pages out in: a page that follows the last one
/// kept is held aside (so that it is not handed out again) and freed on return.
fn spaced_pages(n: usize, flags: Flags) -> Result<KVec<Page>> {
    let phys = |page: &Page| NonNull::new(page.as_ptr()).map(page_phys).ok_or(EINVAL);
    let mut pages = KVec::<Page>::with_capacity(n, flags)?;
    let mut aside = KVec::new();
    while pages.len() < n {
        let page = Page::alloc_page(flags)?;
        let follows = match pages.last() {
            Some(last) => phys(last)? + PAGE_SIZE as u64 == phys(&page)?,
            None => false,
        };
        if follows {
            aside.push(page, flags)?;
        } else {
            pages.push(page, flags)?;
        }
    }
    Ok(pages)
}

/// Whether each entry of `t` keeps to `max` bytes and does not cross a multiple of
/// `boundary + 1`, in physical addresses; and the entries add up to `t.size()`.
fn entries_keep_to(t: &SgTable<'_>, max: usize, boundary: u64) -> Result<bool> {
    entries_keep_to_at(t, max, boundary, 0u64)
}

/// [`entries_keep_to`] at the DMA addresses of a bus `offset` bytes above physical addresses.
fn entries_keep_to_at(
    t: &SgTable<'_>,
    max: usize,
    boundary: u64,
    offset: impl Into<u64>,
) -> Result<bool> {
    let offset = offset.into();
    let mut total = 0;
    for seg in t.cpu_iter()? {
        let phys = page_phys(NonNull::new(seg.page()).ok_or(EINVAL)?) + seg.offset() as u64;
        let (first, last) = (phys + offset, phys + offset + seg.len() as u64 - 1);
        if seg.len() > max || (first & !boundary) != (last & !boundary) {
            return Ok(false);
        }
        total += seg.len();
    }
    Ok(total == t.size())
}

/// Runs `f` with KUnit suppressing `WARN*()` backtraces; returns what `f` returned and how
/// many warnings it suppressed.
fn suppressing_warnings<T>(f: impl FnOnce() -> T) -> (T, c_int) {
    // SAFETY: We run inside a KUnit test, whose `struct kunit` stays valid while it runs.
    let test = unsafe { bindings::kunit_get_current_test() };
    // SAFETY: `test` is the running test; KUnit fails it and returns NULL if it cannot.
    let w = unsafe { bindings::kunit_start_suppress_warning(test) };
    let r = f();
    let n = if w.is_null() {
        0
    } else {
        // SAFETY: `w` is the live handle from above.
        unsafe { bindings::kunit_suppressed_warning_count(w) }
    };
    // SAFETY: `w` came from `kunit_start_suppress_warning()` for `test` (NULL is accepted).
    unsafe { bindings::kunit_end_suppress_warning(test, w) };
    (r, n)
}

/// A DMA set-up the kernel can be booted in.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Setup {
    /// dma-direct: devices see physical memory.
    Direct,
    /// `swiotlb=force`: every mapping bounces.
    Swiotlb,
    /// An IOMMU in front of PCI devices (the KUnit devices stay direct).
    Iommu,
}

/// The set-up the kernel command line says it was booted for (`rust_sg_test.setup=direct`,
/// `swiotlb` or `iommu`), if it says. Then the cases assert what that set-up must show, and a
/// case that needs it fails instead of skipping.
fn intended_setup() -> Option<Setup> {
    const KEY: &[u8] = b"rust_sg_test.setup=";
    // SAFETY: `saved_command_line` is a C string set early in boot and never freed.
    let cmdline = unsafe { CStr::from_char_ptr(bindings::saved_command_line) }.to_bytes();
    let at = cmdline.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let value = cmdline[at..].split(|&b| b == b' ').next()?;
    match value {
        b"direct" => Some(Setup::Direct),
        b"swiotlb" => Some(Setup::Swiotlb),
        b"iommu" => Some(Setup::Iommu),
        _ => None,
    }
}

/// Marks the running test skipped, with `reason` (or none, if it cannot be copied).
fn skip(reason: &str) {
    let reason = crate::str::CString::try_from_fmt(fmt!("{reason}"));
    crate::kunit::mark_skipped(reason.as_deref().unwrap_or(c""));
}

/// The edu PCI device if it is bound to a driver (the rust_sg sample), with its reference.
#[cfg(CONFIG_PCI)]
struct Edu(NonNull<bindings::pci_dev>);

/// Without PCI there is no edu device.
#[cfg(not(CONFIG_PCI))]
enum Edu {}

#[cfg(not(CONFIG_PCI))]
impl Edu {
    fn get() -> Option<Self> {
        None
    }

    fn bound(&self) -> &Device<Bound> {
        match *self {}
    }

    fn behind_iommu(&self) -> bool {
        match *self {}
    }
}

#[cfg(CONFIG_PCI)]
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
        // suites run at boot, before user space, or from debugfs, whose user must not unbind
        // edu meanwhile (an assumption only a test may make).
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

#[cfg(CONFIG_PCI)]
impl Drop for Edu {
    fn drop(&mut self) {
        // SAFETY: Puts the reference `pci_get_device()` took.
        unsafe { bindings::pci_dev_put(self.0.as_ptr()) };
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

/// What the workers of a stress test share.
struct Shared {
    done: Atomic<u32>,
    errors: Atomic<u32>,
    sum: Atomic<u64>,
}

/// Runs `work(i)` for `i` in `0..n` on workers of the unbound workqueue (kthreads), then `main`
/// on the calling thread while they run, and waits for every worker that started, also when
/// starting one failed (an error then).
fn on_workers<W>(
    n: u32,
    mut work: impl FnMut(u32) -> Result<W>,
    main: impl FnOnce(&Shared) -> Result,
) -> Result<Arc<Shared>>
where
    W: FnOnce(&Shared) -> Result + Send + 'static,
{
    let shared = Arc::new(
        Shared {
            done: Atomic::new(0),
            errors: Atomic::new(0),
            sum: Atomic::new(0),
        },
        GFP_KERNEL,
    )?;
    let mut started = 0;
    let mut res = Ok(());
    for i in 0..n {
        let spawned = work(i).and_then(|w| {
            let shared = shared.clone();
            workqueue::system_unbound()
                .try_spawn(GFP_KERNEL, move || {
                    if w(&shared).is_err() {
                        shared.errors.add(1, Relaxed);
                    }
                    shared.done.fetch_add(1, Release);
                })
                .map_err(|_| ENOMEM)
        });
        match spawned {
            Ok(()) => started += 1,
            Err(e) => {
                res = Err(e);
                break;
            }
        }
    }
    if res.is_ok() {
        res = main(&shared);
    }
    // The workers may use the test's devices: wait for all that started.
    while shared.done.load(Acquire) < started {
        fsleep(Delta::from_millis(5));
    }
    res.map(|()| shared)
}
