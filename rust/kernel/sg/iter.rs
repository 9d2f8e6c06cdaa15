// SPDX-License-Identifier: GPL-2.0

//! Iterators over the entries of an [`SgTable`](super::SgTable): the CPU view and the DMA view.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)
//!
//! Both walk the C list the way `sg_next()` does, inline: the per-entry step is a few loads,
//! not a call into a helper. Entries are read field by field through raw pointers, never as
//! `&scatterlist`: C may write fields we do not read (e.g. `dma_flags` at unmap) meanwhile.

use crate::{
    bindings,
    dma::DmaAddress,
    prelude::*, //
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

/// `sg_next()`: the entry after `sg`, following a chain link; `None` after the last entry.
///
/// A copy of C's static inline `sg_next()`, kept in Rust because it is the per-entry step of
/// every walk, where a helper call per entry costs more than the step itself unless
/// `CONFIG_RUST_INLINE_HELPERS` inlines it (the numbers are in the message of the commit that
/// added it). It reads only the `SG_CHAIN` and `SG_END` marks of `page_link`, the encoding
/// scatterlist.h documents; the KUnit tests walk tables with C's `sg_next()` next to it.
///
/// # Safety
///
/// `sg` points to a valid entry of an initialised scatterlist.
#[inline(always)]
pub(super) unsafe fn sg_next(
    sg: NonNull<bindings::scatterlist>,
) -> Option<NonNull<bindings::scatterlist>> {
    // CAST: The `SG_*` constants are small flag values of `page_link`, an `unsigned long`.
    const CHAIN: usize = bindings::SG_CHAIN as usize;
    const END: usize = bindings::SG_END as usize;

    // SAFETY: `sg` is valid by the safety requirements.
    if unsafe { (*sg.as_ptr()).page_link } & END != 0 {
        return None;
    }
    // SAFETY: An entry that is not the last one is followed by another entry or a chain link in
    // the same array.
    let next = unsafe { sg.add(1) };
    // SAFETY: `next` is valid, see above.
    let link = unsafe { (*next.as_ptr()).page_link };
    if link & CHAIN != 0 {
        // CAST: A chain link holds the address of the next array of entries.
        NonNull::new((link & !(CHAIN | END)) as *mut bindings::scatterlist)
    } else {
        Some(next)
    }
}

/// Walks the first `left` entries of a scatterlist.
///
/// # Invariants
///
/// If `left > 0`, `sg` points to a valid entry with at least `left - 1` valid entries after it,
/// for the lifetime `'a`.
pub(super) struct Walk<'a> {
    sg: NonNull<bindings::scatterlist>,
    left: usize,
    _table: PhantomData<&'a bindings::sg_table>,
}

impl<'a> Walk<'a> {
    /// Walks `count` entries from `sgl`.
    ///
    /// # Safety
    ///
    /// If `count > 0`, `sgl` points to the first of at least `count` valid entries of an
    /// initialised scatterlist that stays valid and unchanged for `'a`.
    #[inline]
    pub(super) unsafe fn new(sgl: *mut bindings::scatterlist, count: c_uint) -> Self {
        // INVARIANT: By the safety requirements; nothing is walked from a NULL list.
        match NonNull::new(sgl) {
            Some(sg) => Self {
                sg,
                // CAST: `c_uint` always fits in `usize` on the architectures Linux supports.
                left: count as usize,
                _table: PhantomData,
            },
            None => Self {
                sg: NonNull::dangling(),
                left: 0,
                _table: PhantomData,
            },
        }
    }
}

impl<'a> Iterator for Walk<'a> {
    /// An entry, valid and unchanged (but for fields we do not read) for `'a`.
    type Item = NonNull<bindings::scatterlist>;

    // The step is C's: the successor of each entry, the last one included, whose end mark
    // stops the walk as `left` does (a table whose `nents` overstates its entries ends there).
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let sg = self.sg;
        self.left -= 1;
        // SAFETY: `sg` is valid by the type invariants (`left` was not 0).
        match unsafe { sg_next(sg) } {
            // INVARIANT: `sg` had `left` valid entries after it, so its successor has `left - 1`.
            Some(next) => self.sg = next,
            None => self.left = 0,
        }
        Some(sg)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// One DMA segment of a mapped table: an address and a length as the device sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaSegment {
    pub(super) address: DmaAddress,
    pub(super) len: u32,
}

