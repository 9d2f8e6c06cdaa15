// SPDX-License-Identifier: GPL-2.0

//! [`SgTable`]: one movable, non-generic type for every scatter-gather table a driver holds.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)

use super::{
    iter::{
        CpuIter,
        DmaIter, //
    },
    state::State,
};
use crate::{
    alloc::{
        allocator::VmallocPageIter,
        Flags, //
    },
    bindings,
    device::{
        Bound,
        Device, //
    },
    dma::{
        Attrs,
        DataDirection, //
    },
    error::to_result,
    page::{
        AsPageIter,
        Page,
        PAGE_SIZE, //
    },
    prelude::*,
    types::Opaque,
};
use core::ptr::NonNull;

/// A C [`struct sg_table`]; a value of this type owns the table's entries and frees them on drop.
///
/// # Invariants
///
/// The wrapped `struct sg_table` is initialised.
///
/// [`struct sg_table`]: srctree/include/linux/scatterlist.h
#[repr(transparent)]
struct RawTable(Opaque<bindings::sg_table>);

// SAFETY: A `struct sg_table` is plain memory that any task may free.
unsafe impl Send for RawTable {}

// SAFETY: Through `&RawTable` the table is only read; it is written (by `dma_map_sgtable()`) only
// through an `SgTable` borrowed mutably, with no shared reference around.
unsafe impl Sync for RawTable {}

impl RawTable {
    /// Allocates a table over `pages`, the first `size` bytes of which it describes, in segments
    /// of at most `max_segment` bytes (`sg_alloc_table_from_pages_segment()`).
    ///
    /// # Errors
    ///
    /// `EINVAL` if `pages` is empty or `max_segment` is less than a page, `ENOMEM` if the entries
    /// cannot be allocated.
    fn new(
        pages: &mut [*mut bindings::page],
        size: usize,
        max_segment: u32,
        flags: Flags,
    ) -> Result<Self> {
        // `sg_alloc_table_from_pages_segment()` dereferences the first page even if there is none,
        // and WARNs on a maximum segment of less than a page.
        if pages.is_empty() || size == 0 || (max_segment as usize) < PAGE_SIZE {
            return Err(EINVAL);
        }
        let sgt = Opaque::<bindings::sg_table>::zeroed();
        // SAFETY:
        // - `sgt.get()` points to a zeroed `struct sg_table` we own.
        // - `pages` holds `pages.len() > 0` valid page pointers, which cover `size` bytes.
        to_result(unsafe {
            bindings::sg_alloc_table_from_pages_segment(
                sgt.get(),
                pages.as_mut_ptr(),
                u32::try_from(pages.len())?,
                0,
                size,
                max_segment,
                flags.as_raw(),
            )
        })?;
        // INVARIANT: `sg_alloc_table_from_pages_segment()` succeeded, so the table is initialised.
        // A `struct sg_table` holds no pointer into itself, so it may move.
        Ok(Self(sgt))
    }

    /// Borrows a C `struct sg_table`.
    ///
    /// # Safety
    ///
    /// `ptr` points to an initialised `struct sg_table` that is valid and is not freed for `'a`.
    #[inline]
    unsafe fn from_raw<'a>(ptr: *mut bindings::sg_table) -> &'a Self {
        // SAFETY: `RawTable` is a transparent wrapper, and `ptr` is valid for `'a`.
        unsafe { &*ptr.cast() }
    }

    #[inline]
    fn as_raw(&self) -> NonNull<bindings::sg_table> {
        // INVARIANT: `Opaque::get()` never returns NULL.
        NonNull::from(&self.0).cast()
    }
}

impl Drop for RawTable {
    fn drop(&mut self) {
        // SAFETY: The table is initialised by the type invariants, and owned by `self`.
        unsafe { bindings::sg_free_table(self.0.get()) };
    }
}

mod private {
    use crate::{
        alloc::Flags,
        bindings,
        prelude::*, //
    };

    /// Lists the pages of a [`super::Pages`] buffer.
    pub trait Sealed {
        /// Pushes the buffer's pages to `pages` and returns the buffer's size in bytes.
        fn pages(&mut self, pages: &mut KVec<*mut bindings::page>, flags: Flags) -> Result<usize>;
    }
}

