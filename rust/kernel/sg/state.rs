// SPDX-License-Identifier: GPL-2.0

//! The mapping state of an [`SgTable`](super::SgTable) and every transition between states.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)
//!
//! The whole state machine is the table below; each cell is one arm of a `match` in this file,
//! and Documentation/rust/sg.rst draws the same machine. "Owned" is a table an
//! [`SgTable`](super::SgTable) allocated itself ([`Source::Owned`]); "borrowed" one someone
//! else made ([`Source::Borrowed`]). Every cell that is not `Ok` returns the error shown and
//! leaves the state as it was. A cell naming a state is a transition to it.
//!
//! | state \ operation     | `map`              | `unmap`    | DMA iteration | syncs    |
//! |-----------------------|--------------------|------------|---------------|----------|
//! | `Unmapped`, owned     | `Managed`          | `EINVAL`   | `EINVAL`      | `EINVAL` |
//! | `Unmapped`, borrowed  | `EINVAL`           | `EINVAL`   | `EINVAL`      | `EINVAL` |
//! | [`State::Borrowed`]   | `EINVAL`           | `EINVAL`   | `Ok`          | `EINVAL` |
//! | [`State::Managed`]    | `EINVAL`           | `Unmapped` | `Ok`          | `Ok`     |
//! | `Managed`, revoked    | `Managed`          | `Unmapped` | `ENODEV`      | `ENODEV` |
//!
//! The KUnit case `the_state_table` (rust/kernel/sg/tests/states.rs) has one row per row here,
//! and checks every cell. Here, the `map` column is `State::map()` (with the source's part,
//! owned or borrowed, in `Source::mappable()`), `unmap` is `State::unmap()`, DMA iteration
//! `State::check_dma()` and the syncs `State::mapping()` with `Mapping::sync()`.
//!
//! `map` also returns `EINVAL`, changing nothing, for [`DataDirection::None`] or an attribute
//! it does not accept, and for a table whose entries break the device's segment limits (see
//! `limits.rs`). A failed mapping (`ENOMEM`, or the DMA API's error) leaves the table
//! `Unmapped`; so does any failed `map` of a revoked table past the argument checks, since it
//! drops the dead mapping first.
//!
//! CPU iteration is allowed in every state, for tables with a CPU view. Dropping a `Managed`
//! table unmaps it (unless unbinding the device already did) before the table is freed.
//!
//! Calls that may sleep say so, and call [`might_sleep`]: `map` (the [`Devres`] is allocated
//! with `GFP_KERNEL`), `unmap` and dropping a `Managed` table (they wait for an unbinding that
//! is revoking the mapping).
//!
//! [`Source::Owned`]: super::source::Source::Owned
//! [`Source::Borrowed`]: super::source::Source::Borrowed

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

/// The attributes [`SgTable::map_with_attrs`](super::SgTable::map_with_attrs) accepts.
// CAST: The `DMA_ATTR_*` constants are small bit flags.
const MAP_ATTRS: c_ulong = (bindings::DMA_ATTR_WEAK_ORDERING
    | bindings::DMA_ATTR_SKIP_CPU_SYNC
    | bindings::DMA_ATTR_NO_WARN
    | bindings::DMA_ATTR_PRIVILEGED) as c_ulong;

/// The mapping state of an [`SgTable`](super::SgTable).
pub enum State {
    /// Not mapped for DMA: only CPU iteration is possible.
    Unmapped,
    /// Mapped for DMA by the table's owner, not by us: DMA iteration is possible, but unmapping
    /// and syncing stay the owner's business.
    Borrowed,
    /// Mapped by us for one device and direction; unmapped again by [`SgTable::unmap`], on drop
    /// or when the device is unbound from its driver, whichever comes first.
    ///
    /// [`SgTable::unmap`]: super::SgTable::unmap
    Managed(Mapping),
}

