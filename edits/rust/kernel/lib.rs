pub mod sg;
