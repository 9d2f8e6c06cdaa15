// SPDX-License-Identifier: GPL-2.0

//! Suite `rust_kernel_sg_layout`: how tables are laid out: their entries against C's walk, chained
//! tables, the segment limits of a device, typed and empty buffers.

use super::*;

/// 64 KiB segments, and a boundary mask that is not a power of two less one.
static ODD_BOUNDARY: Parms = Parms(bindings::device_dma_parameters {
    max_segment_size: 64 << 10,
    min_align_mask: 0,
    segment_boundary_mask: 0x1_7fff,
});

/// Pages `start..start + n` of a block of physically contiguous pages, aligned to its size (one
/// higher-order allocation).
///
/// # Invariants
///
/// `block` is the first of `1 << order` pages we own, split (`split_page()`) into order-0 pages;
/// `start + n` is at most `1 << order`.
struct ContiguousPages {
    block: NonNull<bindings::page>,
    order: u32,
    start: usize,
    n: usize,
}

impl ContiguousPages {
    /// Pages `start..start + n` of a new block of `1 << order` pages.
    fn new(order: u32, start: usize, n: usize) -> Result<Self> {
        if start + n > 1 << order {
            return Err(EINVAL);
        }
        // SAFETY: Always safe to call.
        let block = NonNull::new(unsafe { bindings::alloc_pages(GFP_KERNEL.as_raw(), order) })
            .ok_or(ENOMEM)?;
        // SAFETY: `alloc_pages()` without `__GFP_COMP` gave a block of `1 << order` pages.
        unsafe { bindings::split_page(block.as_ptr(), order) };
        // INVARIANT: The block is split, and the range is inside it (checked above).
        Ok(Self {
            block,
            order,
            start,
            n,
        })
    }
}

impl crate::sg::source::private::Sealed for ContiguousPages {
    fn size(&self) -> Option<usize> {
        self.n.checked_mul(PAGE_SIZE)
    }

    fn pages(&mut self) -> impl Iterator<Item = NonNull<bindings::page>> + '_ {
        // SAFETY: The `struct page`s of a block are consecutive (no block crosses a memory
        // section), and the range is inside the block.
        (self.start..self.start + self.n).map(|i| unsafe { self.block.add(i) })
    }
}

// SAFETY: Pages are plain memory any task may free.
unsafe impl Send for ContiguousPages {}

// SAFETY: Through `&ContiguousPages` nothing is written.
unsafe impl Sync for ContiguousPages {}

impl Pages for ContiguousPages {}

impl Drop for ContiguousPages {
    fn drop(&mut self) {
        for i in 0..1usize << self.order {
            // SAFETY: Each page of the split block is an order-0 page of ours.
            unsafe { bindings::__free_pages(self.block.as_ptr().add(i), 0) };
        }
    }
}

#[macros::kunit_tests(rust_kernel_sg_layout)]
mod kunit {
    use super::*;

    #[test]
    fn typed_buffers_cover_their_length() -> Result {
        // Only memory any byte pattern may fill: `VVec<KBox<u64>>` does not compile (`Pages`
        // needs `FromBytes + AsBytes`), `VVec<u32>` does. The table covers the length, not the
        // capacity.
        let mut words = VVec::<u32>::with_capacity(3 * PAGE_SIZE, GFP_KERNEL)?;
        words.resize(100, 0x01020304, GFP_KERNEL)?;
        let mut t = SgTable::new(words, GFP_KERNEL)?;
        assert_eq!(t.size(), 400);
        assert_eq!(t.orig_nents(), 1);
        assert_eq!(ops(&t), expect(Err(EINVAL), 400, Is::Unmapped));
        let mut bytes = [0u8; 4];
        t.read_at(396, &mut bytes)?;
        assert_eq!(u32::from_ne_bytes(bytes), 0x01020304);
        // Past the length, within the capacity: never-written memory stays out of reach.
        assert_eq!(t.read_at(400, &mut bytes), Err(ERANGE));
        assert_eq!(t.write_at(398, &bytes), Err(ERANGE));
        let dev = TestDevice::new(c"rust-sg-typed")?;
        t.map(dev.bound(), DataDirection::ToDevice)?;
        assert_eq!(dma_matches_c(&t), Ok(400));

        // A vector with capacity but no length has nothing to describe.
        let empty = VVec::<u64>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
        assert_eq!(SgTable::new(empty, GFP_KERNEL).err(), Some(EINVAL));
        // A box: all of its value.
        // Zeroed in place: 8 KiB would not fit on the stack.
        let mut boxed = VBox::<[u64; 1024]>::zeroed(GFP_KERNEL)?;
        boxed.fill(7);
        assert_eq!(SgTable::new(boxed, GFP_KERNEL)?.size(), 8192);
        Ok(())
    }

