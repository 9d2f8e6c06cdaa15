// SPDX-License-Identifier: GPL-2.0
//! Must not compile: a device may write a byte that is no `bool`.
use kernel::{prelude::*, sg::SgTable};

#[allow(dead_code)]
fn table() -> Result {
    SgTable::new(VVec::<bool>::new(), GFP_KERNEL)?;
    Ok(())
}
