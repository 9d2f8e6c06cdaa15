// SPDX-License-Identifier: GPL-2.0

//! Scatter-gather tables for DMA, with their mapping state checked at run time.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)
//!
//! A driver hands memory that is not physically contiguous to a device through a
//! `struct sg_table`: a list of (page, offset, length) entries for the CPU which, once mapped
//! for a device, also holds (DMA address, length) segments for the device.
//!
//! [`SgTable`] is one movable, non-generic type for all of them, so that a driver can keep tables
//! of different origins in one plain field (say a `KVec<SgTable<'static>>`), without generics or
//! pinning. A table has
//!
//! - a source: a table someone else made and keeps valid (C code, another subsystem), borrowed
//!   on [`Terms`] its owner promises with the `unsafe` [`SgTable::from_raw`] (for a lifetime)
//!   or [`SgTable::from_owner`] (keeping an owner that keeps the table), a view of a table
//!   shared through an `Arc` ([`SgTable::share`]), or one we allocate over memory we own (e.g.
//!   a [`VVec`](crate::alloc::VVec) firmware image, with the safe [`SgTable::new`]);
//! - a [`State`]: [`State::Unmapped`], [`State::Borrowed`] (mapped by its owner) or
//!   [`State::Managed`] (mapped by us, for one device and direction).
//!
//! Transitions ([`SgTable::map`], [`SgTable::unmap`]) and the operations that need a mapping
//! ([`SgTable::dma_iter`], [`SgTable::sync_for_cpu`], [`SgTable::sync_for_device`]) check the
//! state when called and return `EINVAL`, changing nothing, when it does not allow them. A
//! mapping we made is undone before the binding of its device to the driver ends: either the
//! table borrows the `&'a Device<Bound>` for its lifetime ([`SgTable::map_bound`], free of
//! cost), or the mapping is kept in a [`Devres`](crate::devres::Devres) ([`SgTable::map`], for a
//! table that may outlive the binding). The one exception is a table that safe code leaks
//! (`core::mem::forget()`) while it holds a lifetime-bound mapping: the mapping is leaked with
//! the table and its memory, for good.
//!
//! The module exists where the kernel has a DMA API (`CONFIG_HAS_DMA`): not on UML.
//!
//! The CPU may read a table ([`SgTable::cpu_iter`], [`SgTable::read_at`]) unless it was borrowed
//! on [`Terms::DmaOnly`] (peer-to-peer or VRAM segments without CPU memory), and write only
//! memory we own ([`SgTable::write_at`]). Owned tables are built only
//! over [`Pages`]: memory whose every byte pattern is a valid value, without padding.
//!
//! This is an alternative to [`kernel::scatterlist`](crate::scatterlist), whose type states make
//! the type of a table depend on where it comes from. The two meet: `SgTable::try_from(&sgtable)`
//! takes an upstream table in (without `unsafe`), and [`SgTable::as_scatterlist`] lends a mapped
//! one out.

mod borrowed;
mod cpu;
mod interop;
mod iter;
mod limits;
mod mapping;
mod source;
mod state;
mod sync;
mod table;
mod window;

pub use self::{
    borrowed::Terms,
    iter::{
        CpuIter,
        CpuSegment,
        DmaIter,
        DmaSegment, //
    },
    mapping::Mapping,
    source::Pages,
    state::{
        OwnerMapping,
        State, //
    },
    table::SgTable,
    window::{
        DmaChunks,
        DmaWindow, //
    },
};

#[cfg(CONFIG_RUST_SG_KUNIT_TEST)]
mod tests;
