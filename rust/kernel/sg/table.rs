// SPDX-License-Identifier: GPL-2.0

//! [`SgTable`]: one movable, non-generic type for every scatter-gather table a driver holds.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)

use super::{
    iter::DmaIter,
    limits::{
        Bus,
        Limits, //
    },
    mapping::Keep,
    source::{
        OwnedSgt,
        Pages,
        Source, //
    },
    state::State,
};
use crate::{
    alloc::Flags,
    bindings,
    device::{
        Bound,
        Device, //
    },
    dma::{
        Attrs,
        DataDirection, //
    },
    prelude::*,
    task::might_sleep,
};

/// A scatter-gather table: a `struct sg_table`, where it comes from, and its mapping state.
///
/// One non-generic, movable type for tables of every origin: a driver can keep tables it
/// allocated, mapped or not, next to tables another subsystem made, in one plain field such as a
/// `KVec<SgTable<'static>>`. What a table can do depends on its [`State`], checked at run time:
/// an operation the state does not allow returns `EINVAL` and changes nothing (see the table in
/// [`State`]'s documentation). Only the constructors that wrap a C table are `unsafe`.
///
/// Dropping an [`SgTable`] unmaps it if we mapped it (with the same device, direction,
/// attributes and `orig_nents`), then frees the `struct sg_table` if we allocated it, then
/// releases the pages. Dropping a table with a devres mapping may sleep.
///
/// A table we map holds its mapping in one of two ways (see [`Mapping`](super::Mapping)):
///
/// - [`SgTable::map`] keeps it in a [`Devres`](crate::devres::Devres), for a table that may
///   outlive the binding of its device (a `SgTable<'static>` in an `Arc`, a work item, a
///   global): unbinding unmaps it. It allocates, may sleep, and checks at each use that the
///   device is still bound.
/// - [`SgTable::map_bound`] borrows the `&'a Device<Bound>` for the table's lifetime `'a`, for a
///   table kept in the driver's data of the binding (`Data<'bound>`) or on the stack: the
///   borrow checker proves that the table, and so the mapping, goes before the binding, unless
///   safe code leaks the table (`core::mem::forget()`): then the mapping is leaked with it and
///   its memory. It allocates nothing, does not sleep, and costs what `dma_map_sgtable()` costs.
///
/// # Invariants
///
/// - `source` gives a `struct sg_table` that stays valid while `self` lives, and that nobody but
///   `state` maps, unmaps or changes meanwhile.
/// - If `state` is [`State::Borrowed`], the first `nents` entries of the table are initialised
///   while `self` lives, and mapped for DMA by the table's owner, or, for a view of a shared
///   table, while that table's mapping is live; a table taken from `kernel::scatterlist` is
///   mapped as far as its lender says (a `&SGTable` does not promise it: see interop.rs); if it is
///   [`State::Managed`], it is mapped by the mapping held there, unless revoked, and
///   `source.as_raw()` is the table that mapping was made for.
/// - `size` is the sum of the lengths of the `orig_nents` entries (the CPU view) or, for a table
///   without CPU view, of its DMA segments.
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
/// assert_eq!(table.size(), 4 * PAGE_SIZE);
///
/// // The table covers the length of a vector, not its capacity.
/// let empty = VVec::<u8>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
/// assert_eq!(SgTable::new(empty, GFP_KERNEL).err(), Some(EINVAL));
/// # Ok::<(), Error>(())
/// ```
pub struct SgTable<'a> {
    // Note: Drop order matters; `Drop` unmaps a mapping we made, then `source` frees the
    // `struct sg_table` and releases its pages.
    state: State<'a>,
    source: Source<'a>,
    size: usize,
}

