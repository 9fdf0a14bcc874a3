//! The virtio-mmio transport, version 2 (QEMU: `hw/virtio/virtio-mmio.c` with
//! `force-legacy=false`; register layout from virtio v1.2 §4.2.2).
//!
//! 32-bit little-endian registers below `0x100`, device configuration space
//! from `0x100`. Register accesses of another size are guest errors (reads
//! return 0); configuration space takes 1-, 2- and 4-byte accesses. A
//! transport without a device (most of `virt`'s eight slots) shows only the
//! magic value, version and vendor, reads 0 elsewhere (DeviceID 0 tells Linux
//! to skip it) and ignores writes.
//!
//! Guest misprogramming never panics: a queue made ready with a size that is
//! not a power of two up to QueueNumMax, misaligned ring addresses or rings
//! outside guest RAM puts the device in the needs-reset state
//! ([`super::STATUS_NEEDS_RESET`], a configuration-change interrupt once the
//! driver is running, further notifications ignored) and logs a guest error.
//! A feature set that includes features the device did not offer, or lacks
//! VERSION_1, is refused the way the specification says (FEATURES_OK does not
//! stick) and also puts the device in the needs-reset state.

use std::sync::Arc;

use super::{
    GuestMemory, STATUS_DRIVER_OK, STATUS_FEATURES_OK, STATUS_NEEDS_RESET, VIRTIO_F_VERSION_1,
    VirtQueueConfig, VirtioDevice, VirtioInterrupt,
};
use crate::irq::IrqLine;
use crate::mmio::{AccessRules, GUEST_ERROR, MmioDevice, SizeRange};

/// MagicValue ("virt").
pub const MAGIC_VALUE: u64 = 0x000;
/// Version.
pub const VERSION: u64 = 0x004;
/// DeviceID.
pub const DEVICE_ID: u64 = 0x008;
/// VendorID.
pub const VENDOR_ID: u64 = 0x00c;
/// DeviceFeatures.
pub const DEVICE_FEATURES: u64 = 0x010;
/// DeviceFeaturesSel.
pub const DEVICE_FEATURES_SEL: u64 = 0x014;
/// DriverFeatures.
pub const DRIVER_FEATURES: u64 = 0x020;
/// DriverFeaturesSel.
pub const DRIVER_FEATURES_SEL: u64 = 0x024;
/// QueueSel.
pub const QUEUE_SEL: u64 = 0x030;
/// QueueNumMax.
pub const QUEUE_NUM_MAX: u64 = 0x034;
/// QueueNum.
pub const QUEUE_NUM: u64 = 0x038;
/// QueueReady.
pub const QUEUE_READY: u64 = 0x044;
/// QueueNotify.
pub const QUEUE_NOTIFY: u64 = 0x050;
/// InterruptStatus.
pub const INTERRUPT_STATUS: u64 = 0x060;
/// InterruptACK.
pub const INTERRUPT_ACK: u64 = 0x064;
/// Status.
pub const STATUS: u64 = 0x070;
/// QueueDescLow.
pub const QUEUE_DESC_LOW: u64 = 0x080;
/// QueueDescHigh.
pub const QUEUE_DESC_HIGH: u64 = 0x084;
/// QueueDriverLow (available ring).
pub const QUEUE_AVAIL_LOW: u64 = 0x090;
/// QueueDriverHigh.
pub const QUEUE_AVAIL_HIGH: u64 = 0x094;
/// QueueDeviceLow (used ring).
pub const QUEUE_USED_LOW: u64 = 0x0a0;
/// QueueDeviceHigh.
pub const QUEUE_USED_HIGH: u64 = 0x0a4;
/// SHMSel.
pub const SHM_SEL: u64 = 0x0ac;
/// SHMLenLow.
pub const SHM_LEN_LOW: u64 = 0x0b0;
/// SHMLenHigh.
pub const SHM_LEN_HIGH: u64 = 0x0b4;
/// SHMBaseLow.
pub const SHM_BASE_LOW: u64 = 0x0b8;
/// SHMBaseHigh.
pub const SHM_BASE_HIGH: u64 = 0x0bc;
/// ConfigGeneration.
pub const CONFIG_GENERATION: u64 = 0x0fc;
/// Start of the device configuration space.
pub const CONFIG: u64 = 0x100;

