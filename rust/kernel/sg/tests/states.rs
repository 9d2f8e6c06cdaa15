// SPDX-License-Identifier: GPL-2.0

//! Suite `rust_kernel_sg`: every source through every state, every operation in each.

use super::*;

/// One row of the state table at the top of rust/kernel/sg/state.rs: a table in that state, and
/// what each operation returns there, with the state it leaves.
struct Row {
    /// The row's name in the table; also what [`state`] calls the state.
    row: &'static str,
    state: &'static str,
    make: for<'d> fn(&'d Device<Bound>) -> Result<SgTable<'d>>,
    map: (Result, &'static str),
    unmap: (Result, &'static str),
    dma: Result,
    syncs: Result,
}

/// A table of ours over `pages` pages.
fn owned(pages: usize) -> Result<SgTable<'static>> {
    SgTable::new(buffer(pages, 0)?, GFP_KERNEL)
}

/// The rows of the state table, in its order.
const ROWS: [Row; 10] = [
    Row {
        row: "Unmapped, owned",
        state: "unmapped",
        make: |_| owned(2),
        map: (Ok(()), "managed"),
        unmap: (Err(EINVAL), "unmapped"),
        dma: Err(EINVAL),
        syncs: Err(EINVAL),
    },
    Row {
        row: "Unmapped, borrowed",
        state: "unmapped",
        make: |_| {
            let owner = owned(2)?;
            // SAFETY: The owner keeps its table, and nobody maps or changes it.
            unsafe { SgTable::from_owner(owner, |o| o.as_raw(), Terms::Unmapped, GFP_KERNEL) }
        },
        map: (Err(EINVAL), "unmapped"),
        unmap: (Err(EINVAL), "unmapped"),
        dma: Err(EINVAL),
        syncs: Err(EINVAL),
    },
    Row {
        row: "Unmapped, mappable",
        state: "unmapped",
        make: |_| {
            // SAFETY: The owner keeps its table and pages, lends them to us whole and touches
            // neither meanwhile.
            unsafe { SgTable::from_owner(c_table(2)?, |c| c.as_raw(), Terms::Mappable, GFP_KERNEL) }
        },
        map: (Ok(()), "managed"),
        unmap: (Err(EINVAL), "unmapped"),
        dma: Err(EINVAL),
        syncs: Err(EINVAL),
    },
    Row {
        row: "Borrowed",
        state: "borrowed",
        make: |dev| {
            let owner =
                SgTable::new_mapped(dev, buffer(2, 0)?, DataDirection::ToDevice, GFP_KERNEL)?;
            // SAFETY: The owner keeps its table mapped (`dev` stays bound for the test).
            unsafe { SgTable::from_owner(owner, |o| o.as_raw(), Terms::Mapped, GFP_KERNEL) }
        },
        map: (Err(EINVAL), "borrowed"),
        unmap: (Err(EINVAL), "borrowed"),
        dma: Ok(()),
        syncs: Err(EINVAL),
    },
    Row {
        row: "Borrowed, mapped for",
        state: "borrowed",
        make: |dev| {
            let owner =
                SgTable::new_mapped(dev, buffer(2, 0)?, DataDirection::ToDevice, GFP_KERNEL)?;
            // SAFETY: The owner keeps its table mapped for `dev` and `ToDevice` (`dev` stays
            // bound for the test).
            unsafe {
                SgTable::from_owner(
                    owner,
                    |o| o.as_raw(),
                    Terms::MappedFor(dev, DataDirection::ToDevice),
                    GFP_KERNEL,
                )
            }
        },
        map: (Err(EINVAL), "borrowed"),
        unmap: (Err(EINVAL), "borrowed"),
        dma: Ok(()),
        syncs: Ok(()),
    },
    Row {
        row: "Borrowed, shared",
        state: "borrowed",
        make: |dev| {
            let table =
                SgTable::new_mapped(dev, buffer(2, 0)?, DataDirection::ToDevice, GFP_KERNEL)?;
            SgTable::share(Arc::new(table, GFP_KERNEL)?, GFP_KERNEL)
        },
        map: (Err(EINVAL), "borrowed"),
        unmap: (Err(EINVAL), "borrowed"),
        dma: Ok(()),
        syncs: Ok(()),
    },
    Row {
        row: "Borrowed, shared, revoked",
        state: "borrowed",
        make: |_| {
            let gone = TestDevice::new(c"rust-sg-row-shared-revoked")?;
            let table = SgTable::new_mapped(
                gone.bound(),
                buffer(2, 0)?,
                DataDirection::ToDevice,
                GFP_KERNEL,
            )?;
            let view = SgTable::share(Arc::new(table, GFP_KERNEL)?, GFP_KERNEL)?;
            gone.unregister();
            Ok(view)
        },
        map: (Err(EINVAL), "borrowed"),
        unmap: (Err(EINVAL), "borrowed"),
        dma: Err(ENODEV),
        syncs: Err(ENODEV),
    },
    Row {
        row: "Managed",
        state: "managed",
        make: |dev| SgTable::new_mapped(dev, buffer(2, 0)?, DataDirection::ToDevice, GFP_KERNEL),
        map: (Err(EINVAL), "managed"),
        unmap: (Ok(()), "unmapped"),
        dma: Ok(()),
        syncs: Ok(()),
    },
    Row {
        row: "Managed, lifetime-bound",
        state: "managed",
        make: |dev| {
            SgTable::new_mapped_bound(dev, buffer(2, 0)?, DataDirection::ToDevice, GFP_KERNEL)
        },
        map: (Err(EINVAL), "managed"),
        unmap: (Ok(()), "unmapped"),
        dma: Ok(()),
        syncs: Ok(()),
    },
    Row {
        row: "Managed, revoked",
        state: "revoked",
        make: |_| {
            let gone = TestDevice::new(c"rust-sg-row-revoked")?;
            let t = SgTable::new_mapped(
                gone.bound(),
                buffer(2, 0)?,
                DataDirection::ToDevice,
                GFP_KERNEL,
            )?;
            gone.unregister();
            Ok(t)
        },
        map: (Ok(()), "managed"),
        unmap: (Ok(()), "unmapped"),
        dma: Err(ENODEV),
        syncs: Err(ENODEV),
    },
];