impl core::fmt::Debug for SgTable<'_> {
    /// What a driver wants in its log: where the table comes from, its state (with the device
    /// and direction of a mapping we made), its size and entry counts. No pointer: the memory
    /// of a table may be gone by the time someone reads the log.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{sg::SgTable, str::CString};
    ///
    /// let mut buf = VVec::<u8>::with_capacity(4096, GFP_KERNEL)?;
    /// buf.resize(4096, 0, GFP_KERNEL)?;
    /// let table = SgTable::new(buf, GFP_KERNEL)?;
    /// let text = CString::try_from_fmt(fmt!("{:?}", table))?;
    /// let expected = "SgTable { source: \"owned\", state: Unmapped, size: 4096, orig_nents: 1, \
    ///                 nents: None }";
    /// assert_eq!(text.to_bytes(), expected.as_bytes());
    /// # Ok::<(), Error>(())
    /// ```
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SgTable")
            .field("source", &self.source.name())
            .field("state", &self.state)
            .field("size", &self.size)
            .field("orig_nents", &self.orig_nents())
            .field("nents", &self.nents().ok())
            .finish()
    }
}

// One table, whatever its origin and state, in one cache line.
const _: () = assert!(core::mem::size_of::<SgTable<'static>>() <= 64);

impl Drop for SgTable<'_> {
    fn drop(&mut self) {
        // A table not mapped by us has nothing to unmap.
        //
        // SAFETY: `source` gives the table `state` mapped (type invariants).
        let _ = unsafe { self.state.unmap(self.source.as_raw()) };
    }
}

impl<'a> SgTable<'a> {
    /// Makes a table of its parts: for the tables someone else made (borrowed.rs).
    ///
    /// # Safety
    ///
    /// The parts keep the invariants of [`SgTable`].
    pub(super) unsafe fn from_parts(state: State<'a>, source: Source<'a>, size: usize) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            state,
            source,
            size,
        }
    }

    /// Where the table comes from, for the `impl` blocks in the other files of the module (CPU
    /// access, syncs); only this file changes the state.
    #[inline]
    pub(super) fn source(&self) -> &Source<'a> {
        &self.source
    }
}

