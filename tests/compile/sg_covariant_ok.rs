// SPDX-License-Identifier: GPL-2.0
//! Must compile: `SgTable<'a>` is covariant in `'a`, so a table of a longer lifetime is one of
//! a shorter lifetime, and `CovariantForLt!` takes it (for `DevresLt` and registration data).
use kernel::{
    prelude::*,
    sg::SgTable,
    types::CovariantForLt, //
};

#[allow(dead_code)]
fn shorter<'s, 'l: 's>(t: SgTable<'l>) -> SgTable<'s> {
    t
}

#[allow(dead_code)]
fn covariant<F: CovariantForLt>() {}

#[allow(dead_code)]
fn check() {
    covariant::<CovariantForLt!(SgTable<'_>)>();
}
