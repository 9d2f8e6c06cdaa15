// SPDX-License-Identifier: GPL-2.0

//! Suite `rust_kernel_sg_ranges`: byte ranges of a table: DMA windows and their chunks, range
//! syncs, tables over part of a buffer, CPU copies across entries.

use super::*;

/// What [`SgTable::dma_window`] must yield for `offset..offset + len`: the DMA segments as C
/// sees them, clipped.
fn c_dma_window(t: &SgTable<'_>, offset: usize, len: usize) -> Result<KVec<(DmaAddress, u32)>> {
    let (mut skip, mut left, mut out) = (offset, len, KVec::new());
    for (addr, seg_len) in c_dma_walk(t)? {
        let seg_len = seg_len as usize;
        if left == 0 {
            break;
        }
        if skip >= seg_len {
            skip -= seg_len;
            continue;
        }
        let n = (seg_len - skip).min(left);
        out.push((addr + skip as DmaAddress, n as u32), GFP_KERNEL)?;
        (skip, left) = (0, left - n);
    }
    Ok(out)
}

#[macros::kunit_tests(rust_kernel_sg_ranges)]
mod kunit {
    use super::*;

    /// Windows and chunks of the DMA view against a clipping of C's walk, on devices that cut
    /// tables differently; and every misuse: ranges outside the table, chunk sizes that are not
    /// powers of two.
    #[test]
    fn dma_windows_and_chunks() -> Result {
        let plain = TestDevice::new(c"rust-sg-window")?;
        let small = TestDevice::with_parms(c"rust-sg-window-small", &SMALL_SEGMENTS)?;
        let pages = TestDevice::with_parms(c"rust-sg-window-pages", &PAGE_SEGMENTS)?;
        for dev in [&plain, &small, &pages] {
            let dev = dev.bound();
            let t = SgTable::new_mapped_bound(
                dev,
                buffer(20, 0)?,
                DataDirection::ToDevice,
                GFP_KERNEL,
            )?;
            let size = t.size();
            for (offset, len) in [
                (0, size),
                (1, size - 1),
                (PAGE_SIZE - 1, 2),
                (PAGE_SIZE, 3 * PAGE_SIZE),
                (5 * PAGE_SIZE + 17, 9 * PAGE_SIZE + 100),
                (size - 1, 1),
                (size, 0),
                (7, 0),
            ] {
                let want = c_dma_window(&t, offset, len)?;
                let got = collect(
                    t.dma_window(offset, len)?
                        .map(|s| (s.dma_address(), s.dma_len())),
                )?;
                assert!(same(fmt!("window {offset} + {len}"), &got[..], &want[..]));
                for chunk in [512, PAGE_SIZE, 16 * PAGE_SIZE] {
                    // Each clipped segment cut at every `chunk`-aligned address it crosses.
                    let mask = chunk as DmaAddress - 1;
                    let mut chunks = KVec::new();
                    for &(start, seg_len) in want.iter() {
                        let (mut a, end) = (start, start + DmaAddress::from(seg_len));
                        while a < end {
                            let n = (mask - (a & mask) + 1).min(end - a);
                            chunks.push((a, n as u32), GFP_KERNEL)?;
                            a += n;
                        }
                    }
                    let got = t.dma_window(offset, len)?.chunks(chunk)?;
                    let got = collect(got.map(|c| (c.dma_address(), c.dma_len())))?;
                    assert_eq!(
                        (offset, len, chunk, &got[..]),
                        (offset, len, chunk, &chunks[..])
                    );
                }
            }
            // Misuse: outside the table, overflow, chunk sizes that are not powers of two.
            assert_eq!(t.dma_window(0, size + 1).err(), Some(ERANGE));
            assert_eq!(t.dma_window(size, 1).err(), Some(ERANGE));
            assert_eq!(t.dma_window(usize::MAX, 2).err(), Some(ERANGE));
            assert_eq!(t.sync_range_for_cpu(size - 1, 2), Err(ERANGE));
            assert_eq!(t.sync_range_for_device(usize::MAX, 2), Err(ERANGE));
            for bad in [0, 3, PAGE_SIZE + 1, usize::MAX] {
                assert_eq!(t.dma_window(0, size)?.chunks(bad).err(), Some(EINVAL));
            }
            assert_eq!(t.sync_range_for_cpu(3, size - 3), Ok(()));
            assert_eq!(t.sync_range_for_device(0, 0), Ok(()));
        }
        Ok(())
    }