impl SgTable<'static> {
    /// Builds an unmapped table over `pages`, which it keeps until it is dropped.
    ///
    /// Each page gets an entry of its own, whatever the physical layout, so that the table maps
    /// on every device that takes a page per segment; a buffer of more entries than fit in a
    /// page gets a chained table. [`SgTable::new_for_device`] merges physically contiguous
    /// pages into fewer entries, within the limits of one device.
    ///
    /// May sleep if `flags` allow it.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an empty buffer (a vector of length 0), `ENOMEM` if the table cannot be
    /// allocated; `pages` is dropped then.
    pub fn new(pages: impl Pages, flags: Flags) -> Result<Self> {
        Self::owned(pages, None, Limits::PAGE, Bus::DIRECT, flags)
    }

    /// Builds an unmapped table over the bytes `offset..offset + len` of `pages`, which it keeps
    /// until it is dropped: a header-less slice of a firmware file, one object in a larger
    /// allocation. Offsets of the table (`read_at()`, `dma_window()`, ...) count
    /// from `offset`.
    ///
    /// May sleep if `flags` allow it.
    ///
    /// # Errors
    ///
    /// `ERANGE` if the range is not inside the buffer's length, `EINVAL` if it is empty,
    /// `ENOMEM` if the table cannot be allocated; `pages` is dropped then.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{page::PAGE_SIZE, sg::SgTable};
    ///
    /// // A firmware file: a 64-byte header, then the image the device gets.
    /// let mut file = VVec::<u8>::with_capacity(3 * PAGE_SIZE, GFP_KERNEL)?;
    /// file.resize(64, 0xff, GFP_KERNEL)?;
    /// file.resize(3 * PAGE_SIZE, 0x5a, GFP_KERNEL)?;
    /// let image = SgTable::new_range(file, 64, 3 * PAGE_SIZE - 64, GFP_KERNEL)?;
    ///
    /// assert_eq!(image.size(), 3 * PAGE_SIZE - 64);
    /// assert_eq!(image.orig_nents(), 3);
    ///
    /// let file = VVec::<u8>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
    /// assert_eq!(SgTable::new_range(file, 0, 1, GFP_KERNEL).err(), Some(ERANGE));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new_range(pages: impl Pages, offset: usize, len: usize, flags: Flags) -> Result<Self> {
        Self::owned(pages, Some((offset, len)), Limits::PAGE, Bus::DIRECT, flags)
    }

    /// [`SgTable::new_range`], in entries `dev` can take, as [`SgTable::new_for_device`] makes
    /// them.
    ///
    /// May sleep if `flags` allow it.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::new_range`] and [`SgTable::new_for_device`].
    pub fn new_range_for_device(
        dev: &Device<Bound>,
        pages: impl Pages,
        offset: usize,
        len: usize,
        flags: Flags,
    ) -> Result<Self> {
        Self::owned(
            pages,
            Some((offset, len)),
            Limits::for_building(dev)?,
            Bus::of(dev),
            flags,
        )
    }

    /// Builds an unmapped table over `pages` whose entries `dev` can take: none longer than its
    /// maximum segment size (`dma_get_max_seg_size()`) or than it can map at once
    /// (`dma_max_mapping_size()`, e.g. the swiotlb slot size when bouncing), and none across its
    /// segment boundary (`dma_get_seg_boundary()`).
    ///
    /// May sleep if `flags` allow it.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::new`]; `EINVAL` too if `dev` can't take a whole page in one segment,
    /// `EIO` if it has no DMA mask (it cannot do DMA).
    pub fn new_for_device(dev: &Device<Bound>, pages: impl Pages, flags: Flags) -> Result<Self> {
        Self::owned(pages, None, Limits::for_building(dev)?, Bus::of(dev), flags)
    }

    /// Builds a table over `pages` for `dev` and maps it: [`SgTable::new_for_device`] with
    /// `flags`, then [`SgTable::map`]. The common driver path for a table that may outlive the
    /// binding of `dev`; for one that does not, [`SgTable::new_mapped_bound`] costs less.
    ///
    /// Sleeps: the mapping allocates with `GFP_KERNEL` (see [`SgTable::map`]) whatever `flags`
    /// say, which apply to the table.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::new_for_device`] and [`SgTable::map`]; on error nothing stays mapped or
    /// allocated.
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
    #[track_caller]
    pub fn new_mapped(
        dev: &Device<Bound>,
        pages: impl Pages,
        dir: DataDirection,
        flags: Flags,
    ) -> Result<Self> {
        might_sleep();
        let mut table = Self::new_for_device(dev, pages, flags)?;
        table.map(dev, dir)?;
        Ok(table)
    }

    fn owned(
        pages: impl Pages,
        range: Option<(usize, usize)>,
        limits: Limits,
        bus: Bus<'_>,
        flags: Flags,
    ) -> Result<Self> {
        let (owned, size) = OwnedSgt::new(pages, range, limits, bus, flags)?;
        // INVARIANT: The table is ours and unmapped, and describes `size` bytes.
        Ok(Self {
            state: State::Unmapped,
            source: Source::Owned(owned),
            size,
        })
    }
}

impl<'a> SgTable<'a> {
    /// Builds a table over `pages` for `dev` and maps it for the lifetime of the table:
    /// [`SgTable::new_for_device`] with `flags`, then [`SgTable::map_bound`]. The common driver
    /// path for a table kept in the driver's data of the binding.
    ///
    /// Allocates the table with `flags`, and nothing for the mapping: with `GFP_ATOMIC` (or
    /// `GFP_NOWAIT`), it does not sleep, but on error, when it drops `pages`: freeing a `VVec` or
    /// a `VBox` (`vfree()`) may sleep.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::new_for_device`] and [`SgTable::map_bound`]; on error nothing stays
    /// mapped or allocated.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::device::{Bound, Device};
    /// use kernel::{dma::DataDirection, page::PAGE_SIZE, sg::SgTable};
    ///
    /// /// What a driver keeps for one binding of its device.
    /// struct Firmware<'bound> {
    ///     image: SgTable<'bound>,
    /// }
    ///
    /// # fn test(dev: &Device<Bound>) -> Result {
    /// let mut image = VVec::<u8>::with_capacity(8 * PAGE_SIZE, GFP_KERNEL)?;
    /// image.resize(8 * PAGE_SIZE, 0, GFP_KERNEL)?;
    /// let fw = Firmware {
    ///     image: SgTable::new_mapped_bound(dev, image, DataDirection::ToDevice, GFP_KERNEL)?,
    /// };
    /// assert!(fw.image.is_mapped());
    /// # Ok::<(), Error>(()) }
    /// ```
    pub fn new_mapped_bound(
        dev: &'a Device<Bound>,
        pages: impl Pages,
        dir: DataDirection,
        flags: Flags,
    ) -> Result<Self> {
        let mut table = SgTable::new_for_device(dev, pages, flags)?;
        table.map_bound(dev, dir)?;
        Ok(table)
    }

