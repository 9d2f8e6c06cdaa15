// SPDX-License-Identifier: GPL-2.0

//! Where the `struct sg_table` of an [`SgTable`](super::SgTable) comes from, and who frees it.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)
//!
//! A table is either [`Source::Borrowed`], made by someone else (C code, another subsystem),
//! who keeps it valid, or [`Source::Owned`], allocated by us over memory we own and keep: a
//! [`Pages`] buffer.

use super::{
    iter::sg_next,
    limits::{
        Bus,
        Limits, //
    },
};
use crate::{
    alloc::{
        allocator::VmallocPageIter,
        Flags, //
    },
    bindings,
    device::Device,
    error::to_result,
    page::{
        AsPageIter,
        Page,
        PAGE_SIZE, //
    },
    prelude::*,
    transmute::{
        AsBytes,
        FromBytes, //
    },
    types::Opaque,
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

/// A C `struct sg_table` we allocated; dropping it frees its entries (`sg_free_table()`).
///
/// # Invariants
///
/// The wrapped `struct sg_table` was initialised by `sg_alloc_table()`.
#[repr(transparent)]
struct RawTable(Opaque<bindings::sg_table>);

impl RawTable {
    /// Allocates a table of `nents` entries (`sg_alloc_table()`), chained if they don't fit in
    /// one page, all zeroed but for the end mark on the last one.
    fn alloc(nents: usize, flags: Flags) -> Result<Self> {
        let sgt = Opaque::<bindings::sg_table>::zeroed();
        // SAFETY: `sgt.get()` points to a zeroed `struct sg_table` we own.
        to_result(unsafe {
            bindings::sg_alloc_table(sgt.get(), u32::try_from(nents)?, flags.as_raw())
        })?;
        // INVARIANT: `sg_alloc_table()` succeeded. A `struct sg_table` holds no pointer into
        // itself, so it may move.
        Ok(Self(sgt))
    }

    #[inline]
    fn as_raw(&self) -> NonNull<bindings::sg_table> {
        // INVARIANT: `Opaque::get()` never returns NULL.
        NonNull::from(&self.0).cast()
    }
}

impl Drop for RawTable {
    fn drop(&mut self) {
        // SAFETY: The table was initialised by `sg_alloc_table()` (type invariants), and is ours.
        unsafe { bindings::sg_free_table(self.0.get()) };
    }
}

// SAFETY: A `struct sg_table` is plain memory that any task may free.
unsafe impl Send for RawTable {}

// SAFETY: Through `&RawTable` the table is only read. It is written by mapping (through an
// `SgTable` borrowed mutably) and by unmapping, which device unbind may do from another task;
// neither frees it, and readers of the DMA view check first that the mapping is live.
unsafe impl Sync for RawTable {}

/// Sealed for drivers: only `kernel::sg` (and its tests) may implement it.
pub(super) mod private {
    use crate::bindings;
    use core::ptr::NonNull;

    /// How a [`super::Pages`] buffer lists its memory. Not implementable outside this module.
    pub trait Sealed {
        /// The number of initialised bytes, from the start of the first page; `None` if that
        /// does not fit in a `usize`.
        fn size(&self) -> Option<usize>;

        /// The pages of the buffer in order, at least those of the first [`Sealed::size`] bytes.
        /// They stay valid as long as the buffer does, wherever it moves. Each is an order-0
        /// page, or a page of a block split with `split_page()`, with a reference count.
        fn pages(&mut self) -> impl Iterator<Item = NonNull<bindings::page>> + '_;

        /// Writes back what the CPU wrote through another mapping than the kernel's linear
        /// map (vmalloc's), so that the device and `sg_pcopy_*()` see it.
        fn flush(&mut self) {}
    }
}

/// Memory an owned [`SgTable`](super::SgTable) can be built over, and that it then keeps until
/// it is dropped.
///
/// A device may read every byte of it and write any byte pattern into it, and so may
/// `SgTable::read_at()` and `SgTable::write_at()`. So it is implemented, and sealed, for
///
/// - a [`VVec<T>`] and a [`VBox<T>`] of a `T` that is [`FromBytes`] and [`AsBytes`] (plain
///   integers and arrays of them, e.g. `VVec<u8>`): vmalloc memory, whose pages do not move
///   when the buffer moves. The table covers the vector's length, not its capacity: resize a
///   receive buffer to its size first.
/// - a [`KVec`] of [`Page`]s the driver allocated, all of each. A page allocated without
///   `__GFP_ZERO` holds what it held before; write it or zero it before a device reads it.
pub trait Pages: private::Sealed + Send + Sync + 'static {}

/// `flush_kernel_vmap_range()` on the `size` bytes at `ptr`, a vmalloc area: needed before I/O
/// on architectures whose caches alias (Documentation/core-api/cachetlb.rst); nothing on others.
fn flush_vmap(ptr: *mut u8, size: usize) {
    // `flush_kernel_vmap_range()` takes an `int` size.
    const CHUNK: usize = 1 << 30;
    for start in (0..size).step_by(CHUNK) {
        // CAST: A chunk is at most 1 GiB, which fits in `c_int`.
        let len = (size - start).min(CHUNK) as c_int;
        // SAFETY: `ptr + start` is inside the vmalloc area, valid for `len` bytes.
        unsafe { bindings::flush_kernel_vmap_range(ptr.wrapping_add(start).cast(), len) };
    }
}

/// The pages of a vmalloc buffer, from its start.
fn vmalloc_pages(iter: VmallocPageIter<'_>) -> impl Iterator<Item = NonNull<bindings::page>> + '_ {
    // `BorrowedPage::as_ptr()` of a vmalloc page is never NULL.
    iter.filter_map(|page| NonNull::new(page.as_ptr()))
}

impl<T: FromBytes + AsBytes + Send + Sync + 'static> private::Sealed for VVec<T> {
    #[inline]
    fn size(&self) -> Option<usize> {
        self.len().checked_mul(core::mem::size_of::<T>())
    }

    fn pages(&mut self) -> impl Iterator<Item = NonNull<bindings::page>> + '_ {
        vmalloc_pages(self.page_iter())
    }

    fn flush(&mut self) {
        if let Some(size) = self.size() {
            flush_vmap(self.as_mut_ptr().cast(), size);
        }
    }
}

