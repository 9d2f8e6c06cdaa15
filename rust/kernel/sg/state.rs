// SPDX-License-Identifier: GPL-2.0

//! The mapping state of an [`SgTable`](super::SgTable) and every transition between states.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)
//!
//! The state machine is documented on [`State`], where rustdoc shows it.

use super::{
    limits::has_dma_mask,
    mapping::{
        raw_attrs,
        Keep,
        Mapping,
        MAP_ATTRS, //
    },
    SgTable, //
};
use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    dma::DataDirection,
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
    task::might_sleep,
};
use core::ptr::NonNull;

/// What we know of a mapping someone else made, so that we may sync the table: the device and
/// direction it was mapped for ([`Terms::MappedFor`]), or the [`SgTable`] whose
/// mapping it is, shared with us ([`SgTable::share`]).
///
/// [`SgTable`]: super::SgTable
/// [`Terms::MappedFor`]: super::Terms::MappedFor
/// [`SgTable::share`]: super::SgTable::share
pub struct OwnerMapping(Known);

/// The two kinds of [`OwnerMapping`].
///
/// # Invariants
///
/// - `MappedFor`: the table of the [`State::Borrowed`] that holds this is mapped for `dev` and
///   `dir`, with `dir` not [`DataDirection::None`], while the state lasts.
/// - `Shared`: the table is that of `table`, whose state is [`State::Managed`]; it stays so
///   while shared (changing it needs `&mut`), revoked or not.
///
/// An [`OwnerMapping`] holds one only as [`OwnerMapping::mapped_for`] and
/// [`OwnerMapping::shared`] made it; the syncs (sync.rs) read it through
/// [`OwnerMapping::known`].
#[derive(Clone)]
pub(super) enum Known {
    MappedFor {
        dev: ARef<Device>,
        dir: DataDirection,
    },
    Shared(Arc<SgTable<'static>>),
}

impl OwnerMapping {
    /// The device and direction of a mapping someone else made.
    ///
    /// # Errors
    ///
    /// `EINVAL` for [`DataDirection::None`], which no mapping has.
    ///
    /// # Safety
    ///
    /// The table this is kept with is mapped for `dev` and `dir` while it is kept.
    pub(super) unsafe fn mapped_for(dev: &Device, dir: DataDirection) -> Result<Self> {
        if dir == DataDirection::None {
            return Err(EINVAL);
        }
        // INVARIANT: By the safety requirements; `dir` is not `None` (checked).
        Ok(Self(Known::MappedFor {
            dev: dev.into(),
            dir,
        }))
    }

    /// The mapping of `table`, if it is mapped with a known device and direction, for a view of
    /// it that keeps `table`: its own mapping, which the view follows, revocation included; or
    /// what `table` knows of its owner's. Never a view of a view, however deep the sharing.
    pub(super) fn shared(table: &Arc<SgTable<'static>>) -> Option<Self> {
        match table.state() {
            // INVARIANT: The state is `Managed`, and `&` keeps it so.
            State::Managed(_) => Some(Self(Known::Shared(table.clone()))),
            // INVARIANT: The view has the table of `table`, which the view keeps: mapped as
            // `owner` says for as long.
            State::Borrowed(Some(owner)) => Some(Self(owner.0.clone())),
            State::Unmapped | State::Borrowed(None) => None,
        }
    }

    /// What we know of the mapping.
    #[inline]
    pub(super) fn known(&self) -> &Known {
        &self.0
    }

    /// Returns the direction of the mapping.
    #[inline]
    fn direction(&self) -> Option<DataDirection> {
        match self.known() {
            Known::MappedFor { dir, .. } => Some(*dir),
            Known::Shared(table) => table.direction(),
        }
    }
}

impl core::fmt::Debug for OwnerMapping {
    /// The device by name and the direction, or the state of the table shared with us.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.0 {
            Known::MappedFor { dev, dir } => f
                .debug_struct("OwnerMapping")
                .field("device", &dev.name())
                .field("direction", dir)
                .finish(),
            Known::Shared(table) => f.debug_tuple("Shared").field(table.state()).finish(),
        }
    }
}

