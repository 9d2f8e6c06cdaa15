// SPDX-License-Identifier: GPL-2.0

//! Tables someone else made ([`Source::Borrowed`](super::source::Source::Borrowed)): C code,
//! another subsystem, or a table shared through an [`Arc`].
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)
//!
//! Two `unsafe` constructors take such a table: [`SgTable::from_raw`] borrows it for a lifetime,
//! [`SgTable::from_owner`] keeps an owner that keeps it. Both take the [`Terms`] the table is
//! borrowed on, which say what its owner promises and so what the [`SgTable`] may do; their
//! contracts are the same: the table stays valid and keeps those terms. [`SgTable::share`]
//! (safe) views a table shared through an `Arc`; `SgTable::try_from()` (safe, in `interop`)
//! takes a table of [`kernel::scatterlist`](crate::scatterlist).

use super::{
    iter::{
        CpuIter,
        DmaIter, //
    },
    source::{
        Access,
        Foreign,
        Source, //
    },
    state::{
        OwnerMapping,
        State, //
    },
    SgTable,
};
use crate::{
    alloc::Flags,
    bindings,
    device::Device,
    dma::DataDirection,
    prelude::*,
    sync::Arc, //
};
use core::ptr::NonNull;

/// The terms on which we borrow a `struct sg_table` someone else made: what its owner promises
/// about it, for as long as we borrow it, beyond what every owner promises.
///
/// Every owner promises that the table is initialised, stays valid, and that nobody else
/// changes or frees it. "CPU memory" below means: each of its `orig_nents` entries has a
/// `struct page` of memory the kernel maps (not I/O or device-private memory), valid and
/// physically contiguous, with consecutive `struct page`s, for the entry's `offset + length`
/// bytes; the contents may change (a device or C code may write them), but no Rust reference to
/// that memory lives meanwhile. "Mapped" means mapped for DMA for as long as we borrow the
/// table, and so for a device that stays bound as long: unbinding a device tears its DMA set-up
/// down, and a table mapped for it then holds dead addresses.
///
/// | terms        | promised                                       | the [`SgTable`] may         |
/// |--------------|------------------------------------------------|-----------------------------|
/// | `Unmapped`   | not mapped, nobody maps it; CPU memory         | read it (CPU)               |
/// | `Mapped`     | mapped, `nents` DMA segments; CPU memory       | read it; iterate DMA        |
/// | `MappedFor`  | as `Mapped`, for that device and direction     | as `Mapped`; sync           |
/// | `DmaOnly`    | mapped, `nents` DMA segments                   | iterate DMA                 |
/// | `Mappable`   | not mapped; CPU memory; lent to us to map      | read; map, sync, unmap      |
///
/// The [`State`] a table starts in follows: [`State::Unmapped`] for `Unmapped` and `Mappable`,
/// [`State::Borrowed`] for the others.
#[derive(Clone, Copy)]
pub enum Terms<'d> {
    /// Not mapped for DMA, and nobody maps it; its entries are CPU memory.
    Unmapped,
    /// Mapped for DMA by its owner, with `nents` holding the number of DMA segments (as
    /// `dma_map_sgtable()` sets it); its entries are CPU memory. A table an [`SgTable`] mapped
    /// is mapped only while its device is bound: to share one, use [`SgTable::share`].
    Mapped,
    /// As [`Terms::Mapped`], and mapped for this device and direction, so that we may sync it:
    /// a GEM shmem object's table on a non-coherent SoC, borrowed with [`SgTable::from_raw`]
    /// for no longer than the `&Device<Bound>` its `sg_table()` was given (GEM shmem unmaps it
    /// at unbind). Our syncs from `&SgTable` may race the owner's own, as in C: which of CPU and
    /// device owns the memory meanwhile is the owner's protocol.
    MappedFor(&'d Device, DataDirection),
    /// Mapped for DMA by its owner, with `nents` DMA segments; its entries need not be CPU
    /// memory: a dma-buf's peer-to-peer or VRAM segments. The CPU never touches an entry's page.
    DmaOnly,
    /// Not mapped; its entries are CPU memory a device may be handed (no page of another
    /// driver's device memory); and lent to us to map: nobody else maps, unmaps or syncs it
    /// meanwhile. We may map it ([`SgTable::map`], [`SgTable::map_bound`]), sync it and unmap
    /// it, and read its memory, but not write it: its pages may be the page cache or another
    /// mapping's, whose use meanwhile is the owner's protocol with the device, as in C. A table
    /// `drm_prime_pages_to_sg()` made for a dma-buf export, or one `blk_rq_map_sg()` filled for
    /// a request.
    ///
    /// Only [`SgTable::from_owner`] takes these terms: if safe code leaks an [`SgTable`] while
    /// mapped (`core::mem::forget()`), the table and its pages must outlive the mapping, which
    /// the owner, leaked with it, guarantees and a lifetime cannot.
    Mappable,
}