impl<T: FromBytes + AsBytes + Send + Sync + 'static> Pages for VVec<T> {}

impl<T: FromBytes + AsBytes + Send + Sync + 'static> private::Sealed for VBox<T> {
    #[inline]
    fn size(&self) -> Option<usize> {
        Some(core::mem::size_of::<T>())
    }

    fn pages(&mut self) -> impl Iterator<Item = NonNull<bindings::page>> + '_ {
        vmalloc_pages(self.page_iter())
    }

    fn flush(&mut self) {
        let ptr: *mut T = &mut **self;
        flush_vmap(ptr.cast(), core::mem::size_of::<T>());
    }
}

impl<T: FromBytes + AsBytes + Send + Sync + 'static> Pages for VBox<T> {}

impl private::Sealed for KVec<Page> {
    #[inline]
    fn size(&self) -> Option<usize> {
        self.len().checked_mul(PAGE_SIZE)
    }

    fn pages(&mut self) -> impl Iterator<Item = NonNull<bindings::page>> + '_ {
        // `Page::as_ptr()` is never NULL.
        self.iter().filter_map(|page| NonNull::new(page.as_ptr()))
    }
}

impl Pages for KVec<Page> {}

/// Points the entry `sg` at the bytes of `run` (`sg_set_page()`, which keeps its end and chain
/// marks).
///
/// # Safety
///
/// `sg` points to an entry (not a chain link) of an initialised scatterlist that we may write;
/// `run.page` points to a valid `struct page`, followed by those of the other pages of the run.
#[inline]
unsafe fn set_page(sg: NonNull<bindings::scatterlist>, run: &Run) {
    // SAFETY: `sg` is an entry we may write, and `run.page` the first of the run's consecutive
    // `struct page`s, by the safety requirements.
    // CAST: A run is at most a segment's maximum, which fits in `u32`; an offset is less than a
    // page.
    unsafe {
        bindings::sg_set_page(
            sg.as_ptr(),
            run.page.as_ptr(),
            run.len as u32,
            run.offset as u32,
        )
    };
}