impl State {
    /// `Unmapped` → `Managed`: maps the table `sgt()` gives (if the source lets us) for `dev`.
    ///
    /// On `EINVAL` the state is unchanged, but for a revoked mapping, which is dropped before the
    /// source is asked for the table; on any other error it is `Unmapped`.
    ///
    /// # Safety
    ///
    /// A table `sgt()` returns points to an initialised `struct sg_table` that nobody else maps,
    /// unmaps or changes while it is mapped, and that stays valid until this state is dropped
    /// or left.
    pub(super) unsafe fn map(
        &mut self,
        sgt: impl FnOnce() -> Result<NonNull<bindings::sg_table>>,
        dev: &Device<Bound>,
        dir: DataDirection,
        attrs: c_ulong,
    ) -> Result {
        // `dma_map_sgtable()` would `BUG()` on `DataDirection::None`. Of the attributes, only
        // those that change how, not what, is mapped: `DMA_ATTR_MMIO` would hand RAM to the
        // device as MMIO (no bus offset, no bouncing, no cache maintenance), and the allocation
        // attributes mean nothing here.
        if dir == DataDirection::None || attrs & !MAP_ATTRS != 0 {
            return Err(EINVAL);
        }
        match self {
            State::Unmapped => (),
            // Drop the dead mapping first: that waits until unbinding has unmapped the table,
            // which must be over before the source readies it for a new mapping.
            State::Managed(mapping) if !mapping.is_live() => *self = State::Unmapped,
            State::Borrowed | State::Managed(_) => return Err(EINVAL),
        }
        let sgt = sgt()?;
        // SAFETY: The caller guarantees that `sgt` is exclusively ours and outlives `self`, and
        // so the `Mapping` stored in it; the previous mapping, if any, is gone.
        *self = State::Managed(unsafe { Mapping::new(sgt, dev, dir, attrs) }?);
        Ok(())
    }

    /// `Managed` → `Unmapped`: unmaps (unless unbinding the device already did).
    pub(super) fn unmap(&mut self) -> Result {
        match self {
            // Dropping the `Mapping` unmaps it.
            State::Managed(_) => {
                *self = State::Unmapped;
                Ok(())
            }
            State::Unmapped | State::Borrowed => Err(EINVAL),
        }
    }

    /// Checks that the DMA addresses of the table may be read.
    pub(super) fn check_dma(&self) -> Result {
        match self {
            State::Borrowed => Ok(()),
            State::Managed(mapping) if mapping.is_live() => Ok(()),
            State::Managed(_) => Err(ENODEV),
            State::Unmapped => Err(EINVAL),
        }
    }

    /// Returns the mapping we made, for syncs.
    pub(super) fn mapping(&self) -> Result<&Mapping> {
        match self {
            State::Managed(mapping) => Ok(mapping),
            State::Unmapped | State::Borrowed => Err(EINVAL),
        }
    }

    /// Returns whether the table is mapped for DMA right now (DMA iteration would succeed).
    pub fn is_mapped(&self) -> bool {
        self.check_dma().is_ok()
    }
}

/// A DMA mapping of an [`SgTable`](super::SgTable) that we made, for one device and direction.
///
/// The mapping is kept in a [`Devres`], so that it is released when the device is unbound from
/// its driver even if the table lives on; after that, syncs and DMA iteration return `ENODEV`.
pub struct Mapping {
    dma: Devres<MappedSgt>,
    dir: DataDirection,
}

impl Mapping {
    /// Maps `sgt` for `dev`.
    ///
    /// # Safety
    ///
    /// `sgt` points to an initialised `struct sg_table` that stays valid for the lifetime of the
    /// returned [`Mapping`], and that nobody else maps, unmaps or changes while it is mapped.
    unsafe fn new(
        sgt: NonNull<bindings::sg_table>,
        dev: &Device<Bound>,
        dir: DataDirection,
        attrs: c_ulong,
    ) -> Result<Self> {
        // Map first: a failed `dma_map_sgtable()` then allocates nothing. If `Devres::new()`
        // fails, the `MappedSgt` is dropped, which unmaps again.
        //
        // SAFETY: Guaranteed by the safety requirements of this function; the `Devres` is part of
        // `Self`.
        let mapped = unsafe { MappedSgt::new(sgt, dev, dir, attrs) }?;
        let dma = Devres::new::<core::convert::Infallible>(dev, mapped)?;
        Ok(Self { dma, dir })
    }

    /// Returns the direction the table is mapped for.
    #[inline]
    pub fn direction(&self) -> DataDirection {
        self.dir
    }

    /// Returns the device the table is mapped for.
    #[inline]
    pub fn device(&self) -> &Device {
        self.dma.device()
    }

    /// Returns whether the mapping is still in place, i.e. the device has not been unbound.
    #[inline]
    pub fn is_live(&self) -> bool {
        self.dma.try_access_with(|_| ()).is_some()
    }

    /// Calls `dma_sync_sgtable_for_cpu()` or `dma_sync_sgtable_for_device()` while the mapping
    /// can't be revoked.
    fn sync(
        &self,
        f: unsafe extern "C" fn(
            *mut bindings::device,
            *mut bindings::sg_table,
            bindings::dma_data_direction,
        ),
    ) -> Result {
        self.dma
            .try_access_with(|m| {
                // SAFETY:
                // - `m.dev` is the device and `m.dir` the direction `m.sgt` is mapped with.
                // - `m.sgt` is valid and mapped by the type invariants of `MappedSgt`, and stays
                //   mapped while `try_access_with()` holds off revocation; syncs don't sleep.
                unsafe { f(m.dev.as_raw(), m.sgt.as_ptr(), m.dir.into()) }
            })
            .ok_or(ENODEV)
    }

