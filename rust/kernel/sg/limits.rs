// SPDX-License-Identifier: GPL-2.0

//! What one DMA segment may be for a device: its maximum length and its boundary.
//!
//! C header: [`include/linux/dma-mapping.h`](srctree/include/linux/dma-mapping.h)
//!
//! A device takes no segment longer than its maximum segment size (`dma_get_max_seg_size()`)
//! and no segment that crosses its segment boundary (`dma_get_seg_boundary()`, a mask such as
//! 4 GiB - 1 for PCI). The IOMMU and swiotlb paths keep to these when they merge or bounce, but
//! dma-direct hands each entry to the device as it is: an entry that breaks a limit reaches the
//! device. So an owned table is cut to the limits it is built for, and mapping a table checks
//! that its entries also keep to the limits of the device it maps for. Both look at the
//! addresses the device sees: physical addresses, moved by a bus offset on SoCs with
//! `dma-ranges` ([`Bus`]).

use crate::{
    bindings,
    device::Device,
    page::PAGE_SIZE,
    prelude::*, //
};

/// The limits a DMA segment must keep to.
///
/// # Invariants
///
/// `boundary + 1` is a power of two (or `boundary` is `u64::MAX`).
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

    /// One page per segment, which every device that can do DMA on pages takes: what a table
    /// built for no device keeps to, so that it maps on any of them.
    pub(super) const PAGE: Self = Self {
        // CAST: A page fits in `u32`.
        max_segment: PAGE_SIZE as u32,
        // CAST: A page fits in `u64`.
        boundary: PAGE_SIZE as u64 - 1,
    };

    /// The limits `dev` sets for each DMA segment, as C gives them (defaults included):
    /// `dma_get_max_seg_size()` and `dma_get_seg_boundary()`.
    #[inline]
    pub(super) fn of(dev: &Device) -> Self {
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
        // INVARIANT: C's check is `(start ^ end) & ~mask`, and `dma_set_seg_boundary()` takes any
        // mask: two bytes may differ only in the mask's low run of ones, so that run is the
        // window (`0x1_7fff` acts as `0x7fff`).
        let boundary = match boundary.trailing_ones() {
            64 => u64::MAX,
            ones => (1 << ones) - 1,
        };
        Self {
            max_segment,
            boundary,
        }
    }

    /// The limits for a table `dev` maps in one go: [`Limits::of`], and no entry longer than the
    /// device maps at once (`dma_max_mapping_size()`, e.g. the swiotlb slot size when bouncing).
    ///
    /// # Errors
    ///
    /// `EIO` for a device without a DMA mask, which cannot do DMA.
    pub(super) fn for_building(dev: &Device) -> Result<Self> {
        if !has_dma_mask(dev) {
            return Err(EIO);
        }
        // SAFETY: `dev.as_raw()` is a valid device.
        let max_mapping = unsafe { bindings::dma_max_mapping_size(dev.as_raw()) };
        let limits = Self::of(dev);
        Ok(Self {
            max_segment: u32::try_from(max_mapping)
                .unwrap_or(u32::MAX)
                .min(limits.max_segment),
            ..limits
        })
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
    pub(super) fn allow(&self, addr: impl Into<u64>, len: u32) -> bool {
        let addr = addr.into();
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

/// Whether `dev` has a DMA mask, without which it cannot do DMA: the DMA API warns and maps
/// nothing (`__dma_map_sg_attrs()`), and 7.3's `dma_max_mapping_size()` returns 0.
#[inline]
pub(super) fn has_dma_mask(dev: &Device) -> bool {
    // SAFETY: `dev.as_raw()` is a valid device; its `dma_mask` pointer is set up before a driver
    // binds, and is only read here.
    !unsafe { (*dev.as_raw()).dma_mask }.is_null()
}

/// Where a device sees memory: the DMA address dma-direct hands it for a physical address,
/// which differs by a bus offset on SoCs whose device tree has `dma-ranges` (the device's
/// `dma_range_map`). Segment boundaries are in DMA address space.
#[derive(Clone, Copy)]
pub(super) struct Bus<'d>(Option<&'d Device>);

impl<'d> Bus<'d> {
    /// DMA addresses that are physical addresses.
    pub(super) const DIRECT: Self = Self(None);

    /// The bus of `dev`.
    #[inline]
    pub(super) fn of(dev: &'d Device) -> Self {
        // SAFETY: `dev.as_raw()` is a valid device; its `dma_range_map` is set up before a
        // driver binds, and only read here.
        let offset = !unsafe { (*dev.as_raw()).dma_range_map }.is_null();
        Self(offset.then_some(dev))
    }

    /// Whether DMA addresses are physical addresses on this bus.
    #[inline]
    pub(super) fn is_direct(&self) -> bool {
        self.0.is_none()
    }

    /// The DMA address of the physical address `phys` (`phys_to_dma()`).
    #[inline]
    pub(super) fn address(&self, phys: u64) -> u64 {
        match self.0 {
            None => phys,
            // SAFETY: `dev.as_raw()` is a valid device.
            // CAST: `phys` is a `phys_addr_t` (it came from `page_to_phys()`), and a
            // `dma_addr_t` fits in `u64`.
            Some(dev) => unsafe {
                bindings::phys_to_dma(dev.as_raw(), phys as bindings::phys_addr_t) as u64
            },
        }
    }
}
