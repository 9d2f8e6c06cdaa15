// SPDX-License-Identifier: GPL-2.0
//! Must not compile: no safe call hands out references into a table's memory, which a device,
//! or user space through `vm_insert_page()` on the pages of a `VVec`, may write meanwhile.
//! Refused with: E0599
use kernel::{page::PAGE_SIZE, prelude::*, sg::SgTable};

#[allow(dead_code)]
fn table() -> Result {
    let mut buf = VVec::<u8>::with_capacity(PAGE_SIZE, GFP_KERNEL)?;
    buf.resize(PAGE_SIZE, 0, GFP_KERNEL)?;
    let t = SgTable::new(buf, GFP_KERNEL)?;
    t.for_each_chunk(0, 1, |_bytes: &[u8]| Ok(()))?;
    Ok(())
}