impl Terms<'_> {
    /// The state a table borrowed on these terms starts in, and what we may do with it.
    ///
    /// # Errors
    ///
    /// `EINVAL` for [`Terms::MappedFor`] with [`DataDirection::None`], which no mapping has.
    ///
    /// # Safety
    ///
    /// The table this is kept with keeps these terms while it is kept.
    unsafe fn start(self) -> Result<(State<'static>, Access)> {
        Ok(match self {
            Terms::Unmapped => (State::Unmapped, Access::Cpu),
            Terms::Mapped => (State::Borrowed(None), Access::Cpu),
            Terms::MappedFor(dev, dir) => {
                // SAFETY: The table is mapped for `dev` and `dir` while it is kept, by the safety
                // requirements.
                let owner = unsafe { OwnerMapping::mapped_for(dev, dir) }?;
                (State::Borrowed(Some(owner)), Access::Cpu)
            }
            Terms::DmaOnly => (State::Borrowed(None), Access::DmaOnly),
            Terms::Mappable => (State::Unmapped, Access::Map),
        })
    }
}

impl<'a> SgTable<'a> {
    /// Wraps a table someone else made.
    ///
    /// # Safety
    ///
    /// `sgt` is valid and unchanged for `'a`, or as long as `owner` lives if it is `Some`; it is
    /// mapped for as long if `state` is [`State::Borrowed`] (or for as long as its
    /// [`OwnerMapping`](super::OwnerMapping) says, if it shares a table; or as far as its lender
    /// says, for a table of `kernel::scatterlist`: see interop.rs); its entries are CPU
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
        // SAFETY: By the safety requirements; each entry has a page but for DMA-only access
        // (checked).
        let source = Source::Borrowed(unsafe { Foreign::new(sgt, access, owner) });
        // SAFETY: The invariants of `SgTable` hold by the safety requirements, and `size` was
        // counted just above.
        Ok(unsafe { Self::from_parts(state, source, size) })
    }
}

