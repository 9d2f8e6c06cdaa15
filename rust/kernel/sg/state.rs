// SPDX-License-Identifier: GPL-2.0

//! The mapping state of an [`SgTable`](super::SgTable) and every transition between states.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)
//!
//! The state machine is documented on [`State`], where rustdoc shows it.

use super::{
    iter::{
        for_each_piece,
        DmaIter,
        DmaSegment, //
    },
    limits::Limits,
    SgTable, //
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
    sync::{
        aref::ARef,
        Arc, //
    },
    task::might_sleep,
};
use core::ptr::NonNull;

/// The attributes [`SgTable::map_with_attrs`](super::SgTable::map_with_attrs) accepts.
const MAP_ATTRS: u32 = bindings::DMA_ATTR_WEAK_ORDERING
    | bindings::DMA_ATTR_SKIP_CPU_SYNC
    | bindings::DMA_ATTR_NO_WARN
    | bindings::DMA_ATTR_PRIVILEGED;

/// Whom a sync gives the memory to.
#[derive(Clone, Copy)]
pub(super) enum SyncFor {
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
            let (sgl, n) = unsafe { orig_entries(sgt) };
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
/// - `Told`: the table of the [`State::Borrowed`] that holds this is mapped for `dev` and `dir`,
///   with `dir` not [`DataDirection::None`], while the state lasts.
/// - `Shared`: the table is that of `table`, whose state is [`State::Managed`]; it stays so
///   while shared (changing it needs `&mut`), revoked or not.
#[derive(Clone)]
enum Known {
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