/// The mapping state of an [`SgTable`](super::SgTable).
///
/// `'a` is the lifetime of the table: a lifetime-bound mapping holds its device for `'a`.
///
/// The whole state machine is the table below; each cell is one arm of a `match` in the module of
/// this type (the syncs' in sync.rs), and Documentation/rust/sg.rst draws the same machine. "Owned"
/// is a table an [`SgTable`](super::SgTable) allocated itself; "borrowed" one someone else made,
/// borrowed on the [`Terms`](super::Terms) named (`Unmapped` or `Mappable`: lent to us to map);
/// "mapped for" one borrowed on [`Terms::MappedFor`](super::Terms::MappedFor), and "shared" a view
/// of a mapped table shared through an `Arc` ([`SgTable::share`](super::SgTable::share)): both hold
/// an [`OwnerMapping`], so that we may sync them. Every cell that is not `Ok` returns the error
/// shown and leaves the state as it was. A cell naming a state is a transition to it.
///
/// | state \ operation             | `map`     | `unmap`    | DMA iteration | syncs    |
/// |-------------------------------|-----------|------------|---------------|----------|
/// | `Unmapped`, owned             | `Managed` | `EINVAL`   | `EINVAL`      | `EINVAL` |
/// | `Unmapped`, borrowed          | `EINVAL`  | `EINVAL`   | `EINVAL`      | `EINVAL` |
/// | `Unmapped`, mappable          | `Managed` | `EINVAL`   | `EINVAL`      | `EINVAL` |
/// | [`State::Borrowed`]           | `EINVAL`  | `EINVAL`   | `Ok`          | `EINVAL` |
/// | `Borrowed`, mapped for        | `EINVAL`  | `EINVAL`   | `Ok`          | `Ok`     |
/// | `Borrowed`, shared            | `EINVAL`  | `EINVAL`   | `Ok`          | `Ok`     |
/// | `Borrowed`, shared, revoked   | `EINVAL`  | `EINVAL`   | `ENODEV`      | `ENODEV` |
/// | [`State::Managed`]            | `EINVAL`  | `Unmapped` | `Ok`          | `Ok`     |
/// | `Managed`, revoked            | `Managed` | `Unmapped` | `ENODEV`      | `ENODEV` |
///
/// `map` is either of the two kinds of [`Mapping`]: a devres mapping
/// ([`SgTable::map`](super::SgTable::map)) or a lifetime-bound one
/// ([`SgTable::map_bound`](super::SgTable::map_bound)); both lead to `Managed`, where the table
/// behaves the same. Only a devres mapping can be revoked (by unbinding its device while the
/// table lives on). A lifetime-bound one lasts as long as the table, which the borrow checker
/// keeps inside the binding; but a table that safe code leaks (`core::mem::forget()`,
/// `KBox::leak()`) keeps its mapping for good, with its pages (memory stays safe; its bounce
/// slots or IOVAs stay taken, and DMA-API debug reports the mapping at unbind).
///
/// The KUnit case `the_state_table` (rust/kernel/sg/tests/states.rs) has one row per row here,
/// `Managed` once per kind, and checks every cell with both kinds of `map`. Here, the `map` column
/// is `State::start_map()` and `State::map()` (with the source's part, owned or borrowed, in
/// `Source::mappable()`), `unmap` is `State::unmap()`, DMA iteration (and DMA windows)
/// `State::check_dma()` and the syncs (whole or of a range) `State::with_mapping()` (with the
/// syncs, in sync.rs). Out of the table: a window or range outside the table returns `ERANGE`.
///
/// `map` also returns `EINVAL`, changing nothing, for [`DataDirection::None`] or an attribute
/// it does not accept, and for a table whose entries break the device's segment limits (see
/// `limits.rs`). A table built for no device has an entry per page, which every device that
/// takes a page per segment accepts. A device without a DMA mask gets `EIO` before the DMA API
/// is called. A failed mapping (`ENOMEM`, or the DMA API's error) leaves the table `Unmapped`;
/// so does any failed `map` of a revoked table past the argument checks, since it drops the
/// dead mapping first.
///
/// CPU iteration is allowed in every state, for tables with a CPU view. Dropping a `Managed`
/// table unmaps it (unless unbinding the device already did) before the table is freed.
///
/// Calls that may sleep say so, and call [`might_sleep`]: a devres `map` (the [`Devres`] is
/// allocated with `GFP_KERNEL`), the `unmap` or drop of a devres mapping, and any `map` of a
/// table whose devres mapping was revoked (they wait for an unbinding that is revoking the
/// mapping). Mapping, syncing and unmapping a lifetime-bound mapping otherwise allocate nothing
/// and wait for nothing: they are as atomic as the DMA API calls themselves. Freeing memory may
/// sleep, whatever the state: dropping a table over a `VVec` or `VBox` (`vfree()`).
///
/// [`Devres`]: crate::devres::Devres
pub enum State<'a> {
    /// Not mapped for DMA: only CPU iteration is possible.
    Unmapped,
    /// Mapped for DMA by the table's owner, not by us: DMA iteration is possible, unmapping stays
    /// the owner's business, and so does syncing unless we know the device and the direction of
    /// its mapping (the [`OwnerMapping`]). A view of a table shared with us
    /// ([`SgTable::share`](super::SgTable::share)) is mapped as long as that table's devres
    /// mapping lasts: after unbinding, its DMA iteration and syncs return `ENODEV`.
    Borrowed(Option<OwnerMapping>),
    /// Mapped by us for one device and direction; unmapped again by [`SgTable::unmap`], on drop
    /// or, for a devres mapping, when the device is unbound from its driver, whichever comes
    /// first.
    ///
    /// [`SgTable::unmap`]: super::SgTable::unmap
    Managed(Mapping<'a>),
}

