//! Guest-controlled register accesses never panic: random sequences of
//! valid-size reads and writes at arbitrary offsets of every device region
//! (and, for the interrupt controllers and the UART, checks that the
//! interrupt outputs stay consistent with what the registers report).

use std::sync::Arc;

use ferrite_hw::char::serial::{Serial, VIRT_BAUDBASE};
use ferrite_hw::chardev::BufferBackend;
use ferrite_hw::clock::{FakeClock, FakeTimer, Timer};
use ferrite_hw::intc::aclint::{AclintMtimer, AclintSwi, MtimeSource, TIMEBASE_FREQ};
use ferrite_hw::intc::plic::{CONTEXT_BASE, CONTEXT_STRIDE, Plic, SharedPlic};
use ferrite_hw::irq::{HartIrq, IrqProbe, MipProbe, hart_irq_line, mip};
use ferrite_hw::misc::sifive_test::{RecordingSink, SifiveTest};
use ferrite_hw::mmio::MmioDevice;
use ferrite_hw::rtc::goldfish::GoldfishRtc;
use ferrite_hw::virtio::blk::{BlockBackend, VirtioBlk};
use ferrite_hw::virtio::mmio::VirtioMmio;
use ferrite_hw::virtio::rng::{EntropySource, VirtioRng};
use ferrite_hw::virtio::{GuestMemory, VecMemory};
use parking_lot::Mutex;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Access {
    offset: u64,
    size: u32,
    write: Option<u64>,
}

fn accesses(region: u64, hot: Vec<u64>) -> impl Strategy<Value = Vec<Access>> {
    // Half the offsets are registers that matter, half anywhere in the region.
    let offset = prop_oneof![prop::sample::select(hot), 0..region];
    let one = (
        offset,
        prop::sample::select(vec![1u32, 2, 4, 8]),
        prop::option::of(any::<u64>()),
    )
        .prop_map(|(offset, size, write)| Access {
            offset,
            size,
            write,
        });
    proptest::collection::vec(one, 1..200)
}

/// Applies the accesses the memory core would let through.
fn run(dev: &mut dyn MmioDevice, seq: &[Access]) {
    let rules = dev.access_rules();
    for a in seq {
        let size = a.size.clamp(rules.impl_sizes.min, rules.impl_sizes.max);
        let offset = a.offset & !(u64::from(size) - 1);
        if !rules.is_valid(offset, size) {
            continue;
        }
        let mask = if size == 8 {
            u64::MAX
        } else {
            (1 << (8 * size)) - 1
        };
        match a.write {
            Some(v) => dev.write(offset, size, v & mask),
            None => {
                let v = dev.read(offset, size);
                assert_eq!(
                    v & !mask,
                    0,
                    "read of {size} bytes at {offset:#x} returned {v:#x}"
                );
            }
        }
    }
}

struct Zeros;
impl EntropySource for Zeros {
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        buf.fill(0);
        Ok(())
    }
}

/// The proptest thread's context for the block device's requests.
fn fuzz_ctx() -> Arc<ferrite_aio::AioContext> {
    thread_local! {
        static CTX: Arc<ferrite_aio::AioContext> = ferrite_aio::AioContext::new("mmio-fuzz").unwrap();
    }
    CTX.with(Arc::clone)
}

struct MemDisk(Mutex<Vec<u8>>);
impl BlockBackend for MemDisk {
    fn size(&self) -> u64 {
        self.0.lock().len() as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let d = self.0.lock();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = d.get(offset as usize + i).copied().unwrap_or(0);
        }
        Ok(())
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        let mut d = self.0.lock();
        let end = offset as usize + buf.len();
        if end > d.len() {
            d.resize(end, 0);
        }
        d[offset as usize..end].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn uart(seq in accesses(8, (0..8).collect()), rx in proptest::collection::vec(any::<u8>(), 0..40)) {
        let irq = IrqProbe::new();
        let clock = FakeClock::new(0);
        let mut u = Serial::new(irq.line(), Arc::new(BufferBackend::new()), Arc::new(clock),
            Box::new(FakeTimer::new()), VIRT_BAUDBASE, 0);
        let half = seq.len() / 2;
        run(&mut u, &seq[..half]);
        let n = u.can_receive().min(rx.len());
        u.receive(&rx[..n]);
        u.fifo_timeout_cb();
        run(&mut u, &seq[half..]);
        // The line is high exactly when IIR reports an interrupt. (Reading
        // IIR may itself clear THRI, so compare against the device's state.)
        prop_assert_eq!(irq.level(), u.irq_pending());
    }