    #[test]
    fn empty_buffers_are_refused() {
        assert_eq!(
            SgTable::new(VVec::<u8>::new(), GFP_KERNEL).err(),
            Some(EINVAL)
        );
        assert_eq!(
            SgTable::new(KVec::<Page>::new(), GFP_KERNEL).err(),
            Some(EINVAL)
        );
    }

    #[test]
    fn mapped_entries_match_a_c_walk() -> Result {
        let dev = TestDevice::new(c"rust-sg-walk")?;
        let pages = 16;
        let size = pages * PAGE_SIZE;
        let mut buf = buffer(pages, 5)?;
        let mut buf_pages = KVec::new();
        for page in crate::page::AsPageIter::page_iter(&mut buf) {
            buf_pages.push(page.as_ptr(), GFP_KERNEL)?;
        }
        let t = SgTable::new_mapped(dev.bound(), buf, DataDirection::ToDevice, GFP_KERNEL)?;
        let sgt = t.as_raw();
        assert_eq!(t.nents(), Ok(c_dma_walk(&t)?.len()));
        assert_eq!(dma_matches_c(&t), Ok(size));

        // The CPU view against `for_each_sgtable_sg()`, and page by page against the buffer.
        // SAFETY: `sgt` is valid while `t` lives.
        let (mut sg, orig_nents) = unsafe { ((*sgt).sgl, (*sgt).orig_nents) };
        assert_eq!(t.orig_nents(), orig_nents as usize);
        let mut i = 0;
        let mut cpu = t.cpu_iter()?;
        for _ in 0..orig_nents {
            let seg = cpu.next().ok_or(ENOENT)?;
            // SAFETY: `sg` is one of the `orig_nents` entries of `sgt`.
            let (page, offset, len) =
                unsafe { (bindings::sg_page(sg), (*sg).offset, (*sg).length) };
            assert_eq!(seg.page(), page);
            assert_eq!(seg.offset(), offset as usize);
            assert_eq!(seg.len(), len as usize);
            for k in 0..seg.len() / PAGE_SIZE {
                assert_eq!(Some(&seg.page().wrapping_add(k)), buf_pages.get(i));
                i += 1;
            }
            // SAFETY: As above.
            sg = unsafe { bindings::sg_next(sg) };
        }
        assert!(cpu.next().is_none());
        assert_eq!(i, pages);
        Ok(())
    }

    #[test]
    fn chained_table() -> Result {
        // More entries than one page of `struct scatterlist` holds: every other page, so no two
        // are physically contiguous and none merge.
        const PAGES: usize = 512;
        let per_page = PAGE_SIZE / core::mem::size_of::<bindings::scatterlist>();
        let dev = TestDevice::new(c"rust-sg-chain")?;
        let mut t = SgTable::new(spaced_pages(PAGES, GFP_KERNEL)?, GFP_KERNEL)?;
        assert!(t.orig_nents() > per_page);
        assert_eq!(t.cpu_iter()?.count(), t.orig_nents());
        assert_eq!(
            ops(&t),
            expect(Err(EINVAL), PAGES * PAGE_SIZE, Is::Unmapped)
        );

        t.map(dev.bound(), DataDirection::Bidirectional)?;
        assert_eq!(ops(&t), expect(Ok(()), PAGES * PAGE_SIZE, Is::Managed));
        assert_eq!(t.dma_iter()?.count(), t.nents()?);
        assert_eq!(dma_matches_c(&t), Ok(PAGES * PAGE_SIZE));
        Ok(())
    }

