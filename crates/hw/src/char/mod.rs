//! Character devices (QEMU: `hw/char/`).

pub mod serial;