impl<'a> SgTable<'a> {
    /// Borrows a `struct sg_table` someone else made, for `'a`, on `terms`.
    ///
    /// What the table may do follows from `terms` (see [`Terms`]). Dropping it frees nothing.
    ///
    /// # Errors
    ///
    /// `EINVAL` if `sgt` is NULL, for [`Terms::Mappable`] (which needs an owner:
    /// [`SgTable::from_owner`]), for [`Terms::MappedFor`] with [`DataDirection::None`], and if
    /// the entries of a table of CPU memory lack a page or add up to more than `usize::MAX`
    /// bytes; `EOVERFLOW` if the DMA segments of a [`Terms::DmaOnly`] table do.
    ///
    /// # Safety
    ///
    /// For `'a`, `sgt` points to an initialised `struct sg_table` that stays valid, that nobody
    /// else changes or frees, and that keeps `terms`, but that its entries may lack a page (a
    /// table of CPU memory with such an entry is refused before the CPU touches its memory).
    /// ([`Terms::Mappable`] is refused before `sgt` is read: it requires nothing.)
    ///
    /// # Examples
    ///
    /// A table C code made, borrowed while the C side keeps it:
    ///
    /// ```
    /// use kernel::{
    ///     page::PAGE_SIZE,
    ///     sg::{SgTable, Terms},
    /// };
    ///
    /// # let mut buf = VVec::<u8>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
    /// # buf.resize(PAGE_SIZE, 7, GFP_KERNEL)?;
    /// # let c_side = SgTable::new(buf, GFP_KERNEL)?;
    /// // `c_side.as_raw()` stands for a table C code made and keeps, not mapped.
    /// // SAFETY: `c_side` keeps its table valid, and nobody maps or changes it meanwhile.
    /// let t = unsafe { SgTable::from_raw(c_side.as_raw(), Terms::Unmapped) }?;
    /// assert_eq!(t.size(), PAGE_SIZE);
    /// assert_eq!(t.dma_iter().err(), Some(EINVAL));
    ///
    /// // SAFETY: `Terms::Mappable` is refused before the table is read.
    /// let mappable = unsafe { SgTable::from_raw(c_side.as_raw(), Terms::Mappable) };
    /// assert_eq!(mappable.err(), Some(EINVAL));
    /// # Ok::<(), Error>(())
    /// ```
    pub unsafe fn from_raw(sgt: *mut bindings::sg_table, terms: Terms<'_>) -> Result<Self> {
        if matches!(terms, Terms::Mappable) {
            return Err(EINVAL);
        }
        // SAFETY: The table keeps `terms` for `'a`, by the safety requirements.
        let (state, access) = unsafe { terms.start() }?;
        // SAFETY: By the safety requirements; `access` is not `Map` (checked).
        unsafe { Self::foreign(sgt, None, state, access) }
    }
}