    /// Gives the buffer back to the CPU: see
    /// [`SgTable::sync_for_cpu`](super::SgTable::sync_for_cpu).
    #[inline]
    pub(super) fn sync_for_cpu(&self) -> Result {
        self.sync(bindings::dma_sync_sgtable_for_cpu)
    }

    /// Gives the buffer to the device: see
    /// [`SgTable::sync_for_device`](super::SgTable::sync_for_device).
    #[inline]
    pub(super) fn sync_for_device(&self) -> Result {
        self.sync(bindings::dma_sync_sgtable_for_device)
    }
}

impl core::fmt::Debug for Mapping {
    /// The device by name, the direction, and whether the mapping is still in place.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mapping")
            .field("device", &self.device().name())
            .field("direction", &self.dir)
            .field("live", &self.is_live())
            .finish()
    }
}

impl core::fmt::Debug for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            State::Unmapped => f.write_str("Unmapped"),
            State::Borrowed => f.write_str("Borrowed"),
            State::Managed(mapping) => f.debug_tuple("Managed").field(mapping).finish(),
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Dropping the `Devres` waits for an unbinding that is revoking it.
        might_sleep();
    }
}

/// A `struct sg_table` mapped for DMA; dropping it unmaps it.
///
/// # Invariants
///
/// - `sgt` points to a valid `struct sg_table` for the whole lifetime of `Self`.
/// - `sgt` is mapped for `dev`, `dir` and `attrs`, with `nents > 0`.
struct MappedSgt {
    sgt: NonNull<bindings::sg_table>,
    dev: ARef<Device>,
    dir: DataDirection,
    attrs: c_ulong,
}

// SAFETY: `MappedSgt` only calls the DMA API on the table, which may be done from any task; the
// table itself is neither freed nor changed through it.
unsafe impl Send for MappedSgt {}

// SAFETY: `&MappedSgt` only allows syncs, which only read the table. (Which of CPU and device
// owns the memory between syncs is the caller's protocol, as in C; it is not memory safety for
// the plain bytes of a table.)
unsafe impl Sync for MappedSgt {}

impl MappedSgt {
    /// Maps `sgt` for `dev`.
    ///
    /// # Safety
    ///
    /// As for [`Mapping::new`], for the lifetime of the returned [`MappedSgt`].
    unsafe fn new(
        sgt: NonNull<bindings::sg_table>,
        dev: &Device<Bound>,
        dir: DataDirection,
        attrs: c_ulong,
    ) -> Result<Self> {
        // SAFETY:
        // - `dev.as_raw()` is a valid device, bound to its driver for the duration of this call.
        // - `sgt` is a valid `struct sg_table` that is ours to map, by the safety requirements.
        to_result(unsafe {
            bindings::dma_map_sgtable(dev.as_raw(), sgt.as_ptr(), dir.into(), attrs)
        })?;

        // A device without a DMA mask "maps" nothing and returns success (with a warning).
        //
        // INVARIANT: `sgt` is valid by the safety requirements and was just mapped for `dev`,
        // `dir` and `attrs`; if `nents` is 0 or a segment breaks the limits, `mapped` is dropped
        // below, which unmaps.
        let mapped = Self {
            sgt,
            dev: dev.into(),
            dir,
            attrs,
        };

        // SAFETY: `sgt` is valid, and `dma_map_sgtable()` has set `nents`.
        if unsafe { (*sgt.as_ptr()).nents } == 0 {
            return Err(EIO);
        }
        // What the device gets must keep to its limits whatever the path: dma-direct hands it
        // each entry as it is, shifted by the bus offset, which need not keep boundaries.
        let limits = Limits::of(dev);
        // SAFETY: `sgt` is valid and mapped, and stays so while `mapped` lives.
        if !unsafe { DmaIter::new(sgt) }.all(|seg| limits.allow(seg.dma_address(), seg.dma_len())) {
            return Err(EINVAL);
        }
        Ok(mapped)
    }
}

impl Drop for MappedSgt {
    fn drop(&mut self) {
        // SAFETY:
        // - `self.sgt` is valid and mapped for `self.dev`, `self.dir` and `self.attrs` by the
        //   type invariants; `dma_unmap_sgtable()` unmaps its `orig_nents` entries.
        // - The drop runs either from `Devres` while the device is still bound, or at device
        //   unbind, before the device's DMA state is torn down.
        unsafe {
            bindings::dma_unmap_sgtable(
                self.dev.as_raw(),
                self.sgt.as_ptr(),
                self.dir.into(),
                self.attrs,
            )
        };
    }
}