    #[test]
    fn range_syncs_go_by_address_only_through_whole_entries() -> Result {
        // A table C made over four pages, given DMA segments by hand: how a range sync goes
        // depends on them alone (`for_each_piece()`), whatever the boot's DMA set-up.
        let mut c = c_table(4)?;
        // CAST: A page fits in `u32`.
        let p = PAGE_SIZE as u32;
        let base = |i: usize| 0x1000_0000 + (i as DmaAddress) * 0x10_0000;
        let mut cases = KVec::new();
        // (nents, segment lengths, pieces a sync of the bytes p/2..5p/2 makes before it stops,
        // whether it may go on to the end): one segment per entry; the last two entries merged
        // by an IOMMU (no piece: such a table is synced whole at once); as many segments as
        // entries, but one longer than its entry.
        cases.push((4, [p, p, p, p], 3, true), GFP_KERNEL)?;
        cases.push((3, [p, p, 2 * p, 0], 0, false), GFP_KERNEL)?;
        #[cfg(CONFIG_NEED_SG_DMA_LENGTH)]
        cases.push((4, [p, 2 * p, 0, p], 1, false), GFP_KERNEL)?;
        for (nents, lens, n, whole_entries) in cases {
            let mut sg = c.sgt.sgl;
            for (i, len) in lens.into_iter().enumerate() {
                // SAFETY: `sg` is one of the four entries of the table, which is ours.
                unsafe {
                    (*sg).dma_address = base(i);
                    #[cfg(CONFIG_NEED_SG_DMA_LENGTH)]
                    {
                        (*sg).dma_length = len;
                    }
                    #[cfg(not(CONFIG_NEED_SG_DMA_LENGTH))]
                    let _ = len;
                    sg = bindings::sg_next(sg);
                }
            }
            c.sgt.nents = nents;
            let sgt = NonNull::new(c.as_raw()).ok_or(EINVAL)?;
            let (mut seen, mut count) = ([(0, 0); 4], 0);
            // SAFETY: The table is valid, "mapped" as set above, and unchanged during the call.
            let done = unsafe {
                for_each_piece(sgt, PAGE_SIZE / 2, 2 * PAGE_SIZE, |piece| {
                    seen[count] = (piece.dma_address(), piece.dma_len());
                    count += 1;
                })
            };
            assert!(same(
                fmt!("{nents} segments"),
                (done, count),
                (whole_entries, n)
            ));
            let expected = [
                (base(0) + DmaAddress::from(p / 2), p / 2),
                (base(1), p),
                (base(2), p / 2),
            ];
            assert_eq!(seen[..count], expected[..count]);
        }
        Ok(())
    }

