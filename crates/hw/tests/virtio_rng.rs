//! virtio-rng end to end through the virtio-mmio transport: Linux's
//! bring-up sequence, then requests laid out in guest memory as a driver
//! would, served from a deterministic entropy source.

use std::sync::Arc;

use ferrite_hw::irq::IrqProbe;
use ferrite_hw::mmio::MmioDevice;
use ferrite_hw::virtio::mmio::*;
use ferrite_hw::virtio::queue::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use ferrite_hw::virtio::rng::*;
use ferrite_hw::virtio::{GuestMemory, STATUS_NEEDS_RESET, VecMemory};

const BASE: u64 = 0x8000_0000;
const DESC: u64 = BASE;
const AVAIL: u64 = BASE + 0x4000;
const USED: u64 = BASE + 0x5000;
const DATA: u64 = BASE + 0x1_0000;
const QSIZE: u16 = 16;

/// Bytes 0, 1, 2, ... so tests can check exactly what landed where.
struct Counter(u8);
impl EntropySource for Counter {
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        for b in buf {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
        Ok(())
    }
}

struct Rig {
    t: VirtioMmio,
    mem: Arc<VecMemory>,
    irq: IrqProbe,
    avail_idx: u16,
}

impl Rig {
    fn new(entropy: Box<dyn EntropySource>, features_low: u32) -> Self {
        Self::with(entropy, features_low, None)
    }

    /// With `ctx`, the device serves its queue from a bottom half there.
    fn with(
        entropy: Box<dyn EntropySource>,
        features_low: u32,
        ctx: Option<&Arc<ferrite_aio::AioContext>>,
    ) -> Self {
        let mem = Arc::new(VecMemory::new(BASE, 1 << 20));
        let irq = IrqProbe::new();
        let mut dev = VirtioRng::new(mem.clone(), entropy);
        if let Some(ctx) = ctx {
            dev = dev.with_context(ctx);
        }
        let mut t = VirtioMmio::new(Some(Box::new(dev)), irq.line(), mem.clone());
        // Linux's sequence (as in QEMU's trace).
        for (off, v) in [
            (STATUS, 0),
            (STATUS, 1),
            (STATUS, 3),
            (DRIVER_FEATURES_SEL, 1),
            (DRIVER_FEATURES, 1),
            (DRIVER_FEATURES_SEL, 0),
            (DRIVER_FEATURES, u64::from(features_low)),
            (STATUS, 0xb),
            (QUEUE_SEL, 0),
        ] {
            t.write(off, 4, v);
        }
        assert_eq!(t.read(STATUS, 4), 0xb);
        assert_eq!(t.read(QUEUE_NUM_MAX, 4), 1024);
        for (off, v) in [
            (QUEUE_NUM, u64::from(QSIZE)),
            (QUEUE_DESC_LOW, DESC),
            (QUEUE_AVAIL_LOW, AVAIL),
            (QUEUE_USED_LOW, USED),
            (QUEUE_READY, 1),
            (STATUS, 0xf),
        ] {
            t.write(off, 4, v);
        }
        Self {
            t,
            mem,
            irq,
            avail_idx: 0,
        }
    }

    fn desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&addr.to_le_bytes());
        b[8..12].copy_from_slice(&len.to_le_bytes());
        b[12..14].copy_from_slice(&flags.to_le_bytes());
        b[14..16].copy_from_slice(&next.to_le_bytes());
        self.mem.write(DESC + 16 * u64::from(i), &b).unwrap();
    }

    fn publish(&mut self, head: u16) {
        let slot = u64::from(self.avail_idx % QSIZE);
        self.mem
            .write(AVAIL + 4 + 2 * slot, &head.to_le_bytes())
            .unwrap();
        self.avail_idx += 1;
        self.mem
            .write(AVAIL + 2, &self.avail_idx.to_le_bytes())
            .unwrap();
    }

    fn used(&self, n: u16) -> (u32, u32) {
        let mut b = [0u8; 8];
        self.mem
            .read(USED + 4 + 8 * u64::from(n % QSIZE), &mut b)
            .unwrap();
        (
            u32::from_le_bytes(b[..4].try_into().unwrap()),
            u32::from_le_bytes(b[4..].try_into().unwrap()),
        )
    }

    fn used_idx(&self) -> u16 {
        let mut b = [0u8; 2];
        self.mem.read(USED + 2, &mut b).unwrap();
        u16::from_le_bytes(b)
    }

    fn bytes(&self, addr: u64, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.mem.read(addr, &mut v).unwrap();
        v
    }
}