#[macros::kunit_tests(rust_kernel_sg)]
mod kunit {
    use super::*;

    /// The state table, cell by cell: each row of [`ROWS`] is a row of the table in
    /// rust/kernel/sg/state.rs, and its `map` cell is checked with both kinds of mapping. The
    /// other cases here go deeper into one source or one cell.
    #[test]
    fn the_state_table() -> Result {
        let dev = TestDevice::new(c"rust-sg-table")?;
        for r in ROWS.iter() {
            let t = (r.make)(dev.bound())?;
            assert_eq!((r.row, state(&t)), (r.row, r.state));
            let ops = ops(&t);
            assert_eq!((r.row, ops.dma, ops.sync), (r.row, r.dma, [r.syncs; 4]));
            assert_eq!((r.row, ops.cpu_bytes), (r.row, Ok(2 * PAGE_SIZE)));

            for kind in Kind::BOTH {
                let mut t = (r.make)(dev.bound())?;
                let res = kind.map(&mut t, dev.bound(), DataDirection::FromDevice);
                assert_eq!(
                    (r.row, kind, res, state(&t)),
                    (r.row, kind, r.map.0, r.map.1)
                );
                if res.is_ok() {
                    assert_eq!(mapping(&t)?.is_devres(), kind == Kind::Devres);
                }
            }

            let mut t = (r.make)(dev.bound())?;
            let res = t.unmap();
            assert_eq!(
                (r.row, "unmap", res, state(&t)),
                (r.row, "unmap", r.unmap.0, r.unmap.1)
            );
        }
        Ok(())
    }

    #[test]
    fn owned_every_state() -> Result {
        let dev = TestDevice::new(c"rust-sg-owned")?;
        let dev2 = TestDevice::new(c"rust-sg-owned-2")?;
        for kind in Kind::BOTH {
            owned_every_state_with(kind, dev.bound(), dev2.bound())?;
        }
        Ok(())
    }

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
                assert_eq!((offset, len, &got[..]), (offset, len, &want[..]));
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

