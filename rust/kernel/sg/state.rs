// SPDX-License-Identifier: GPL-2.0

//! The mapping state of an [`SgTable`](super::SgTable) and every transition between states.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)
//!
//! The whole state machine is the table below; each cell is one arm of a `match` in this file,
//! and Documentation/rust/sg.rst draws the same machine. "Shared" is a table someone else owns
//! (borrowed, or kept alive through its owner); "owned" is one [`SgTable`](super::SgTable)
//! allocated itself. Every cell that is not `Ok` returns the error shown and leaves the state as
//! it was. A cell naming a state is a transition to it.
//!
//! | state \ operation   | `map`                  | `unmap`        | DMA iteration | syncs    |
//! |---------------------|------------------------|----------------|---------------|----------|
//! | [`State::Unmapped`] | owned: `Managed`       | `EINVAL`       | `EINVAL`      | `EINVAL` |
//! |                     | shared: `EINVAL`       |                |               |          |
//! | [`State::Borrowed`] | `EINVAL`               | `EINVAL`       | `Ok`          | `EINVAL` |
//! | [`State::Managed`]  | `EINVAL`               | `Unmapped`     | `Ok`          | `Ok`     |
//! | `Managed`, unbound  | `EINVAL`               | `Unmapped`     | `ENODEV`      | `ENODEV` |
//!
//! CPU iteration is allowed in every state. Dropping a `Managed` table unmaps it (unless device
//! unbind already did) before the table is freed.

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
};
use core::ptr::NonNull;

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
    /// `Unmapped` → `Managed`: maps `sgt` for `dev`, if the source lets us write `sgt`.
    ///
    /// On error the state is unchanged.
    ///
    /// # Safety
    ///
    /// If `sgt` is `Some`, it points to an initialised `struct sg_table` that nobody else uses
    /// while it is mapped, and that stays valid until this state is dropped or left.
    pub(super) unsafe fn map(
        &mut self,
        sgt: Option<NonNull<bindings::sg_table>>,
        dev: &Device<Bound>,
        dir: DataDirection,
        attrs: c_ulong,
    ) -> Result {
        match (&*self, sgt) {
            (State::Unmapped, Some(sgt)) => {
                // SAFETY: The caller guarantees that `sgt` is exclusively ours and outlives
                // `self`, and so the `Mapping` stored in it.
                *self = State::Managed(unsafe { Mapping::new(sgt, dev, dir, attrs) }?);
                Ok(())
            }
            (State::Unmapped, None) | (State::Borrowed | State::Managed(_), _) => Err(EINVAL),
        }
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
    /// `sgt` points to an initialised `struct sg_table` that nobody else uses while it is mapped,
    /// and that stays valid for the lifetime of the returned [`Mapping`].
    unsafe fn new(
        sgt: NonNull<bindings::sg_table>,
        dev: &Device<Bound>,
        dir: DataDirection,
        attrs: c_ulong,
    ) -> Result<Self> {
        // If `Devres::new()` fails, the `MappedSgt` is dropped, which unmaps again.
        //
        // SAFETY: Guaranteed by the safety requirements of this function; the `Devres` is part of
        // `Self`.
        let dma = Devres::new(dev, unsafe { MappedSgt::new(sgt, dev, dir, attrs) })?;
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

// SAFETY: `&MappedSgt` only allows syncs, which the DMA API allows concurrently.
unsafe impl Sync for MappedSgt {}

impl MappedSgt {
    /// Maps `sgt` for `dev`.
    ///
    /// # Safety
    ///
    /// `sgt` points to an initialised `struct sg_table` that nobody else uses while it is mapped,
    /// and that stays valid for the lifetime of the returned [`MappedSgt`].
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
        // SAFETY: `sgt` is valid, and `dma_map_sgtable()` has set `nents`.
        if unsafe { (*sgt.as_ptr()).nents } == 0 {
            return Err(EIO);
        }

        // INVARIANT: `sgt` is valid by the safety requirements and was just mapped, with
        // `nents > 0`, for `dev`, `dir` and `attrs`.
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
