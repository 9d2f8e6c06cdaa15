// SPDX-License-Identifier: GPL-2.0
//! Must not compile: a device or `write_at()` would overwrite the pointers of the boxes.
use kernel::{prelude::*, sg::SgTable};

#[allow(dead_code)]
fn table() -> Result {
    SgTable::new(VVec::<KBox<u64>>::new(), GFP_KERNEL)?;
    Ok(())
}