    /// Maps the table for DMA by `dev` in direction `dir`, for as long as the table lives:
    /// [`State::Unmapped`] → [`State::Managed`] (`dma_map_sgtable()`, without attributes).
    ///
    /// The table borrows `dev` for its lifetime `'a`, during which the device stays bound: a
    /// table in the driver's data of the binding (`Data<'bound>`, with `dev` from `probe()`) or
    /// on the stack. The mapping lasts until [`SgTable::unmap`] or the drop of the table (or
    /// for good, if the table is leaked). It allocates nothing and does not sleep (as far as the
    /// DMA API does not: an IOMMU allocates its page tables with `GFP_ATOMIC`), unless the table
    /// holds a devres mapping that unbinding revoked: dropping that may wait for the unbinding
    /// (it calls `might_sleep()`). For a table that must outlive the binding (an
    /// `SgTable<'static>`), use [`SgTable::map`].
    ///
    /// # Errors
    ///
    /// As for [`SgTable::map`], but for the `ENOMEM` of keeping the mapping, which this does not
    /// allocate.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::device::{Bound, Device};
    /// use kernel::{dma::DataDirection, page::PAGE_SIZE, sg::SgTable};
    ///
    /// # fn test(dev: &Device<Bound>) -> Result {
    /// let mut buf = VVec::<u8>::with_capacity(4 * PAGE_SIZE, GFP_KERNEL)?;
    /// buf.resize(4 * PAGE_SIZE, 0, GFP_KERNEL)?;
    /// let mut table = SgTable::new_for_device(dev, buf, GFP_KERNEL)?;
    ///
    /// table.map_bound(dev, DataDirection::FromDevice)?;
    /// assert_eq!(table.map_bound(dev, DataDirection::FromDevice), Err(EINVAL));
    /// assert!(table.dma_iter()?.count() >= 1);
    /// table.unmap()?;
    /// assert_eq!(table.dma_iter().err(), Some(EINVAL));
    /// # Ok::<(), Error>(()) }
    /// ```
    #[track_caller]
    pub fn map_bound(&mut self, dev: &'a Device<Bound>, dir: DataDirection) -> Result {
        self.map_raw(Keep::Lifetime(dev), dir, 0)
    }

    /// Maps the table like [`SgTable::map_bound`], with DMA attributes, which unmapping then uses
    /// too. The attributes accepted are those of [`SgTable::map_with_attrs`].
    ///
    /// # Errors
    ///
    /// As for [`SgTable::map_bound`].
    #[track_caller]
    pub fn map_bound_with_attrs(
        &mut self,
        dev: &'a Device<Bound>,
        dir: DataDirection,
        attrs: Attrs,
    ) -> Result {
        self.map_raw(Keep::Lifetime(dev), dir, attrs.as_raw())
    }

