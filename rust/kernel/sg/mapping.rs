// SPDX-License-Identifier: GPL-2.0

//! A DMA mapping we made of an [`SgTable`](super::SgTable): its two kinds (devres and
//! lifetime-bound), and the DMA API calls that map and unmap a table.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)

use super::{
    iter::DmaIter,
    limits::Limits, //
};
use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    devres::Devres,
    dma::DataDirection,
    error::to_result,
    prelude::*,
    sync::aref::ARef,
    task::might_sleep,
};
use core::ptr::NonNull;

/// The DMA attributes a mapping may be made with (see `SgTable::map_with_attrs()`).
pub(super) const MAP_ATTRS: u32 = bindings::DMA_ATTR_WEAK_ORDERING
    | bindings::DMA_ATTR_SKIP_CPU_SYNC
    | bindings::DMA_ATTR_NO_WARN
    | bindings::DMA_ATTR_PRIVILEGED;

/// Attributes as the DMA API takes them.
#[inline]
pub(super) fn raw_attrs(attrs: u32) -> c_ulong {
    // CAST: A `u32` fits in an `unsigned long` on every architecture Linux supports.
    attrs as c_ulong
}

/// The device to map a table for, and what keeps the mapping from outliving its binding.
pub(super) enum Keep<'d, 'a> {
    /// A [`Devres`]: the mapping is revoked when the device is unbound.
    Devres(&'d Device<Bound>),
    /// The lifetime `'a` of the table, during which the device stays bound.
    Lifetime(&'a Device<Bound>),
}

impl Keep<'_, '_> {
    pub(super) fn device(&self) -> &Device<Bound> {
        match self {
            Keep::Devres(dev) | Keep::Lifetime(dev) => dev,
        }
    }
}

/// A DMA mapping of an [`SgTable`](super::SgTable) that we made, for one device and direction.
///
/// Two kinds keep it from outliving the binding of its device to the driver:
///
/// - a devres mapping ([`SgTable::map`](super::SgTable::map)) is kept in a [`Devres`], which
///   unmaps it when the device is unbound even if the table lives on; after that, syncs and DMA
///   iteration return `ENODEV`. It costs an allocation per mapping and a check per use, and
///   works for a table of any lifetime, `'static` included.
/// - a lifetime-bound mapping ([`SgTable::map_bound`](super::SgTable::map_bound)) borrows the
///   `&'a Device<Bound>` for the lifetime `'a` of the table, during which the device cannot be
///   unbound: it needs neither allocation nor check.
///
/// # Invariants
///
/// For a lifetime-bound mapping (`kind` is `Kind::Lifetime(dev)`), the table it was made for is
/// mapped for `dev`, `dir` and `attrs` until its `unmap()` is called with it; `dev` stays
/// bound for `'a`. For a devres mapping (`kind` is `Kind::Devres(d)`), `d` holds a `MappedSgt`
/// of the table it was made for, with `dir` and `attrs`, until it is dropped or revoked. The
/// syncs (sync.rs) read `kind` through `Mapping::kind()`.
pub struct Mapping<'a> {
    kind: Kind<'a>,
    dir: DataDirection,
    attrs: u32,
}

/// What keeps a [`Mapping`] from outliving the binding of its device.
pub(super) enum Kind<'a> {
    /// The mapping is in a [`Devres`]: dropping it unmaps, unless unbinding did already.
    Devres(Devres<MappedSgt>),
    /// The device is bound for `'a`. Only [`Mapping::unmap`] unmaps: the mapping does not keep
    /// a pointer to its table, which keeps [`SgTable`](super::SgTable) at 64 bytes.
    Lifetime(&'a Device<Bound>),
}

impl<'a> Mapping<'a> {
    /// Maps `sgt` for the device of `keep`.
    ///
    /// # Safety
    ///
    /// - `sgt` points to an initialised `struct sg_table`, not mapped now (by anyone, us
    ///   included), that stays valid for the lifetime of the returned [`Mapping`], that nobody
    ///   else maps, unmaps or changes while it is mapped, and that [`Mapping::unmap`] and the
    ///   syncs will be given; its entries keep to the limits of the device of `keep` (readied
    ///   by `Source::mappable()`).
    /// - The device of `keep` has a DMA mask; `dir` is not [`DataDirection::None`] (on which
    ///   `dma_map_sgtable()` calls `BUG()`), and `attrs` has only bits of `MAP_ATTRS`.
    /// - A lifetime-bound mapping is undone only by [`Mapping::unmap`], which must be called
    ///   with `sgt` before the table goes: dropping it does not unmap (it keeps no pointer to
    ///   the table).
    pub(super) unsafe fn new(
        sgt: NonNull<bindings::sg_table>,
        keep: Keep<'_, 'a>,
        dir: DataDirection,
        attrs: u32,
    ) -> Result<Self> {
        let kind = match keep {
            Keep::Devres(dev) => {
                // Map first: a failed `dma_map_sgtable()` then allocates nothing. If
                // `Devres::new()` fails, the `MappedSgt` is dropped, which unmaps again.
                //
                // SAFETY: Guaranteed by the safety requirements of this function; the `Devres` is
                // part of `Self`.
                let mapped = unsafe { MappedSgt::new(sgt, dev, dir, attrs) }?;
                // INVARIANT: `mapped` is of `sgt`, with `dir` and `attrs`.
                Kind::Devres(Devres::new::<core::convert::Infallible>(dev, mapped)?)
            }
            Keep::Lifetime(dev) => {
                // SAFETY: Guaranteed by the safety requirements of this function.
                unsafe { map_sgtable(sgt, dev, dir, attrs) }?;
                // INVARIANT: `sgt` was just mapped for `dev`, `dir` and `attrs`; `dev` is bound
                // for `'a`, as `&'a Device<Bound>` promises.
                Kind::Lifetime(dev)
            }
        };
        Ok(Self { kind, dir, attrs })
    }

