//! ACLINT MSWI/MTIMER register tests (`spec/riscv-virt-tcg.md` §2.1), with a
//! fake VIRTUAL clock advanced by hand.

use std::sync::Arc;

use ferrite_hw::clock::{Clock, FakeClock, FakeTimer, Timer};
use ferrite_hw::intc::aclint::*;
use ferrite_hw::irq::{HartIrq, IrqLine, MipProbe, hart_irq_line, mip};
use ferrite_hw::mmio::MmioDevice;

struct Rig {
    mtimer: AclintMtimer,
    clock: FakeClock,
    timers: Vec<FakeTimer>,
    harts: Arc<MipProbe>,
}

impl Rig {
    fn new(n: usize, start_ns: i64) -> Self {
        let clock = FakeClock::new(start_ns);
        let harts = MipProbe::new(n);
        let h: Arc<dyn HartIrq> = harts.clone();
        let timers: Vec<FakeTimer> = (0..n).map(|_| FakeTimer::new()).collect();
        let time = MtimeSource::new(Arc::new(clock.clone()), TIMEBASE_FREQ);
        let mtimer = AclintMtimer::new(
            time,
            (0..n).map(|i| hart_irq_line(&h, i, mip::MTIP)).collect(),
            timers
                .iter()
                .map(|t| Box::new(t.clone()) as Box<dyn Timer>)
                .collect(),
        );
        Self {
            mtimer,
            clock,
            timers,
            harts,
        }
    }

    /// Runs the virtual clock forward, firing due timers as the event loop would.
    fn run(&mut self, ns: i64) {
        self.clock.advance(ns);
        for (h, t) in self.timers.iter().enumerate() {
            if t.expire(self.clock.get_ns()) {
                self.mtimer.mtimer_cb(h);
            }
        }
    }

    fn mtip(&self, h: usize) -> bool {
        self.harts.bit(h, mip::MTIP)
    }
}

#[test]
fn mtime_counts_at_10mhz_from_zero_at_reset() {
    let mut t = Rig::new(1, 123_456_789);
    assert_eq!(t.mtimer.read(MTIME, 8), 0);
    t.run(1_000_000_000);
    assert_eq!(t.mtimer.read(MTIME, 8), 10_000_000);
    // Ticks are whole 100 ns periods of the *clock* (QEMU: muldiv64 of the
    // absolute virtual time), so the reset happened 89 ns into a tick and
    // 250 ns more cross three tick boundaries.
    t.run(250);
    assert_eq!(t.mtimer.read(MTIME, 8), 10_000_003);
    assert_eq!(t.mtimer.read(MTIME, 4), 10_000_003);
    assert_eq!(t.mtimer.read(MTIME + 4, 4), 0);
    // The time CSR reads the same counter.
    assert_eq!(t.mtimer.time_source().read(), 10_000_003);
    assert_eq!(t.mtimer.time_source().freq(), 10_000_000);
}

#[test]
fn reset_comparator_zero_means_mtip_pending() {
    let t = Rig::new(2, 0);
    assert!(t.mtip(0));
    assert!(t.mtip(1));
}

#[test]
fn future_comparator_arms_exact_deadline() {
    let mut t = Rig::new(1, 1_000);
    // mtime = 0 at clock 1000 ns.
    t.mtimer.write(MTIMECMP, 8, 500);
    assert!(!t.mtip(0));
    assert_eq!(t.timers[0].deadline(), Some(1_000 + 500 * 100));
    t.run(500 * 100 - 1);
    assert!(!t.mtip(0));
    assert_eq!(t.mtimer.read(MTIME, 8), 499);
    t.run(1);
    assert!(t.mtip(0));
    assert_eq!(t.mtimer.read(MTIME, 8), 500);
    // The guest acknowledges by moving the comparator.
    t.mtimer.write(MTIMECMP, 8, u64::MAX);
    assert!(!t.mtip(0));
    assert_eq!(t.timers[0].deadline(), Some(i64::MAX));
}

#[test]
fn past_comparator_raises_at_once_and_disarms() {
    let mut t = Rig::new(1, 0);
    t.mtimer.write(MTIMECMP, 8, 1_000);
    assert!(t.timers[0].deadline().is_some());
    t.run(200_000);
    assert!(t.mtip(0));
    t.mtimer.write(MTIMECMP, 8, 1);
    assert!(t.mtip(0));
    assert_eq!(t.timers[0].deadline(), None);
}

#[test]
fn timecmp_halves_compose_with_the_other_half() {
    let mut t = Rig::new(2, 0);
    // The RV32 sequence: hi = all-ones, lo = value, hi = value.
    let off = MTIMECMP + 8;
    t.mtimer.write(off + 4, 4, 0xffff_ffff);
    t.mtimer.write(off, 4, 0x8000_0000);
    assert_eq!(t.mtimer.read(off, 8), 0xffff_ffff_8000_0000);
    t.mtimer.write(off + 4, 4, 0x1);
    assert_eq!(t.mtimer.read(off, 8), 0x1_8000_0000);
    assert_eq!(t.mtimer.read(off, 4), 0x8000_0000);
    assert_eq!(t.mtimer.read(off + 4, 4), 1);
    assert_eq!(t.mtimer.timecmp(1), 0x1_8000_0000);
    assert!(!t.mtip(1));
    assert!(t.mtip(0), "hart 0 untouched");
    assert_eq!(t.timers[1].deadline(), Some(0x1_8000_0000 * 100));
}

