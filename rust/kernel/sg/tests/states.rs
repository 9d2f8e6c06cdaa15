// SPDX-License-Identifier: GPL-2.0

//! Suite `rust_kernel_sg`: the state table, cell by cell, and our own tables through every
//! state, every operation in each.

use super::*;

/// One row of the state table in the documentation of [`State`]: a table in that state, and
/// what each operation returns there, with the state it leaves.
struct Row {
    /// The row's name in the table.
    row: &'static str,
    state: Is,
    make: for<'d> fn(&'d Device<Bound>) -> Result<SgTable<'d>>,
    map: (Result, Is),
    unmap: (Result, Is),
    dma: Result,
    syncs: Result,
}

/// The rows of the state table, in its order.
const ROWS: [Row; 10] = [
    Row {
        row: "Unmapped, owned",
        state: Is::Unmapped,
        make: |_| owned(2),
        map: (Ok(()), Is::Managed),
        unmap: (Err(EINVAL), Is::Unmapped),
        dma: Err(EINVAL),
        syncs: Err(EINVAL),
    },
    Row {
        row: "Unmapped, borrowed",
        state: Is::Unmapped,
        make: |_| {
            let owner = owned(2)?;
            // SAFETY: The owner keeps its table, and nobody maps or changes it.
            unsafe { SgTable::from_owner(owner, |o| o.as_raw(), Terms::Unmapped, GFP_KERNEL) }
        },
        map: (Err(EINVAL), Is::Unmapped),
        unmap: (Err(EINVAL), Is::Unmapped),
        dma: Err(EINVAL),
        syncs: Err(EINVAL),
    },
    Row {
        row: "Unmapped, mappable",
        state: Is::Unmapped,
        make: |_| {
            // SAFETY: The owner keeps its table and pages, lends them to us whole and touches
            // neither meanwhile.
            unsafe { SgTable::from_owner(c_table(2)?, |c| c.as_raw(), Terms::Mappable, GFP_KERNEL) }
        },
        map: (Ok(()), Is::Managed),
        unmap: (Err(EINVAL), Is::Unmapped),
        dma: Err(EINVAL),
        syncs: Err(EINVAL),
    },
    Row {
        row: "Borrowed",
        state: Is::Borrowed,
        make: |dev| {
            let owner =
                SgTable::new_mapped(dev, buffer(2, 0)?, DataDirection::ToDevice, GFP_KERNEL)?;
            // SAFETY: The owner keeps its table mapped (`dev` stays bound for the test).
            unsafe { SgTable::from_owner(owner, |o| o.as_raw(), Terms::Mapped, GFP_KERNEL) }
        },
        map: (Err(EINVAL), Is::Borrowed),
        unmap: (Err(EINVAL), Is::Borrowed),
        dma: Ok(()),
        syncs: Err(EINVAL),
    },
    Row {
        row: "Borrowed, mapped for",
        state: Is::Borrowed,
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
        map: (Err(EINVAL), Is::Borrowed),
        unmap: (Err(EINVAL), Is::Borrowed),
        dma: Ok(()),
        syncs: Ok(()),
    },
    Row {
        row: "Borrowed, shared",
        state: Is::Borrowed,
        make: |dev| {
            let table =
                SgTable::new_mapped(dev, buffer(2, 0)?, DataDirection::ToDevice, GFP_KERNEL)?;
            SgTable::share(Arc::new(table, GFP_KERNEL)?, GFP_KERNEL)
        },
        map: (Err(EINVAL), Is::Borrowed),
        unmap: (Err(EINVAL), Is::Borrowed),
        dma: Ok(()),
        syncs: Ok(()),
    },
    Row {
        row: "Borrowed, shared, revoked",
        state: Is::Borrowed,
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
        map: (Err(EINVAL), Is::Borrowed),
        unmap: (Err(EINVAL), Is::Borrowed),
        dma: Err(ENODEV),
        syncs: Err(ENODEV),
    },
    Row {
        row: "Managed",
        state: Is::Managed,
        make: |dev| SgTable::new_mapped(dev, buffer(2, 0)?, DataDirection::ToDevice, GFP_KERNEL),
        map: (Err(EINVAL), Is::Managed),
        unmap: (Ok(()), Is::Unmapped),
        dma: Ok(()),
        syncs: Ok(()),
    },
    Row {
        row: "Managed, lifetime-bound",
        state: Is::Managed,
        make: |dev| {
            SgTable::new_mapped_bound(dev, buffer(2, 0)?, DataDirection::ToDevice, GFP_KERNEL)
        },
        map: (Err(EINVAL), Is::Managed),
        unmap: (Ok(()), Is::Unmapped),
        dma: Ok(()),
        syncs: Ok(()),
    },
    Row {
        row: "Managed, revoked",
        state: Is::Revoked,
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
        map: (Ok(()), Is::Managed),
        unmap: (Ok(()), Is::Unmapped),
        dma: Err(ENODEV),
        syncs: Err(ENODEV),
    },
];

