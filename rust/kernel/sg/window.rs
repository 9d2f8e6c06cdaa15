// SPDX-License-Identifier: GPL-2.0

//! Byte windows of a mapped [`SgTable`](super::SgTable): the DMA segments of a range of its
//! bytes, and their split into aligned chunks (one per page-table entry, say).

use super::{
    iter::{
        DmaIter,
        DmaSegment, //
    },
    SgTable, //
};
use crate::{
    dma::DmaAddress,
    prelude::*, //
};

impl SgTable<'_> {
    /// Returns an iterator over the DMA addresses of the bytes `offset..offset + len` of a mapped
    /// table: its DMA segments, clipped to the window. [`DmaWindow::chunks`] splits them further
    /// into aligned chunks, e.g. one per page-table entry.
    ///
    /// # Errors
    ///
    /// As for [`SgTable::dma_iter`]; `ERANGE` if the window is not inside the table.
    ///
    /// # Examples
    ///
    /// Page-table entries for the second and third 4 KiB of a buffer, one per 4 KiB, as a GPU
    /// VM bind or nova-core's GSP loader writes them:
    ///
    /// ```
    /// # use kernel::device::{Bound, Device};
    /// use kernel::{
    ///     dma::{DataDirection, DmaAddress},
    ///     sg::SgTable,
    /// };
    ///
    /// # fn test(dev: &Device<Bound>) -> Result {
    /// const SZ_4K: usize = 4096;
    /// let mut buf = VVec::<u8>::with_capacity(4 * SZ_4K, GFP_KERNEL)?;
    /// buf.resize(4 * SZ_4K, 0, GFP_KERNEL)?;
    /// let table = SgTable::new_mapped_bound(dev, buf, DataDirection::ToDevice, GFP_KERNEL)?;
    ///
    /// let mut entries = KVec::new();
    /// for chunk in table.dma_window(SZ_4K, 2 * SZ_4K)?.chunks(SZ_4K)? {
    ///     assert_eq!(chunk.dma_address() % SZ_4K as DmaAddress, 0);
    ///     entries.push(chunk.dma_address().to_le(), GFP_KERNEL)?;
    /// }
    /// assert_eq!(entries.len(), 2);
    /// assert_eq!(table.dma_window(SZ_4K, 4 * SZ_4K).err(), Some(ERANGE));
    /// assert_eq!(table.dma_window(0, SZ_4K)?.chunks(3000).err(), Some(EINVAL));
    /// # Ok::<(), Error>(()) }
    /// ```
    #[inline]
    pub fn dma_window(&self, offset: usize, len: usize) -> Result<DmaWindow<'_>> {
        let segments = self.dma_iter()?;
        self.check_bytes(offset, len)?;
        Ok(DmaWindow::new(segments, offset, len))
    }
}

/// The piece of `seg` in a window that starts `skip` bytes further and is `left` bytes long,
/// if any; moves `skip` and `left` past `seg`.
#[inline(always)]
pub(super) fn clip(seg: DmaSegment, skip: &mut usize, left: &mut usize) -> Option<DmaSegment> {
    // CAST: A `u32` fits in a `usize` on every architecture Linux supports.
    let len = seg.len as usize;
    if *skip >= len {
        *skip -= len;
        return None;
    }
    let n = (len - *skip).min(*left);
    // CAST: `skip` is less than `len`, a `u32`; `n` is at most `len`.
    let piece = DmaSegment {
        address: seg.address.wrapping_add(*skip as DmaAddress),
        len: n as u32,
    };
    *skip = 0;
    *left -= n;
    Some(piece)
}

/// The DMA segments of a byte window of a mapped table: those of a [`DmaIter`], clipped to
/// `offset..offset + len` of the bytes they describe, in order
/// ([`SgTable::dma_window`](super::SgTable::dma_window)).
///
/// The window is found by walking the segments before it: linear in their number, without an
/// allocation.
pub struct DmaWindow<'a> {
    segments: DmaIter<'a>,
    /// Bytes still to skip before the window.
    skip: usize,
    /// Bytes of the window still to yield.
    left: usize,
}

impl<'a> DmaWindow<'a> {
    /// The window `offset..offset + len` of `segments`.
    #[inline]
    pub(super) fn new(segments: DmaIter<'a>, offset: usize, len: usize) -> Self {
        Self {
            segments,
            skip: offset,
            left: len,
        }
    }

    /// Splits the window into chunks that do not cross a boundary of `size` bytes in DMA address
    /// space: page-table entries of `size` (a GPU's 4 KiB or 2 MiB pages, an NVMe PRP list's
    /// controller pages), one per chunk.
    ///
    /// # Errors
    ///
    /// `EINVAL` if `size` is not a power of two.
    pub fn chunks(self, size: usize) -> Result<DmaChunks<'a>> {
        if !size.is_power_of_two() {
            return Err(EINVAL);
        }
        Ok(DmaChunks {
            window: self,
            // A chunk larger than any DMA address is one chunk per segment.
            mask: DmaAddress::try_from(size - 1).unwrap_or(DmaAddress::MAX),
            current: None,
        })
    }
}

impl Iterator for DmaWindow<'_> {
    type Item = DmaSegment;

    #[inline]
    fn next(&mut self) -> Option<DmaSegment> {
        while self.left > 0 {
            let seg = self.segments.next()?;
            if let Some(piece) = clip(seg, &mut self.skip, &mut self.left) {
                return Some(piece);
            }
        }
        None
    }
}

impl core::fmt::Debug for DmaWindow<'_> {
    /// How many bytes are left to skip, and to yield.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DmaWindow")
            .field("skip", &self.skip)
            .field("left", &self.left)
            .finish()
    }
}

/// The chunks of a [`DmaWindow`] ([`DmaWindow::chunks`]): its segments, split where they cross a
/// boundary of the chunk size in DMA address space.
pub struct DmaChunks<'a> {
    window: DmaWindow<'a>,
    /// The chunk size minus one.
    mask: DmaAddress,
    /// What is left of the segment being split.
    current: Option<DmaSegment>,
}

impl Iterator for DmaChunks<'_> {
    type Item = DmaSegment;

    #[inline]
    fn next(&mut self) -> Option<DmaSegment> {
        let seg = match self.current.take() {
            Some(seg) => seg,
            None => self.window.next()?,
        };
        // The bytes up to the next boundary, less one (so that a mask of all ones does not
        // overflow); the segment's length bounds them.
        let to_boundary = self.mask - (seg.address & self.mask);
        // CAST: The minimum is at most `seg.len`, a `u32`.
        let n = if to_boundary < DmaAddress::from(seg.len) {
            (to_boundary + 1) as u32
        } else {
            seg.len
        };
        if n < seg.len {
            self.current = Some(DmaSegment {
                address: seg.address.wrapping_add(DmaAddress::from(n)),
                len: seg.len - n,
            });
        }
        Some(DmaSegment {
            address: seg.address,
            len: n,
        })
    }
}

impl core::fmt::Debug for DmaChunks<'_> {
    /// The chunk size and what is left of the window.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DmaChunks")
            .field("size", &self.mask.wrapping_add(1))
            .field("window", &self.window)
            .finish()
    }
}
