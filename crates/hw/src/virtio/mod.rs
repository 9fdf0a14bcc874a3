//! Virtio (QEMU: `hw/virtio/`): the device-side seam ([`VirtioDevice`]), the
//! guest-memory seam ([`GuestMemory`]), the virtio-mmio transport
//! ([`mmio`]), the split virtqueue ([`queue`]), the block device ([`blk`],
//! requests as coroutines in an AioContext with the file I/O in its thread
//! pool) and the entropy device ([`rng`]).

pub mod blk;
pub mod mmio;
pub mod queue;
pub mod rng;

use std::sync::Arc;

use parking_lot::Mutex;

use crate::irq::IrqLine;

/// Device status bit: the guest noticed the device (`VIRTIO_CONFIG_S_ACKNOWLEDGE`).
pub const STATUS_ACKNOWLEDGE: u8 = 1;
/// Device status bit: the guest has a driver (`VIRTIO_CONFIG_S_DRIVER`).
pub const STATUS_DRIVER: u8 = 2;
/// Device status bit: the driver is ready (`VIRTIO_CONFIG_S_DRIVER_OK`).
pub const STATUS_DRIVER_OK: u8 = 4;
/// Device status bit: feature negotiation is complete (`VIRTIO_CONFIG_S_FEATURES_OK`).
pub const STATUS_FEATURES_OK: u8 = 8;
/// Device status bit: the device hit an error and needs a reset (`VIRTIO_CONFIG_S_NEEDS_RESET`).
pub const STATUS_NEEDS_RESET: u8 = 64;
/// Device status bit: the driver gave up (`VIRTIO_CONFIG_S_FAILED`).
pub const STATUS_FAILED: u8 = 128;

/// Feature bit: the device is a virtio 1.x ("modern") device.
pub const VIRTIO_F_VERSION_1: u32 = 32;
/// Feature bit: indirect descriptors.
pub const VIRTIO_F_RING_INDIRECT_DESC: u32 = 28;
/// Feature bit: used_event / avail_event suppression.
pub const VIRTIO_F_RING_EVENT_IDX: u32 = 29;

/// Interrupt status bit: the device used buffers (`VIRTIO_MMIO_INT_VRING`).
pub const INT_VRING: u32 = 1;
/// Interrupt status bit: the configuration changed (`VIRTIO_MMIO_INT_CONFIG`).
pub const INT_CONFIG: u32 = 2;

/// Guest-physical memory as a device sees it (QEMU: `address_space_rw` on the
/// device's DMA address space). The board implements it on the memory API.
pub trait GuestMemory: Send + Sync {
    /// Whether `[addr, addr + len)` lies entirely in guest RAM.
    fn is_ram(&self, addr: u64, len: u64) -> bool;
    /// Reads guest memory; `Err` if any byte is outside guest RAM.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), GuestMemoryError>;
    /// Writes guest memory; `Err` if any byte is outside guest RAM.
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), GuestMemoryError>;
}

/// A guest access that fell outside guest RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestMemoryError {
    /// Start of the failed access.
    pub addr: u64,
    /// Length of the failed access.
    pub len: u64,
}

impl std::fmt::Display for GuestMemoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "guest access {:#x}+{:#x} outside RAM",
            self.addr, self.len
        )
    }
}

impl std::error::Error for GuestMemoryError {}

/// A flat RAM block at a base address (for tests, and as a reference for the
/// board's implementation).
#[derive(Debug)]
pub struct VecMemory {
    base: u64,
    ram: Mutex<Vec<u8>>,
}

impl VecMemory {
    /// `size` bytes of zeroed RAM at `base`.
    pub fn new(base: u64, size: usize) -> Self {
        Self {
            base,
            ram: Mutex::new(vec![0; size]),
        }
    }

    fn range(&self, addr: u64, len: u64) -> Option<std::ops::Range<usize>> {
        let start = addr.checked_sub(self.base)?;
        let end = start.checked_add(len)?;
        let size = self.ram.lock().len() as u64;
        (end <= size).then_some(start as usize..end as usize)
    }
}

impl GuestMemory for VecMemory {
    fn is_ram(&self, addr: u64, len: u64) -> bool {
        self.range(addr, len).is_some()
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), GuestMemoryError> {
        let len = buf.len() as u64;
        let r = self
            .range(addr, len)
            .ok_or(GuestMemoryError { addr, len })?;
        buf.copy_from_slice(&self.ram.lock()[r]);
        Ok(())
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), GuestMemoryError> {
        let len = buf.len() as u64;
        let r = self
            .range(addr, len)
            .ok_or(GuestMemoryError { addr, len })?;
        self.ram.lock()[r].copy_from_slice(buf);
        Ok(())
    }
}

/// The guest-programmed layout of one split virtqueue, handed to the device
/// when the driver sets DRIVER_OK.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtQueueConfig {
    /// Ring size chosen by the driver.
    pub size: u16,
    /// Whether the driver enabled the queue (QueueReady).
    pub ready: bool,
    /// Descriptor table address.
    pub desc: u64,
    /// Available ring ("driver area") address.
    pub avail: u64,
    /// Used ring ("device area") address.
    pub used: u64,
}