    /// Unmaps the table: a lifetime-bound mapping here, a devres mapping by dropping it.
    ///
    /// # Safety
    ///
    /// `sgt` is the table this mapping was made for.
    #[track_caller]
    pub(super) unsafe fn unmap(self, sgt: NonNull<bindings::sg_table>) {
        match self.kind {
            // SAFETY: By the type invariants, `sgt` (the table this mapping was made for, by the
            // safety requirements) is mapped for `dev`, `dir` and `attrs`, and `dev` is bound.
            Kind::Lifetime(dev) => unsafe { unmap_sgtable(sgt, dev, self.dir, self.attrs) },
            // Dropping the `Devres` waits for an unbinding that is revoking it.
            Kind::Devres(_) => might_sleep(),
        }
    }

    /// What keeps the mapping from outliving the binding of its device.
    #[inline]
    pub(super) fn kind(&self) -> &Kind<'a> {
        &self.kind
    }

    /// Returns the direction the table is mapped for.
    #[inline]
    pub fn direction(&self) -> DataDirection {
        self.dir
    }

    /// Returns the device the table is mapped for.
    #[inline]
    pub fn device(&self) -> &Device {
        match self.kind() {
            Kind::Devres(dma) => dma.device(),
            Kind::Lifetime(dev) => dev,
        }
    }

    /// Returns whether the mapping is kept in a [`Devres`] (made by
    /// [`SgTable::map`](super::SgTable::map)) rather than bound by a lifetime (made by
    /// [`SgTable::map_bound`](super::SgTable::map_bound)).
    #[inline]
    pub fn is_devres(&self) -> bool {
        matches!(self.kind, Kind::Devres(_))
    }

    /// Returns whether the mapping is still in place: always for a lifetime-bound mapping; for
    /// a devres mapping, as long as the device has not been unbound.
    #[inline]
    pub fn is_live(&self) -> bool {
        match &self.kind {
            Kind::Devres(dma) => devres_is_live(dma),
            Kind::Lifetime(_) => true,
        }
    }
}

impl core::fmt::Debug for Mapping<'_> {
    /// The device by name, the direction, the kind, and whether the mapping is still in place.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mapping")
            .field("device", &self.device().name())
            .field("direction", &self.dir)
            .field("devres", &self.is_devres())
            .field("live", &self.is_live())
            .finish()
    }
}

/// Whether the device of a devres mapping is still bound: an RCU read section, kept out of line
/// so that a lifetime-bound mapping's checks need no registers saved for it.
#[inline(never)]
fn devres_is_live(dma: &Devres<MappedSgt>) -> bool {
    dma.try_access_with(|_| ()).is_some()
}

/// Maps `sgt` for `dev` (`dma_map_sgtable()`), then checks what the device got if the mapping
/// went through the DMA ops of an architecture or a hypervisor, which need not keep to the
/// segment boundary (`arm_iommu_map_sg()` merges up to the maximum segment only, Xen's swiotlb
/// hands machine addresses as they are); unmaps again if it broke the device's limits. The
/// source checked the entries at the DMA addresses dma-direct hands the device, and the
/// IOMMU layer and swiotlb keep to the limits by themselves.
///
/// # Errors
///
/// The error of `dma_map_sgtable()`; `EINVAL` for segments outside the device's limits.
///
/// # Safety
///
/// `sgt` points to an initialised `struct sg_table` that is ours to map: nobody else maps,
/// unmaps or changes it while it is mapped. `dev` has a DMA mask, so that a mapping that
/// succeeds maps at least one segment (`__dma_map_sg_attrs()`).
unsafe fn map_sgtable(
    sgt: NonNull<bindings::sg_table>,
    dev: &Device<Bound>,
    dir: DataDirection,
    attrs: u32,
) -> Result {
    // SAFETY:
    // - `dev.as_raw()` is a valid device, bound to its driver for the duration of this call.
    // - `sgt` is a valid `struct sg_table` that is ours to map, by the safety requirements.
    to_result(unsafe {
        bindings::dma_map_sgtable(dev.as_raw(), sgt.as_ptr(), dir.into(), raw_attrs(attrs))
    })?;
    // Without `CONFIG_ARCH_HAS_DMA_OPS`, no device has such ops: no call on the mapping path.
    // SAFETY: `dev.as_raw()` is a valid device.
    if !cfg!(CONFIG_ARCH_HAS_DMA_OPS) || unsafe { bindings::get_dma_ops(dev.as_raw()) }.is_null() {
        return Ok(());
    }
    let limits = Limits::of(dev);
    // SAFETY: `sgt` is valid and mapped.
    if unsafe { DmaIter::new(sgt) }.all(|seg| limits.allow(seg.dma_address(), seg.dma_len())) {
        return Ok(());
    }
    // SAFETY: `sgt` was just mapped for `dev`, `dir` and `attrs`, with at least one segment
    // (`dev` has a DMA mask, by the safety requirements).
    unsafe { unmap_sgtable(sgt, dev, dir, attrs) };
    Err(EINVAL)
}