/// `page_to_phys()`.
#[inline]
pub(super) fn page_phys(page: NonNull<bindings::page>) -> u64 {
    // SAFETY: `page` points to a valid `struct page`.
    // CAST: `phys_addr_t` is at most 64 bits wide.
    unsafe { bindings::page_to_phys(page.as_ptr()) as u64 }
}

/// Whether `page`, whose `struct page` follows that of the page before it, starts at the physical
/// address `next`: always where `struct page`s are laid out by frame number (a flat `mem_map`,
/// or `SPARSEMEM_VMEMMAP`: x86_64, arm64), so the check costs no call there; else only if the
/// frames really are contiguous (`mem_map` arrays of different memory sections may sit next to
/// each other).
#[inline]
fn follows(page: NonNull<bindings::page>, next: u64) -> bool {
    (!cfg!(CONFIG_SPARSEMEM) || cfg!(CONFIG_SPARSEMEM_VMEMMAP)) || page_phys(page) == next
}

/// One entry of a table being built: a run of physically contiguous pages, from `offset`
/// bytes into the first one.
struct Run {
    page: NonNull<bindings::page>,
    /// The physical address of `page`.
    phys: u64,
    offset: usize,
    len: usize,
}

/// The table and the pages of an owned table, in one allocation.
///
/// # Invariants
///
/// `sgt` describes a byte range of `pages` (the first `size` bytes, or the range the table was
/// built over), in entries whose physical addresses keep to `limits`; none has a NULL page.
pub(super) struct Backing<P: ?Sized> {
    // Note: Fields drop in declaration order: the table is freed before the pages are released.
    sgt: RawTable,
    limits: Limits,
    _pages: P,
}

/// An owned `struct sg_table` and the pages it describes, at a stable heap address.
pub(super) struct OwnedSgt(KBox<Backing<dyn Send + Sync>>);

