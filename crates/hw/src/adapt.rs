//! Glue from the device seams to Ferrite's memory API (`ferrite-memory`) and
//! event loop (`ferrite-aio`), so that the board only has to wire things up:
//!
//! * [`mmio_region`] makes a [`MemoryRegion`] whose ops call a shared
//!   [`MmioDevice`], with the device's [`AccessRules`] as its [`OpsDesc`].
//! * [`AioClock`] is a [`Clock`] on one of the event loop's clocks, and
//!   [`AioTimer`] a [`Timer`] on an `AioContext` whose expiry runs a device
//!   callback (for example [`crate::intc::aclint::AclintMtimer::mtimer_cb`]).
//! * [`AddressSpaceMemory`] is [`GuestMemory`] on an [`AddressSpace`],
//!   limited to RAM, for the virtio devices.
//!
//! Devices are shared as `Arc<parking_lot::Mutex<D>>`. The memory API calls
//! region ops with the BQL held, and timers run in their context's home
//! thread; the device mutex then orders those with any other thread that
//! touches the device (an IOThread serving a virtqueue).

use std::sync::{Arc, Weak};

use ferrite_aio::{AioContext, ClockType, QemuClock};
use ferrite_memory::{
    AddressSpace, HwAddr, MEMTXATTRS_UNSPECIFIED, MemoryRegion, MemoryRegionOps, OpsDesc,
};
use parking_lot::Mutex;

use crate::clock::{Clock, Timer};
use crate::mmio::{AccessRules, MmioDevice};
use crate::virtio::{GuestMemory, GuestMemoryError};

/// The memory API's description of a device's access rules. RISC-V is
/// little-endian and every device here has little-endian registers.
pub fn ops_desc(rules: &AccessRules) -> OpsDesc {
    let d = OpsDesc::new()
        .little_endian()
        .valid_sizes(rules.valid.min, rules.valid.max)
        .impl_sizes(rules.impl_sizes.min, rules.impl_sizes.max);
    if rules.unaligned {
        d.valid_unaligned()
    } else {
        d
    }
}

/// [`MemoryRegionOps`] on a shared [`MmioDevice`].
pub struct DeviceOps<D> {
    dev: Arc<Mutex<D>>,
}

impl<D> std::fmt::Debug for DeviceOps<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceOps")
    }
}

impl<D: MmioDevice + Send> MemoryRegionOps for DeviceOps<D> {
    fn read(&self, addr: HwAddr, size: u32) -> u64 {
        self.dev.lock().read(addr, size)
    }

    fn write(&self, addr: HwAddr, value: u64, size: u32) {
        self.dev.lock().write(addr, size, value)
    }
}

/// An MMIO region named `name` (QEMU's name, e.g. [`crate::char::serial::REGION_NAME`])
/// of `size` bytes, served by `dev`.
pub fn mmio_region<D: MmioDevice + Send + 'static>(
    name: &str,
    size: u64,
    dev: &Arc<Mutex<D>>,
) -> MemoryRegion {
    let desc = ops_desc(&dev.lock().access_rules());
    MemoryRegion::new_io(
        name,
        size,
        Arc::new(DeviceOps {
            dev: Arc::clone(dev),
        }),
        desc,
    )
}

/// A [`Clock`] reading one of the event loop's clocks (VIRTUAL for the
/// ACLINT and the UART, HOST for the goldfish RTC).
#[derive(Clone, Copy, Debug)]
pub struct AioClock(pub ClockType);

impl Clock for AioClock {
    fn get_ns(&self) -> i64 {
        QemuClock::get_ns(self.0)
    }
}

/// A [`Timer`] on an `AioContext`.
#[derive(Debug)]
pub struct AioTimer(ferrite_aio::Timer);

impl AioTimer {
    /// A timer on `clock` of `ctx` whose expiry runs `cb` on the device, if
    /// the device still exists. Build the device with [`Arc::new_cyclic`] to
    /// have the `Weak` before the device is constructed.
    pub fn new<D: Send + 'static>(
        ctx: &Arc<AioContext>,
        clock: ClockType,
        dev: Weak<Mutex<D>>,
        cb: impl Fn(&mut D) + Send + Sync + 'static,
    ) -> Self {
        AioTimer(ferrite_aio::Timer::new(ctx, clock, move || {
            if let Some(d) = dev.upgrade() {
                cb(&mut d.lock());
            }
        }))
    }

    /// Whether the timer is armed.
    pub fn pending(&self) -> bool {
        self.0.pending()
    }
}

impl Timer for AioTimer {
    fn modify(&mut self, expire_ns: i64) {
        self.0.modify_ns(expire_ns);
    }

    fn delete(&mut self) {
        self.0.del();
    }
}

/// [`GuestMemory`] on an address space, refusing anything but RAM (QEMU's
/// virtqueue code maps guest memory the same way).
#[derive(Debug)]
pub struct AddressSpaceMemory(pub AddressSpace);

impl GuestMemory for AddressSpaceMemory {
    fn is_ram(&self, addr: u64, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        if addr.checked_add(len - 1).is_none() {
            return false;
        }
        let (mut at, mut left) = (addr, len);
        while left > 0 {
            let t = self.0.translate(at, left, false, MEMTXATTRS_UNSPECIFIED);
            let Some(range) = t.range() else { return false };
            if !range.mr().is_ram() || t.len == 0 {
                return false;
            }
            let n = t.len.min(left);
            at += n;
            left -= n;
        }
        true
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), GuestMemoryError> {
        let err = GuestMemoryError {
            addr,
            len: buf.len() as u64,
        };
        if !self.is_ram(addr, buf.len() as u64) {
            return Err(err);
        }
        if self.0.read(addr, MEMTXATTRS_UNSPECIFIED, buf).is_ok() {
            Ok(())
        } else {
            Err(err)
        }
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), GuestMemoryError> {
        let err = GuestMemoryError {
            addr,
            len: buf.len() as u64,
        };
        if !self.is_ram(addr, buf.len() as u64) {
            return Err(err);
        }
        if self.0.write(addr, MEMTXATTRS_UNSPECIFIED, buf).is_ok() {
            Ok(())
        } else {
            Err(err)
        }
    }
}
