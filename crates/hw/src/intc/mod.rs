//! Interrupt controllers (QEMU: `hw/intc/`).

pub mod plic;