#[macros::kunit_tests(rust_kernel_sg)]
mod kunit {
    use super::*;

    /// The state table, cell by cell: each row of [`ROWS`] is a row of the table in the
    /// documentation of [`State`], and its `map` cell is checked with both kinds of mapping; a
    /// failed cell is named in a diagnostic. The other cases here go deeper into one source or
    /// one cell.
    #[test]
    fn the_state_table() -> Result {
        let dev = TestDevice::new(c"rust-sg-table")?;
        for r in ROWS.iter() {
            let t = (r.make)(dev.bound())?;
            assert!(same(r.row, state(&t), r.state));
            let ops = ops(&t);
            assert!(same(r.row, (ops.dma, ops.sync), (r.dma, [r.syncs; 4])));
            assert!(same(r.row, ops.cpu_bytes, Ok(2 * PAGE_SIZE)));

            for kind in Kind::BOTH {
                let mut t = (r.make)(dev.bound())?;
                let res = kind.map(&mut t, dev.bound(), DataDirection::FromDevice);
                let what = (res, state(&t));
                assert!(same(fmt!("{}, map ({kind:?})", r.row), what, r.map));
                if res.is_ok() {
                    assert_eq!(mapping(&t)?.is_devres(), kind == Kind::Devres);
                }
            }

            let mut t = (r.make)(dev.bound())?;
            let res = t.unmap();
            assert!(same(fmt!("{}, unmap", r.row), (res, state(&t)), r.unmap));
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
            DMA_ATTR_PRIVILEGED,
            DMA_ATTR_SKIP_CPU_SYNC,
            DMA_ATTR_WEAK_ORDERING,
            DMA_ATTR_WRITE_COMBINE, //
        };
        use DataDirection::ToDevice;
        let dev = TestDevice::new(c"rust-sg-none")?;
        let mut t = SgTable::new(buffer(2, 3)?, GFP_KERNEL)?;
        // `dma_map_sgtable()` would `BUG()` on it.
        assert_eq!(t.map(dev.bound(), DataDirection::None), Err(EINVAL));
        assert_eq!(ops(&t), expect(Err(EINVAL), 2 * PAGE_SIZE, Is::Unmapped));
        // RAM handed to the device as MMIO, write-combined, or an allocation attribute: refused
        // by both kinds of mapping.
        for attrs in [
            DMA_ATTR_MMIO,
            DMA_ATTR_WRITE_COMBINE,
            DMA_ATTR_FORCE_CONTIGUOUS,
            DMA_ATTR_NO_WARN | DMA_ATTR_MMIO,
        ] {
            assert_eq!(t.map_with_attrs(dev.bound(), ToDevice, attrs), Err(EINVAL));
            assert_eq!(
                t.map_bound_with_attrs(dev.bound(), ToDevice, attrs),
                Err(EINVAL)
            );
            assert_eq!(state(&t), Is::Unmapped);
        }
        // Every accepted attribute maps, with both kinds, and unmaps.
        for attrs in [
            DMA_ATTR_SKIP_CPU_SYNC | DMA_ATTR_NO_WARN,
            DMA_ATTR_WEAK_ORDERING | DMA_ATTR_PRIVILEGED,
        ] {
            assert_eq!(t.map_with_attrs(dev.bound(), ToDevice, attrs), Ok(()));
            assert_eq!(t.unmap(), Ok(()));
            assert_eq!(t.map_bound_with_attrs(dev.bound(), ToDevice, attrs), Ok(()));
            assert_eq!(t.unmap(), Ok(()));
        }
        assert_eq!(
            SgTable::new_mapped(dev.bound(), buffer(1, 3)?, DataDirection::None, GFP_KERNEL).err(),
            Some(EINVAL)
        );
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Ok(()));
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
        assert_eq!(ops(&t), expect(Err(EINVAL), 2 * PAGE_SIZE, Is::Unmapped));
        // What the device lacks, not the table: it maps on a device that has a mask.
        assert_eq!(t.map(dev.bound(), ToDevice), Ok(()));
        // A table built for no device is refused the same way.
        let mut plain = SgTable::new(more, GFP_KERNEL)?;
        assert_eq!(plain.map_bound(maskless.bound(), ToDevice), Err(EIO));
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
        // The page size is the architecture's: 4 KiB, 16 KiB or 64 KiB.
        let size = CString::try_from_fmt(fmt!(
            "size: {}, orig_nents: 2, nents: Some(2) }}",
            2 * PAGE_SIZE
        ))?;
        assert!(debug_has(
            &t,
            &[
                b"SgTable { source: \"owned\", state: Managed(Mapping { device: ",
                b"rust-sg-debug",
                b", direction: ToDevice, devres: true, live: true }), ",
                size.to_bytes(),
            ]
        )?);
        // SAFETY: `t` outlives the view and keeps its table mapped (`dev` stays bound).
        let view = unsafe { SgTable::from_raw(t.as_raw(), Terms::DmaOnly) }?;
        assert!(debug_has(
            &view,
            &[
                b"SgTable { source: \"borrowed, DMA only\", state: Borrowed, ",
                size.to_bytes(),
            ]
        )?);
        drop(view);
        let segment = t.cpu_iter()?.next().ok_or(ENOENT)?;
        let first = CString::try_from_fmt(fmt!("CpuSegment {{ offset: 0, len: {PAGE_SIZE} }}"))?;
        assert!(debug_has(&segment, &[first.to_bytes()])?);
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
            &[Is::Unmapped, Is::Managed, Is::Borrowed, Is::Unmapped][..]
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
            &[Is::Managed, Is::Managed, Is::Borrowed, Is::Unmapped][..]
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
        assert_eq!(ops(&a), expect(Ok(()), size, Is::Managed));