    /// Tables over part of a buffer: the bytes of the range and no others, in entries within
    /// the device's limits, through every state; and the ranges that are refused.
    #[test]
    fn tables_over_part_of_a_buffer() -> Result {
        /// A buffer of `pages` pages whose bytes tell their offset apart (for up to 64 KiB).
        fn numbered(pages: usize) -> Result<VVec<u8>> {
            let mut buf = buffer(pages, 0)?;
            for (i, b) in buf.iter_mut().enumerate() {
                // CAST: Truncation wanted.
                *b = (i ^ (i >> 8)) as u8;
            }
            Ok(buf)
        }
        let plain = TestDevice::new(c"rust-sg-range-table")?;
        let pages = TestDevice::with_parms(c"rust-sg-range-table-pages", &PAGE_SEGMENTS)?;
        let size = 6 * PAGE_SIZE;
        for (offset, len) in [
            (0, size),
            (1, size - 1),
            (64, 2 * PAGE_SIZE),
            (PAGE_SIZE - 1, 2),
            (PAGE_SIZE, PAGE_SIZE),
            (PAGE_SIZE + 17, 3 * PAGE_SIZE + 5),
            (size - 1, 1),
        ] {
            // Built for any device, and for one that takes a page per segment, each mapped with
            // both kinds of mapping.
            for (dev, for_device, kind) in [
                (&plain, false, Kind::Devres),
                (&plain, false, Kind::Lifetime),
                (&pages, true, Kind::Devres),
                (&pages, true, Kind::Lifetime),
            ] {
                let dev = dev.bound();
                let mut t = if for_device {
                    SgTable::new_range_for_device(dev, numbered(6)?, offset, len, GFP_KERNEL)?
                } else {
                    SgTable::new_range(numbered(6)?, offset, len, GFP_KERNEL)?
                };
                assert_eq!(t.size(), len);
                assert_eq!(ops(&t), expect(Err(EINVAL), len, Is::Unmapped));
                let first = t.cpu_iter()?.next().ok_or(ENOENT)?;
                assert_eq!(first.offset(), offset % PAGE_SIZE);
                if for_device {
                    assert!(entries_keep_to(&t, PAGE_SIZE, u64::MAX)?);
                }
                let mut got = KVec::from_elem(0u8, len, GFP_KERNEL)?;
                t.read_at(0, &mut got)?;
                for (i, b) in got.iter().enumerate() {
                    let at = offset + i;
                    // CAST: Truncation wanted, as in `numbered()`.
                    assert!(same(fmt!("byte {at}"), *b, (at ^ (at >> 8)) as u8));
                }
                kind.map(&mut t, dev, DataDirection::Bidirectional)?;
                assert_eq!(ops(&t), expect(Ok(()), len, Is::Managed));
                assert_eq!(dma_matches_c(&t), Ok(len));
                t.write_at(len - 1, &[0xa5])?;
                assert_eq!(t.write_at(len, &[0xa5]), Err(ERANGE));
                t.unmap()?;
            }
        }
        // Refused: past the buffer's length (not its capacity), overflowing, empty.
        let mut short = VVec::<u8>::with_capacity(2 * PAGE_SIZE, GFP_KERNEL)?;
        short.resize(PAGE_SIZE, 0, GFP_KERNEL)?;
        assert_eq!(
            SgTable::new_range(short, 1, PAGE_SIZE, GFP_KERNEL).err(),
            Some(ERANGE)
        );
        assert_eq!(
            SgTable::new_range(numbered(1)?, usize::MAX, 2, GFP_KERNEL).err(),
            Some(ERANGE)
        );
        assert_eq!(
            SgTable::new_range(numbered(1)?, 8, 0, GFP_KERNEL).err(),
            Some(EINVAL)
        );
        Ok(())
    }

    #[test]
    fn reads_and_writes_cross_entries() -> Result {
        // Three pages, each an entry of its own (for a device that takes a page per segment),
        // each filled with its number.
        let dev = TestDevice::with_parms(c"rust-sg-cross", &PAGE_SEGMENTS)?;
        let pages = spaced_pages(3, GFP_KERNEL)?;
        for (i, page) in pages.iter().enumerate() {
            // CAST: Three pages.
            fill_page(page, i as u8 + 1)?;
        }
        let mut t = SgTable::new_for_device(dev.bound(), pages, GFP_KERNEL)?;
        assert_eq!(t.orig_nents(), 3);
        let mut four = [0u8; 4];
        t.read_at(PAGE_SIZE - 2, &mut four)?;
        assert_eq!(four, [1, 1, 2, 2]);
        t.write_at(2 * PAGE_SIZE - 1, &[9, 9])?;
        t.read_at(2 * PAGE_SIZE - 2, &mut four)?;
        assert_eq!(four, [2, 9, 9, 3]);
        t.read_at(3 * PAGE_SIZE - 4, &mut four)?;
        assert_eq!(four, [3, 3, 3, 3]);
        Ok(())
    }
}