#[test]
fn writing_mtime_reevaluates_every_comparator() {
    let mut t = Rig::new(2, 0);
    t.mtimer.write(MTIMECMP, 8, 1_000);
    t.mtimer.write(MTIMECMP + 8, 8, 5_000);
    assert!(!t.mtip(0) && !t.mtip(1));
    t.mtimer.write(MTIME, 8, 2_000);
    assert!(t.mtip(0));
    assert!(!t.mtip(1));
    assert_eq!(t.timers[1].deadline(), Some(3_000 * 100));
    // 32-bit write of the high half.
    t.mtimer.write(MTIME + 4, 4, 1);
    assert_eq!(t.mtimer.read(MTIME, 8), (1 << 32) + 2_000);
    assert!(t.mtip(1));
    // And back below both comparators with the low half.
    t.mtimer.write(MTIME + 4, 4, 0);
    t.mtimer.write(MTIME, 4, 10);
    assert_eq!(t.mtimer.read(MTIME, 8), 10);
    assert!(!t.mtip(0) && !t.mtip(1));
    t.run(990 * 100);
    assert!(t.mtip(0));
    assert!(!t.mtip(1));
}

#[test]
fn reset_clears_mtime_and_keeps_comparators() {
    let mut t = Rig::new(1, 0);
    t.run(1_000_000);
    t.mtimer.write(MTIMECMP, 8, 50_000);
    t.mtimer.reset();
    assert_eq!(t.mtimer.read(MTIME, 8), 0);
    assert_eq!(t.mtimer.timecmp(0), 50_000);
    assert!(!t.mtip(0));
    assert_eq!(t.timers[0].deadline(), Some(1_000_000 + 50_000 * 100));
}

#[test]
fn mtime_wraps_and_far_deadlines_saturate() {
    let mut t = Rig::new(1, 0);
    t.mtimer.write(MTIME, 8, u64::MAX - 9);
    t.run(2_000);
    assert_eq!(t.mtimer.read(MTIME, 8), 10);
    t.mtimer.write(MTIMECMP, 8, u64::MAX);
    assert_eq!(t.timers[0].deadline(), Some(i64::MAX));
}

#[test]
fn bad_offsets_and_sizes_read_zero() {
    let mut t = Rig::new(1, 0);
    assert_eq!(t.mtimer.read(8, 8), 0, "no hart 1");
    assert_eq!(t.mtimer.read(MTIME - 8, 8), 0);
    t.mtimer.write(0x100, 8, 5);
    t.mtimer.write(MTIME + 4, 8, 5);
    assert_eq!(t.mtimer.read(MTIME, 8), 0);
    let r = t.mtimer.access_rules();
    assert!(r.is_valid(MTIME, 4) && r.is_valid(MTIME, 8));
    assert!(!r.is_valid(MTIME, 2) && !r.is_valid(MTIME + 4, 8));
}

#[test]
fn time_csr_source_tracks_mtime_writes() {
    let mut t = Rig::new(1, 0);
    let csr = Arc::clone(t.mtimer.time_source());
    t.mtimer.write(MTIME, 8, 777);
    assert_eq!(csr.read(), 777);
    t.run(100);
    assert_eq!(csr.read(), 778);
}

#[test]
fn mswi_drives_msip() {
    let harts = MipProbe::new(2);
    let h: Arc<dyn HartIrq> = harts.clone();
    let lines: Vec<IrqLine> = (0..2).map(|i| hart_irq_line(&h, i, mip::MSIP)).collect();
    let mut swi = AclintSwi::new_mswi(lines);
    swi.write(4, 4, 1);
    assert!(harts.bit(1, mip::MSIP));
    assert!(!harts.bit(0, mip::MSIP));
    assert_eq!(swi.read(4, 4), 1);
    assert_eq!(swi.read(0, 4), 0);
    // Only bit 0 is implemented.
    swi.write(0, 4, 0xffff_fffe);
    assert!(!harts.bit(0, mip::MSIP));
    swi.write(4, 4, 0);
    assert!(!harts.bit(1, mip::MSIP));
    assert_eq!(swi.read(4, 4), 0);
    // No hart 2.
    swi.write(8, 4, 1);
    assert_eq!(swi.read(8, 4), 0);
    swi.write(0, 4, 1);
    swi.reset();
    assert!(!harts.bit(0, mip::MSIP));
    assert_eq!(swi.access_rules().valid.max, 4);
}

#[test]
fn sswi_sets_ssip_and_reads_zero() {
    let harts = MipProbe::new(1);
    let h: Arc<dyn HartIrq> = harts.clone();
    let mut swi = AclintSwi::new_sswi(vec![hart_irq_line(&h, 0, mip::SSIP)]);
    swi.write(0, 4, 1);
    assert!(harts.bit(0, mip::SSIP));
    assert_eq!(swi.read(0, 4), 0);
    // Writing 0 does not clear it: software clears SSIP in sip.
    swi.write(0, 4, 0);
    assert!(harts.bit(0, mip::SSIP));
}

/// `MtimeSource::ns_at` is the exact first clock time at which `mtime`
/// reads the value: one ns earlier it reads less (a timer armed there never
/// fires early), also with an odd frequency and after `mtime` was written.
#[test]
fn ns_at_is_the_first_clock_time_reaching_the_value() {
    let clock = FakeClock::new(12_345);
    let src = MtimeSource::new(Arc::new(clock.clone()), 3_000_007);
    src.write(1_000);
    for target in [1_001u64, 1_002, 5_000, 123_456, 10_000_019] {
        let ns = src.ns_at(target);
        clock.set(ns);
        assert!(
            src.read() >= target,
            "at {ns} ns: {} < {target}",
            src.read()
        );
        clock.set(ns - 1);
        assert!(
            src.read() < target,
            "at {} ns already {}",
            ns - 1,
            src.read()
        );
    }
}
