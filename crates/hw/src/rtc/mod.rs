//! Real-time clocks (QEMU: `hw/rtc/`).

pub mod goldfish;