#[test]
fn requests_are_filled_and_interrupt_raised() {
    let mut r = Rig::new(Box::new(Counter(0)), 0);
    r.desc(0, DATA, 8, VRING_DESC_F_WRITE, 0);
    r.publish(0);
    // A two-buffer request.
    r.desc(
        1,
        DATA + 0x100,
        3,
        VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
        2,
    );
    r.desc(2, DATA + 0x200, 2, VRING_DESC_F_WRITE, 0);
    r.publish(1);
    r.t.write(QUEUE_NOTIFY, 4, 0);
    assert_eq!(r.used_idx(), 2);
    assert_eq!(r.used(0), (0, 8));
    assert_eq!(r.used(1), (1, 5));
    assert_eq!(r.bytes(DATA, 8), (0..8).collect::<Vec<u8>>());
    assert_eq!(r.bytes(DATA + 0x100, 3), vec![8, 9, 10]);
    assert_eq!(r.bytes(DATA + 0x200, 2), vec![11, 12]);
    assert!(r.irq.level());
    assert_eq!(r.t.read(INTERRUPT_STATUS, 4), 1);
    r.t.write(INTERRUPT_ACK, 4, 1);
    assert!(!r.irq.level());
}

#[test]
fn host_entropy_is_not_all_zero() {
    let mut r = Rig::new(Box::new(HostEntropy::open().unwrap()), 0);
    r.desc(0, DATA, 64, VRING_DESC_F_WRITE, 0);
    r.publish(0);
    r.t.write(QUEUE_NOTIFY, 4, 0);
    assert_eq!(r.used(0), (0, 64));
    // 64 random bytes all zero has probability 2^-512.
    assert!(r.bytes(DATA, 64).iter().any(|&b| b != 0));
}

#[test]
fn a_looping_chain_puts_the_device_in_needs_reset() {
    let mut r = Rig::new(Box::new(Counter(0)), 0);
    r.desc(0, DATA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    r.desc(1, DATA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
    r.publish(0);
    r.t.write(QUEUE_NOTIFY, 4, 0);
    assert_ne!(r.t.read(STATUS, 4) & u64::from(STATUS_NEEDS_RESET), 0);
    assert_eq!(
        r.t.read(INTERRUPT_STATUS, 4),
        2,
        "configuration-change interrupt"
    );
    assert!(r.irq.level());
    assert_eq!(r.used_idx(), 0);
    // A reset brings it back.
    r.t.write(STATUS, 4, 0);
    assert_eq!(r.t.read(STATUS, 4), 0);
    assert!(!r.irq.level());
}

#[test]
fn a_buffer_outside_ram_puts_the_device_in_needs_reset() {
    let mut r = Rig::new(Box::new(Counter(0)), 0);
    r.desc(0, 0x1000, 8, VRING_DESC_F_WRITE, 0);
    r.publish(0);
    r.t.write(QUEUE_NOTIFY, 4, 0);
    assert_ne!(r.t.read(STATUS, 4) & u64::from(STATUS_NEEDS_RESET), 0);
}

#[test]
fn huge_requests_get_a_partial_answer() {
    let mut r = Rig::new(Box::new(Counter(0)), 0);
    r.desc(0, DATA, 512 * 1024, VRING_DESC_F_WRITE, 0);
    r.publish(0);
    r.t.write(QUEUE_NOTIFY, 4, 0);
    assert_eq!(r.used(0), (0, MAX_REQUEST as u32));
}

#[test]
fn event_idx_as_negotiated_by_linux() {
    // Linux accepts INDIRECT_DESC and EVENT_IDX (0x30000000 in QEMU's trace).
    let mut r = Rig::new(Box::new(Counter(0)), 0x3000_0000);
    r.desc(0, DATA, 4, VRING_DESC_F_WRITE, 0);
    r.publish(0);
    r.t.write(QUEUE_NOTIFY, 4, 0);
    assert_eq!(r.used_idx(), 1);
    assert!(r.irq.level(), "the first used buffer is always signalled");
}

/// With a context, the notification only schedules the device's bottom
/// half; the request is served when the context runs it.
#[test]
fn in_a_context_the_notification_only_schedules_the_work() {
    let ctx = ferrite_aio::AioContext::new("virtio-rng-test").unwrap();
    let mut r = Rig::with(Box::new(Counter(7)), 0, Some(&ctx));
    r.desc(0, DATA, 4, VRING_DESC_F_WRITE, 0);
    r.publish(0);
    r.t.write(QUEUE_NOTIFY, 4, 0);
    assert_eq!(r.used_idx(), 0, "nothing served inside the MMIO write");
    assert!(!r.irq.level());
    ctx.poll_while(|| r.used_idx() == 0);
    assert_eq!(r.used(0), (0, 4));
    assert_eq!(r.bytes(DATA, 4), [7, 8, 9, 10]);
    assert!(r.irq.level());
}