    /// Returns the direction of the mapping.
    #[inline]
    fn direction(&self) -> Option<DataDirection> {
        match &self.0 {
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

/// Attributes as the DMA API takes them.
#[inline]
fn raw_attrs(attrs: u32) -> c_ulong {
    // CAST: A `u32` fits in an `unsigned long` on every architecture Linux supports.
    attrs as c_ulong
}

/// The mapping state of an [`SgTable`](super::SgTable).
///
/// `'a` is the lifetime of the table: a lifetime-bound mapping holds its device for `'a`.
///
/// The whole state machine is the table below; each cell is one arm of a `match` in the
/// module of this type, and Documentation/rust/sg.rst draws the same machine. "Owned" is a
/// table an [`SgTable`](super::SgTable) allocated itself; "borrowed" one someone else made,
/// borrowed on the [`Terms`](super::Terms) named (`Unmapped` or `Mappable`: lent to us
/// to map); "mapped for" one borrowed on [`Terms::MappedFor`](super::Terms::MappedFor), and
/// "shared" a view of a mapped table shared through an `Arc`
/// ([`SgTable::share`](super::SgTable::share)): both hold an [`OwnerMapping`], so that we may
/// sync them. Every cell that is not `Ok` returns the error shown and leaves the state as it
/// was. A cell naming a state is a transition to it.
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
/// `Managed` once per kind, and checks every cell with both kinds of `map`. Here, the `map`
/// column is `State::map()` (with the source's part, owned or borrowed, in
/// `Source::mappable()`), `unmap` is `State::unmap()`, DMA iteration (and DMA windows)
/// `State::check_dma()` and the syncs (whole or of a range) `State::sync()` and
/// `State::sync_range()`. Out of the table: a window or range outside the
/// table returns `ERANGE`.
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

/// The device to map a table for, and what keeps the mapping from outliving its binding.
pub(super) enum Keep<'d, 'a> {
    /// A [`Devres`]: the mapping is revoked when the device is unbound.
    Devres(&'d Device<Bound>),
    /// The lifetime `'a` of the table, during which the device stays bound.
    Lifetime(&'a Device<Bound>),
}

impl Keep<'_, '_> {
    fn device(&self) -> &Device<Bound> {
        match self {
            Keep::Devres(dev) | Keep::Lifetime(dev) => dev,
        }
    }
}

impl<'a> State<'a> {
    /// `Unmapped` → `Managed`: maps the table `sgt()` gives (if the source lets us) for the
    /// device of `keep`.
    ///
    /// On `EINVAL` and `EIO` before the source is asked for the table (arguments, state, a
    /// device without a DMA mask) the state is unchanged; from there on, a revoked mapping has
    /// been dropped, and on error the state is `Unmapped`.
    ///
    /// # Safety
    ///
    /// A table `sgt()` returns points to an initialised `struct sg_table` that nobody else maps,
    /// unmaps or changes while it is mapped, and that stays valid until this state is dropped
    /// or left; it is the table the other calls on this state are given.
    pub(super) unsafe fn map(
        &mut self,
        sgt: impl FnOnce(&Device<Bound>) -> Result<NonNull<bindings::sg_table>>,
        keep: Keep<'_, 'a>,
        dir: DataDirection,
        attrs: c_ulong,
    ) -> Result {
        // `dma_map_sgtable()` would `BUG()` on `DataDirection::None`. Of the attributes, only
        // those that change how, not what, is mapped: `DMA_ATTR_MMIO` would hand RAM to the
        // device as MMIO (no bus offset, no bouncing, no cache maintenance), and the allocation
        // attributes mean nothing here.
        if dir == DataDirection::None || attrs & !raw_attrs(MAP_ATTRS) != 0 {
            return Err(EINVAL);
        }
        // CAST: Checked just above: only bits of `MAP_ATTRS`, a `u32`, are set.
        let attrs = attrs as u32;
        let revoked = match self {
            State::Unmapped => false,
            State::Managed(mapping) if !mapping.is_live() => true,
            State::Borrowed(_) | State::Managed(_) => return Err(EINVAL),
        };
        // `dma_map_sgtable()` would warn, map nothing and return success, leaving in the entries
        // the DMA addresses of an earlier mapping, which nothing may unmap.
        if !has_dma_mask(keep.device()) {
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
        let sgt = sgt(keep.device())?;
        // SAFETY: The caller guarantees that `sgt` is exclusively ours and outlives `self`, and
        // so the `Mapping` stored in it, and that it is the table `unmap()` will be given; the
        // previous mapping, if any, is gone; the device has a DMA mask (checked).
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
            State::Borrowed(Some(OwnerMapping(Known::Shared(table)))) => table.state().check_dma(),
            State::Borrowed(_) => Ok(()),
            State::Managed(mapping) if mapping.is_live() => Ok(()),
            State::Managed(_) => Err(ENODEV),
            State::Unmapped => Err(EINVAL),
        }
    }

    /// Returns the direction of the mapping, ours or its owner's if we know it.
    #[inline]
    pub(super) fn direction(&self) -> Option<DataDirection> {
        match self {
            State::Managed(mapping) => Some(mapping.dir),
            State::Borrowed(Some(owner)) => owner.direction(),
            State::Unmapped | State::Borrowed(None) => None,
        }
    }

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
            State::Managed(Mapping {
                kind: Kind::Lifetime(dev),
                dir,
                ..
            }) => (dev, *dir),
            State::Managed(Mapping {
                kind: Kind::Devres(dma),
                dir,
                ..
            }) => return devres_with_device(dma, *dir, f),
            State::Borrowed(Some(OwnerMapping(Known::MappedFor { dev, dir }))) => (dev, *dir),
            State::Borrowed(Some(OwnerMapping(Known::Shared(table)))) => {
                return shared_with_mapping(table, f)
            }
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
    pub(super) unsafe fn sync(&self, sgt: NonNull<bindings::sg_table>, to: SyncFor) -> Result {
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
    pub(super) unsafe fn sync_range(
        &self,
        sgt: NonNull<bindings::sg_table>,
        offset: usize,
        len: usize,
        to: SyncFor,
    ) -> Result {
        // SAFETY: As in `sync()`: `sgt` is valid and mapped for `dev` and `dir` during the call.
        self.with_mapping(|dev, dir| unsafe { sync_pieces(sgt, dev, dir, offset, len, to) })
    }

    /// Returns whether the table is mapped for DMA right now (DMA iteration would succeed).
    #[inline]
    pub fn is_mapped(&self) -> bool {
        self.check_dma().is_ok()
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
/// bound for `'a`.
pub struct Mapping<'a> {
    kind: Kind<'a>,
    dir: DataDirection,
    attrs: u32,
}

/// What keeps a [`Mapping`] from outliving the binding of its device.
enum Kind<'a> {
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
    /// `sgt` points to an initialised `struct sg_table` that stays valid for the lifetime of the
    /// returned [`Mapping`], that nobody else maps, unmaps or changes while it is mapped, and
    /// that [`Mapping::unmap`] and the syncs will be given; the device of `keep` has a DMA
    /// mask.
    unsafe fn new(
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
    unsafe fn unmap(self, sgt: NonNull<bindings::sg_table>) {
        match self.kind {
            // SAFETY: By the type invariants, `sgt` (the table this mapping was made for, by the
            // safety requirements) is mapped for `dev`, `dir` and `attrs`, and `dev` is bound.
            Kind::Lifetime(dev) => unsafe { unmap_sgtable(sgt, dev, self.dir, self.attrs) },
            // Dropping the `Devres` waits for an unbinding that is revoking it.
            Kind::Devres(_) => might_sleep(),
        }
    }

    /// Returns the direction the table is mapped for.
    #[inline]
    pub fn direction(&self) -> DataDirection {
        self.dir
    }

    /// Returns the device the table is mapped for.
    #[inline]
    pub fn device(&self) -> &Device {
        match &self.kind {
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

/// Calls `f` with the device of a devres mapping, and `dir`, while `try_access_with()` holds
/// revocation off (an RCU read section, so `f` must not sleep); `ENODEV` if the device was
/// unbound. Kept out of line (as [`devres_is_live`] is) so that a lifetime-bound mapping's syncs
/// need no registers saved for it.
#[inline(never)]
fn devres_with_device(
    dma: &Devres<MappedSgt>,
    dir: DataDirection,
    f: impl FnOnce(&Device, DataDirection),
) -> Result {
    dma.try_access_with(|m| f(&m.dev, dir)).ok_or(ENODEV)
}

/// [`State::with_mapping`] of a table shared with us: its mapping, revocation included. Kept
/// out of line, as [`devres_with_device`] is.
#[inline(never)]
fn shared_with_mapping(table: &SgTable<'static>, f: impl FnOnce(&Device, DataDirection)) -> Result {
    table.state().with_mapping(f)
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
    // Without `CONFIG_ARCH_HAS_DMA_OPS` (x86_64 and arm64 as configured here, for one), no
    // device has such ops: no call on the mapping path.
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

/// Whether `dev` has a DMA mask, without which it cannot do DMA: the DMA API warns and maps
/// nothing (`__dma_map_sg_attrs()`), and 7.3's `dma_max_mapping_size()` returns 0.
#[inline]
pub(super) fn has_dma_mask(dev: &Device) -> bool {
    // SAFETY: `dev.as_raw()` is a valid device; its `dma_mask` pointer is set up before a driver
    // binds, and is only read here.
    !unsafe { (*dev.as_raw()).dma_mask }.is_null()
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
unsafe fn orig_entries(sgt: NonNull<bindings::sg_table>) -> (*mut bindings::scatterlist, c_int) {
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
struct MappedSgt {
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
        unsafe { unmap_sgtable(self.sgt, &self.dev, self.dir, self.attrs) };
    }
}