impl DmaSegment {
    /// Returns the DMA address the device should use for this segment (`sg_dma_address()`).
    #[inline]
    pub fn dma_address(&self) -> DmaAddress {
        self.address
    }

    /// Returns the length of this segment in bytes (`sg_dma_len()`).
    #[inline]
    pub fn dma_len(&self) -> u32 {
        self.len
    }
}

/// An [`Iterator`] over the [`DmaSegment`]s of a mapped table (`for_each_sgtable_dma_sg()`).
///
/// It yields the first `nents` entries, as `for_each_sgtable_dma_sg()` does. The state of
/// the table is checked once, when the iterator is made: if the device is unbound while it runs,
/// the addresses it yields afterwards are stale (but reading them stays memory safe).
pub struct DmaIter<'a>(Walk<'a>);

impl<'a> DmaIter<'a> {
    /// Iterates over the DMA view of `sgt`.
    ///
    /// # Safety
    ///
    /// `sgt` points to an initialised `struct sg_table` whose first `nents` entries stay valid
    /// and unchanged for `'a`. (That the table is mapped, so that the addresses are live, is
    /// what the callers check; an unmapped table yields stale addresses, safely.)
    #[inline]
    pub(super) unsafe fn new(sgt: NonNull<bindings::sg_table>) -> Self {
        let sgt = sgt.as_ptr();
        // SAFETY: `sgt` is valid by the safety requirements, and a mapped table has `nents`
        // valid entries from `sgl`, unchanged for `'a`.
        Self(unsafe { Walk::new((*sgt).sgl, (*sgt).nents) })
    }
}

/// The DMA segment the entry `sg` holds.
///
/// # Safety
///
/// `sg` points to a valid entry, one of the first `nents` of a mapped table.
#[inline(always)]
pub(super) unsafe fn dma_segment(sg: NonNull<bindings::scatterlist>) -> DmaSegment {
    let sg = sg.as_ptr();
    // SAFETY: `sg` is valid by the safety requirements.
    #[cfg(CONFIG_NEED_SG_DMA_LENGTH)]
    let len = unsafe { (*sg).dma_length };
    // SAFETY: As above.
    #[cfg(not(CONFIG_NEED_SG_DMA_LENGTH))]
    let len = unsafe { (*sg).length };
    DmaSegment {
        // SAFETY: As above.
        address: unsafe { (*sg).dma_address },
        len,
    }
}

impl Iterator for DmaIter<'_> {
    type Item = DmaSegment;

    #[inline]
    fn next(&mut self) -> Option<DmaSegment> {
        // SAFETY: The entry is valid for `'a` (`Walk`), and one of the `nents` of a mapped table.
        Some(unsafe { dma_segment(self.0.next()?) })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// One CPU segment of a table: a run of memory starting `offset` bytes into `page`.
///
/// A segment may span several physically contiguous pages; `page` is the first one.
pub struct CpuSegment<'a> {
    page: NonNull<bindings::page>,
    offset: usize,
    len: usize,
    _table: PhantomData<&'a bindings::sg_table>,
}

impl core::fmt::Debug for CpuSegment<'_> {
    /// The offset and length; not the page, whose address would leak into logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CpuSegment")
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish()
    }
}

impl core::fmt::Debug for DmaIter<'_> {
    /// How many entries are left to walk, at most.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DmaIter")
            .field("left", &self.0.left)
            .finish()
    }
}

impl core::fmt::Debug for CpuIter<'_> {
    /// How many entries are left to walk.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CpuIter")
            .field("left", &self.0.left)
            .finish()
    }
}

