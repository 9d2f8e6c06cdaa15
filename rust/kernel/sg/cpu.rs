// SPDX-License-Identifier: GPL-2.0

//! CPU access to the memory of an [`SgTable`](super::SgTable): its CPU segments, and copies
//! to and from its bytes.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)

use super::{
    iter::CpuIter,
    source::Source,
    SgTable, //
};
use crate::{
    bindings,
    prelude::*, //
};
use core::ptr::NonNull;

impl SgTable<'_> {
    /// Returns an iterator over the CPU segments of the table (all `orig_nents` entries), in any
    /// state.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a table without CPU view ([`Terms::DmaOnly`](super::Terms::DmaOnly)).
    ///
    /// # Examples
    ///
    /// A table over part of a buffer starts where the range does:
    ///
    /// ```
    /// use kernel::{page::PAGE_SIZE, sg::SgTable};
    ///
    /// // A firmware file: a 64-byte header, then the image the device gets.
    /// let mut file = VVec::<u8>::with_capacity(3 * PAGE_SIZE, GFP_KERNEL)?;
    /// file.resize(64, 0xff, GFP_KERNEL)?;
    /// file.resize(3 * PAGE_SIZE, 0x5a, GFP_KERNEL)?;
    /// let image = SgTable::new_range(file, 64, 3 * PAGE_SIZE - 64, GFP_KERNEL)?;
    ///
    /// let first = image.cpu_iter()?.next().ok_or(EINVAL)?;
    /// assert_eq!((first.offset(), first.len()), (64, PAGE_SIZE - 64));
    /// let mut byte = [0u8; 1];
    /// image.read_at(0, &mut byte)?;
    /// assert_eq!(byte, [0x5a]);
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn cpu_iter(&self) -> Result<CpuIter<'_>> {
        let sgt = self.source().cpu()?;
        // SAFETY: The table and the pages of its entries stay valid and unchanged while `self`
        // is borrowed: by the type invariants of `SgTable`, and for a CPU view (`Source::cpu()`)
        // by those of `Foreign` and of the owned table's `Backing`.
        Ok(unsafe { CpuIter::new(sgt) })
    }

    /// Copies `buf.len()` bytes of the table's memory, from `offset` on, into `buf`
    /// (`sg_pcopy_to_buffer()`).
    ///
    /// While the table is mapped for a device that writes it, call `SgTable::sync_for_cpu()`
    /// first, or the CPU may read stale data.
    ///
    /// # Errors
    ///
    /// - `EINVAL` for a table without CPU view.
    /// - `ERANGE` if the range is not inside the table, or is 4 GiB or more; nothing is copied.
    /// - `EIO` if the entries held fewer bytes than the table's size (its maker changed it
    ///   after we counted them); what they held is copied.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{page::PAGE_SIZE, sg::SgTable};
    ///
    /// let mut buf = VVec::<u8>::with_capacity(2 * PAGE_SIZE, GFP_KERNEL)?;
    /// buf.resize(2 * PAGE_SIZE, 7, GFP_KERNEL)?;
    /// let mut table = SgTable::new(buf, GFP_KERNEL)?;
    ///
    /// table.write_at(PAGE_SIZE - 1, &[1, 2])?;
    /// let mut out = [0u8; 3];
    /// table.read_at(PAGE_SIZE - 2, &mut out)?;
    /// assert_eq!(out, [7, 1, 2]);
    /// assert_eq!(table.read_at(2 * PAGE_SIZE - 2, &mut out), Err(ERANGE));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result {
        let sgt = self.source().cpu()?;
        let skip = self.check_range(offset, buf.len())?;
        // SAFETY:
        // - `sgt` is a valid table while `self` is borrowed, with `orig_nents` entries whose
        //   pages are CPU memory (`Source::cpu()`).
        // - `buf` is valid for writing `buf.len()` bytes, which lie inside the table.
        let copied = unsafe {
            let sgt = sgt.as_ptr();
            bindings::sg_pcopy_to_buffer(
                (*sgt).sgl,
                (*sgt).orig_nents,
                buf.as_mut_ptr().cast(),
                buf.len(),
                skip,
            )
        };
        copied_all(copied, buf.len())
    }

    /// Copies `data` into the table's memory from `offset` on (`sg_pcopy_from_buffer()`).
    ///
    /// While the table is mapped for a device that reads it, call `SgTable::sync_for_device()`
    /// afterwards, or the device may read stale data.
    ///
    /// # Errors
    ///
    /// - `EINVAL` if the memory is not ours to write (a table someone else made, even one lent
    ///   to us to map: [`Terms::Mappable`](super::Terms::Mappable)); nothing is copied.
    /// - `ERANGE` and `EIO` as for [`SgTable::read_at`].
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result {
        let sgt = self.source().writable()?;
        let skip = self.check_range(offset, data.len())?;
        // SAFETY:
        // - `sgt` is a valid table with `orig_nents` entries over pages that are ours, and
        //   `&mut self` keeps every other CPU user of them away.
        // - `data` is valid for reading `data.len()` bytes, which fit inside the table.
        let copied = unsafe {
            let sgt = sgt.as_ptr();
            bindings::sg_pcopy_from_buffer(
                (*sgt).sgl,
                (*sgt).orig_nents,
                data.as_ptr().cast(),
                data.len(),
                skip,
            )
        };
        copied_all(copied, data.len())
    }

    /// Checks that `offset..offset + len` lies inside the table and that C can copy `len` bytes
    /// at once (`sg_copy_buffer()` counts them in an `unsigned int`); returns `offset` for C.
    fn check_range(&self, offset: usize, len: usize) -> Result<c_long> {
        self.check_bytes(offset, len)?;
        if u32::try_from(len).is_err() {
            return Err(ERANGE);
        }
        c_long::try_from(offset).map_err(|_| ERANGE)
    }
}

/// `Ok` if `sg_copy_buffer()` copied all `len` bytes. It copies fewer only if the entries hold
/// fewer bytes than the table's size, counted when the table was made: `EIO` then, for a table
/// whose maker changed it after all.
#[inline]
fn copied_all(copied: usize, len: usize) -> Result {
    if copied == len {
        Ok(())
    } else {
        Err(EIO)
    }
}

impl Source<'_> {
    /// The table, if its memory is ours to write: only a table we own. (A table lent to us to
    /// map is not: its pages may be the page cache, or another mapping's.)
    #[inline]
    fn writable(&self) -> Result<NonNull<bindings::sg_table>> {
        match self {
            Source::Owned(_) => Ok(self.as_raw()),
            Source::Borrowed(_) => Err(EINVAL),
        }
    }
}