    /// Tables over part of a buffer: the bytes of the range and no others, in entries within
    /// the device's limits, through every state; and the ranges that are refused.
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
            assert_eq!((nents, done, count), (nents, whole_entries, n));
            let expected = [
                (base(0) + DmaAddress::from(p / 2), p / 2),
                (base(1), p),
                (base(2), p / 2),
            ];
            assert_eq!(seen[..count], expected[..count]);
        }
        Ok(())
    }

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
                assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), len, "unmapped"));
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
                    assert_eq!((at, *b), (at, (at ^ (at >> 8)) as u8));
                }
                kind.map(&mut t, dev, DataDirection::Bidirectional)?;
                assert_eq!(ops(&t), expect(Ok(()), Ok(()), len, "managed"));
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
    fn dropping_or_unmapping_a_managed_table_releases_its_mapping() -> Result {
        // Unbinding would release a mapping that `Drop` forgot: count the device's resources
        // while it is bound instead.
        let dev = TestDevice::new(c"rust-sg-drop")?;
        let before = dev.devres_count();
        let mut a = SgTable::new_mapped(
            dev.bound(),
            buffer(2, 1)?,
            DataDirection::ToDevice,
            GFP_KERNEL,
        )?;
        let b = SgTable::new_mapped(
            dev.bound(),
            buffer(3, 2)?,
            DataDirection::FromDevice,
            GFP_KERNEL,
        )?;
        assert_eq!(dev.devres_count(), before + 2);
        drop(b);
        assert_eq!(dev.devres_count(), before + 1);
        a.unmap()?;
        assert_eq!(dev.devres_count(), before);
        // A refused map holds nothing either.
        assert_eq!(a.map(dev.bound(), DataDirection::None), Err(EINVAL));
        assert_eq!(dev.devres_count(), before);
        // A lifetime-bound mapping holds no resource at all: its table's drop unmaps it, or
        // DMA-API debug reports a mapping left over when the device goes at the end of the test.
        let c = SgTable::new_mapped_bound(
            dev.bound(),
            buffer(2, 4)?,
            DataDirection::FromDevice,
            GFP_KERNEL,
        )?;
        a.map_bound(dev.bound(), DataDirection::ToDevice)?;
        assert_eq!(dev.devres_count(), before);
        drop(c);
        a.unmap()?;
        a.map_bound(dev.bound(), DataDirection::ToDevice)?;
        Ok(())
    }

    #[test]
    fn direction_none_and_foreign_attributes_are_refused() -> Result {
        use crate::dma::attrs::{
            DMA_ATTR_FORCE_CONTIGUOUS,
            DMA_ATTR_MMIO,
            DMA_ATTR_NO_WARN,
            DMA_ATTR_SKIP_CPU_SYNC, //
        };
        let dev = TestDevice::new(c"rust-sg-none")?;
        let mut t = SgTable::new(buffer(2, 3)?, GFP_KERNEL)?;
        // `dma_map_sgtable()` would `BUG()` on it.
        assert_eq!(t.map(dev.bound(), DataDirection::None), Err(EINVAL));
        assert_eq!(
            ops(&t),
            expect(Err(EINVAL), Err(EINVAL), 2 * PAGE_SIZE, "unmapped")
        );
        // RAM handed to the device as MMIO, or an allocation attribute: refused.
        for attrs in [
            DMA_ATTR_MMIO,
            DMA_ATTR_FORCE_CONTIGUOUS,
            DMA_ATTR_NO_WARN | DMA_ATTR_MMIO,
        ] {
            assert_eq!(
                t.map_with_attrs(dev.bound(), DataDirection::ToDevice, attrs),
                Err(EINVAL)
            );
            assert_eq!(state(&t), "unmapped");
        }
        let attrs = DMA_ATTR_SKIP_CPU_SYNC | DMA_ATTR_NO_WARN;
        assert_eq!(
            t.map_with_attrs(dev.bound(), DataDirection::ToDevice, attrs),
            Ok(())
        );
        assert_eq!(t.unmap(), Ok(()));
        assert_eq!(
            SgTable::new_mapped(dev.bound(), buffer(1, 3)?, DataDirection::None, GFP_KERNEL).err(),
            Some(EINVAL)
        );
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Ok(()));
        Ok(())
    }

    #[test]
    fn borrowed_every_state() -> Result {
        let dev = TestDevice::new(c"rust-sg-borrowed")?;
        let size = 4 * PAGE_SIZE;
        let mut owner = SgTable::new(spaced_pages(4, GFP_KERNEL)?, GFP_KERNEL)?;
        owner.write_at(5, &[5 ^ 2])?;

        // SAFETY: `owner` outlives `t`, and nobody maps or changes it while `t` lives.
        let mut t = unsafe { SgTable::from_raw(owner.as_raw(), Terms::Unmapped) }?;
        assert_eq!(t.as_raw(), owner.as_raw());
        assert_eq!(t.size(), size);
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        // Not ours to write, so not ours to map.
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.write_at(0, &[0]), Err(EINVAL));
        let mut byte = [0u8; 1];
        assert_eq!(t.read_at(5, &mut byte), Ok(()));
        assert_eq!(byte[0], 5 ^ 2);
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        // Dropping it frees nothing: the owner still works.
        drop(t);
        assert_eq!(
            ops(&owner),
            expect(Err(EINVAL), Err(EINVAL), size, "unmapped")
        );

        // The owner maps its table (like DRM GEM shmem) and lends it out mapped.
        owner.map(dev.bound(), DataDirection::Bidirectional)?;
        // SAFETY: `owner` outlives `t` and keeps the table mapped and unchanged meanwhile.
        let mut t = unsafe { SgTable::from_raw(owner.as_raw(), Terms::Mapped) }?;
        assert_eq!(ops(&t), expect(Ok(()), Err(EINVAL), size, "borrowed"));
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(t.direction(), None);
        assert_eq!(ops(&t), expect(Ok(()), Err(EINVAL), size, "borrowed"));
        // The view's DMA segments are what C walks on the table.
        assert_eq!(dma_matches_c(&t), Ok(size));
        // Dropping the borrowed view does not unmap the owner's mapping.
        drop(t);
        assert_eq!(ops(&owner), expect(Ok(()), Ok(()), size, "managed"));
        Ok(())
    }

    #[test]
    fn dma_only_tables_refuse_cpu_access() -> Result {
        // A table like a dma-buf exporter's for peer-to-peer memory: DMA segments, no pages.
        const N: u32 = 4;
        // Above 4 GiB where DMA addresses have 64 bits.
        const HIGH: DmaAddress = (1 << (DmaAddress::BITS - 1)) + (1 << (DmaAddress::BITS - 2));
        let sgt = Opaque::<bindings::sg_table>::zeroed();
        // SAFETY: `sgt` is a zeroed table we own.
        to_result(unsafe { bindings::sg_alloc_table(sgt.get(), N, GFP_KERNEL.as_raw()) })?;
        // SAFETY: `sgt` was just allocated with `N` entries; we fill in their DMA view.
        unsafe {
            let sgt = sgt.get();
            let mut sg = (*sgt).sgl;
            for i in 0..N {
                (*sg).dma_address = HIGH + DmaAddress::from(i) * 0x10000;
                #[cfg(CONFIG_NEED_SG_DMA_LENGTH)]
                {
                    (*sg).dma_length = 0x8000;
                }
                (*sg).length = 0x8000;
                sg = bindings::sg_next(sg);
            }
            (*sgt).nents = N;
        }
        let dev = TestDevice::new(c"rust-sg-dma-only")?;
        let mut byte = [0u8; 1];
        {
            // Taking it as CPU memory is refused: its entries have no page.
            // SAFETY: The table is valid and "mapped" while the view lives, and nobody changes
            // it; the call must refuse it before touching an entry's page.
            let refused = unsafe { SgTable::from_raw(sgt.get(), Terms::Mapped) };
            assert_eq!(refused.err(), Some(EINVAL));

            // SAFETY: As above.
            let mut t = unsafe { SgTable::from_raw(sgt.get(), Terms::DmaOnly) }?;
            assert_eq!(t.size(), N as usize * 0x8000);
            assert_eq!(dma_matches_c(&t), Ok(N as usize * 0x8000));
            assert_eq!(t.cpu_iter().err(), Some(EINVAL));
            assert_eq!(t.read_at(0, &mut byte), Err(EINVAL));
            assert_eq!(t.write_at(0, &byte), Err(EINVAL));
            assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
            assert_eq!(t.unmap(), Err(EINVAL));
            assert_eq!(ops(&t), dma_only());
        }
        // SAFETY: Allocated above; no view of it is left.
        unsafe { bindings::sg_free_table(sgt.get()) };
        Ok(())
    }

    #[test]
    fn owners_every_state() -> Result {
        let dev = TestDevice::new(c"rust-sg-kept")?;
        let size = 3 * PAGE_SIZE;

        let owner = Arc::new(SgTable::new(buffer(3, 3)?, GFP_KERNEL)?, GFP_KERNEL)?;
        // SAFETY: The `Arc` keeps the table alive, and nobody maps or changes it.
        let mut t = unsafe {
            SgTable::from_owner(owner.clone(), |o| o.as_raw(), Terms::Unmapped, GFP_KERNEL)
        }?;
        assert_eq!(t.as_raw(), owner.as_raw());
        // The kept owner, not `owner`, now keeps the table alive.
        drop(owner);
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        drop(t);

        let mapped = SgTable::new_mapped(
            dev.bound(),
            buffer(3, 4)?,
            DataDirection::FromDevice,
            GFP_KERNEL,
        )?;
        // SAFETY: The kept table stays alive and mapped (the device stays bound), unchanged.
        let mut t =
            unsafe { SgTable::from_owner(mapped, |o| o.as_raw(), Terms::Mapped, GFP_KERNEL) }?;
        assert_eq!(ops(&t), expect(Ok(()), Err(EINVAL), size, "borrowed"));
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(ops(&t), expect(Ok(()), Err(EINVAL), size, "borrowed"));
        assert_eq!(dma_matches_c(&t), Ok(size));
        // Dropping `t` drops the owner, which unmaps and frees its table.
        let before = dev.devres_count();
        drop(t);
        assert_eq!(dev.devres_count(), before - 1);

        let mapped = SgTable::new_mapped(
            dev.bound(),
            buffer(2, 4)?,
            DataDirection::ToDevice,
            GFP_KERNEL,
        )?;
        // SAFETY: As above.
        let t = unsafe { SgTable::from_owner(mapped, |o| o.as_raw(), Terms::DmaOnly, GFP_KERNEL) }?;
        assert_eq!(ops(&t), dma_only());
        assert_eq!(t.size(), 2 * PAGE_SIZE);

        // SAFETY: A NULL table is refused, and the owner dropped.
        let null = unsafe {
            SgTable::from_owner(0u8, |_| core::ptr::null_mut(), Terms::Unmapped, GFP_KERNEL)
        };
        assert_eq!(null.err(), Some(EINVAL));
        Ok(())
    }

    /// A table C made and lent to us to map (`Terms::Mappable`), through every state with both
    /// kinds of mapping: mapped, synced and unmapped as our own, its memory read but not written
    /// (it is not ours), its entries checked against the device's limits; dropping it unmaps and
    /// frees only its owner.
    #[test]
    fn lent_tables_every_state() -> Result {
        let dev = TestDevice::new(c"rust-sg-mappable")?;
        let tiny = TestDevice::with_parms(c"rust-sg-mappable-tiny", &SUB_PAGE_SEGMENTS)?;
        let size = 4 * PAGE_SIZE;
        for kind in Kind::BOTH {
            // SAFETY: The owner keeps its table and pages, lends them to us whole and touches
            // neither meanwhile.
            let mut t = unsafe {
                SgTable::from_owner(c_table(4)?, |c| c.as_raw(), Terms::Mappable, GFP_KERNEL)
            }?;
            assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
            // Not ours to write: the owner's pages may be the page cache, or shared.
            assert_eq!(t.write_at(PAGE_SIZE, &[0x77]), Err(EINVAL));
            // Entries of a page are too long for a device of 2 KiB segments: refused.
            assert_eq!(
                kind.map(&mut t, tiny.bound(), DataDirection::ToDevice),
                Err(EINVAL)
            );
            assert_eq!(state(&t), "unmapped");

            assert_eq!(
                kind.map(&mut t, dev.bound(), DataDirection::Bidirectional),
                Ok(())
            );
            assert_eq!(ops(&t), expect(Ok(()), Ok(()), size, "managed"));
            assert_eq!(dma_matches_c(&t), Ok(size));
            assert_eq!(
                kind.map(&mut t, dev.bound(), DataDirection::ToDevice),
                Err(EINVAL)
            );
            let mut byte = [0u8; 2];
            t.read_at(PAGE_SIZE, &mut byte)?;
            assert_eq!(byte, [2, 2]);
            assert_eq!(t.unmap(), Ok(()));
            assert_eq!(t.unmap(), Err(EINVAL));
            // Dropped mapped: unmapped first (DMA-API debug reports a mapping left at unbind).
            kind.map(&mut t, dev.bound(), DataDirection::ToDevice)?;
        }

        // Mappable, with a lifetime-bound mapping.
        // SAFETY: As above.
        let mut t = unsafe {
            SgTable::from_owner(c_table(2)?, |c| c.as_raw(), Terms::Mappable, GFP_KERNEL)
        }?;
        t.map_bound(dev.bound(), DataDirection::FromDevice)?;
        assert_eq!(dma_matches_c(&t), Ok(2 * PAGE_SIZE));
        let text = debug_text(&t)?;
        assert!(text
            .to_bytes()
            .starts_with(b"SgTable { source: \"borrowed to map\""));
        Ok(())
    }

    /// A device without a DMA mask (every auxiliary device) cannot do DMA: every way to map
    /// and to build for it returns `EIO` before the DMA API is called, which would warn and
    /// "map" nothing; the DMA addresses an earlier mapping left in the entries are never
    /// unmapped again (DMA-API debug would report it, and swiotlb free a slot another mapping
    /// owns).
    #[test]
    fn a_device_without_a_dma_mask_is_refused_before_the_dma_api() -> Result {
        use crate::dma::attrs::DMA_ATTR_SKIP_CPU_SYNC;
        use DataDirection::ToDevice;
        let dev = TestDevice::new(c"rust-sg-mask")?;
        let maskless = TestDevice::without_dma_mask(c"rust-sg-no-mask")?;
        let mut t = owned(2)?;
        t.map_bound(dev.bound(), ToDevice)?;
        t.unmap()?;
        let (bufs, more) = ([buffer(1, 0)?, buffer(1, 0)?, buffer(1, 0)?], buffer(1, 0)?);
        let (results, warnings) = suppressing_warnings(|| {
            let [a, b, c] = bufs;
            [
                t.map(maskless.bound(), ToDevice),
                t.map_bound(maskless.bound(), ToDevice),
                t.map_with_attrs(maskless.bound(), ToDevice, DMA_ATTR_SKIP_CPU_SYNC),
                t.map_bound_with_attrs(maskless.bound(), ToDevice, DMA_ATTR_SKIP_CPU_SYNC),
                SgTable::new_mapped(maskless.bound(), a, ToDevice, GFP_KERNEL).map(|_| ()),
                SgTable::new_mapped_bound(maskless.bound(), b, ToDevice, GFP_KERNEL).map(|_| ()),
                SgTable::new_for_device(maskless.bound(), c, GFP_KERNEL).map(|_| ()),
            ]
        });
        assert_eq!(results, [Err(EIO); 7]);
        assert_eq!(warnings, 0);
        assert_eq!(
            ops(&t),
            expect(Err(EINVAL), Err(EINVAL), 2 * PAGE_SIZE, "unmapped")
        );
        // What the device lacks, not the table: it maps on a device that has a mask.
        assert_eq!(t.map(dev.bound(), ToDevice), Ok(()));
        // A table built for no device is refused the same way.
        let mut plain = SgTable::new(more, GFP_KERNEL)?;
        assert_eq!(plain.map_bound(maskless.bound(), ToDevice), Err(EIO));
        Ok(())
    }

    /// A table shared through an `Arc` ([`SgTable::share`]): the view syncs with the shared
    /// mapping's device and direction, and follows it through unbinding, after which its syncs
    /// and DMA iteration return `ENODEV` (they do not reach the DMA API with stale addresses).
    #[test]
    fn a_shared_table_follows_its_mapping() -> Result {
        use DataDirection::Bidirectional;
        let dev = TestDevice::new(c"rust-sg-share")?;
        let gone = TestDevice::new(c"rust-sg-share-gone")?;
        let size = 3 * PAGE_SIZE;
        let table = SgTable::new_mapped(gone.bound(), buffer(3, 2)?, Bidirectional, GFP_KERNEL)?;
        let table = Arc::new(table, GFP_KERNEL)?;
        let mut view = SgTable::share(table.clone(), GFP_KERNEL)?;
        assert_eq!(view.as_raw(), table.as_raw());
        assert_eq!(ops(&view), expect(Ok(()), Ok(()), size, "borrowed"));
        assert_eq!(view.direction(), Some(Bidirectional));
        assert_eq!(dma_matches_c(&view), Ok(size));
        assert_eq!(view.sync_range_for_cpu(PAGE_SIZE - 1, 2), Ok(()));
        // Neither mapped, unmapped nor written through the view.
        assert_eq!(view.map(dev.bound(), Bidirectional), Err(EINVAL));
        assert_eq!(view.unmap(), Err(EINVAL));
        assert_eq!(view.write_at(0, &[1]), Err(EINVAL));
        let text = debug_text(&view)?;
        assert!(text
            .to_bytes()
            .windows(b"Borrowed(Shared(Managed(Mapping { device: ".len())
            .any(|w| w == b"Borrowed(Shared(Managed(Mapping { device: "));
        // A view of the view follows the same mapping.
        let second = SgTable::share(Arc::new(view, GFP_KERNEL)?, GFP_KERNEL)?;
        assert_eq!(ops(&second), expect(Ok(()), Ok(()), size, "borrowed"));

        gone.unregister();
        assert_eq!(state(&table), "revoked");
        assert_eq!(
            ops(&second),
            expect(Err(ENODEV), Err(ENODEV), size, "borrowed")
        );
        drop(second);
        drop(table);

        // A shared unmapped table: a CPU view, as the table itself.
        let plain = SgTable::share(Arc::new(owned(1)?, GFP_KERNEL)?, GFP_KERNEL)?;
        assert_eq!(
            ops(&plain),
            expect(Err(EINVAL), Err(EINVAL), PAGE_SIZE, "unmapped")
        );
        let mut byte = [0u8; 1];
        assert_eq!(plain.read_at(0, &mut byte), Ok(()));
        Ok(())
    }

    /// A table its owner mapped for a device and direction it tells us (`Terms::MappedFor`): we
    /// may sync it, whole and by range (DMA-API debug checks device and direction), not map or
    /// unmap it.
    #[test]
    fn mapped_for_tables_sync() -> Result {
        let dev = TestDevice::new(c"rust-sg-mapped-for")?;
        let dir = DataDirection::Bidirectional;
        let mut owner = SgTable::new(buffer(3, 6)?, GFP_KERNEL)?;
        owner.map_bound(dev.bound(), dir)?;
        // SAFETY: `owner` outlives the view and keeps its table mapped for `dev` and `dir`.
        let mut t =
            unsafe { SgTable::from_raw(owner.as_raw(), Terms::MappedFor(dev.bound(), dir)) }?;
        assert_eq!(ops(&t), expect(Ok(()), Ok(()), 3 * PAGE_SIZE, "borrowed"));
        assert_eq!(t.direction(), Some(dir));
        assert_eq!(t.sync_range_for_cpu(PAGE_SIZE - 1, 2), Ok(()));
        assert_eq!(t.sync_range_for_device(0, 3 * PAGE_SIZE), Ok(()));
        assert_eq!(t.sync_range_for_device(1, 3 * PAGE_SIZE), Err(ERANGE));
        assert_eq!(t.map(dev.bound(), dir), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(t.write_at(0, &[1]), Err(EINVAL));
        let text = debug_text(&t)?;
        assert!(text
            .to_bytes()
            .windows(b"Borrowed(OwnerMapping { device: ".len())
            .any(|w| w == b"Borrowed(OwnerMapping { device: "));
        drop(t);
        // No mapping has no direction.
        // SAFETY: As above.
        let none = unsafe {
            SgTable::from_raw(
                owner.as_raw(),
                Terms::MappedFor(dev.bound(), DataDirection::None),
            )
        };
        assert_eq!(none.err(), Some(EINVAL));
        Ok(())
    }

    #[test]
    fn a_table_inside_its_owner_stays_valid_as_the_owner_moves() -> Result {
        let req = c_table(3)?;
        let before = req.as_raw();
        let mut seen = core::ptr::null_mut();
        // SAFETY: The table lives inside the owner, which describes pages it keeps; nobody
        // changes it.
        let t = unsafe {
            SgTable::from_owner(
                req,
                |r| {
                    seen = r.as_raw();
                    seen
                },
                Terms::Unmapped,
                GFP_KERNEL,
            )
        }?;
        // The pointer was taken from the owner in its box, not where it was before.
        assert_eq!(t.as_raw(), seen);
        assert_ne!(t.as_raw(), before);
        // And it stays valid as the table moves.
        let mut moved = KVec::new();
        moved.push(t, GFP_KERNEL)?;
        let t = moved.pop().ok_or(ENOENT)?;
        assert_eq!(t.size(), 3 * PAGE_SIZE);
        assert_eq!(t.cpu_iter()?.count(), 3);
        let mut byte = [0u8; 1];
        t.read_at(2 * PAGE_SIZE, &mut byte)?;
        assert_eq!(byte[0], 3);
        Ok(())
    }

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
        assert_eq!(ops(&t), expect(Err(EINVAL), Err(EINVAL), 400, "unmapped"));
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
        let boxed = VBox::new([7u64; 1024], GFP_KERNEL)?;
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
    fn reads_and_writes_cross_entries() -> Result {
        // Three pages, each an entry of its own (for a device that takes a page per segment),
        // each filled with its number.
        let dev = TestDevice::with_parms(c"rust-sg-cross", &PAGE_SEGMENTS)?;
        let pages = spaced_pages(3, GFP_KERNEL)?;
        for (i, page) in pages.iter().enumerate() {
            let fill = [i as u8 + 1; PAGE_SIZE];
            // SAFETY: The page is ours and nobody else uses it.
            unsafe { page.write_raw(fill.as_ptr(), 0, PAGE_SIZE) }?;
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
            expect(Err(EINVAL), Err(EINVAL), PAGES * PAGE_SIZE, "unmapped")
        );

        t.map(dev.bound(), DataDirection::Bidirectional)?;
        assert_eq!(
            ops(&t),
            expect(Ok(()), Ok(()), PAGES * PAGE_SIZE, "managed")
        );
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
        assert_eq!(
            ops(&big),
            expect(Err(EINVAL), Err(EINVAL), 16 * PAGE_SIZE, "unmapped")
        );
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
        assert_eq!(state(&other), "unmapped");
        assert_eq!(other.map(plain.bound(), DataDirection::ToDevice), Ok(()));

        // A table built for no device, a page per entry, maps on both.
        let mut pages = SgTable::new(ContiguousPages::new(4, 0, 16)?, GFP_KERNEL)?;
        assert_eq!(pages.map(shifted.bound(), DataDirection::ToDevice), Ok(()));
        Ok(())
    }

    #[test]
    fn scatterlist_tables_convert_both_ways() -> Result {
        use crate::{
            io::ResourceSize,
            scatterlist::SGTable, //
        };
        let dev = TestDevice::new(c"rust-sg-scatterlist")?;
        let upstream = KBox::pin_init(
            SGTable::new(
                dev.bound(),
                buffer(4, 1)?,
                DataDirection::ToDevice,
                GFP_KERNEL,
            ),
            GFP_KERNEL,
        )?;

        // In, without `unsafe`, next to a table of ours in one vector.
        let mut tables: KVec<SgTable<'_>> = KVec::new();
        tables.push(SgTable::try_from(&*upstream)?, GFP_KERNEL)?;
        tables.push(
            SgTable::new_mapped(
                dev.bound(),
                buffer(2, 2)?,
                DataDirection::ToDevice,
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
        let t = &mut tables[0];
        assert_eq!(ops(t), dma_only());
        assert_eq!(t.size(), 4 * PAGE_SIZE);
        // Its DMA view is upstream's own `iter()`, and what C walks.
        let theirs = collect(upstream.iter().map(|e| (e.dma_address(), e.dma_len())))?;
        let ours = collect(
            t.dma_iter()?
                .map(|s| (s.dma_address(), ResourceSize::from(s.dma_len()))),
        )?;
        assert_eq!(&ours[..], &theirs[..]);
        assert_eq!(dma_matches_c(t), Ok(4 * PAGE_SIZE));
        // Its owner maps, unmaps and syncs it; nor do we write it.
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(t.write_at(0, &[0]), Err(EINVAL));
        assert_eq!(ops(t), dma_only());

        // Out: a mapped table of ours lends itself to an API that takes `&SGTable`.
        let ours = &tables[1];
        let lent = ours.as_scatterlist()?;
        let theirs = collect(lent.iter().map(|e| (e.dma_address(), e.dma_len())))?;
        let mine = collect(
            ours.dma_iter()?
                .map(|s| (s.dma_address(), ResourceSize::from(s.dma_len()))),
        )?;
        assert_eq!(&theirs[..], &mine[..]);
        // Only a mapped one.
        let plain = SgTable::new(buffer(1, 0)?, GFP_KERNEL)?;
        assert_eq!(plain.as_scatterlist().err(), Some(EINVAL));
        Ok(())
    }

    #[test]
    fn debug_says_what_a_log_needs() -> Result {
        use crate::str::CString;
        /// `{:?}` of `x`, logged, and whether it holds each of `parts`.
        fn debug_has(x: &dyn core::fmt::Debug, parts: &[&[u8]]) -> Result<bool> {
            let text = CString::try_from_fmt(fmt!("{:?}", x))?;
            pr_info!("rust_kernel_sg: {:?}\n", x);
            let has = |p: &[u8]| text.to_bytes().windows(p.len()).any(|w| w == p);
            Ok(parts.iter().all(|p| has(p)))
        }
        // One entry per page, whatever the allocator hands out.
        let dev = TestDevice::with_parms(c"rust-sg-debug", &PAGE_SEGMENTS)?;
        let mut t = SgTable::new_for_device(dev.bound(), buffer(2, 0)?, GFP_KERNEL)?;
        t.map(dev.bound(), DataDirection::ToDevice)?;
        assert!(debug_has(
            &t,
            &[
                b"SgTable { source: \"owned\", state: Managed(Mapping { device: ",
                b"rust-sg-debug",
                b", direction: ToDevice, devres: true, live: true }), size: 8192, ",
                b"orig_nents: 2, nents: Some(2) }",
            ]
        )?);
        // SAFETY: `t` outlives the view and keeps its table mapped (`dev` stays bound).
        let view = unsafe { SgTable::from_raw(t.as_raw(), Terms::DmaOnly) }?;
        assert!(debug_has(
            &view,
            &[
                b"SgTable { source: \"borrowed, DMA only\", state: Borrowed, size: 8192, ",
                b"orig_nents: 2, nents: Some(2) }",
            ]
        )?);
        drop(view);
        let segment = t.cpu_iter()?.next().ok_or(ENOENT)?;
        assert!(debug_has(
            &segment,
            &[b"CpuSegment { offset: 0, len: 4096 }"]
        )?);
        Ok(())
    }

    #[test]
    fn one_vec_of_mixed_tables() -> Result {
        use DataDirection::{
            Bidirectional,
            FromDevice,
            ToDevice, //
        };
        let dev = TestDevice::new(c"rust-sg-mixed")?;
        let p = PAGE_SIZE;
        let mut tables: KVec<SgTable<'static>> = KVec::new();

        tables.push(SgTable::new(buffer(2, 6)?, GFP_KERNEL)?, GFP_KERNEL)?;
        tables.push(
            SgTable::new_mapped(dev.bound(), buffer(3, 7)?, ToDevice, GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        let owner = Arc::new(
            SgTable::new_mapped(dev.bound(), buffer(5, 8)?, FromDevice, GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        tables.push(SgTable::share(owner.clone(), GFP_KERNEL)?, GFP_KERNEL)?;
        let owner2 = Arc::new(SgTable::new(buffer(7, 9)?, GFP_KERNEL)?, GFP_KERNEL)?;
        // SAFETY: The kept `Arc` keeps the table alive, and nobody maps it.
        let kept = unsafe {
            SgTable::from_owner(owner2.clone(), |o| o.as_raw(), Terms::Unmapped, GFP_KERNEL)
        }?;
        tables.push(kept, GFP_KERNEL)?;

        let states = collect(tables.iter().map(state))?;
        assert_eq!(
            &states[..],
            &["unmapped", "managed", "borrowed", "unmapped"][..]
        );
        let cpu = collect(tables.iter().map(|t| t.size()))?;
        assert_eq!(&cpu[..], &[2 * p, 3 * p, 5 * p, 7 * p][..]);
        let dma = collect(tables.iter().map(dma_bytes))?;
        assert_eq!(
            &dma[..],
            &[Err(EINVAL), Ok(3 * p), Ok(5 * p), Err(EINVAL)][..]
        );

        // Map whatever can be mapped, through the same code path.
        let mapped = collect(tables.iter_mut().map(|t| t.map(dev.bound(), Bidirectional)))?;
        assert_eq!(
            &mapped[..],
            &[Ok(()), Err(EINVAL), Err(EINVAL), Err(EINVAL)][..]
        );
        let states = collect(tables.iter().map(state))?;
        assert_eq!(
            &states[..],
            &["managed", "managed", "borrowed", "unmapped"][..]
        );
        let dma = collect(tables.iter().map(dma_bytes))?;
        assert_eq!(
            &dma[..],
            &[Ok(2 * p), Ok(3 * p), Ok(5 * p), Err(EINVAL)][..]
        );

        // Tables move freely, e.g. out of the vector.
        let last = tables.pop().ok_or(ENOENT)?;
        assert_eq!(last.as_raw(), owner2.as_raw());
        drop(tables);
        drop(last);
        Ok(())
    }

    #[test]
    fn unbind_while_mapped() -> Result {
        use DataDirection::{
            Bidirectional,
            FromDevice,
            ToDevice, //
        };
        let size = 4 * PAGE_SIZE;
        let dev = TestDevice::new(c"rust-sg-unbind")?;
        let mut a = SgTable::new_mapped(dev.bound(), buffer(4, 10)?, Bidirectional, GFP_KERNEL)?;
        let mut b = SgTable::new_mapped(dev.bound(), buffer(4, 11)?, ToDevice, GFP_KERNEL)?;
        let c = SgTable::new_mapped(dev.bound(), buffer(4, 12)?, ToDevice, GFP_KERNEL)?;
        assert_eq!(ops(&a), expect(Ok(()), Ok(()), size, "managed"));

        // Unbinding releases the mappings; the tables live on.
        dev.unregister();
        assert_eq!(ops(&a), expect(Err(ENODEV), Err(ENODEV), size, "revoked"));
        assert_eq!(ops(&b), expect(Err(ENODEV), Err(ENODEV), size, "revoked"));
        assert!(!a.is_mapped());
        assert_eq!(a.direction(), Some(Bidirectional));

        // A revoked table maps again for a device that is bound: the dead mapping goes first.
        let dev2 = TestDevice::new(c"rust-sg-unbind-2")?;
        assert_eq!(a.map(dev2.bound(), FromDevice), Ok(()));
        assert_eq!(ops(&a), expect(Ok(()), Ok(()), size, "managed"));
        assert_eq!(a.direction(), Some(FromDevice));
        assert_eq!(dma_matches_c(&a), Ok(size));
        // A refused map of a revoked table changes nothing.
        assert_eq!(b.map(dev2.bound(), DataDirection::None), Err(EINVAL));
        assert_eq!(state(&b), "revoked");

        // Unmapping does not unmap a second time (DMA-API debug would report it), and the table
        // can be mapped again for another device.
        assert_eq!(b.unmap(), Ok(()));
        assert_eq!(ops(&b), expect(Err(EINVAL), Err(EINVAL), size, "unmapped"));
        assert_eq!(b.map(dev2.bound(), FromDevice), Ok(()));
        assert_eq!(dma_matches_c(&b), Ok(size));

        // Nor does dropping a revoked table.
        drop(c);
        Ok(())
    }

    #[test]
    fn calls_that_may_sleep_say_so() -> Result {
        // In atomic context, the kernel's atomic-sleep checker (`CONFIG_DEBUG_ATOMIC_SLEEP`)
        // names our calls in the kernel log: one report for `map()`, one for dropping a table
        // with a devres mapping, one for `map_bound()` of a table whose devres mapping was
        // revoked, all at rust/kernel/sg.
        // (Both really sleep only in cases this test avoids: an allocation that must reclaim,
        // a concurrent unbind.) The checker reports at most once a second.
        let dev = TestDevice::new(c"rust-sg-sleep")?;
        let lock = KBox::pin_init(new_spinlock!(()), GFP_KERNEL)?;
        let mut t = SgTable::new(buffer(1, 0)?, GFP_KERNEL)?;
        let mapped = complaining(|| {
            let _guard = lock.lock();
            t.map(dev.bound(), DataDirection::ToDevice)
        });
        assert_eq!(mapped, Ok(()));
        fsleep(Delta::from_millis(1100));
        complaining(|| {
            let _guard = lock.lock();
            drop(t);
        });
        // A lifetime-bound `map_bound()` of a table whose devres mapping unbinding revoked
        // drops the dead `Devres` first, which may wait for the unbinding: a third report.
        fsleep(Delta::from_millis(1100));
        let gone = TestDevice::new(c"rust-sg-sleep-gone")?;
        let mut t = SgTable::new(buffer(1, 0)?, GFP_KERNEL)?;
        t.map(gone.bound(), DataDirection::ToDevice)?;
        gone.unregister();
        let mapped = complaining(|| {
            let _guard = lock.lock();
            t.map_bound(dev.bound(), DataDirection::ToDevice)
        });
        assert_eq!(mapped, Ok(()));
        drop(t);
        // A lifetime-bound mapping allocates nothing and waits for nothing: no report (the
        // run expects exactly the three above). Dropping the table still frees its memory, which
        // may sleep (`vfree()`), so that is left out.
        fsleep(Delta::from_millis(1100));
        let mut t = SgTable::new(buffer(1, 0)?, GFP_KERNEL)?;
        {
            let _guard = lock.lock();
            t.map_bound(dev.bound(), DataDirection::FromDevice)?;
            t.sync_for_cpu()?;
            t.sync_for_device()?;
            t.unmap()?;
        }
        Ok(())
    }
}