/// Memory an owned [`SgTable`] can be built over, and that it then keeps until it is dropped.
///
/// Implemented for [`VVec`] and [`VBox`] (vmalloc memory, through [`AsPageIter`]) and for a
/// [`KVec`] of [`Page`]s the driver allocated. The pages must not move while the buffer itself
/// moves; that is why only these are accepted.
pub trait Pages: private::Sealed + Send + Sync + 'static {}

impl<P> private::Sealed for P
where
    P: for<'a> AsPageIter<Iter<'a> = VmallocPageIter<'a>> + Send + Sync + 'static,
{
    fn pages(&mut self, pages: &mut KVec<*mut bindings::page>, flags: Flags) -> Result<usize> {
        let iter = self.page_iter();
        let size = iter.size();
        pages.reserve(iter.page_count(), flags)?;
        for page in iter {
            pages.push(page.as_ptr(), flags)?;
        }
        Ok(size)
    }
}

impl<P> Pages for P where
    P: for<'a> AsPageIter<Iter<'a> = VmallocPageIter<'a>> + Send + Sync + 'static
{
}

impl private::Sealed for KVec<Page> {
    fn pages(&mut self, pages: &mut KVec<*mut bindings::page>, flags: Flags) -> Result<usize> {
        pages.reserve(self.len(), flags)?;
        for page in self.iter() {
            pages.push(page.as_ptr(), flags)?;
        }
        self.len().checked_mul(PAGE_SIZE).ok_or(EOVERFLOW)
    }
}

impl Pages for KVec<Page> {}

/// The table and the pages of an owned [`SgTable`], in one allocation.
///
/// # Invariants
///
/// `sgt` describes pages owned by `_pages`.
struct Backing<P> {
    // Note: Fields drop in declaration order: the table is freed before the pages are released.
    sgt: RawTable,
    _pages: P,
}

/// Type-erased access to a [`Backing`].
trait Table: Send + Sync {
    fn raw(&self) -> &RawTable;
}

impl<P: Send + Sync> Table for Backing<P> {
    #[inline]
    fn raw(&self) -> &RawTable {
        &self.sgt
    }
}

/// An owned `struct sg_table` and the pages it describes, at a stable heap address.
struct OwnedSgt(KBox<dyn Table>);

impl OwnedSgt {
    fn new<P: Pages>(mut buf: P, max_segment: u32, flags: Flags) -> Result<Self> {
        let mut pages = KVec::new();
        let size = private::Sealed::pages(&mut buf, &mut pages, flags)?;
        let sgt = RawTable::new(&mut pages, size, max_segment, flags)?;
        // INVARIANT: `sgt` was built over the pages of `buf`. If the allocation fails, the
        // `Backing` is dropped in field order: the table first, then the pages.
        let backing: KBox<dyn Table> = KBox::new(Backing { sgt, _pages: buf }, flags)?;
        Ok(Self(backing))
    }
}

/// A table someone else allocated, kept alive by its owner, which we keep.
///
/// # Invariants
///
/// `sgt` points to an initialised `struct sg_table` that stays valid while `_owner` lives.
struct KeptSgt {
    // Note: `sgt` must not be used after `_owner` is dropped; nothing here uses it in `drop`.
    sgt: NonNull<bindings::sg_table>,
    _owner: KBox<dyn Send + Sync>,
}

// SAFETY: The owner is `Send`, and the table is plain memory any task may read.
unsafe impl Send for KeptSgt {}

// SAFETY: The owner is `Sync`, and through `&KeptSgt` the table is only read.
unsafe impl Sync for KeptSgt {}

/// Where the `struct sg_table` of an [`SgTable`] comes from, and who frees it.
enum Source<'a> {
    /// Made by someone else, who keeps it valid and unchanged for `'a`. We never free it.
    Borrowed(&'a RawTable),
    /// Made by someone else and kept valid by its owner, which we hold. We free only the owner.
    Kept(KeptSgt),
    /// Allocated by us over pages we own. We free the table, then the pages.
    Owned(OwnedSgt),
}

impl Source<'_> {
    #[inline]
    fn as_raw(&self) -> NonNull<bindings::sg_table> {
        match self {
            Source::Borrowed(sgt) => sgt.as_raw(),
            Source::Kept(kept) => kept.sgt,
            Source::Owned(owned) => owned.0.raw().as_raw(),
        }
    }

    /// The table, if it is ours to write (and so to map).
    #[inline]
    fn writable(&mut self) -> Option<NonNull<bindings::sg_table>> {
        match self {
            Source::Owned(owned) => Some(owned.0.raw().as_raw()),
            Source::Borrowed(_) | Source::Kept(_) => None,
        }
    }
}