/// The magic value, "virt" in little-endian ASCII.
pub const VIRT_MAGIC: u32 = 0x7472_6976;
/// The transport version implemented here.
pub const VIRT_VERSION: u32 = 2;
/// QEMU's vendor ID, "QEMU" in little-endian ASCII.
pub const VIRT_VENDOR: u32 = 0x554d_4551;
/// Highest queue index QueueSel accepts (QEMU: `VIRTIO_QUEUE_MAX`).
pub const VIRTIO_QUEUE_MAX: u32 = 1024;
/// Size of one transport's MMIO region (QEMU: 0x200; config space is the
/// 0x100 bytes from [`CONFIG`]). Transports sit [`SLOT_STRIDE`] apart on
/// `virt`, with unassigned space between them.
pub const REGION_SIZE: u64 = 0x200;
/// Distance between two transports on `virt`.
pub const SLOT_STRIDE: u64 = 0x1000;
/// The region's name in `info mtree`.
pub const REGION_NAME: &str = "virtio-mmio";

/// One virtio-mmio transport.
pub struct VirtioMmio {
    device: Option<Box<dyn VirtioDevice>>,
    mem: Arc<dyn GuestMemory>,
    interrupt: VirtioInterrupt,
    status: u8,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: [u32; 2],
    /// Features accepted at FEATURES_OK.
    negotiated: u64,
    queue_sel: u32,
    /// What the queue registers hold, as the driver last wrote them.
    programmed: Vec<VirtQueueConfig>,
    /// The layouts in force: copied from `programmed` (after checking) when
    /// the driver sets QueueReady, and handed to the device. Later register
    /// writes cannot change a ready queue under the device's feet.
    queues: Vec<VirtQueueConfig>,
}

impl std::fmt::Debug for VirtioMmio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioMmio")
            .field("device_id", &self.device.as_ref().map(|d| d.device_id()))
            .field("status", &self.status)
            .field("negotiated", &self.negotiated)
            .field("queues", &self.queues)
            .field("broken", &self.interrupt.is_broken())
            .finish_non_exhaustive()
    }
}

impl VirtioMmio {
    /// A transport for `device` (or an empty slot if `None`) whose interrupt
    /// drives `irq` and whose rings live in `mem`.
    pub fn new(
        device: Option<Box<dyn VirtioDevice>>,
        irq: IrqLine,
        mem: Arc<dyn GuestMemory>,
    ) -> Self {
        if let Some(d) = &device {
            assert!(
                d.device_features() & (1 << VIRTIO_F_VERSION_1) != 0,
                "virtio-mmio: a version 2 transport needs a device offering VERSION_1"
            );
            assert!(
                d.queue_max_sizes().len() <= VIRTIO_QUEUE_MAX as usize,
                "virtio-mmio: too many queues"
            );
        }
        let mut t = Self {
            device,
            mem,
            interrupt: VirtioInterrupt::new(irq),
            status: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: [0; 2],
            negotiated: 0,
            queue_sel: 0,
            programmed: Vec::new(),
            queues: Vec::new(),
        };
        t.reset();
        t
    }

    /// The device status byte, as the guest reads it.
    pub fn status(&self) -> u8 {
        self.guest_status()
    }

    /// The features negotiated at FEATURES_OK (0 before).
    pub fn negotiated_features(&self) -> u64 {
        self.negotiated
    }

    /// The layout in force for queue `n` (as handed to the device), if the
    /// device has that queue.
    pub fn queue(&self, n: usize) -> Option<&VirtQueueConfig> {
        self.queues.get(n)
    }

    /// The interrupt handle shared with the device.
    pub fn interrupt(&self) -> &VirtioInterrupt {
        &self.interrupt
    }

