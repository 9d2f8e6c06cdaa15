// SPDX-License-Identifier: GPL-2.0

//! Scatter-gather tables for DMA.