    /// Maps the table for DMA by `dev` in direction `dir`, as a devres mapping:
    /// [`State::Unmapped`] → [`State::Managed`] (`dma_map_sgtable()`, without attributes).
    ///
    /// The mapping lasts until [`SgTable::unmap`], the drop of the table, or the unbinding of
    /// `dev` from its driver, whichever comes first. A mapping that unbinding revoked is
    /// dropped first, so a table can be mapped again after its device came back.
    ///
    /// Sleeps: the mapping is kept in a [`Devres`](crate::devres::Devres), allocated with
    /// `GFP_KERNEL`.
    ///
    /// # Errors
    ///
    /// - `EINVAL`, with the state unchanged, if the table is mapped already, is not ours to
    ///   map (a table someone else made), if `dir` is [`DataDirection::None`], if an attribute
    ///   is not one `map_with_attrs` accepts, or if an entry is longer than the maximum segment
    ///   of `dev` or crosses its segment boundary at the DMA address `dev` would get (a bus
    ///   offset counts). A table built for no device has an entry per page, which fits every
    ///   device that takes a page per segment; one built for another device may not fit. (A
    ///   table whose devres mapping was revoked has dropped it by the time its entries are
    ///   checked: it is left `Unmapped`.)
    /// - `EIO` for a device without a DMA mask (an auxiliary device, for one), before the DMA
    ///   API is called.
    /// - `ENOMEM` if the mapping cannot be kept, or the error of `dma_map_sgtable()` (`EINVAL`,
    ///   `ENOMEM`, `EIO`, `EREMOTEIO`); the table is unmapped then.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::device::{Bound, Device};
    /// use kernel::{dma::DataDirection, page::PAGE_SIZE, sg::SgTable};
    ///
    /// # fn test(dev: &Device<Bound>) -> Result {
    /// let mut buf = VVec::<u32>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
    /// buf.resize(PAGE_SIZE, 0, GFP_KERNEL)?;
    /// let mut table = SgTable::new_for_device(dev, buf, GFP_KERNEL)?;
    ///
    /// assert_eq!(table.map(dev, DataDirection::None), Err(EINVAL));
    /// table.map(dev, DataDirection::FromDevice)?;
    /// assert_eq!(table.map(dev, DataDirection::FromDevice), Err(EINVAL));
    /// assert_eq!(table.direction(), Some(DataDirection::FromDevice));
    /// # Ok::<(), Error>(()) }
    /// ```
    #[track_caller]
    pub fn map(&mut self, dev: &Device<Bound>, dir: DataDirection) -> Result {
        might_sleep();
        self.map_raw(Keep::Devres(dev), dir, 0)
    }

    /// Maps the table like [`SgTable::map`], with DMA attributes, which unmapping then uses too.
    ///
    /// Accepted: [`DMA_ATTR_SKIP_CPU_SYNC`](crate::dma::attrs::DMA_ATTR_SKIP_CPU_SYNC) (then
    /// neither the map nor the unmap moves data between CPU and device: no cache maintenance on
    /// a device that is not coherent, no copy to or from bounce buffers; call
    /// [`SgTable::sync_for_device`] after mapping and [`SgTable::sync_for_cpu`] before
    /// [`SgTable::unmap`] where the data must move),
    /// [`DMA_ATTR_WEAK_ORDERING`](crate::dma::attrs::DMA_ATTR_WEAK_ORDERING),
    /// [`DMA_ATTR_NO_WARN`](crate::dma::attrs::DMA_ATTR_NO_WARN) and
    /// [`DMA_ATTR_PRIVILEGED`](crate::dma::attrs::DMA_ATTR_PRIVILEGED). Any other is refused,
    /// among them [`DMA_ATTR_MMIO`](crate::dma::attrs::DMA_ATTR_MMIO), which would hand memory
    /// to the device as MMIO, and the allocation attributes, which mean nothing for a mapping.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::map`].
    #[track_caller]
    pub fn map_with_attrs(
        &mut self,
        dev: &Device<Bound>,
        dir: DataDirection,
        attrs: Attrs,
    ) -> Result {
        might_sleep();
        self.map_raw(Keep::Devres(dev), dir, attrs.as_raw())
    }

