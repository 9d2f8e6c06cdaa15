// SPDX-License-Identifier: GPL-2.0

//! Tables of [`kernel::scatterlist`](crate::scatterlist) as [`SgTable`]s, and back.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)
//!
//! Upstream hands out `&'a SGTable` (DRM GEM shmem's `sg_table()` in 7.3, the `Deref` of an
//! `SGTable<Owned<P>>`). [`SgTable::try_from`] takes one in, safely, as an `SgTable<'a>` in
//! [`State::Borrowed`](super::State::Borrowed): DMA iteration works; `map`, `unmap` and the
//! syncs are refused, as for any table its owner mapped; the CPU view is refused too, since
//! upstream does not vouch for the pages (as on [`Terms::DmaOnly`](super::Terms::DmaOnly)).
//! [`SgTable::as_scatterlist`] lends a mapped `SgTable` to an API that takes `&SGTable`.
//!
//! What each side guarantees: a `&'a SGTable` promises a valid `struct sg_table` that nobody
//! modifies for `'a` (`SGTable::from_raw`). It does not promise that the table is mapped, nor
//! that it stays mapped: an `SGTable<Owned<P>>`'s mapping is revoked at unbind, and its
//! `SGTableIter` then yields stale addresses. An `SgTable` taken from it inherits exactly that:
//! its DMA iteration is memory safe (it reads the first `nents` entries, which an initialised
//! table has, mapped or not), but whether the addresses are live is the lender's business,
//! not checked at run time as for a mapping we made ([`State::Managed`](super::State::Managed)).

use super::{
    source::Access,
    SgTable,
    State, //
};
use crate::{
    bindings,
    prelude::*,
    scatterlist::{
        Owned,
        SGTable, //
    },
};

impl<'a> TryFrom<&'a SGTable> for SgTable<'a> {
    type Error = Error;

    /// Takes a table of [`kernel::scatterlist`](crate::scatterlist) in, without CPU view.
    ///
    /// # Errors
    ///
    /// `EOVERFLOW` if its DMA segments add up to more than `usize::MAX` bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::device::{Bound, Device};
    /// use kernel::{dma::DataDirection, page::PAGE_SIZE, scatterlist::SGTable, sg::SgTable};
    ///
    /// # fn test(dev: &Device<Bound>) -> Result {
    /// let mut buf = VVec::<u8>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
    /// buf.resize(PAGE_SIZE, 0, GFP_KERNEL)?;
    /// let upstream = KBox::pin_init(
    ///     SGTable::new(dev, buf, DataDirection::ToDevice, GFP_KERNEL),
    ///     GFP_KERNEL,
    /// )?;
    ///
    /// let ours = SgTable::try_from(&*upstream)?;
    /// assert_eq!(ours.dma_iter()?.count(), upstream.iter().count());
    /// assert_eq!(ours.cpu_iter().err(), Some(EINVAL));
    /// # Ok::<(), Error>(()) }
    /// ```
    fn try_from(sgt: &'a SGTable) -> Result<Self> {
        // SAFETY:
        // - A `&'a SGTable` points to a valid, initialised `struct sg_table` that nobody
        //   modifies for `'a` (the safety requirements of `SGTable::from_raw`, which every
        //   `&SGTable` was made under).
        // - It is not taken as CPU memory, and the table is only read.
        // - Taken as mapped by its owner: the DMA view reads the first `nents` entries, which
        //   any initialised table has. Upstream does not promise that they are mapped (see the
        //   module documentation); neither does this table, beyond what upstream promises.
        unsafe { SgTable::borrowed_dma_view(sgt.as_raw()) }
    }
}

impl<'a, P> TryFrom<&'a SGTable<Owned<P>>> for SgTable<'a> {
    type Error = Error;

    /// Takes an owned table of [`kernel::scatterlist`](crate::scatterlist) in, as
    /// [`SgTable::try_from`] takes the `&SGTable` it dereferences to.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::try_from`].
    fn try_from(sgt: &'a SGTable<Owned<P>>) -> Result<Self> {
        Self::try_from(&**sgt)
    }
}

impl SgTable<'_> {
    /// Lends a mapped table as a [`kernel::scatterlist::SGTable`](crate::scatterlist::SGTable),
    /// for an API that takes one.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::dma_iter`]: `EINVAL` if the table is not mapped, `ENODEV` if the
    /// device it was mapped for has been unbound.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::device::{Bound, Device};
    /// use kernel::{dma::DataDirection, page::PAGE_SIZE, sg::SgTable};
    ///
    /// # fn test(dev: &Device<Bound>) -> Result {
    /// let mut buf = VVec::<u8>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
    /// buf.resize(PAGE_SIZE, 0, GFP_KERNEL)?;
    /// let mut table = SgTable::new(buf, GFP_KERNEL)?;
    /// assert_eq!(table.as_scatterlist().err(), Some(EINVAL));
    ///
    /// table.map(dev, DataDirection::ToDevice)?;
    /// let upstream = table.as_scatterlist()?;
    /// assert_eq!(upstream.iter().count(), table.nents()?);
    /// # Ok::<(), Error>(()) }
    /// ```
    pub fn as_scatterlist(&self) -> Result<&SGTable> {
        self.nents()?;
        // SAFETY:
        // - The table is valid while `self` is borrowed (type invariants of `SgTable`).
        // - Nobody modifies it meanwhile: mapping and unmapping it ourselves take `&mut self`;
        //   a table someone else made is unchanged by the contract it was wrapped under; and
        //   the unmapping an unbind does writes no entry of a table over our own pages (only
        //   peer-to-peer entries get their marks cleared).
        Ok(unsafe { SGTable::from_raw(self.as_raw()) })
    }
}

impl<'a> SgTable<'a> {
    /// Wraps a table someone else made and lends us for `'a`, as one its owner mapped, without
    /// CPU view.
    ///
    /// # Safety
    ///
    /// `sgt` points to an initialised `struct sg_table` that stays valid and that nobody
    /// changes for `'a`; whoever lends it answers for its mapping (see `interop`).
    unsafe fn borrowed_dma_view(sgt: *mut bindings::sg_table) -> Result<Self> {
        // SAFETY: By the safety requirements: a table of `kernel::scatterlist`, mapped as far as
        // its lender says, the one exception the invariants of `SgTable` name; DMA iteration
        // reads only the first `nents` entries, which an initialised table has.
        unsafe { Self::foreign(sgt, None, State::Borrowed(None), Access::DmaOnly) }
    }
}