        // Unbinding releases the mappings; the tables live on.
        dev.unregister();
        assert_eq!(ops(&a), expect(Err(ENODEV), size, Is::Revoked));
        assert_eq!(ops(&b), expect(Err(ENODEV), size, Is::Revoked));
        assert!(!a.is_mapped());
        assert_eq!(a.direction(), Some(Bidirectional));

        // A revoked table maps again for a device that is bound: the dead mapping goes first.
        let dev2 = TestDevice::new(c"rust-sg-unbind-2")?;
        assert_eq!(a.map(dev2.bound(), FromDevice), Ok(()));
        assert_eq!(ops(&a), expect(Ok(()), size, Is::Managed));
        assert_eq!(a.direction(), Some(FromDevice));
        assert_eq!(dma_matches_c(&a), Ok(size));
        // A refused map of a revoked table changes nothing.
        assert_eq!(b.map(dev2.bound(), DataDirection::None), Err(EINVAL));
        assert_eq!(state(&b), Is::Revoked);

        // Unmapping does not unmap a second time (DMA-API debug would report it), and the table
        // can be mapped again for another device.
        assert_eq!(b.unmap(), Ok(()));
        assert_eq!(ops(&b), expect(Err(EINVAL), size, Is::Unmapped));
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
        // revoked, all at rust/kernel/sg. The checker reports at most once a second.
        //
        // Each call here says it may sleep without sleeping: `map()` is refused before it
        // allocates; the dropped table's pages and table are freed by `kfree()` and
        // `__free_pages()`, not `vfree()`, and no unbind is running that the devres mapping's
        // drop would wait for; the revoked mapping's unbind has finished.
        let dev = TestDevice::new(c"rust-sg-sleep")?;
        let lock = KBox::pin_init(new_spinlock!(()), GFP_KERNEL)?;
        let mut t = SgTable::new(buffer(1, 0)?, GFP_KERNEL)?;
        let refused = complaining(|| {
            let _guard = lock.lock();
            t.map(dev.bound(), DataDirection::None)
        });
        assert_eq!(refused, Err(EINVAL));
        assert_eq!(state(&t), Is::Unmapped);
        fsleep(Delta::from_millis(1100));
        let mut t = SgTable::new(spaced_pages(2, GFP_KERNEL)?, GFP_KERNEL)?;
        t.map(dev.bound(), DataDirection::ToDevice)?;
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
