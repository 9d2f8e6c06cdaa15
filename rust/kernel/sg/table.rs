// SPDX-License-Identifier: GPL-2.0

//! [`SgTable`]: one movable, non-generic type for every scatter-gather table a driver holds.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)

use super::{
    iter::{
        CpuIter,
        DmaIter,
        DmaWindow, //
    },
    limits::{
        Bus,
        Limits, //
    },
    source::{
        Access,
        Foreign,
        OwnedSgt,
        Pages,
        Source, //
    },
    state::{
        Keep,
        State,
        SyncFor, //
    },
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
use core::ptr::NonNull;

/// A scatter-gather table: a `struct sg_table`, where it comes from, and its mapping state.
///
/// One non-generic, movable type for tables of every origin: a driver can keep tables it
/// allocated, mapped or not, next to tables another subsystem made, in one plain field such as a
/// `KVec<SgTable<'static>>`. What a table can do depends on its [`State`], checked at run time:
/// an operation the state does not allow returns `EINVAL` and changes nothing (see the table in
/// [`State`]'s module). Only the constructors that wrap a C table are `unsafe`.
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
/// - If `state` is [`State::Borrowed`], the table is mapped for DMA (by its owner) while `self`
///   lives, or, for a view of a shared table, while that table's mapping is live; if it is
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
/// let len: usize = table.cpu_iter()?.map(|seg| seg.len()).sum();
/// assert_eq!(len, 4 * PAGE_SIZE);
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
    /// use kernel::{page::PAGE_SIZE, sg::SgTable, str::CString};
    ///
    /// let mut buf = VVec::<u8>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
    /// buf.resize(PAGE_SIZE, 0, GFP_KERNEL)?;
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
    /// Wraps a table someone else made.
    ///
    /// # Safety
    ///
    /// `sgt` is valid and unchanged for `'a`, or as long as `owner` lives if it is `Some`; it is
    /// mapped for as long if `state` is [`State::Borrowed`] (or for as long as its
    /// [`OwnerMapping`](super::OwnerMapping) says, if it shares a table); its entries are CPU
    /// memory as [`Terms`](super::Terms) define it unless `access` is [`Access::DmaOnly`]; it is
    /// lent to us to map, as [`Terms::Mappable`](super::Terms::Mappable) says, if `access` is
    /// [`Access::Map`].
    pub(super) unsafe fn foreign(
        sgt: *mut bindings::sg_table,
        owner: Option<KBox<dyn Send + Sync>>,
        state: State<'a>,
        access: Access,
    ) -> Result<Self> {
        let sgt = NonNull::new(sgt).ok_or(EINVAL)?;
        let size = if access != Access::DmaOnly {
            // SAFETY: `sgt` is valid and unchanged while we borrow it, by the safety
            // requirements; the walk reads its entries, not their pages.
            unsafe { CpuIter::new(sgt) }.total().ok_or(EINVAL)?
        } else {
            // SAFETY: `sgt` is valid, mapped and unchanged, by the safety requirements.
            unsafe { DmaIter::new(sgt) }
                .try_fold(0usize, |sum, seg| sum.checked_add(seg.dma_len() as usize))
                .ok_or(EOVERFLOW)?
        };
        // INVARIANT: By the safety requirements; `size` was counted just above.
        Ok(Self {
            state,
            // SAFETY: By the safety requirements; each entry has a page but for DMA-only access
            // (checked).
            source: Source::Borrowed(unsafe { Foreign::new(sgt, access, owner) }),
            size,
        })
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
    /// allocation. Offsets of the table ([`SgTable::read_at`], [`SgTable::dma_window`], ...) count
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
    /// let first = image.cpu_iter()?.next().ok_or(EINVAL)?;
    /// assert_eq!(first.offset(), 64);
    /// let mut byte = [0u8; 1];
    /// image.read_at(0, &mut byte)?;
    /// assert_eq!(byte, [0x5a]);
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
    /// table.sync_for_cpu()?;
    /// table.unmap()?;
    /// assert_eq!(table.sync_for_cpu(), Err(EINVAL));
    /// # Ok::<(), Error>(()) }
    /// ```
    pub fn map_bound(&mut self, dev: &'a Device<Bound>, dir: DataDirection) -> Result {
        self.map_raw(Keep::Lifetime(dev), dir, 0)
    }

    /// Maps the table like [`SgTable::map_bound`], with DMA attributes, which unmapping then uses
    /// too. The attributes accepted are those of [`SgTable::map_with_attrs`].
    ///
    /// # Errors
    ///
    /// As for [`SgTable::map_bound`].
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
    ///   device that takes a page per segment; one built for another device may not fit.
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
    /// the unmap does not copy what the device wrote back from bounce buffers either; call
    /// [`SgTable::sync_for_cpu`] before [`SgTable::unmap`] to get it),
    /// [`DMA_ATTR_WEAK_ORDERING`](crate::dma::attrs::DMA_ATTR_WEAK_ORDERING),
    /// [`DMA_ATTR_NO_WARN`](crate::dma::attrs::DMA_ATTR_NO_WARN) and
    /// [`DMA_ATTR_PRIVILEGED`](crate::dma::attrs::DMA_ATTR_PRIVILEGED). Others are refused:
    /// [`DMA_ATTR_MMIO`](crate::dma::attrs::DMA_ATTR_MMIO) would hand memory to the device as
    /// MMIO, and the allocation attributes mean nothing for a mapping.
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

    fn map_raw(&mut self, keep: Keep<'_, 'a>, dir: DataDirection, attrs: c_ulong) -> Result {
        let source = &mut self.source;
        // SAFETY: A table `mappable()` returns is owned by `self.source`, which outlives
        // `self.state` (it is dropped after it is unmapped), is what `source.as_raw()` gives
        // the other calls on the state, and `&mut self` keeps everyone else away while it is
        // mapped.
        unsafe { self.state.map(|dev| source.mappable(dev), keep, dir, attrs) }
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

    /// Returns an iterator over the CPU segments of the table (all `orig_nents` entries), in any
    /// state.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a table without CPU view ([`Terms::DmaOnly`](super::Terms::DmaOnly)).
    #[inline]
    pub fn cpu_iter(&self) -> Result<CpuIter<'_>> {
        let sgt = self.source.cpu()?;
        // SAFETY: The table and the pages of its entries stay valid and unchanged while `self`
        // is borrowed: by the type invariants, and for a CPU view by those of `Source`.
        Ok(unsafe { CpuIter::new(sgt) })
    }

    /// Gives the memory back to the CPU after the device wrote it
    /// (`dma_sync_sgtable_for_cpu()`): needed before the CPU reads what the device wrote while
    /// the table stays mapped.
    ///
    /// Syncs take `&self`, as reads do: which of CPU and device owns the memory between syncs
    /// is the driver's protocol, as in C. A read racing a sync gets whatever bytes are there.
    ///
    /// # Errors
    ///
    /// `EINVAL` if we did not map the table, `ENODEV` if its device has been unbound.
    pub fn sync_for_cpu(&self) -> Result {
        // SAFETY: `source` gives the table of `state` (type invariants).
        unsafe { self.state.sync(self.source.as_raw(), SyncFor::Cpu) }
    }

    /// Gives the memory to the device after the CPU wrote it
    /// (`dma_sync_sgtable_for_device()`): needed before the device reads what the CPU wrote
    /// after mapping.
    ///
    /// # Errors
    ///
    /// `EINVAL` if we did not map the table, `ENODEV` if its device has been unbound.
    pub fn sync_for_device(&self) -> Result {
        // SAFETY: `source` gives the table of `state` (type invariants).
        unsafe { self.state.sync(self.source.as_raw(), SyncFor::Device) }
    }

    /// Returns an iterator over the DMA addresses of the bytes `offset..offset + len` of a mapped
    /// table: its DMA segments, clipped to the window. [`DmaWindow::chunks`] splits them further
    /// into aligned chunks, e.g. one per page-table entry.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::dma_iter`]; `ERANGE` if the window is not inside the table.
    ///
    /// # Examples
    ///
    /// Page-table entries for the second and third 4 KiB of a buffer, one per 4 KiB, as a GPU
    /// VM bind or nova-core's GSP loader writes them:
    ///
    /// ```
    /// # use kernel::device::{Bound, Device};
    /// use kernel::{
    ///     dma::{DataDirection, DmaAddress},
    ///     sg::SgTable,
    /// };
    ///
    /// # fn test(dev: &Device<Bound>) -> Result {
    /// const SZ_4K: usize = 4096;
    /// let mut buf = VVec::<u8>::with_capacity(4 * SZ_4K, GFP_KERNEL)?;
    /// buf.resize(4 * SZ_4K, 0, GFP_KERNEL)?;
    /// let table = SgTable::new_mapped_bound(dev, buf, DataDirection::ToDevice, GFP_KERNEL)?;
    ///
    /// let mut entries = KVec::new();
    /// for chunk in table.dma_window(SZ_4K, 2 * SZ_4K)?.chunks(SZ_4K)? {
    ///     assert_eq!(chunk.dma_address() % SZ_4K as DmaAddress, 0);
    ///     entries.push(chunk.dma_address().to_le(), GFP_KERNEL)?;
    /// }
    /// assert_eq!(entries.len(), 2);
    /// assert_eq!(table.dma_window(SZ_4K, 4 * SZ_4K).err(), Some(ERANGE));
    /// assert_eq!(table.dma_window(0, SZ_4K)?.chunks(3000).err(), Some(EINVAL));
    /// # Ok::<(), Error>(()) }
    /// ```
    #[inline]
    pub fn dma_window(&self, offset: usize, len: usize) -> Result<DmaWindow<'_>> {
        let segments = self.dma_iter()?;
        self.check_window(offset, len)?;
        Ok(DmaWindow::new(segments, offset, len))
    }

    /// Gives the bytes `offset..offset + len` back to the CPU after the device wrote them:
    /// [`SgTable::sync_for_cpu`] for part of the table, as DRM's `BO_SYNC` or a ring buffer
    /// does (`dma_sync_single_for_cpu()` on each piece of a DMA segment in the range). Where an
    /// IOMMU merged entries into one segment, which is then not physically contiguous, it syncs
    /// the whole table instead.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::sync_for_cpu`], after `ERANGE` if the range is not inside the table.
    /// Nothing is synced on error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::device::{Bound, Device};
    /// use kernel::{dma::DataDirection, page::PAGE_SIZE, sg::SgTable};
    ///
    /// # fn test(dev: &Device<Bound>) -> Result {
    /// let mut ring = VVec::<u32>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
    /// ring.resize(PAGE_SIZE, 0, GFP_KERNEL)?;
    /// let mut table = SgTable::new_for_device(dev, ring, GFP_KERNEL)?;
    /// assert_eq!(table.sync_range_for_cpu(0, 64), Err(EINVAL));
    ///
    /// table.map_bound(dev, DataDirection::Bidirectional)?;
    /// // The device wrote 64 bytes at the end of the first page.
    /// table.sync_range_for_cpu(PAGE_SIZE - 64, 64)?;
    /// let mut head = [0u8; 64];
    /// table.read_at(PAGE_SIZE - 64, &mut head)?;
    /// assert_eq!(table.sync_range_for_cpu(table.size() - 1, 2), Err(ERANGE));
    /// # Ok::<(), Error>(()) }
    /// ```
    pub fn sync_range_for_cpu(&self, offset: usize, len: usize) -> Result {
        self.sync_range(offset, len, SyncFor::Cpu)
    }

    /// Gives the bytes `offset..offset + len` to the device after the CPU wrote them:
    /// [`SgTable::sync_for_device`] for part of the table (`dma_sync_single_for_device()` on
    /// each piece of a DMA segment in the range).
    ///
    /// # Errors
    ///
    /// As for [`SgTable::sync_range_for_cpu`].
    pub fn sync_range_for_device(&self, offset: usize, len: usize) -> Result {
        self.sync_range(offset, len, SyncFor::Device)
    }

    fn sync_range(&self, offset: usize, len: usize, to: SyncFor) -> Result {
        self.check_window(offset, len)?;
        // SAFETY: `source` gives the table of `state` (type invariants).
        unsafe { self.state.sync_range(self.source.as_raw(), offset, len, to) }
    }

    /// Checks that `offset..offset + len` lies inside the table.
    #[inline]
    pub(super) fn check_window(&self, offset: usize, len: usize) -> Result {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(ERANGE),
        }
    }

    /// Returns the number of bytes the table describes: the sum of its CPU entries or, for a
    /// table without CPU view, of its DMA segments. Counted once, when the table was made.
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Copies `buf.len()` bytes of the table's memory, from `offset` on, into `buf`
    /// (`sg_pcopy_to_buffer()`).
    ///
    /// While the table is mapped for a device that writes it, call [`SgTable::sync_for_cpu`]
    /// first, or the CPU may read stale data.
    ///
    /// # Errors
    ///
    /// - `EINVAL` for a table without CPU view.
    /// - `ERANGE` if the range is not inside the table, or is 4 GiB or more; nothing is copied.
    /// - `EIO` if the entries held fewer bytes than the table's size (its maker changed it
    ///   after we counted them); what they held is copied.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{page::PAGE_SIZE, sg::SgTable};
    ///
    /// let mut buf = VVec::<u8>::with_capacity(2 * PAGE_SIZE, GFP_KERNEL)?;
    /// buf.resize(2 * PAGE_SIZE, 7, GFP_KERNEL)?;
    /// let mut table = SgTable::new(buf, GFP_KERNEL)?;
    ///
    /// table.write_at(PAGE_SIZE - 1, &[1, 2])?;
    /// let mut out = [0u8; 3];
    /// table.read_at(PAGE_SIZE - 2, &mut out)?;
    /// assert_eq!(out, [7, 1, 2]);
    /// assert_eq!(table.read_at(2 * PAGE_SIZE - 2, &mut out), Err(ERANGE));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result {
        let sgt = self.source.cpu()?;
        let skip = self.check_range(offset, buf.len())?;
        // SAFETY:
        // - `sgt` is a valid table while `self` is borrowed, with `orig_nents` entries whose
        //   pages are CPU memory (`Source::cpu()`).
        // - `buf` is valid for writing `buf.len()` bytes, which lie inside the table.
        let copied = unsafe {
            let sgt = sgt.as_ptr();
            bindings::sg_pcopy_to_buffer(
                (*sgt).sgl,
                (*sgt).orig_nents,
                buf.as_mut_ptr().cast(),
                buf.len(),
                skip,
            )
        };
        copied_all(copied, buf.len())
    }

    /// Copies `data` into the table's memory from `offset` on (`sg_pcopy_from_buffer()`).
    ///
    /// While the table is mapped for a device that reads it, call [`SgTable::sync_for_device`]
    /// afterwards, or the device may read stale data.
    ///
    /// # Errors
    ///
    /// - `EINVAL` if the memory is not ours to write (a table someone else made, even one lent
    ///   to us to map: [`Terms::Mappable`](super::Terms::Mappable)); nothing is copied.
    /// - `ERANGE` and `EIO` as for [`SgTable::read_at`].
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result {
        let sgt = self.source.writable()?;
        let skip = self.check_range(offset, data.len())?;
        // SAFETY:
        // - `sgt` is a valid table with `orig_nents` entries over pages that are ours, and
        //   `&mut self` keeps every other CPU user of them away.
        // - `data` is valid for reading `data.len()` bytes, which fit inside the table.
        let copied = unsafe {
            let sgt = sgt.as_ptr();
            bindings::sg_pcopy_from_buffer(
                (*sgt).sgl,
                (*sgt).orig_nents,
                data.as_ptr().cast(),
                data.len(),
                skip,
            )
        };
        copied_all(copied, data.len())
    }

    /// Checks that `offset..offset + len` lies inside the table and that C can copy `len` bytes
    /// at once (`sg_copy_buffer()` counts them in an `unsigned int`); returns `offset` for C.
    fn check_range(&self, offset: usize, len: usize) -> Result<c_long> {
        self.check_window(offset, len)?;
        if u32::try_from(len).is_err() {
            return Err(ERANGE);
        }
        c_long::try_from(offset).map_err(|_| ERANGE)
    }

    /// Returns whether the CPU may read the table's memory (all but DMA-only tables).
    #[inline]
    pub(super) fn has_cpu_view(&self) -> bool {
        self.source.cpu().is_ok()
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
    /// own only where the caller could call [`SgTable::write_at`].
    #[inline]
    pub fn as_raw(&self) -> *mut bindings::sg_table {
        self.source.as_raw().as_ptr()
    }
}

/// `Ok` if `sg_copy_buffer()` copied all `len` bytes. It copies fewer only if the entries hold
/// fewer bytes than the table's size, counted when the table was made: `EIO` then, for a table
/// whose maker changed it after all.
#[inline]
fn copied_all(copied: usize, len: usize) -> Result {
    if copied == len {
        Ok(())
    } else {
        Err(EIO)
    }
}
