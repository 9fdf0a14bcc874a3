//! Virtio transports (QEMU: `hw/virtio/`).

pub mod mmio;