    /// Transport and device reset (QEMU: `virtio_reset` +
    /// `virtio_mmio_soft_reset`): status 0, features and queues forgotten,
    /// interrupt status cleared and the line lowered. The configuration
    /// generation is kept.
    pub fn reset(&mut self) {
        if let Some(d) = &mut self.device {
            d.reset();
        }
        self.status = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = [0; 2];
        self.negotiated = 0;
        self.queue_sel = 0;
        self.programmed = match &self.device {
            Some(d) => d
                .queue_max_sizes()
                .iter()
                .map(|&max| VirtQueueConfig {
                    size: max,
                    ..Default::default()
                })
                .collect(),
            None => Vec::new(),
        };
        self.queues = self.programmed.clone();
        self.interrupt.reset();
    }

    /// The device's configuration changed (QEMU: `virtio_notify_config`):
    /// once the driver is running, bump the generation and interrupt.
    pub fn config_changed(&mut self) {
        self.interrupt.notify_config();
    }

    /// Puts the device in the needs-reset state after a guest error (see
    /// [`VirtioInterrupt::set_needs_reset`]).
    pub fn set_needs_reset(&mut self, why: &str) {
        self.interrupt.set_needs_reset(why);
    }

    /// The status byte as the guest reads it: NEEDS_RESET shows while the
    /// device is broken.
    fn guest_status(&self) -> u8 {
        if self.interrupt.is_broken() {
            self.status | STATUS_NEEDS_RESET
        } else {
            self.status
        }
    }

    fn max_size(&self, q: usize) -> u16 {
        self.device
            .as_ref()
            .and_then(|d| d.queue_max_sizes().get(q).copied())
            .unwrap_or(0)
    }

    /// Checks a queue layout before enabling it; `Err` says what is wrong.
    fn check_queue(&self, q: usize) -> Result<(), String> {
        let c = &self.programmed[q];
        let max = self.max_size(q);
        let n = u64::from(c.size);
        if c.size == 0 || c.size > max || !c.size.is_power_of_two() {
            return Err(format!("queue {q}: bad size {} (max {max})", c.size));
        }
        let rings = [
            ("descriptor table", c.desc, 16, 16 * n),
            ("available ring", c.avail, 2, 6 + 2 * n),
            ("used ring", c.used, 4, 6 + 8 * n),
        ];
        for (what, addr, align, len) in rings {
            if addr % align != 0 {
                return Err(format!(
                    "queue {q}: {what} at {addr:#x} not {align}-byte aligned"
                ));
            }
            if !self.mem.is_ram(addr, len) {
                return Err(format!(
                    "queue {q}: {what} {addr:#x}+{len:#x} outside guest RAM"
                ));
            }
        }
        Ok(())
    }

    fn write_status(&mut self, value: u8) {
        if value == 0 {
            self.reset();
            return;
        }
        let old = self.status;
        let mut new = value;
        if value & STATUS_FEATURES_OK != 0 && old & STATUS_FEATURES_OK == 0 {
            let wanted =
                (u64::from(self.driver_features[1]) << 32) | u64::from(self.driver_features[0]);
            let offered = self.device.as_ref().map_or(0, |d| d.device_features());
            let refusal = if wanted & !offered != 0 {
                Some(format!(
                    "driver accepted unoffered features {:#x}",
                    wanted & !offered
                ))
            } else if wanted & (1 << VIRTIO_F_VERSION_1) == 0 {
                Some("driver did not accept VERSION_1".to_string())
            } else if !self
                .device
                .as_mut()
                .is_some_and(|d| d.validate_features(wanted))
            {
                Some(format!("device refused features {wanted:#x}"))
            } else {
                None
            };
            match refusal {
                Some(why) => {
                    // The specification's answer is to leave FEATURES_OK
                    // clear; the device also stops until reset, as for any
                    // other guest misprogramming.
                    new &= !STATUS_FEATURES_OK;
                    self.interrupt
                        .set_needs_reset(&format!("{why}; FEATURES_OK refused"));
                }
                None => self.negotiated = wanted,
            }
        }
        // NEEDS_RESET is the device's bit; the driver cannot set or clear it.
        new &= !STATUS_NEEDS_RESET;
        self.status = new;
        if new & STATUS_DRIVER_OK != 0 && old & STATUS_DRIVER_OK == 0 && !self.interrupt.is_broken()
        {
            self.interrupt.set_driver_ok(true);
            if new & STATUS_FEATURES_OK == 0 {
                self.set_needs_reset("DRIVER_OK without FEATURES_OK");
                return;
            }
            let features = self.negotiated;
            let interrupt = self.interrupt.clone();
            if let Some(d) = &mut self.device {
                d.activate(features, &self.queues, interrupt);
            }
        }
    }