impl SgTable<'static> {
    /// Keeps `owner`, which keeps a `struct sg_table` someone else made, and borrows that table
    /// on `terms` for as long as it keeps `owner`.
    ///
    /// The result is an `SgTable<'static>`, since the owner travels with it. `table` is called
    /// once `owner` is in its final place (a box), so the table may be inside `owner` itself.
    /// Dropping the result unmaps what we mapped (on [`Terms::Mappable`]), then drops `owner`;
    /// leaking it leaks `owner`.
    ///
    /// # Errors
    ///
    /// `ENOMEM` if `owner` cannot be boxed, or as for [`SgTable::from_raw`] but for
    /// [`Terms::Mappable`], which is taken; `owner` is dropped then.
    ///
    /// # Safety
    ///
    /// The pointer `table` returns points to an initialised `struct sg_table` that stays valid,
    /// that nobody else changes or frees, and that keeps `terms`, for as long as `owner` lives
    /// and does not move.
    ///
    /// An `ARef` of an object that can free its table while references to it remain does not
    /// qualify: DRM GEM shmem, for one, frees its `sgt` and puts its pages when the object is
    /// purged. Nor does an [`SgTable`] we mapped, on [`Terms::Mapped`], unless its device stays
    /// bound for as long as `owner` lives: unbinding unmaps it ([`SgTable::share`] views such a
    /// table without that condition).
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{
    ///     page::PAGE_SIZE,
    ///     sg::{SgTable, Terms},
    ///     sync::Arc,
    /// };
    ///
    /// let mut buf = VVec::<u8>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
    /// buf.resize(PAGE_SIZE, 1, GFP_KERNEL)?;
    /// let shared = Arc::new(SgTable::new(buf, GFP_KERNEL)?, GFP_KERNEL)?;
    ///
    /// // SAFETY: The `Arc` keeps the table alive, and nobody maps or changes it.
    /// let view = unsafe {
    ///     SgTable::from_owner(shared.clone(), |t| t.as_raw(), Terms::Unmapped, GFP_KERNEL)
    /// }?;
    /// assert_eq!(view.size(), PAGE_SIZE);
    /// assert_eq!(view.as_raw(), shared.as_raw());
    /// # Ok::<(), Error>(())
    /// ```
    pub unsafe fn from_owner<O: Send + Sync + 'static>(
        owner: O,
        table: impl FnOnce(&O) -> *mut bindings::sg_table,
        terms: Terms<'_>,
        flags: Flags,
    ) -> Result<Self> {
        // SAFETY: The table keeps `terms` as long as `owner` lives, by the safety requirements.
        let (state, access) = unsafe { terms.start() }?;
        // SAFETY: By the safety requirements: the table is mapped as long as `owner` lives if
        // `state` is `Borrowed`, CPU memory unless `access` is `DmaOnly`, and lent to us to map
        // if `access` is `Map`.
        unsafe { Self::owned_by(owner, table, state, access, flags) }
    }

    /// Returns a view of a table shared through an [`Arc`]: a second [`SgTable`] over the same
    /// `struct sg_table`, for another part of the driver, that keeps the `Arc` and follows the
    /// table's state. Its DMA iteration and syncs work while the shared table is mapped (by us,
    /// or by its owner on [`Terms::MappedFor`]), and return `ENODEV` once unbinding revoked the
    /// shared table's devres mapping; it never maps, unmaps or writes the table. Sharing a view
    /// shares the table it views. Dropping the last view of a table drops the table, which may
    /// sleep as dropping the table would.
    ///
    /// # Errors
    ///
    /// `ENOMEM` if the `Arc` cannot be boxed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::device::{Bound, Device};
    /// use kernel::{dma::DataDirection, page::PAGE_SIZE, sg::SgTable, sync::Arc};
    ///
    /// # fn test(dev: &Device<Bound>) -> Result {
    /// let mut buf = VVec::<u8>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
    /// buf.resize(PAGE_SIZE, 0, GFP_KERNEL)?;
    /// let table = SgTable::new_mapped(dev, buf, DataDirection::FromDevice, GFP_KERNEL)?;
    /// let view = SgTable::share(Arc::new(table, GFP_KERNEL)?, GFP_KERNEL)?;
    /// assert!(view.is_mapped());
    /// assert_eq!(view.direction(), Some(DataDirection::FromDevice));
    /// # Ok::<(), Error>(()) }
    /// ```
    pub fn share(table: Arc<SgTable<'static>>, flags: Flags) -> Result<Self> {
        let state = match table.state() {
            State::Unmapped => State::Unmapped,
            State::Borrowed(None) => State::Borrowed(None),
            State::Borrowed(Some(_)) | State::Managed(_) => {
                State::Borrowed(OwnerMapping::shared(&table))
            }
        };
        let access = if table.has_cpu_view() {
            Access::Cpu
        } else {
            Access::DmaOnly
        };
        // SAFETY: The `Arc` keeps `table`, and so its `struct sg_table`, valid and where it is,
        // and nobody changes it meanwhile: that needs `&mut`. Its entries are CPU memory unless
        // `access` is `DmaOnly` (its source says). It is mapped as long if `state` is
        // `Borrowed`: by its owner (`Borrowed(None)`, which the shared table's terms keep for
        // as long as it lives), or by its own mapping, which the view's checks follow.
        unsafe { Self::owned_by(table, |t| t.as_raw(), state, access, flags) }
    }

    /// # Safety
    ///
    /// The pointer `table` returns is valid and unchanged as long as `owner` lives and does not
    /// move, mapped as long if `state` is [`State::Borrowed`] (for as long as the state's
    /// [`OwnerMapping`] says it is, if it shares a table), CPU memory unless `access` is
    /// [`Access::DmaOnly`], and lent to us to map if `access` is [`Access::Map`].
    unsafe fn owned_by<O: Send + Sync + 'static>(
        owner: O,
        table: impl FnOnce(&O) -> *mut bindings::sg_table,
        state: State<'static>,
        access: Access,
        flags: Flags,
    ) -> Result<Self> {
        let owner = KBox::new(owner, flags)?;
        // The box does not move its contents: a table inside `owner` stays where it is.
        let sgt = table(&owner);
        // SAFETY: `owner` is kept with the table, by the safety requirements.
        unsafe { Self::foreign(sgt, Some(owner), state, access) }
    }
}
