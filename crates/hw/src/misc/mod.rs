//! Miscellaneous devices (QEMU: `hw/misc/`).

pub mod sifive_test;