    #[test]
    fn a_chained_table_made_by_c() -> Result {
        // `sg_alloc_table()` and `sg_set_page()`: C's own way, chained past one page of entries.
        const N: usize = 300;
        let pages = spaced_pages(N, GFP_KERNEL)?;
        let sgt = Opaque::<bindings::sg_table>::zeroed();
        // SAFETY: `sgt` is a zeroed table we own.
        to_result(unsafe { bindings::sg_alloc_table(sgt.get(), N as u32, GFP_KERNEL.as_raw()) })?;
        // SAFETY: `sgt` has `N` entries; each gets one of our pages, 100 bytes from offset 8.
        unsafe {
            let mut sg = (*sgt.get()).sgl;
            for page in pages.iter() {
                bindings::sg_set_page(sg, page.as_ptr(), 100, 8);
                sg = bindings::sg_next(sg);
            }
        }
        {
            // SAFETY: The table and `pages` outlive `t`, and nobody changes them meanwhile.
            let t = unsafe { SgTable::from_raw(sgt.get(), Terms::Unmapped) }?;
            assert_eq!(t.orig_nents(), N);
            assert_eq!(t.size(), N * 100);
            let mut n = 0;
            for (seg, page) in t.cpu_iter()?.zip(pages.iter()) {
                assert_eq!(seg.page(), page.as_ptr());
                assert_eq!((seg.offset(), seg.len()), (8, 100));
                n += 1;
            }
            assert_eq!(n, N);
            let mut byte = [0u8; 1];
            assert_eq!(t.read_at(N * 100 - 1, &mut byte), Ok(()));
            assert_eq!(t.read_at(N * 100, &mut byte), Err(ERANGE));
        }
        // SAFETY: Allocated above; no view of it is left.
        unsafe { bindings::sg_free_table(sgt.get()) };
        Ok(())
    }