impl CpuSegment<'_> {
    /// Returns the `struct page` of the first page of this segment (`sg_page()`), to compare or
    /// to hand to C.
    ///
    /// No [`Page`](crate::page::Page) is made of it: the pages of a table someone else made
    /// need not be what a `Page` promises (an order-0 page with a reference count).
    #[inline]
    pub fn page(&self) -> *mut bindings::page {
        self.page.as_ptr()
    }

    /// Returns the offset of the segment in its first page, in bytes.
    #[inline]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Returns the length of the segment in bytes.
    #[inline]
    #[expect(
        clippy::len_without_is_empty,
        reason = "a segment of ours is never empty; one of a C table is as C made it"
    )]
    pub fn len(&self) -> usize {
        self.len
    }
}

/// An [`Iterator`] over the [`CpuSegment`]s of a table (`for_each_sgtable_sg()`).
///
/// It yields all `orig_nents` entries, whatever the mapping state.
pub struct CpuIter<'a>(Walk<'a>);

impl<'a> CpuIter<'a> {
    /// Iterates over the CPU view of `sgt`.
    ///
    /// # Safety
    ///
    /// `sgt` points to an initialised `struct sg_table` whose entries stay valid and unchanged
    /// for `'a`, and so do the pages of the entries that have one.
    #[inline]
    pub(super) unsafe fn new(sgt: NonNull<bindings::sg_table>) -> Self {
        let sgt = sgt.as_ptr();
        // SAFETY: `sgt` is valid by the safety requirements, and an initialised table has
        // `orig_nents` valid entries from `sgl`.
        Self(unsafe { Walk::new((*sgt).sgl, (*sgt).orig_nents) })
    }
}

/// The CPU segment of entry `sg`, or `None` if it has no page.
///
/// Its page is decoded as C's static inline `sg_page()` does (`page_link` without the
/// `SG_CHAIN` and `SG_END` marks), in Rust for the reason [`sg_next`] is: a call per entry of
/// CPU iteration. The KUnit tests compare it with C's `sg_page()`.
///
/// # Safety
///
/// `sg` is an entry of a table as [`CpuIter::new`] requires, valid for `'a`.
#[inline]
unsafe fn cpu_segment<'a>(sg: NonNull<bindings::scatterlist>) -> Option<CpuSegment<'a>> {
    // CAST: The low bits of `page_link` are flags; the rest is the `struct page` address.
    const FLAGS: usize = (bindings::SG_CHAIN | bindings::SG_END) as usize;

    let sg = sg.as_ptr();
    // SAFETY: `sg` is a valid entry for `'a`.
    // CAST: `page_link` holds a `struct page *` (`sg_page()`).
    let page = NonNull::new((unsafe { (*sg).page_link } & !FLAGS) as *mut bindings::page)?;
    Some(CpuSegment {
        page,
        // SAFETY: `sg` is a valid entry for `'a`.
        // CAST: `c_uint` always fits in `usize`.
        offset: unsafe { (*sg).offset } as usize,
        // SAFETY: As above.
        // CAST: As above.
        len: unsafe { (*sg).length } as usize,
        _table: PhantomData,
    })
}

impl CpuIter<'_> {
    /// Walks all entries and returns the sum of their lengths, or `None` if an entry has no
    /// page (its memory is not CPU memory).
    pub(super) fn total(self) -> Option<usize> {
        let mut bytes = 0usize;
        for sg in self.0 {
            // SAFETY: `sg` is an entry of the table `CpuIter::new` was given, valid meanwhile.
            bytes = bytes.checked_add(unsafe { cpu_segment(sg) }?.len)?;
        }
        Some(bytes)
    }
}

impl<'a> Iterator for CpuIter<'a> {
    type Item = CpuSegment<'a>;

    /// The next entry; an entry without a page ends the walk (none has in a table with a CPU
    /// view, which is the only kind an [`SgTable`](super::SgTable) iterates).
    #[inline]
    fn next(&mut self) -> Option<CpuSegment<'a>> {
        let sg = self.0.next()?;
        // SAFETY: `sg` is an entry of the table `CpuIter::new` was given, valid for `'a`.
        let seg = unsafe { cpu_segment(sg) };
        if seg.is_none() {
            self.0.left = 0;
        }
        seg
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
