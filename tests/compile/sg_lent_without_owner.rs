// SPDX-License-Identifier: GPL-2.0
//! Must not compile: a table lent to us to map comes with an owner that is leaked with it
//! (`from_owner_mappable()`). Without one, its lender could not promise that the table outlives
//! a mapping that safe code leaks.
//! Refused with: E0599
use kernel::{bindings, prelude::*, sg::SgTable};

#[allow(dead_code)]
fn table(sgt: *mut bindings::sg_table) -> Result {
    // SAFETY: None could be given.
    let _t = unsafe { SgTable::from_raw_mappable(sgt) }?;
    Ok(())
}