impl OwnedSgt {
    /// Builds a table over the bytes `range` of `buf` (`None`: its first
    /// [`private::Sealed::size`] bytes), in entries that keep to `limits` on `bus`: physically
    /// contiguous pages are merged into one entry up to the maximum segment, and split where
    /// their DMA addresses cross the boundary.
    ///
    /// Returns the table and its size in bytes.
    ///
    /// # Errors
    ///
    /// `ERANGE` for a range outside the buffer, `EINVAL` for an empty one or for limits a page
    /// does not fit in (on `bus`), `ENOMEM`.
    pub(super) fn new<P: Pages>(
        mut buf: P,
        range: Option<(usize, usize)>,
        limits: Limits,
        bus: Bus<'_>,
        flags: Flags,
    ) -> Result<(Self, usize)> {
        let whole = buf.size().ok_or(EOVERFLOW)?;
        let (start, size) = range.unwrap_or((0, whole));
        if !matches!(start.checked_add(size), Some(end) if end <= whole) {
            return Err(ERANGE);
        }
        let max = limits.page_segment()?;
        if size == 0 {
            return Err(EINVAL);
        }
        buf.flush();
        let (skip, mut offset) = (start / PAGE_SIZE, start % PAGE_SIZE);
        let mut runs = KVVec::<Run>::with_capacity((offset + size).div_ceil(PAGE_SIZE), flags)?;
        let mut left = size;
        // Whether `len` bytes from the physical address `phys` keep to the boundary on a bus
        // with an offset, where a boundary may fall inside a page; on a direct bus, boundaries
        // fall between pages (`page_segment()`), checked as runs grow.
        // CAST: A run is at most `max`, which fits in `u32`.
        let fits =
            |phys: u64, len: usize| bus.is_direct() || limits.allow(bus.address(phys), len as u32);
        for page in private::Sealed::pages(&mut buf).skip(skip) {
            if left == 0 {
                break;
            }
            let len = left.min(PAGE_SIZE - offset);
            left -= len;
            match runs.last_mut() {
                // Pages merge when their frames are contiguous (our pages come from vmalloc or
                // the page allocator, never from device memory, `ZONE_DEVICE`) and so are their
                // `struct page`s, which `sg_page(sg) + n` relies on (not so across memory
                // sections without `SPARSEMEM_VMEMMAP`).
                // Only the first run starts inside a page, and only the last ends inside one:
                // a run that continues ends at a page boundary, where its next page would start.
                // CAST: An offset into a run fits in `u64`.
                Some(run)
                    if run
                        .page
                        .as_ptr()
                        .wrapping_add((run.offset + run.len) / PAGE_SIZE)
                        == page.as_ptr()
                        && max - run.len >= len
                        && follows(page, run.phys + (run.offset + run.len) as u64)
                        && if bus.is_direct() {
                            !limits.starts_window(run.phys + (run.offset + run.len) as u64)
                        } else {
                            // And contiguous on the bus: not across two of its regions.
                            let start = run.phys + run.offset as u64;
                            let next = start + run.len as u64;
                            fits(start, run.len + len)
                                && bus.address(next) == bus.address(start) + run.len as u64
                        } =>
                {
                    run.len += len
                }
                _ => {
                    let phys = page_phys(page);
                    // A piece of a page across a boundary (a bus offset that is not a multiple
                    // of the boundary) fits in no entry.
                    if !fits(phys + offset as u64, len) {
                        return Err(EINVAL);
                    }
                    runs.push(
                        Run {
                            page,
                            phys,
                            offset,
                            len,
                        },
                        flags,
                    )?
                }
            }
            offset = 0;
        }
        if left != 0 {
            return Err(EINVAL);
        }

        let sgt = RawTable::alloc(runs.len(), flags)?;
        // SAFETY: `sgt` was just allocated with `runs.len()` entries, which we may write.
        let mut next = NonNull::new(unsafe { sgt.as_raw().as_ref() }.sgl);
        for run in runs.iter() {
            // `sgt` has an entry per run.
            let Some(sg) = next else { break };
            // SAFETY: `sg` is one of the `runs.len()` entries, in order; `run.page` is a page of
            // `buf`, `run.len` bytes of which from `run.offset` on are ours, and pages merged into
            // a run only where their `struct page`s follow each other.
            unsafe { set_page(sg, run) };
            // SAFETY: `sg` is an entry of `sgt`, whose end mark `sg_set_page()` kept.
            next = unsafe { sg_next(sg) };
        }
        // INVARIANT: `sgt` describes `size` bytes of the pages of `buf` from `start` on, in runs
        // that keep to `limits`. If the allocation fails, the `Backing` is dropped in field order:
        // the table first, then the pages.
        let backing: KBox<Backing<dyn Send + Sync>> = KBox::new(
            Backing {
                sgt,
                // Limits kept on a bus with an offset say nothing of physical addresses.
                limits: if bus.is_direct() {
                    limits
                } else {
                    Limits::NONE
                },
                _pages: buf,
            },
            flags,
        )?;
        Ok((Self(backing), size))
    }

    #[inline]
    fn as_raw(&self) -> NonNull<bindings::sg_table> {
        self.0.sgt.as_raw()
    }