/// What [`State::start_map`] hands [`State::map`]: the checked direction and attributes, once
/// the state is ready for a new mapping.
pub(super) struct Ready {
    dir: DataDirection,
    attrs: u32,
}

impl<'a> State<'a> {
    /// The first half of `map`: checks the arguments, the state and the device, then drops a
    /// revoked mapping, so that the state is `Unmapped` and the table may be readied for a
    /// new mapping. [`State::map`] is the second half.
    ///
    /// # Errors
    ///
    /// `EINVAL` for [`DataDirection::None`], an attribute `map` does not accept, or a state
    /// other than `Unmapped` or a revoked `Managed`; `EIO` for a device without a DMA mask. The
    /// state is unchanged then.
    #[track_caller]
    pub(super) fn start_map(
        &mut self,
        dev: &Device<Bound>,
        dir: DataDirection,
        attrs: c_ulong,
    ) -> Result<Ready> {
        // `dma_map_sgtable()` would `BUG()` on `DataDirection::None`. Of the attributes, only
        // those that change how, not what, is mapped: `DMA_ATTR_MMIO` would hand RAM to the
        // device as MMIO (no bus offset, no bouncing, no cache maintenance), and the allocation
        // attributes mean nothing here.
        if dir == DataDirection::None || attrs & !raw_attrs(MAP_ATTRS) != 0 {
            return Err(EINVAL);
        }
        let revoked = match self {
            State::Unmapped => false,
            State::Managed(mapping) if !mapping.is_live() => true,
            State::Borrowed(_) | State::Managed(_) => return Err(EINVAL),
        };
        // `dma_map_sgtable()` would warn, map nothing and return success, leaving in the entries
        // the DMA addresses of an earlier mapping, which nothing may unmap.
        if !has_dma_mask(dev) {
            return Err(EIO);
        }
        if revoked {
            // Drop the dead mapping first: that waits until unbinding has unmapped the table,
            // which must be over before the source readies it for a new mapping. (Only a
            // devres mapping can be dead, and it needs no table to go.) Whichever kind of
            // mapping comes next, that may wait.
            might_sleep();
            *self = State::Unmapped;
        }
        // CAST: Checked above: only bits of `MAP_ATTRS`, a `u32`, are set.
        let attrs = attrs as u32;
        Ok(Ready { dir, attrs })
    }