/// Unmaps `sgt`: `dma_unmap_sgtable()`, which unmaps its `orig_nents` entries (called here as
/// `dma_unmap_sg_attrs()`, which C's inline `dma_unmap_sgtable()` calls).
///
/// # Safety
///
/// `sgt` points to a valid `struct sg_table` mapped for `dev`, `dir` and `attrs`, and `dev` is
/// still bound (or being unbound, before its DMA state is torn down).
unsafe fn unmap_sgtable(
    sgt: NonNull<bindings::sg_table>,
    dev: &Device,
    dir: DataDirection,
    attrs: u32,
) {
    // SAFETY: `sgt` is valid, by the safety requirements.
    let (sgl, n) = unsafe { orig_entries(sgt) };
    // SAFETY: By the safety requirements: these are the entries mapped for `dev`, `dir` and
    // `attrs`.
    unsafe { bindings::dma_unmap_sg_attrs(dev.as_raw(), sgl, n, dir.into(), raw_attrs(attrs)) };
}

/// The first entry of `sgt` and its number of CPU entries, `orig_nents`, as the `int` that C's
/// inline `dma_*_sgtable*()` pass on to the DMA API.
///
/// # Safety
///
/// `sgt` points to a valid `struct sg_table`.
#[inline(always)]
pub(super) unsafe fn orig_entries(
    sgt: NonNull<bindings::sg_table>,
) -> (*mut bindings::scatterlist, c_int) {
    let sgt = sgt.as_ptr();
    // SAFETY: `sgt` is valid, by the safety requirements.
    // CAST: As in C, which passes the `unsigned int` as an `int`; a table's entries fit in both.
    unsafe { ((*sgt).sgl, (*sgt).orig_nents as c_int) }
}

/// A `struct sg_table` mapped for DMA; dropping it unmaps it. What a devres mapping keeps.
///
/// # Invariants
///
/// - `sgt` points to a valid `struct sg_table` for the whole lifetime of `Self`.
/// - `sgt` is mapped for `dev`, `dir` and `attrs`.
pub(super) struct MappedSgt {
    sgt: NonNull<bindings::sg_table>,
    dev: ARef<Device>,
    dir: DataDirection,
    attrs: u32,
}

// SAFETY: `MappedSgt` only calls the DMA API on the table, which may be done from any task; the
// table itself is neither freed nor changed through it.
unsafe impl Send for MappedSgt {}

// SAFETY: `&MappedSgt` only allows syncs, which only read the table. (Which of CPU and device
// owns the memory between syncs is the caller's protocol, as in C; it is not memory safety for
// the plain bytes of a table.)
unsafe impl Sync for MappedSgt {}

impl MappedSgt {
    /// The device the table is mapped for.
    #[inline]
    pub(super) fn device(&self) -> &Device {
        &self.dev
    }

    /// Maps `sgt` for `dev`.
    ///
    /// # Safety
    ///
    /// As for [`Mapping::new`], for the lifetime of the returned [`MappedSgt`].
    unsafe fn new(
        sgt: NonNull<bindings::sg_table>,
        dev: &Device<Bound>,
        dir: DataDirection,
        attrs: u32,
    ) -> Result<Self> {
        // SAFETY: By the safety requirements.
        unsafe { map_sgtable(sgt, dev, dir, attrs) }?;
        // INVARIANT: `sgt` is valid by the safety requirements, and was just mapped for `dev`,
        // `dir` and `attrs` (`map_sgtable()`).
        Ok(Self {
            sgt,
            dev: dev.into(),
            dir,
            attrs,
        })
    }
}

impl Drop for MappedSgt {
    fn drop(&mut self) {
        // SAFETY:
        // - `self.sgt` is valid and mapped for `self.dev`, `self.dir` and `self.attrs` by the
        //   type invariants.
        // - The drop runs either from `Devres` while the device is still bound, or at device
        //   unbind, before the device's DMA state is torn down.
        unsafe { unmap_sgtable(self.sgt, self.device(), self.dir, self.attrs) };
    }
}
