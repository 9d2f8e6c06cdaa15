// SPDX-License-Identifier: GPL-2.0
//! Must not compile: `Pages` is sealed; a driver cannot declare its own memory DMA-safe.
use kernel::{prelude::*, sg::Pages};

#[allow(dead_code)]
struct Mine(KBox<u64>);

impl Pages for Mine {}
