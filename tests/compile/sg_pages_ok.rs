// SPDX-License-Identifier: GPL-2.0
//! Must compile: tables over memory any byte pattern may fill.
use kernel::{page::Page, prelude::*, sg::SgTable};

#[allow(dead_code)]
fn tables() -> Result {
    SgTable::new(VVec::<u8>::new(), GFP_KERNEL)?;
    SgTable::new(VVec::<u64>::new(), GFP_KERNEL)?;
    SgTable::new(VBox::<[u32; 1024]>::new([0; 1024], GFP_KERNEL)?, GFP_KERNEL)?;
    SgTable::new(KVec::<Page>::new(), GFP_KERNEL)?;
    Ok(())
}