/// The side of a transport its device may touch from any thread: the
/// interrupt status and line, the configuration generation and the
/// needs-reset flag (QEMU: `virtio_notify`, `virtio_notify_config`,
/// `virtio_error`, which update the shared `VirtIODevice`).
///
/// All of it changes under one lock, and the line level is set inside it, so
/// a notification racing with the guest's InterruptACK can never leave the
/// line high with no status bit set (which would storm the guest).
#[derive(Clone, Debug)]
pub struct VirtioInterrupt {
    inner: Arc<Mutex<InterruptState>>,
}

#[derive(Debug)]
struct InterruptState {
    isr: u32,
    irq: IrqLine,
    generation: u32,
    driver_ok: bool,
    broken: bool,
}

impl InterruptState {
    fn update(&mut self) {
        self.irq.set(self.isr != 0);
    }

    fn notify_config(&mut self) {
        // Like QEMU, configuration notifications only start with DRIVER_OK.
        if self.driver_ok {
            self.generation = self.generation.wrapping_add(1);
            self.isr |= INT_CONFIG;
            self.update();
        }
    }
}

impl VirtioInterrupt {
    fn new(irq: IrqLine) -> Self {
        Self {
            inner: Arc::new(Mutex::new(InterruptState {
                isr: 0,
                irq,
                generation: 0,
                driver_ok: false,
                broken: false,
            })),
        }
    }

    /// Sets interrupt status bit 0 and raises the line: the device used buffers.
    pub fn notify_queue(&self) {
        let mut s = self.inner.lock();
        s.isr |= INT_VRING;
        s.update();
    }

    /// The device configuration changed: once the driver is running, bump
    /// the generation and send a configuration-change interrupt.
    pub fn notify_config(&self) {
        self.inner.lock().notify_config();
    }

    /// The device met a guest error it cannot recover from (QEMU:
    /// `virtio_error`): logs `why`, shows DEVICE_NEEDS_RESET in the status,
    /// sends a configuration-change interrupt if the driver is running, and
    /// makes the transport ignore notifications until the device is reset.
    pub fn set_needs_reset(&self, why: &str) {
        log::warn!(target: crate::mmio::GUEST_ERROR, "virtio: {why}; device needs reset");
        let mut s = self.inner.lock();
        s.broken = true;
        s.notify_config();
    }

    /// Whether the device is in the needs-reset state.
    pub fn is_broken(&self) -> bool {
        self.inner.lock().broken
    }

    /// The current InterruptStatus value.
    pub fn status(&self) -> u32 {
        self.inner.lock().isr
    }

    fn ack(&self, bits: u32) {
        let mut s = self.inner.lock();
        s.isr &= !bits;
        s.update();
    }

    fn generation(&self) -> u32 {
        self.inner.lock().generation
    }

    fn set_driver_ok(&self, ok: bool) {
        self.inner.lock().driver_ok = ok;
    }

    /// Device reset: no interrupt, not broken, driver not running; the
    /// generation is kept (QEMU does not reset it either).
    fn reset(&self) {
        let mut s = self.inner.lock();
        s.isr = 0;
        s.broken = false;
        s.driver_ok = false;
        s.update();
    }
}

/// A virtio device behind a transport (QEMU: `VirtioDeviceClass`).
///
/// The transport owns the generic state (status, features, queue layout,
/// interrupt status); the device supplies its identity, its configuration
/// space and its queue processing.
pub trait VirtioDevice: Send {
    /// The virtio device ID (2 = block, 4 = entropy, ...).
    fn device_id(&self) -> u32;
    /// The features the device offers (must include [`VIRTIO_F_VERSION_1`]).
    fn device_features(&self) -> u64;
    /// The maximum size of each queue; the length is the number of queues.
    fn queue_max_sizes(&self) -> &[u16];
    /// Size of the device configuration space in bytes.
    fn config_len(&self) -> usize;
    /// Reads `data.len()` bytes of configuration space at `offset`
    /// (the transport guarantees the range lies within `config_len`).
    fn read_config(&mut self, offset: usize, data: &mut [u8]);
    /// Writes configuration space (range within `config_len`).
    fn write_config(&mut self, offset: usize, data: &[u8]);
    /// Whether the device accepts the driver's feature set (a subset of the
    /// offered features that includes VERSION_1). Refusing keeps FEATURES_OK clear.
    fn validate_features(&mut self, _features: u64) -> bool {
        true
    }
    /// The driver set DRIVER_OK: start processing with the negotiated
    /// features and queue layout; report completions through `interrupt`.
    fn activate(&mut self, features: u64, queues: &[VirtQueueConfig], interrupt: VirtioInterrupt);
    /// The driver notified queue `queue` (a ready queue of an active device).
    fn queue_notify(&mut self, queue: u16);
    /// Device reset (status written as 0): stop processing and forget the queues.
    fn reset(&mut self);
}