    fn write_queue_ready(&mut self, q: usize, value: u64) {
        if value == 0 {
            self.queues[q].ready = false;
            return;
        }
        match self.check_queue(q) {
            Ok(()) => {
                self.queues[q] = VirtQueueConfig {
                    ready: true,
                    ..self.programmed[q]
                }
            }
            Err(why) => self.set_needs_reset(&why),
        }
    }

    fn read_register(&mut self, offset: u64) -> u64 {
        let d = match &self.device {
            Some(d) => d,
            None => {
                return u64::from(match offset {
                    MAGIC_VALUE => VIRT_MAGIC,
                    VERSION => VIRT_VERSION,
                    VENDOR_ID => VIRT_VENDOR,
                    _ => 0,
                });
            }
        };
        let sel = self.queue_sel as usize;
        let q = self.queues.get(sel);
        let value = match offset {
            MAGIC_VALUE => VIRT_MAGIC,
            VERSION => VIRT_VERSION,
            DEVICE_ID => d.device_id(),
            VENDOR_ID => VIRT_VENDOR,
            DEVICE_FEATURES => match self.device_features_sel {
                0 => d.device_features() as u32,
                1 => (d.device_features() >> 32) as u32,
                _ => 0,
            },
            QUEUE_NUM_MAX => u32::from(self.max_size(sel)),
            QUEUE_READY => u32::from(q.is_some_and(|q| q.ready)),
            INTERRUPT_STATUS => self.interrupt.status(),
            STATUS => u32::from(self.guest_status()),
            CONFIG_GENERATION => self.interrupt.generation(),
            // No shared memory regions: a length of all-ones means "absent".
            SHM_LEN_LOW | SHM_LEN_HIGH => u32::MAX,
            SHM_BASE_LOW | SHM_BASE_HIGH => 0,
            DEVICE_FEATURES_SEL | DRIVER_FEATURES | DRIVER_FEATURES_SEL | QUEUE_SEL | QUEUE_NUM
            | QUEUE_NOTIFY | INTERRUPT_ACK | QUEUE_DESC_LOW | QUEUE_DESC_HIGH | QUEUE_AVAIL_LOW
            | QUEUE_AVAIL_HIGH | QUEUE_USED_LOW | QUEUE_USED_HIGH | SHM_SEL => {
                log::warn!(target: GUEST_ERROR, "virtio-mmio: read of write-only register {offset:#x}");
                0
            }
            _ => {
                log::warn!(target: GUEST_ERROR, "virtio-mmio: bad register read {offset:#x}");
                0
            }
        };
        u64::from(value)
    }