/// A scatter-gather table: a `struct sg_table`, where it comes from, and its mapping state.
///
/// One non-generic, movable type for tables of every origin: a driver can keep tables it
/// allocated, mapped or not, next to tables another subsystem made, in one plain field such as a
/// `KVec<SgTable<'static>>`. What a table can do depends on its [`State`], checked at run time:
/// an operation the state does not allow returns `EINVAL` and changes nothing (see the table in
/// [`State`]'s module). Only the constructors that wrap a C table are `unsafe`.
///
/// Dropping an [`SgTable`] unmaps it if we mapped it (with the same device, direction and
/// `orig_nents`), then frees the `struct sg_table` if we allocated it, then releases the pages.
///
/// # Examples
///
/// ```
/// use kernel::{page::PAGE_SIZE, sg::SgTable};
///
/// let mut buf = VVec::<u8>::with_capacity(4 * PAGE_SIZE, GFP_KERNEL)?;
/// buf.resize(4 * PAGE_SIZE, 0x5a, GFP_KERNEL)?;
/// let table = SgTable::new(buf, GFP_KERNEL)?;
///
/// assert!(!table.is_mapped());
/// assert_eq!(table.dma_iter().err(), Some(EINVAL));
/// let len: usize = table.cpu_iter().map(|seg| seg.len()).sum();
/// assert_eq!(len, 4 * PAGE_SIZE);
/// # Ok::<(), Error>(())
/// ```
pub struct SgTable<'a> {
    // Note: Drop order matters; `state` is declared first so that a mapping we made is unmapped
    // before `source` frees the `struct sg_table` and releases its pages.
    state: State,
    source: Source<'a>,
}

impl<'a> SgTable<'a> {
    /// Wraps a `struct sg_table` that someone else allocated and that is not mapped for DMA.
    ///
    /// The table starts [`State::Unmapped`]; it can be iterated by the CPU but not mapped (it is
    /// not ours to write). Dropping it frees nothing.
    ///
    /// # Safety
    ///
    /// `sgt` points to an initialised `struct sg_table` that stays valid, and that nobody
    /// changes, maps or frees, for `'a`.
    pub unsafe fn from_raw(sgt: *mut bindings::sg_table) -> Self {
        Self {
            state: State::Unmapped,
            // SAFETY: By the safety requirements of this function.
            source: Source::Borrowed(unsafe { RawTable::from_raw(sgt) }),
        }
    }

    /// Wraps a `struct sg_table` that someone else allocated and mapped for DMA, e.g. the pages
    /// of a DRM GEM shmem object.
    ///
    /// The table starts [`State::Borrowed`]: both iterations work, while unmapping and syncing
    /// stay the owner's business.
    ///
    /// # Safety
    ///
    /// `sgt` points to an initialised `struct sg_table` that is mapped for DMA and stays valid,
    /// mapped and unchanged (nobody unmaps, changes or frees it) for `'a`.
    pub unsafe fn from_raw_mapped(sgt: *mut bindings::sg_table) -> Self {
        Self {
            state: State::Borrowed,
            // SAFETY: By the safety requirements of this function.
            source: Source::Borrowed(unsafe { RawTable::from_raw(sgt) }),
        }
    }
}