    #[test]
    fn tables_keep_to_the_segment_limits_of_their_device() -> Result {
        // 32 KiB segments at most, none across a 16 KiB boundary.
        let dev = TestDevice::with_parms(c"rust-sg-limits", &SMALL_SEGMENTS)?;
        let open = TestDevice::new(c"rust-sg-no-limits")?;
        let boundary = (16 << 10) - 1;

        // 12 contiguous pages from the second page of a 64 KiB block on: runs across 16 KiB
        // boundaries that `sg_alloc_table_from_pages_segment()` would merge.
        let pages = ContiguousPages::new(4, 1, 12)?;
        let mut t = SgTable::new_for_device(dev.bound(), pages, GFP_KERNEL)?;
        assert!(entries_keep_to(&t, 32 << 10, boundary)?);
        // Page 1..3, 4..7, 8..11, 12: four entries.
        assert_eq!(t.orig_nents(), 4);
        t.map(dev.bound(), DataDirection::ToDevice)?;
        assert_eq!(dma_matches_c(&t), Ok(12 * PAGE_SIZE));
        t.unmap()?;
        // Within the limits of a device without any, too.
        assert_eq!(t.map(open.bound(), DataDirection::ToDevice), Ok(()));
        t.unmap()?;

        // Built for no device, 64 KiB of contiguous pages get an entry per page, whatever the
        // allocator did: the table maps on every device that takes a page per segment, here
        // one of 32 KiB segments, one with the default 64 KiB, and one of single pages.
        let single = TestDevice::with_parms(c"rust-sg-page-segments", &PAGE_SEGMENTS)?;
        for pages in [
            ContiguousPages::new(4, 0, 16)?,
            ContiguousPages::new(6, 0, 64)?,
        ] {
            let n = pages.n;
            let mut plain = SgTable::new(pages, GFP_KERNEL)?;
            assert_eq!(plain.orig_nents(), n);
            for target in [&dev, &open, &single] {
                assert_eq!(plain.map(target.bound(), DataDirection::ToDevice), Ok(()));
                assert_eq!(dma_matches_c(&plain), Ok(n * PAGE_SIZE));
                plain.unmap()?;
            }
        }
        // A table built for `open` merges the 64 KiB into one entry: too long for `dev`.
        let mut big =
            SgTable::new_for_device(open.bound(), ContiguousPages::new(4, 0, 16)?, GFP_KERNEL)?;
        assert_eq!(big.orig_nents(), 1);
        assert!(!entries_keep_to(&big, 32 << 10, boundary)?);
        assert_eq!(big.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(ops(&big), expect(Err(EINVAL), 16 * PAGE_SIZE, Is::Unmapped));
        assert_eq!(big.map(open.bound(), DataDirection::ToDevice), Ok(()));
        big.unmap()?;

        // A boundary mask that is not a power of two less one acts as its low run of ones, as
        // C's `(start ^ end) & ~mask` check does: 0x1_7fff as 0x7fff.
        let odd = TestDevice::with_parms(c"rust-sg-odd-boundary", &ODD_BOUNDARY)?;
        let t = SgTable::new_for_device(odd.bound(), ContiguousPages::new(4, 0, 16)?, GFP_KERNEL)?;
        assert!(entries_keep_to(&t, 64 << 10, 0x1_7fff)?);
        assert_eq!(t.orig_nents(), (64 << 10) / (32 << 10));

        // Entries that happen to keep to the limits map, whoever built them.
        let mut scattered = SgTable::new(spaced_pages(4, GFP_KERNEL)?, GFP_KERNEL)?;
        assert_eq!(scattered.map(dev.bound(), DataDirection::ToDevice), Ok(()));

        // A device that cannot take a page in one segment gets no table.
        let tiny = TestDevice::with_parms(c"rust-sg-sub-page", &SUB_PAGE_SEGMENTS)?;
        assert_eq!(
            SgTable::new_for_device(tiny.bound(), buffer(1, 0)?, GFP_KERNEL).err(),
            Some(EINVAL)
        );
        assert_eq!(scattered.unmap(), Ok(()));
        assert_eq!(
            scattered.map(tiny.bound(), DataDirection::ToDevice),
            Err(EINVAL)
        );
        Ok(())
    }

    /// Behind a bus offset (`dma_range_map`: an SoC's `dma-ranges`), segment boundaries are
    /// where the device sees them, in DMA address space: tables are cut there, and a table cut
    /// at physical boundaries is refused before the DMA API sees it (whose debug checks would
    /// report the crossing).
    #[test]
    fn boundaries_are_kept_in_dma_address_space() -> Result {
        const OFFSET: DmaAddress = 8 << 10;
        let boundary = (16 << 10) - 1;
        let shifted = TestDevice::with_parms(c"rust-sg-bus-offset", &SMALL_SEGMENTS)?;
        shifted.set_bus_offset(OFFSET)?;
        let plain = TestDevice::with_parms(c"rust-sg-no-bus-offset", &SMALL_SEGMENTS)?;

        // 64 KiB from a 64 KiB-aligned address, seen at 8 KiB..72 KiB of 16 KiB windows: pieces
        // of 8, 16, 16, 16 and 8 KiB.
        let mut t =
            SgTable::new_for_device(shifted.bound(), ContiguousPages::new(4, 0, 16)?, GFP_KERNEL)?;
        assert!(entries_keep_to_at(&t, 32 << 10, boundary, OFFSET)?);
        assert_eq!(t.orig_nents(), 5);
        t.map(shifted.bound(), DataDirection::ToDevice)?;
        assert_eq!(dma_matches_c(&t), Ok(16 * PAGE_SIZE));
        t.unmap()?;

        // Cut at physical boundaries, 4 entries of 16 KiB: each crosses a window of `shifted`.
        let mut other =
            SgTable::new_for_device(plain.bound(), ContiguousPages::new(4, 0, 16)?, GFP_KERNEL)?;
        assert_eq!(other.orig_nents(), 4);
        let (mapped, warnings) =
            suppressing_warnings(|| other.map(shifted.bound(), DataDirection::ToDevice));
        assert_eq!((mapped, warnings), (Err(EINVAL), 0));
        assert_eq!(state(&other), Is::Unmapped);
        assert_eq!(other.map(plain.bound(), DataDirection::ToDevice), Ok(()));

        // A table built for no device, a page per entry, maps on both.
        let mut pages = SgTable::new(ContiguousPages::new(4, 0, 16)?, GFP_KERNEL)?;
        assert_eq!(pages.map(shifted.bound(), DataDirection::ToDevice), Ok(()));
        Ok(())
    }
}
