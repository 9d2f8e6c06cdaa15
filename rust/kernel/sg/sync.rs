// SPDX-License-Identifier: GPL-2.0

//! Syncs of a mapped [`SgTable`](super::SgTable): the whole table or a byte range, for the CPU
//! or for the device, with the device and direction of the mapping.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)

use super::{
    iter::{
        dma_segment,
        DmaSegment,
        Walk, //
    },
    mapping::{
        Kind,
        MappedSgt, //
    },
    state::Known,
    window::clip,
    SgTable,
    State, //
};
use crate::{
    bindings,
    device::Device,
    devres::Devres,
    dma::DataDirection,
    prelude::*, //
};
use core::ptr::NonNull;

impl SgTable<'_> {
    /// Gives the memory back to the CPU after the device wrote it
    /// (`dma_sync_sgtable_for_cpu()`): needed before the CPU reads what the device wrote while
    /// the table stays mapped.
    ///
    /// Syncs take `&self`, as reads do: which of CPU and device owns the memory between syncs
    /// is the driver's protocol, as in C. A read racing a sync gets whatever bytes are there.
    ///
    /// # Errors
    ///
    /// `EINVAL` if neither we nor, as far as we know, its owner mapped the table (see the
    /// syncs column of the state table in [`State`]'s documentation), `ENODEV` if its device
    /// has been unbound.
    pub fn sync_for_cpu(&self) -> Result {
        // SAFETY: `source` gives the table of `state` (type invariants).
        unsafe { self.state().sync(self.source().as_raw(), SyncFor::Cpu) }
    }

    /// Gives the memory to the device after the CPU wrote it
    /// (`dma_sync_sgtable_for_device()`): needed before the device reads what the CPU wrote
    /// after mapping.
    ///
    /// # Errors
    ///
    /// `EINVAL` if neither we nor, as far as we know, its owner mapped the table (see the
    /// syncs column of the state table in [`State`]'s documentation), `ENODEV` if its device
    /// has been unbound.
    pub fn sync_for_device(&self) -> Result {
        // SAFETY: `source` gives the table of `state` (type invariants).
        unsafe { self.state().sync(self.source().as_raw(), SyncFor::Device) }
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
        self.check_bytes(offset, len)?;
        // SAFETY: `source` gives the table of `state` (type invariants).
        unsafe {
            self.state()
                .sync_range(self.source().as_raw(), offset, len, to)
        }
    }
}

/// Whom a sync gives the memory to.
#[derive(Clone, Copy)]
enum SyncFor {
    /// The CPU, after the device wrote it (`dma_sync_*_for_cpu()`).
    Cpu,
    /// The device, after the CPU wrote it (`dma_sync_*_for_device()`).
    Device,
}

impl SyncFor {
    /// `dma_sync_sgtable_for_cpu()` or `_for_device()` once [`need_sync`] said yes: what C's
    /// inline functions call then.
    ///
    /// # Safety
    ///
    /// `sgt` is valid, and mapped for `dev` and `dir` during the call.
    #[inline(always)]
    unsafe fn table(self, dev: &Device, sgt: NonNull<bindings::sg_table>, dir: DataDirection) {
        #[cfg(CONFIG_DMA_NEED_SYNC)]
        {
            let (dev, dir) = (dev.as_raw(), dir.into());
            // SAFETY: `sgt` is valid, by the safety requirements.
            let (sgl, n) = unsafe { super::mapping::orig_entries(sgt) };
            // SAFETY: These are the entries of `sgt`, mapped for `dev` and `dir`.
            unsafe {
                match self {
                    SyncFor::Cpu => bindings::__dma_sync_sg_for_cpu(dev, sgl, n, dir),
                    SyncFor::Device => bindings::__dma_sync_sg_for_device(dev, sgl, n, dir),
                }
            }
        }
        #[cfg(not(CONFIG_DMA_NEED_SYNC))]
        let _ = (self, dev, sgt, dir);
    }