impl SgTable<'static> {
    /// Wraps a `struct sg_table` that `owner` keeps alive, and keeps `owner`; not mapped.
    ///
    /// This is [`SgTable::from_raw`] for a table whose owner can travel with it (e.g. an
    /// `ARef` of the object that holds the table), so the result is an `SgTable<'static>`.
    /// Dropping it drops `owner`.
    ///
    /// # Errors
    ///
    /// `ENOMEM` if `owner` cannot be boxed; `owner` is dropped then.
    ///
    /// # Safety
    ///
    /// `sgt` points to an initialised `struct sg_table` that stays valid, and that nobody
    /// changes, maps or frees, as long as `owner` lives.
    pub unsafe fn from_owner<O: Send + Sync + 'static>(
        owner: O,
        sgt: *mut bindings::sg_table,
        flags: Flags,
    ) -> Result<Self> {
        // SAFETY: By the safety requirements of this function.
        unsafe { Self::kept(owner, sgt, State::Unmapped, flags) }
    }

    /// Wraps a mapped `struct sg_table` that `owner` keeps alive and mapped, and keeps `owner`.
    ///
    /// This is [`SgTable::from_raw_mapped`] for a table whose owner can travel with it, e.g. the
    /// `ARef` of a DRM GEM shmem object. Dropping it drops `owner`.
    ///
    /// # Errors
    ///
    /// `ENOMEM` if `owner` cannot be boxed; `owner` is dropped then.
    ///
    /// # Safety
    ///
    /// `sgt` points to an initialised `struct sg_table` that is mapped for DMA and stays valid,
    /// mapped and unchanged as long as `owner` lives.
    pub unsafe fn from_owner_mapped<O: Send + Sync + 'static>(
        owner: O,
        sgt: *mut bindings::sg_table,
        flags: Flags,
    ) -> Result<Self> {
        // SAFETY: By the safety requirements of this function.
        unsafe { Self::kept(owner, sgt, State::Borrowed, flags) }
    }

    /// # Safety
    ///
    /// `sgt` points to an initialised `struct sg_table` that stays valid and unchanged as long as
    /// `owner` lives, and is mapped as long as `owner` lives if `state` is [`State::Borrowed`].
    unsafe fn kept<O: Send + Sync + 'static>(
        owner: O,
        sgt: *mut bindings::sg_table,
        state: State,
        flags: Flags,
    ) -> Result<Self> {
        let sgt = NonNull::new(sgt).ok_or(EINVAL)?;
        let owner: KBox<dyn Send + Sync> = KBox::new(owner, flags)?;
        Ok(Self {
            state,
            // INVARIANT: By the safety requirements, `sgt` stays valid while `owner` lives.
            source: Source::Kept(KeptSgt { sgt, _owner: owner }),
        })
    }

    /// Builds an unmapped table over `pages`, which it keeps until it is dropped.
    ///
    /// Physically contiguous pages are merged into one entry; a buffer of more entries than fit
    /// in a page gets a chained table. To build a table a given device can map in one go, use
    /// [`SgTable::new_for_device`].
    ///
    /// # Errors
    ///
    /// `EINVAL` for an empty buffer, `ENOMEM` if the table cannot be allocated; `pages` is
    /// dropped then.
    pub fn new(pages: impl Pages, flags: Flags) -> Result<Self> {
        Self::owned(pages, u32::MAX, flags)
    }

    /// Builds an unmapped table over `pages` whose entries `dev` can take: none longer than its
    /// maximum segment size (`dma_get_max_seg_size()`) or than it can map at once
    /// (`dma_max_mapping_size()`, e.g. the swiotlb slot size when bouncing).
    ///
    /// # Errors
    ///
    /// As for [`SgTable::new`]; `EINVAL` too if `dev` can't take a whole page in one segment.
    pub fn new_for_device(dev: &Device<Bound>, pages: impl Pages, flags: Flags) -> Result<Self> {
        // SAFETY: `dev.as_raw()` is a valid device.
        let max_mapping = unsafe { bindings::dma_max_mapping_size(dev.as_raw()) };
        // SAFETY: `dev.as_raw()` is a valid device.
        let max_seg = unsafe { bindings::dma_get_max_seg_size(dev.as_raw()) };
        // `sg_alloc_table_from_pages_segment()` rounds down to whole pages by itself.
        let max_segment = u32::try_from(max_mapping).unwrap_or(u32::MAX).min(max_seg);
        Self::owned(pages, max_segment, flags)
    }

    /// Builds a table over `pages` for `dev` and maps it: [`SgTable::new_for_device`], then
    /// [`SgTable::map`]. This is the common driver path.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::new`] and [`SgTable::map`]; on error nothing stays mapped or allocated.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::device::{Bound, Device};
    /// use kernel::{dma::DataDirection, page::PAGE_SIZE, sg::SgTable};
    ///
    /// # fn test(dev: &Device<Bound>) -> Result {
    /// let mut firmware = VVec::<u8>::with_capacity(16 * PAGE_SIZE, GFP_KERNEL)?;
    /// firmware.resize(16 * PAGE_SIZE, 0, GFP_KERNEL)?;
    /// let table = SgTable::new_mapped(dev, firmware, DataDirection::ToDevice, GFP_KERNEL)?;
    /// for seg in table.dma_iter()? {
    ///     pr_info!("{:#x} + {}\n", seg.dma_address(), seg.dma_len());
    /// }
    /// # Ok::<(), Error>(()) }
    /// ```
    pub fn new_mapped(
        dev: &Device<Bound>,
        pages: impl Pages,
        dir: DataDirection,
        flags: Flags,
    ) -> Result<Self> {
        let mut table = Self::new_for_device(dev, pages, flags)?;
        table.map(dev, dir)?;
        Ok(table)
    }

    fn owned(pages: impl Pages, max_segment: u32, flags: Flags) -> Result<Self> {
        Ok(Self {
            state: State::Unmapped,
            source: Source::Owned(OwnedSgt::new(pages, max_segment, flags)?),
        })
    }
}

