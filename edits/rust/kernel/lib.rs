#[cfg(CONFIG_HAS_DMA)]
pub mod sg;