    /// `dma_sync_single_for_cpu()` or `_for_device()` on `piece` once [`need_sync`] said yes.
    ///
    /// # Safety
    ///
    /// `piece` lies inside a DMA segment mapped for `dev` and `dir` during the call, and inside
    /// one CPU entry (physically contiguous) of its table.
    #[inline]
    unsafe fn single(self, dev: &Device, piece: DmaSegment, dir: DataDirection) {
        #[cfg(CONFIG_DMA_NEED_SYNC)]
        {
            let (dev, dir) = (dev.as_raw(), dir.into());
            // CAST: A `u32` fits in a `usize` on every architecture Linux supports.
            let (addr, len) = (piece.dma_address(), piece.dma_len() as usize);
            // SAFETY: By the safety requirements; syncing part of a segment is what the DMA API
            // allows.
            unsafe {
                match self {
                    SyncFor::Cpu => bindings::__dma_sync_single_for_cpu(dev, addr, len, dir),
                    SyncFor::Device => bindings::__dma_sync_single_for_device(dev, addr, len, dir),
                }
            }
        }
        #[cfg(not(CONFIG_DMA_NEED_SYNC))]
        let _ = (self, dev, piece, dir);
    }
}

/// Whether a sync for `dev` has anything to do: C's `dma_dev_need_sync()`, asked first as C's
/// inline `dma_sync_*()` do, so that a sync with nothing to do (a DMA-coherent device that does
/// not bounce through swiotlb, unless DMA-API debug checks every sync) calls no sync function.
/// Without `CONFIG_DMA_NEED_SYNC` there are no sync functions (see [`SyncFor`]) and C's answer
/// is always `false`: no call then.
#[inline]
fn need_sync(dev: &Device) -> bool {
    // SAFETY: `dev.as_raw()` is a valid device.
    cfg!(CONFIG_DMA_NEED_SYNC) && unsafe { bindings::dma_dev_need_sync(dev.as_raw()) }
}

/// Syncs `to` the pieces of the DMA segments of `sgt` in `offset..offset + len`
/// (`dma_sync_single_for_*()`), or the whole table (`dma_sync_sgtable_for_*()`) if a segment on
/// the way is not its CPU entry, whole.
///
/// A single-address sync takes the piece as physically contiguous from its first byte (the
/// IOMMU path looks up that byte's physical address only): true of a piece of a CPU entry, not
/// of a segment into which an IOMMU merged several entries.
///
/// # Safety
///
/// `sgt` is valid, and mapped for `dev` and `dir` during the call.
unsafe fn sync_pieces(
    sgt: NonNull<bindings::sg_table>,
    dev: &Device,
    dir: DataDirection,
    offset: usize,
    len: usize,
    to: SyncFor,
) {
    if !need_sync(dev) {
        return;
    }
    let sync = |piece| {
        // SAFETY: `piece` lies inside a DMA segment of `sgt`, mapped for `dev` and `dir`, which
        // is its CPU entry, whole (`for_each_piece()`).
        unsafe { to.single(dev, piece, dir) }
    };
    // SAFETY: `sgt` is valid and mapped, by the safety requirements.
    if !unsafe { for_each_piece(sgt, offset, len, sync) } {
        // The pieces synced before are synced again: a sync may be repeated.
        // SAFETY: As above.
        unsafe { to.table(dev, sgt, dir) };
    }
}