impl SgTable<'_> {
    /// Maps the table for DMA by `dev` in direction `dir`: [`State::Unmapped`] →
    /// [`State::Managed`] (`dma_map_sgtable()`, without attributes).
    ///
    /// The mapping lasts until [`SgTable::unmap`], the drop of the table, or the unbinding of
    /// `dev` from its driver, whichever comes first.
    ///
    /// # Errors
    ///
    /// - `EINVAL` if the table is mapped already, or is not ours to map (a table someone else
    ///   made); the state is unchanged.
    /// - The error of `dma_map_sgtable()` (`EINVAL`, `ENOMEM`, `EIO`, `EREMOTEIO`), or `EIO` if
    ///   it mapped no entry (a device without a DMA mask); the table stays unmapped.
    pub fn map(&mut self, dev: &Device<Bound>, dir: DataDirection) -> Result {
        self.map_raw(dev, dir, 0)
    }

    /// Maps the table like [`SgTable::map`], with DMA attributes, which unmapping then uses too.
    ///
    /// For example [`DMA_ATTR_SKIP_CPU_SYNC`](crate::dma::attrs::DMA_ATTR_SKIP_CPU_SYNC).
    ///
    /// # Errors
    ///
    /// As for [`SgTable::map`].
    pub fn map_with_attrs(
        &mut self,
        dev: &Device<Bound>,
        dir: DataDirection,
        attrs: Attrs,
    ) -> Result {
        self.map_raw(dev, dir, attrs.as_raw())
    }

    fn map_raw(&mut self, dev: &Device<Bound>, dir: DataDirection, attrs: c_ulong) -> Result {
        let sgt = self.source.writable();
        // SAFETY: A writable table is owned by `self.source`, which outlives `self.state` (it is
        // dropped after it), and `&mut self` keeps everyone else away while it is mapped.
        unsafe { self.state.map(sgt, dev, dir, attrs) }
    }

    /// Unmaps a table we mapped: [`State::Managed`] → [`State::Unmapped`]
    /// (`dma_unmap_sgtable()` with the device, direction and attributes of [`SgTable::map`]).
    ///
    /// If the device was unbound meanwhile, the mapping is gone already and is not unmapped twice.
    /// The table can be mapped again afterwards, for any device and direction.
    ///
    /// # Errors
    ///
    /// `EINVAL` if we did not map the table; the state is unchanged.
    pub fn unmap(&mut self) -> Result {
        self.state.unmap()
    }

    /// Returns an iterator over the DMA segments of a mapped table (the first `nents` entries).
    ///
    /// # Errors
    ///
    /// `EINVAL` if the table is not mapped, `ENODEV` if the device it was mapped for has been
    /// unbound.
    #[inline]
    pub fn dma_iter(&self) -> Result<DmaIter<'_>> {
        self.state.check_dma()?;
        // SAFETY: The table is mapped (checked above) and stays valid and unchanged while `self`
        // is borrowed.
        Ok(unsafe { DmaIter::new(self.source.as_raw()) })
    }

    /// Returns an iterator over the CPU segments of the table (all `orig_nents` entries), in any
    /// state.
    #[inline]
    pub fn cpu_iter(&self) -> CpuIter<'_> {
        // SAFETY: The table and its pages stay valid and unchanged while `self` is borrowed.
        unsafe { CpuIter::new(self.source.as_raw()) }
    }

    /// Gives the memory back to the CPU after the device wrote it
    /// (`dma_sync_sgtable_for_cpu()`): needed before the CPU reads what the device wrote while
    /// the table stays mapped.
    ///
    /// # Errors
    ///
    /// `EINVAL` if we did not map the table, `ENODEV` if its device has been unbound.
    pub fn sync_for_cpu(&self) -> Result {
        self.state.mapping()?.sync_for_cpu()
    }

    /// Gives the memory to the device after the CPU wrote it
    /// (`dma_sync_sgtable_for_device()`): needed before the device reads what the CPU wrote
    /// after mapping.
    ///
    /// # Errors
    ///
    /// `EINVAL` if we did not map the table, `ENODEV` if its device has been unbound.
    pub fn sync_for_device(&self) -> Result {
        self.state.mapping()?.sync_for_device()
    }

    /// Returns the number of bytes the table describes: the sum of its CPU segments.
    pub fn size(&self) -> usize {
        self.cpu_iter().map(|seg| seg.len()).sum()
    }

    /// Copies `buf.len()` bytes of the table's memory, from `offset` on, into `buf`
    /// (`sg_pcopy_to_buffer()`).
    ///
    /// While the table is mapped for a device that writes it, call [`SgTable::sync_for_cpu`]
    /// first, or the CPU may read stale data.
    ///
    /// # Errors
    ///
    /// `ERANGE` if the range is not inside the table; nothing is copied then.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result {
        let (sgt, skip) = self.check_range(offset, buf.len())?;
        // SAFETY:
        // - `sgt` is a valid table while `self` is borrowed, with `orig_nents` entries.
        // - `buf` is valid for writing `buf.len()` bytes, which lie inside the table.
        unsafe {
            bindings::sg_pcopy_to_buffer(
                sgt.sgl,
                sgt.orig_nents,
                buf.as_mut_ptr().cast(),
                buf.len(),
                skip,
            )
        };
        Ok(())
    }

    /// Copies `data` into the table's memory from `offset` on (`sg_pcopy_from_buffer()`).
    ///
    /// While the table is mapped for a device that reads it, call [`SgTable::sync_for_device`]
    /// afterwards, or the device may read stale data.
    ///
    /// # Errors
    ///
    /// - `EINVAL` if the memory is not ours to write (a table someone else made).
    /// - `ERANGE` if the range is not inside the table.
    ///
    /// Nothing is copied on error.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result {
        self.source.writable().ok_or(EINVAL)?;
        let (sgt, skip) = self.check_range(offset, data.len())?;
        // SAFETY:
        // - `sgt` is a valid table with `orig_nents` entries over pages we own, and `&mut self`
        //   keeps every other CPU user of them away.
        // - `data` is valid for reading `data.len()` bytes, which fit inside the table.
        unsafe {
            bindings::sg_pcopy_from_buffer(
                sgt.sgl,
                sgt.orig_nents,
                data.as_ptr().cast(),
                data.len(),
                skip,
            )
        };
        Ok(())
    }

    /// Checks that `offset..offset + len` lies inside the table.
    fn check_range(&self, offset: usize, len: usize) -> Result<(&bindings::sg_table, c_long)> {
        let end = offset.checked_add(len).ok_or(ERANGE)?;
        if end > self.size() {
            return Err(ERANGE);
        }
        // SAFETY: The table is valid while `self` is borrowed.
        let sgt = unsafe { self.source.as_raw().as_ref() };
        Ok((sgt, c_long::try_from(offset).map_err(|_| ERANGE)?))
    }

    /// Returns the mapping state.
    #[inline]
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Returns whether the table is mapped for DMA right now, i.e. [`SgTable::dma_iter`] works.
    #[inline]
    pub fn is_mapped(&self) -> bool {
        self.state.is_mapped()
    }

    /// Returns the direction of a mapping we made, or `None`.
    #[inline]
    pub fn direction(&self) -> Option<DataDirection> {
        self.state.mapping().ok().map(|m| m.direction())
    }

    /// Returns the number of CPU entries (`orig_nents`).
    #[inline]
    pub fn orig_nents(&self) -> usize {
        // SAFETY: The table is valid while `self` lives.
        // CAST: `c_uint` always fits in `usize`.
        unsafe { self.source.as_raw().as_ref() }.orig_nents as usize
    }

    /// Returns the number of DMA entries (`nents`) of a mapped table.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::dma_iter`].
    #[inline]
    pub fn nents(&self) -> Result<usize> {
        self.state.check_dma()?;
        // SAFETY: The table is valid while `self` lives.
        // CAST: `c_uint` always fits in `usize`.
        Ok(unsafe { self.source.as_raw().as_ref() }.nents as usize)
    }

    /// Returns the C `struct sg_table`, to hand it to C code that only reads it.
    #[inline]
    pub fn as_raw(&self) -> *mut bindings::sg_table {
        self.source.as_raw().as_ptr()
    }
}