    /// Checks that every entry keeps to the limits of `dev`, and readies the table for
    /// `dma_map_sgtable()` (see [`ready`]).
    ///
    /// # Safety
    ///
    /// The table is not mapped.
    unsafe fn prepare(&mut self, dev: &Device) -> Result<NonNull<bindings::sg_table>> {
        // SAFETY: The table is ours, and not mapped (safety requirements); every entry has a
        // page, with consecutive `struct page`s (type invariants of `Backing`).
        unsafe { ready(self.as_raw(), self.0.limits, dev) }
    }
}

/// What we may do with a table someone else made.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Read its DMA segments only: its entries need not be CPU memory.
    DmaOnly,
    /// Read its entries and their memory too.
    Cpu,
    /// Also map it for a device, sync and unmap it: the table is lent to us to map.
    Map,
}

/// A table someone else made.
///
/// # Invariants
///
/// - `sgt` points to an initialised `struct sg_table` that stays valid: for `'a` if `_owner` is
///   `None`, or as long as `_owner` lives. Nobody else changes it meanwhile; we change only its
///   DMA fields, and only if `access` is [`Access::Map`].
/// - Unless `access` is [`Access::DmaOnly`], each of its `orig_nents` entries has a non-NULL page
///   of memory the kernel maps, valid, with consecutive `struct page`s, for the entry's
///   `offset + length` bytes as long as `sgt` is.
/// - If `access` is [`Access::Map`], nobody else maps, unmaps or syncs the table, or touches its
///   memory, as long as `sgt` is valid.
pub(super) struct Foreign<'a> {
    // Note: `sgt` must not be used once `_owner` is dropped; nothing here uses it in `drop`.
    sgt: NonNull<bindings::sg_table>,
    access: Access,
    _owner: Option<KBox<dyn Send + Sync>>,
    _table: PhantomData<&'a bindings::sg_table>,
}

// SAFETY: The owner is `Send`, and the table is plain memory that `Self` only reads, or whose
// DMA fields it writes when lent to us to map (`Access::Map`), which the state of the `SgTable`
// serialises.
unsafe impl Send for Foreign<'_> {}

// SAFETY: The owner is `Sync`, and through `&Foreign` the table is only read.
unsafe impl Sync for Foreign<'_> {}

impl<'a> Foreign<'a> {
    /// Takes a table someone else made, kept by `owner` if `Some`.
    ///
    /// # Safety
    ///
    /// As the invariants of [`Foreign`] require of `sgt`, `access` and `owner`.
    pub(super) unsafe fn new(
        sgt: NonNull<bindings::sg_table>,
        access: Access,
        owner: Option<KBox<dyn Send + Sync>>,
    ) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            sgt,
            access,
            _owner: owner,
            _table: PhantomData,
        }
    }
}

/// Checks that every entry of `sgt` keeps to the limits of `dev`, and readies the table for
/// `dma_map_sgtable()`: the check is free if `built` is within them and the device sees
/// physical addresses; otherwise it is one pass over the entries, on the DMA addresses
/// dma-direct would hand the device (the IOMMU and swiotlb paths keep to the limits
/// themselves).
///
/// # Safety
///
/// `sgt` is an initialised table, not mapped, that is ours to write; its entries have pages
/// with consecutive `struct page`s.
unsafe fn ready(
    sgt: NonNull<bindings::sg_table>,
    built: Limits,
    dev: &Device,
) -> Result<NonNull<bindings::sg_table>> {
    // SAFETY: `sgt` is an initialised table, by the safety requirements.
    let (sgl, entries) = unsafe { ((*sgt.as_ptr()).sgl, (*sgt.as_ptr()).orig_nents) };
    if sgl.is_null() || entries == 0 {
        return Err(EINVAL);
    }
    let (limits, bus) = (Limits::of(dev), Bus::of(dev));
    if !built.within(&limits) || !bus.is_direct() {
        // SAFETY: The table is valid and unchanged meanwhile, by the safety requirements.
        for seg in unsafe { super::iter::CpuIter::new(sgt) } {
            let page = NonNull::new(seg.page()).ok_or(EINVAL)?;
            // CAST: The offset and length of an entry are `unsigned int`s.
            let phys = page_phys(page) + seg.offset() as u64;
            let (addr, len) = (bus.address(phys), seg.len() as u64);
            // dma-direct hands the device the DMA address of an entry's first byte: its last
            // must be as far on (not in another region of the bus, at another offset).
            if !limits.allow(addr, seg.len() as u32)
                || (len > 0 && bus.address(phys + len - 1) != addr + len - 1)
            {
                return Err(EINVAL);
            }
        }
    }
    // The IOMMU's bounce path marks the first entry (`SG_DMA_SWIOTLB`) and no unmap clears
    // the mark, which would steer the next mapping's syncs and unmap. (The other flag,
    // `SG_DMA_BUS_ADDRESS`, marks peer-to-peer memory, which these tables never hold.)
    #[cfg(CONFIG_NEED_SG_DMA_FLAGS)]
    // SAFETY: The table is ours to write and not mapped, by the safety requirements, and `sgl`
    // is its first entry (checked above).
    unsafe {
        (*sgl).dma_flags = 0
    };
    Ok(sgt)
}