    #[test]
    fn plic(seq in accesses(0x60_0000, vec![0x28, 0x2c, 0x1000, 0x2000, 0x2080, 0x20_0000, 0x20_0004,
        0x20_1000, 0x20_1004, 0x20_2004, 0x20_3004]), lines in proptest::collection::vec((1u32..96, any::<bool>()), 0..30)) {
        let harts = MipProbe::new(2);
        let h: Arc<dyn HartIrq> = harts.clone();
        let plic: SharedPlic = Arc::new(Mutex::new(Plic::new_virt(2, &h)));
        for (s, l) in &lines {
            Plic::input(&plic, *s).set(*l);
        }
        run(&mut *plic.lock(), &seq);
        // An asserted context always has something to claim.
        for ctx in 0..4u64 {
            let bit = if ctx % 2 == 0 { mip::MEIP } else { mip::SEIP };
            let asserted = harts.bit((ctx / 2) as usize, bit);
            let claimed = plic.lock().read(CONTEXT_BASE + CONTEXT_STRIDE * ctx + 4, 4);
            prop_assert_eq!(asserted, claimed != 0, "context {}", ctx);
        }
    }

    #[test]
    fn aclint(seq in accesses(0x8000, vec![0, 4, 8, 0x7ff8, 0x7ffc]), swi_seq in accesses(0x4000, vec![0, 4])) {
        let harts = MipProbe::new(2);
        let h: Arc<dyn HartIrq> = harts.clone();
        let time = MtimeSource::new(Arc::new(FakeClock::new(12_345)), TIMEBASE_FREQ);
        let mut m = AclintMtimer::new(time.clone(),
            (0..2).map(|i| hart_irq_line(&h, i, mip::MTIP)).collect(),
            (0..2).map(|_| Box::new(FakeTimer::new()) as Box<dyn Timer>).collect());
        run(&mut m, &seq);
        for hart in 0..2 {
            prop_assert_eq!(harts.bit(hart, mip::MTIP), time.read() >= m.timecmp(hart));
        }
        let mut s = AclintSwi::new_mswi((0..2).map(|i| hart_irq_line(&h, i, mip::MSIP)).collect());
        run(&mut s, &swi_seq);
        for hart in 0..2u64 {
            prop_assert_eq!(harts.bit(hart as usize, mip::MSIP), s.read(4 * hart, 4) == 1);
        }
    }

    #[test]
    fn rtc_and_finisher(seq in accesses(0x1000, (0..8).map(|r| r * 4).collect())) {
        let irq = IrqProbe::new();
        let mut r = GoldfishRtc::new(Arc::new(FakeClock::new(1 << 60)), Box::new(FakeTimer::new()), irq.line());
        run(&mut r, &seq);
        let mut t = SifiveTest::new(RecordingSink::new());
        run(&mut t, &seq);
    }

    #[test]
    fn virtio_transports(seq in accesses(0x1000, vec![0x14, 0x20, 0x24, 0x30, 0x38, 0x44, 0x50, 0x64,
        0x70, 0x80, 0x84, 0x90, 0xa0, 0xfc, 0x100, 0x104, 0x120]), which in 0u8..3, bring_up in 0u8..3) {
        let mem = Arc::new(VecMemory::new(0x8000_0000, 1 << 20));
        // Some plausible ring contents for notifications to chew on.
        mem.write(0x8000_0000, &[0x5a; 0x3000]).unwrap();
        let irq = IrqProbe::new();
        let mut blk = None;
        let dev: Option<Box<dyn ferrite_hw::virtio::VirtioDevice>> = match which {
            0 => None,
            1 => Some(Box::new(VirtioRng::new(mem.clone(), Box::new(Zeros)))),
            _ => {
                let b = VirtioBlk::new(mem.clone(), Arc::new(MemDisk(Mutex::new(vec![0; 8192]))), false, "x", fuzz_ctx());
                blk = Some(b.handle());
                Some(Box::new(b))
            }
        };
        let mut t = VirtioMmio::new(dev, irq.line(), mem);
        // Start part of the way into Linux's bring-up so that random accesses
        // reach activation, notification and request processing.
        let steps = [(0x70, 0), (0x70, 3), (0x24, 1), (0x20, 1), (0x24, 0), (0x20, 0x3000_0000),
            (0x70, 0xb), (0x30, 0), (0x38, 8), (0x80, 0x8000_0000), (0x90, 0x8000_1000),
            (0xa0, 0x8000_2000), (0x44, 1), (0x70, 0xf), (0x50, 0)];
        let prefix = match bring_up { 0 => 0, 1 => 13, _ => steps.len() };
        for &(off, v) in &steps[..prefix] {
            t.write(off, 4, v);
        }
        run(&mut t, &seq);
        // The block device's requests run in its context: let them finish.
        if let Some(b) = &blk {
            b.wait_idle();
        }
        prop_assert_eq!(irq.level(), t.interrupt().status() != 0);
    }
}
