//! Interrupt controllers (QEMU: `hw/intc/`).

pub mod aclint;
pub mod plic;