    #[track_caller]
    fn map_raw(&mut self, keep: Keep<'_, 'a>, dir: DataDirection, attrs: c_ulong) -> Result {
        // Arguments, state and device first (the state unchanged on error), and a revoked
        // mapping dropped; then the source readies its table for the device; then the mapping.
        let ready = self.state.start_map(keep.device(), dir, attrs)?;
        // SAFETY: The state is `Unmapped` now (`start_map()`), so the table is not mapped.
        let sgt = unsafe { self.source.mappable(keep.device()) }?;
        // SAFETY: `ready` came from this state just above, and `sgt` was readied for the device
        // since. A table `mappable()` returns is owned by `self.source`, which outlives
        // `self.state` (it is dropped after it is unmapped), is what `source.as_raw()` gives
        // the other calls on the state, and `&mut self` keeps everyone else away while it is
        // mapped.
        unsafe { self.state.map(ready, sgt, keep) }
    }

    /// Unmaps a table we mapped: [`State::Managed`] → [`State::Unmapped`]
    /// (`dma_unmap_sgtable()` with the device, direction and attributes of [`SgTable::map`]).
    ///
    /// If the device was unbound meanwhile, the mapping is gone already and is not unmapped twice.
    /// The table can be mapped again afterwards, for any device and direction.
    ///
    /// May sleep for a devres mapping: it waits for an unbinding of the device that is revoking
    /// the mapping. Does not sleep for a lifetime-bound mapping.
    ///
    /// # Errors
    ///
    /// `EINVAL` if we did not map the table; the state is unchanged.
    #[track_caller]
    pub fn unmap(&mut self) -> Result {
        // SAFETY: `source` gives the table `state` mapped (type invariants).
        unsafe { self.state.unmap(self.source.as_raw()) }
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
        // is borrowed, by the type invariants.
        Ok(unsafe { DmaIter::new(self.source.as_raw()) })
    }

    /// Returns the number of bytes the table describes: the sum of its CPU entries or, for a
    /// table without CPU view, of its DMA segments. Counted once, when the table was made.
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Returns whether the CPU may read the table's memory (all but DMA-only tables).
    #[inline]
    pub(super) fn has_cpu_view(&self) -> bool {
        self.source().cpu().is_ok()
    }

    /// Checks that the bytes `offset..offset + len` lie inside the table.
    #[inline]
    pub(super) fn check_bytes(&self, offset: usize, len: usize) -> Result {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(ERANGE),
        }
    }

    /// Returns the mapping state.
    #[inline]
    pub fn state(&self) -> &State<'a> {
        &self.state
    }

    /// Returns whether the table is mapped for DMA right now, i.e. [`SgTable::dma_iter`] works.
    #[inline]
    pub fn is_mapped(&self) -> bool {
        self.state.is_mapped()
    }

    /// Returns the direction of a mapping we made, or of the owner's if the table was borrowed
    /// with it ([`Terms::MappedFor`](super::Terms::MappedFor)), or `None`.
    #[inline]
    pub fn direction(&self) -> Option<DataDirection> {
        self.state.direction()
    }

    /// Returns the number of CPU entries (`orig_nents`).
    #[inline]
    pub fn orig_nents(&self) -> usize {
        // SAFETY: The table is valid while `self` lives.
        // CAST: `c_uint` always fits in `usize`.
        unsafe { (*self.source.as_raw().as_ptr()).orig_nents as usize }
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
        Ok(unsafe { (*self.source.as_raw().as_ptr()).nents as usize })
    }

    /// Returns the C `struct sg_table`, to hand it to C code that reads it.
    ///
    /// The pointer is valid while `self` is borrowed. C code may read the table: its entries,
    /// `nents`, `orig_nents`, and the DMA addresses while [`SgTable::is_mapped`] holds. It must
    /// not map, unmap, sync, change or free the table (that is what `self` does), and must not
    /// write the memory of a table someone else made; it may write the memory of a table we
    /// own only where the caller could call `SgTable::write_at()`.
    #[inline]
    pub fn as_raw(&self) -> *mut bindings::sg_table {
        self.source.as_raw().as_ptr()
    }
}
