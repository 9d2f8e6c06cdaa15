// SPDX-License-Identifier: GPL-2.0

//! Suite `rust_kernel_sg_borrowed`: tables someone else made, on each of their terms, shared
//! through an `Arc`, and taken from `kernel::scatterlist`.

use super::*;

/// What [`ops`] sees of a table without CPU view, mapped by its owner.
fn dma_only() -> Ops {
    Ops {
        dma: Ok(()),
        sync: [Err(EINVAL); 4],
        cpu_bytes: Err(EINVAL),
        state: Is::Borrowed,
    }
}

/// `{:?}` of `x`, as text.
fn debug_text(x: &dyn core::fmt::Debug) -> Result<crate::str::CString> {
    crate::str::CString::try_from_fmt(fmt!("{:?}", x))
}

#[macros::kunit_tests(rust_kernel_sg_borrowed)]
mod kunit {
    use super::*;

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
        assert_eq!(ops(&t), expect(Err(EINVAL), size, Is::Unmapped));
        // Not ours to write, so not ours to map.
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.write_at(0, &[0]), Err(EINVAL));
        let mut byte = [0u8; 1];
        assert_eq!(t.read_at(5, &mut byte), Ok(()));
        assert_eq!(byte[0], 5 ^ 2);
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(ops(&t), expect(Err(EINVAL), size, Is::Unmapped));
        // Dropping it frees nothing: the owner still works.
        drop(t);
        assert_eq!(ops(&owner), expect(Err(EINVAL), size, Is::Unmapped));

        // The owner maps its table (like DRM GEM shmem) and lends it out mapped.
        owner.map(dev.bound(), DataDirection::Bidirectional)?;
        // SAFETY: `owner` outlives `t` and keeps the table mapped and unchanged meanwhile.
        let mut t = unsafe { SgTable::from_raw(owner.as_raw(), Terms::Mapped) }?;
        assert_eq!(
            ops(&t),
            expect(Ok(()), size, Is::Borrowed).syncs(Err(EINVAL))
        );
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(t.direction(), None);
        assert_eq!(
            ops(&t),
            expect(Ok(()), size, Is::Borrowed).syncs(Err(EINVAL))
        );
        // The view's DMA segments are what C walks on the table.
        assert_eq!(dma_matches_c(&t), Ok(size));
        // Dropping the borrowed view does not unmap the owner's mapping.
        drop(t);
        assert_eq!(ops(&owner), expect(Ok(()), size, Is::Managed));
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
        assert_eq!(ops(&t), expect(Err(EINVAL), size, Is::Unmapped));
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(ops(&t), expect(Err(EINVAL), size, Is::Unmapped));
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
        assert_eq!(
            ops(&t),
            expect(Ok(()), size, Is::Borrowed).syncs(Err(EINVAL))
        );
        assert_eq!(t.map(dev.bound(), DataDirection::ToDevice), Err(EINVAL));
        assert_eq!(t.unmap(), Err(EINVAL));
        assert_eq!(
            ops(&t),
            expect(Ok(()), size, Is::Borrowed).syncs(Err(EINVAL))
        );
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
            assert_eq!(ops(&t), expect(Err(EINVAL), size, Is::Unmapped));
            // Not ours to write: the owner's pages may be the page cache, or shared.
            assert_eq!(t.write_at(PAGE_SIZE, &[0x77]), Err(EINVAL));
            // Entries of a page are too long for a device of 2 KiB segments: refused.
            assert_eq!(
                kind.map(&mut t, tiny.bound(), DataDirection::ToDevice),
                Err(EINVAL)
            );
            assert_eq!(state(&t), Is::Unmapped);

            assert_eq!(
                kind.map(&mut t, dev.bound(), DataDirection::Bidirectional),
                Ok(())
            );
            assert_eq!(ops(&t), expect(Ok(()), size, Is::Managed));
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
        assert_eq!(ops(&view), expect(Ok(()), size, Is::Borrowed));
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
        assert_eq!(ops(&second), expect(Ok(()), size, Is::Borrowed));

        gone.unregister();
        assert_eq!(state(&table), Is::Revoked);
        assert_eq!(ops(&second), expect(Err(ENODEV), size, Is::Borrowed));
        drop(second);
        drop(table);

        // A shared unmapped table: a CPU view, as the table itself.
        let plain = SgTable::share(Arc::new(owned(1)?, GFP_KERNEL)?, GFP_KERNEL)?;
        assert_eq!(ops(&plain), expect(Err(EINVAL), PAGE_SIZE, Is::Unmapped));
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
        assert_eq!(ops(&t), expect(Ok(()), 3 * PAGE_SIZE, Is::Borrowed));
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
}