/// Where the `struct sg_table` of an [`SgTable`](super::SgTable) comes from, and who frees it.
pub(super) enum Source<'a> {
    /// Made by someone else, who keeps it valid and unchanged (for `'a`, or as long as an owner
    /// we keep lives). We never write it, and free only the owner.
    Borrowed(Foreign<'a>),
    /// Allocated by us over pages we own. We free the table, then the pages.
    Owned(OwnedSgt),
}

impl Source<'_> {
    /// The table, valid and unchanged (but for our own mapping) while `self` lives.
    #[inline]
    pub(super) fn as_raw(&self) -> NonNull<bindings::sg_table> {
        match self {
            Source::Borrowed(foreign) => foreign.sgt,
            Source::Owned(owned) => owned.as_raw(),
        }
    }

    /// What the source is, for logs: `"owned"`, `"borrowed"`, `"borrowed, DMA only"` or
    /// `"borrowed to map"`.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Source::Borrowed(f) if f.access == Access::DmaOnly => "borrowed, DMA only",
            Source::Borrowed(f) if f.access == Access::Map => "borrowed to map",
            Source::Borrowed(_) => "borrowed",
            Source::Owned(_) => "owned",
        }
    }

    /// The table, if its pages are CPU memory: each entry has a page the kernel maps.
    #[inline]
    pub(super) fn cpu(&self) -> Result<NonNull<bindings::sg_table>> {
        match self {
            Source::Borrowed(f) if f.access == Access::DmaOnly => Err(EINVAL),
            Source::Borrowed(f) => Ok(f.sgt),
            Source::Owned(owned) => Ok(owned.as_raw()),
        }
    }

    /// The table, if it is ours to map (ours, or lent to us to map) and its entries keep to the
    /// limits of `dev`, ready to be mapped.
    ///
    /// # Safety
    ///
    /// The table is not mapped (its [`SgTable`](super::SgTable)'s state is `Unmapped`): readying
    /// it writes its DMA fields.
    #[inline]
    pub(super) unsafe fn mappable(&mut self, dev: &Device) -> Result<NonNull<bindings::sg_table>> {
        match self {
            // SAFETY: The table is not mapped, by the safety requirements.
            Source::Owned(owned) => unsafe { owned.prepare(dev) },
            // SAFETY: A table lent to us to map has entries ours to write (not its memory), and
            // its entries have pages (type invariants of `Foreign`); it is not mapped, by the
            // safety requirements; it was built for no device.
            Source::Borrowed(f) if f.access == Access::Map => unsafe {
                ready(f.sgt, Limits::NONE, dev)
            },
            Source::Borrowed(_) => Err(EINVAL),
        }
    }
}