impl State<'_> {
    /// Calls `f` with the device and direction of the mapping: ours, while it can't be revoked
    /// (a lifetime-bound one lasts while `self` does), or its owner's if it told us. `f` must not
    /// sleep.
    ///
    /// # Errors
    ///
    /// `EINVAL` if neither is known, `ENODEV` if our mapping was revoked.
    #[inline(always)]
    fn with_mapping(&self, f: impl FnOnce(&Device, DataDirection)) -> Result {
        // One call of `f` for the cases that need no revocation held off, so that `f` is inlined
        // once and its captures stay in registers.
        let (dev, dir): (&Device, _) = match self {
            State::Managed(mapping) => match mapping.kind() {
                Kind::Lifetime(dev) => (dev, mapping.direction()),
                Kind::Devres(dma) => return devres_with_device(dma, mapping.direction(), f),
            },
            State::Borrowed(Some(owner)) => match owner.known() {
                Known::MappedFor { dev, dir } => (dev, *dir),
                Known::Shared(table) => return shared_with_mapping(table, f),
            },
            State::Unmapped | State::Borrowed(None) => return Err(EINVAL),
        };
        f(dev, dir);
        Ok(())
    }

    /// The syncs: `dma_sync_sgtable_for_cpu()` or `_for_device()` on `sgt`, with the device and
    /// direction of our mapping, or of its owner's if we know them.
    ///
    /// # Safety
    ///
    /// `sgt` is the table of this state (mapped by us, or by its owner).
    #[inline(always)]
    unsafe fn sync(&self, sgt: NonNull<bindings::sg_table>, to: SyncFor) -> Result {
        self.with_mapping(|dev, dir| {
            if need_sync(dev) {
                // SAFETY: `sgt` is the table of this state (safety requirements), so it is mapped
                // for the device and direction `with_mapping()` gives while this runs: our
                // mapping by its type invariants (revocation held off), the owner's by those of
                // `OwnerMapping`.
                unsafe { to.table(dev, sgt, dir) }
            }
        })
    }

    /// The range syncs: the pieces of the DMA segments of `sgt` in `offset..offset + len`, or
    /// the whole table (see `sync_pieces()`), as [`State::sync`] syncs the whole table.
    ///
    /// # Safety
    ///
    /// As for [`State::sync`].
    unsafe fn sync_range(
        &self,
        sgt: NonNull<bindings::sg_table>,
        offset: usize,
        len: usize,
        to: SyncFor,
    ) -> Result {
        // SAFETY: As in `sync()`: `sgt` is valid and mapped for `dev` and `dir` during the call.
        self.with_mapping(|dev, dir| unsafe { sync_pieces(sgt, dev, dir, offset, len, to) })
    }
}

/// Calls `f` with the device of a devres mapping, and `dir`, while `try_access_with()` holds
/// revocation off (an RCU read section, so `f` must not sleep); `ENODEV` if the device was
/// unbound. Kept out of line (as `devres_is_live()` is) so that a lifetime-bound mapping's syncs
/// need no registers saved for it.
#[inline(never)]
fn devres_with_device(
    dma: &Devres<MappedSgt>,
    dir: DataDirection,
    f: impl FnOnce(&Device, DataDirection),
) -> Result {
    dma.try_access_with(|m| f(m.device(), dir)).ok_or(ENODEV)
}

/// [`State::with_mapping`] of a table shared with us: its mapping, revocation included. Kept
/// out of line, as [`devres_with_device`] is.
#[inline(never)]
fn shared_with_mapping(table: &SgTable<'static>, f: impl FnOnce(&Device, DataDirection)) -> Result {
    table.state().with_mapping(f)
}

/// Calls `f` on each piece of the DMA segments of a mapped table in `offset..offset + len` (those a
/// [`DmaWindow`](super::DmaWindow) gives), as long as each DMA segment up to it is the CPU entry of
/// the same index, whole, and so physically contiguous; returns whether all were (else `f` saw only
/// the pieces before the first that is not).
///
/// Segments merge only entries next to each other (as an IOMMU does), never split one: as many
/// segments as entries, each as long as its entry, is one segment per entry.
///
/// # Safety
///
/// `sgt` points to an initialised `struct sg_table` that is mapped and stays valid and unchanged
/// during the call.
pub(super) unsafe fn for_each_piece(
    sgt: NonNull<bindings::sg_table>,
    offset: usize,
    len: usize,
    mut f: impl FnMut(DmaSegment),
) -> bool {
    let sgt = sgt.as_ptr();
    // SAFETY: `sgt` is valid by the safety requirements.
    let (sgl, nents, orig_nents) = unsafe { ((*sgt).sgl, (*sgt).nents, (*sgt).orig_nents) };
    if nents != orig_nents {
        return false;
    }
    let (mut skip, mut left) = (offset, len);
    // SAFETY: A mapped table has `nents` valid entries from `sgl`, unchanged during the call.
    for sg in unsafe { Walk::new(sgl, nents) } {
        if left == 0 {
            break;
        }
        // SAFETY: `sg` is one of those entries.
        let seg = unsafe { dma_segment(sg) };
        // Without a length of its own, a DMA segment is as long as its entry.
        // SAFETY: As above.
        #[cfg(CONFIG_NEED_SG_DMA_LENGTH)]
        if seg.len != unsafe { (*sg.as_ptr()).length } {
            return false;
        }
        if let Some(piece) = clip(seg, &mut skip, &mut left) {
            f(piece);
        }
    }
    true
}