    /// `Unmapped` → `Managed`: maps `sgt` for the device of `keep`, the second half of `map`
    /// after [`State::start_map`]. On error the state stays `Unmapped`.
    ///
    /// # Safety
    ///
    /// - `ready` is what `start_map()` returned for this state and the device of `keep`, and
    ///   the state has not changed since (it is `Unmapped`).
    /// - `sgt` points to an initialised `struct sg_table`, readied for the device of `keep` by
    ///   `Source::mappable()` after `start_map()`, that nobody else maps, unmaps or changes
    ///   while it is mapped, and that stays valid until this state is dropped or left; it is
    ///   the table the other calls on this state are given.
    pub(super) unsafe fn map(
        &mut self,
        ready: Ready,
        sgt: NonNull<bindings::sg_table>,
        keep: Keep<'_, 'a>,
    ) -> Result {
        let Ready { dir, attrs } = ready;
        // SAFETY: By the safety requirements: `sgt` is exclusively ours, readied for the device,
        // and outlives `self`, and so the `Mapping` stored in it, and it is the table `unmap()`
        // will be given; the state is `Unmapped`, so no earlier mapping is left and `sgt` is not
        // mapped. `ready` (made only by `start_map()`) says that the device has a DMA mask, that
        // `dir` is not `None` and that `attrs` has only bits of `MAP_ATTRS`. The `Mapping` is
        // kept in the state, whose `unmap()` (also on drop of the table) undoes it.
        *self = State::Managed(unsafe { Mapping::new(sgt, keep, dir, attrs) }?);
        Ok(())
    }

    /// `Managed` → `Unmapped`: unmaps `sgt` (unless unbinding the device already did).
    ///
    /// Calls [`might_sleep`] for a devres mapping: dropping it waits for an unbinding that is
    /// revoking it.
    ///
    /// # Safety
    ///
    /// `sgt` is the table [`State::map`] mapped.
    #[track_caller]
    pub(super) unsafe fn unmap(&mut self, sgt: NonNull<bindings::sg_table>) -> Result {
        match core::mem::replace(self, State::Unmapped) {
            State::Managed(mapping) => {
                // SAFETY: `sgt` is the table `mapping` mapped, by the safety requirements.
                unsafe { mapping.unmap(sgt) };
                Ok(())
            }
            unchanged => {
                *self = unchanged;
                Err(EINVAL)
            }
        }
    }

    /// Checks that the DMA addresses of the table may be read.
    #[inline]
    pub(super) fn check_dma(&self) -> Result {
        match self {
            State::Borrowed(Some(owner)) => match owner.known() {
                Known::Shared(table) => table.state().check_dma(),
                Known::MappedFor { .. } => Ok(()),
            },
            State::Borrowed(None) => Ok(()),
            State::Managed(mapping) if mapping.is_live() => Ok(()),
            State::Managed(_) => Err(ENODEV),
            State::Unmapped => Err(EINVAL),
        }
    }

    /// Returns the direction of the mapping, ours or its owner's if we know it.
    #[inline]
    pub(super) fn direction(&self) -> Option<DataDirection> {
        match self {
            State::Managed(mapping) => Some(mapping.direction()),
            State::Borrowed(Some(owner)) => owner.direction(),
            State::Unmapped | State::Borrowed(None) => None,
        }
    }

    /// Returns whether the table is mapped for DMA right now (DMA iteration would succeed).
    #[inline]
    pub fn is_mapped(&self) -> bool {
        self.check_dma().is_ok()
    }
}

impl core::fmt::Debug for State<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            State::Unmapped => f.write_str("Unmapped"),
            State::Borrowed(None) => f.write_str("Borrowed"),
            State::Borrowed(Some(owner)) => f.debug_tuple("Borrowed").field(owner).finish(),
            State::Managed(mapping) => f.debug_tuple("Managed").field(mapping).finish(),
        }
    }
}