    fn write_register(&mut self, offset: u64, value: u64) {
        if self.device.is_none() {
            // Empty slot: every register is write-ignored, as on QEMU.
            return;
        }
        let v = value as u32;
        let sel = self.queue_sel as usize;
        let has_queue = sel < self.queues.len();
        match offset {
            DEVICE_FEATURES_SEL => self.device_features_sel = v,
            DRIVER_FEATURES => {
                if let Some(half) = self
                    .driver_features
                    .get_mut(self.driver_features_sel as usize)
                {
                    *half = v;
                }
            }
            DRIVER_FEATURES_SEL => self.driver_features_sel = v,
            QUEUE_SEL => {
                if v < VIRTIO_QUEUE_MAX {
                    self.queue_sel = v;
                }
            }
            QUEUE_NUM if has_queue => self.programmed[sel].size = v.min(u32::from(u16::MAX)) as u16,
            QUEUE_READY if has_queue => self.write_queue_ready(sel, value),
            QUEUE_DESC_LOW if has_queue => set_half(&mut self.programmed[sel].desc, false, v),
            QUEUE_DESC_HIGH if has_queue => set_half(&mut self.programmed[sel].desc, true, v),
            QUEUE_AVAIL_LOW if has_queue => set_half(&mut self.programmed[sel].avail, false, v),
            QUEUE_AVAIL_HIGH if has_queue => set_half(&mut self.programmed[sel].avail, true, v),
            QUEUE_USED_LOW if has_queue => set_half(&mut self.programmed[sel].used, false, v),
            QUEUE_USED_HIGH if has_queue => set_half(&mut self.programmed[sel].used, true, v),
            QUEUE_NUM | QUEUE_READY | QUEUE_DESC_LOW | QUEUE_DESC_HIGH | QUEUE_AVAIL_LOW
            | QUEUE_AVAIL_HIGH | QUEUE_USED_LOW | QUEUE_USED_HIGH => {
                log::warn!(target: GUEST_ERROR, "virtio-mmio: write to queue {sel}, which does not exist");
            }
            QUEUE_NOTIFY => {
                let q = v as usize;
                let ready = self.queues.get(q).is_some_and(|q| q.ready);
                if ready && self.status & STATUS_DRIVER_OK != 0 && !self.interrupt.is_broken() {
                    if let Some(d) = &mut self.device {
                        d.queue_notify(v as u16);
                    }
                } else {
                    log::warn!(target: GUEST_ERROR, "virtio-mmio: notify of queue {v} ignored (not ready or device not running)");
                }
            }
            INTERRUPT_ACK => self.interrupt.ack(v),
            STATUS => self.write_status(v as u8),
            SHM_SEL => {}
            _ => log::warn!(target: GUEST_ERROR, "virtio-mmio: bad register write {offset:#x}"),
        }
    }
}

fn set_half(addr: &mut u64, high: bool, v: u32) {
    *addr = if high {
        (*addr & 0xffff_ffff) | (u64::from(v) << 32)
    } else {
        (*addr & !0xffff_ffff) | u64::from(v)
    };
}

impl MmioDevice for VirtioMmio {
    fn access_rules(&self) -> AccessRules {
        // QEMU's virtio_mem_ops leave .valid and .impl at their defaults:
        // every size is valid, the callbacks take 1..4 bytes, so an 8-byte
        // access becomes two 4-byte register accesses.
        AccessRules {
            valid: SizeRange { min: 1, max: 8 },
            unaligned: false,
            impl_sizes: SizeRange { min: 1, max: 4 },
        }
    }

    fn read(&mut self, offset: u64, size: u32) -> u64 {
        if offset >= CONFIG {
            let Some(d) = &mut self.device else { return 0 };
            let off = (offset - CONFIG) as usize;
            let len = size as usize;
            if off + len > d.config_len() || len > 8 {
                // QEMU: out-of-range config reads return all-ones.
                return if size >= 8 {
                    u64::MAX
                } else {
                    (1u64 << (8 * size)) - 1
                };
            }
            let mut buf = [0u8; 8];
            d.read_config(off, &mut buf[..len]);
            return u64::from_le_bytes(buf);
        }
        if size != 4 {
            log::warn!(target: GUEST_ERROR, "virtio-mmio: wrong size {size} read of register {offset:#x}");
            return 0;
        }
        self.read_register(offset)
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        if offset >= CONFIG {
            let Some(d) = &mut self.device else { return };
            let off = (offset - CONFIG) as usize;
            let len = size as usize;
            if off + len > d.config_len() || len > 8 {
                log::warn!(target: GUEST_ERROR, "virtio-mmio: config write past the end {offset:#x}");
                return;
            }
            d.write_config(off, &value.to_le_bytes()[..len]);
            return;
        }
        if size != 4 {
            log::warn!(target: GUEST_ERROR, "virtio-mmio: wrong size {size} write to register {offset:#x}");
            return;
        }
        self.write_register(offset, value);
    }
}
