// SPDX-License-Identifier: GPL-2.0

//! What one DMA segment may be for a device: its maximum length and its boundary.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)
//!
//! A device takes no segment longer than its maximum segment size (`dma_get_max_seg_size()`)
//! and no segment that crosses its segment boundary (`dma_get_seg_boundary()`, a mask such as
//! 4 GiB - 1 for PCI). The IOMMU and swiotlb paths keep to these when they merge or bounce, but
//! dma-direct hands each entry to the device as it is: an entry that breaks a limit reaches the
//! device. So an owned table is cut to the limits it is built for, and [`SgTable::map`] checks
//! that the entries of a table also keep to the limits of the device it maps for.
//!
//! [`SgTable::map`]: super::SgTable::map

use crate::{
    bindings,
    device::Device,
    page::PAGE_SIZE,
    prelude::*,
    sizes::SZ_64K, //
};

/// The limits a DMA segment must keep to.
///
/// # Invariants
///
/// `boundary + 1` is a power of two (or `boundary` is `u64::MAX`), as segment boundary masks
/// are by convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Limits {
    /// The longest segment, in bytes.
    max_segment: u32,
    /// No segment may hold two bytes whose addresses differ in a bit above this mask.
    boundary: u64,
}

impl Limits {
    /// No limit beyond what a `struct scatterlist` entry can hold.
    pub(super) const NONE: Self = Self {
        max_segment: u32::MAX,
        boundary: u64::MAX,
    };

    /// The limits `dev` sets for each DMA segment: `dma_get_max_seg_size()` and
    /// `dma_get_seg_boundary()`, read here as those inline C functions do (a `map()` per I/O
    /// asks for them each time).
    #[inline]
    pub(super) fn of(dev: &Device) -> Self {
        // SAFETY: `dev.as_raw()` is a valid device. Its `dma_parms`, if any, outlives it, and
        // changes only while no DMA mapping primitive of the device runs (the safety requirements
        // of `dma::Device::dma_set_max_seg_size()`; C sets it up before).
        let parms = unsafe { (*dev.as_raw()).dma_parms.as_ref() };
        let max_segment = match parms.map(|p| p.max_segment_size) {
            Some(size) if size != 0 => size,
            // CAST: 64 KiB fits in `u32`.
            _ => SZ_64K as u32,
        };
        let boundary = match parms.map(|p| p.segment_boundary_mask) {
            Some(mask) if mask != 0 => mask,
            _ => c_ulong::MAX,
        };
        Self::new(max_segment, boundary)
    }

    /// [`Limits::of`] as the C functions give them, for the tests to check it against.
    #[cfg(CONFIG_RUST_SG_KUNIT_TEST)]
    pub(super) fn of_c(dev: &Device) -> Self {
        // SAFETY: `dev.as_raw()` is a valid device.
        let max_segment = unsafe { bindings::dma_get_max_seg_size(dev.as_raw()) };
        // SAFETY: `dev.as_raw()` is a valid device.
        let boundary = unsafe { bindings::dma_get_seg_boundary(dev.as_raw()) };
        Self::new(max_segment, boundary)
    }

    /// A maximum segment and a boundary mask.
    #[inline]
    fn new(max_segment: u32, boundary: c_ulong) -> Self {
        // CAST: `unsigned long` fits in `u64` on every architecture Linux supports.
        let boundary = boundary as u64;
        // INVARIANT: Segment boundaries are one less than a power of two by convention, which
        // `dma_set_seg_boundary()` does not enforce: round one that is not down to the next.
        let boundary = if boundary & boundary.wrapping_add(1) == 0 {
            boundary
        } else {
            // The top bit is not bit 0 here, so the shift is less than 64.
            u64::MAX >> (boundary.leading_zeros() + 1)
        };
        Self {
            max_segment,
            boundary,
        }
    }

    /// The limits for a table `dev` maps in one go: [`Limits::of`], and no entry longer than the
    /// device maps at once (`dma_max_mapping_size()`, e.g. the swiotlb slot size when bouncing).
    pub(super) fn for_building(dev: &Device) -> Self {
        // SAFETY: `dev.as_raw()` is a valid device.
        let max_mapping = unsafe { bindings::dma_max_mapping_size(dev.as_raw()) };
        let limits = Self::of(dev);
        Self {
            max_segment: u32::try_from(max_mapping)
                .unwrap_or(u32::MAX)
                .min(limits.max_segment),
            ..limits
        }
    }

    /// The longest segment of whole pages, or `EINVAL` if not even one page fits in a segment.
    pub(super) fn page_segment(&self) -> Result<usize> {
        // CAST: `u32` fits in `usize` on every architecture Linux supports.
        let max = (self.max_segment as usize) & !(PAGE_SIZE - 1);
        // CAST: As above; a boundary of at least a page has `PAGE_SIZE - 1` in its mask.
        if max == 0 || (self.boundary as usize) & (PAGE_SIZE - 1) != PAGE_SIZE - 1 {
            return Err(EINVAL);
        }
        Ok(max)
    }

    /// Whether a segment of `len` bytes at `addr` keeps to these limits.
    #[inline]
    pub(super) fn allow(&self, addr: u64, len: u32) -> bool {
        len <= self.max_segment
            && (len == 0 || (addr ^ addr.wrapping_add(u64::from(len) - 1)) & !self.boundary == 0)
    }

    /// Whether a segment that keeps to `self` keeps to `other` as well.
    ///
    /// A shorter maximum is within a longer one; a smaller boundary mask (a power of two minus
    /// one, by the type invariants) divides a larger one, so not crossing the first means not
    /// crossing the second.
    #[inline]
    pub(super) fn within(&self, other: &Limits) -> bool {
        self.max_segment <= other.max_segment && self.boundary <= other.boundary
    }

    /// Whether the page at physical address `addr` starts a new boundary window.
    #[inline]
    pub(super) fn starts_window(&self, addr: u64) -> bool {
        addr & self.boundary == 0
    }
}
