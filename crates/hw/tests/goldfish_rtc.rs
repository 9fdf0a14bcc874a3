//! goldfish RTC register tests (`spec/riscv-virt-tcg.md` §2.5) with a fake
//! host clock.

use std::sync::Arc;

use ferrite_hw::clock::{Clock, FakeClock, FakeTimer, HostClock};
use ferrite_hw::irq::IrqProbe;
use ferrite_hw::mmio::MmioDevice;
use ferrite_hw::rtc::goldfish::*;

const SEC: i64 = 1_000_000_000;
/// 2026-12-06T13:00:00.25Z in ns since the epoch.
const START: i64 = 1_796_562_000 * SEC + 250_000_000;

struct Rig {
    rtc: GoldfishRtc,
    clock: FakeClock,
    timer: FakeTimer,
    irq: IrqProbe,
}

impl Rig {
    fn new() -> Self {
        let clock = FakeClock::new(START);
        let timer = FakeTimer::new();
        let irq = IrqProbe::new();
        let rtc = GoldfishRtc::new(Arc::new(clock.clone()), Box::new(timer.clone()), irq.line());
        Self {
            rtc,
            clock,
            timer,
            irq,
        }
    }

    fn time(&mut self) -> u64 {
        let lo = self.rtc.read(RTC_TIME_LOW, 4);
        let hi = self.rtc.read(RTC_TIME_HIGH, 4);
        (hi << 32) | lo
    }

    fn run(&mut self, ns: i64) {
        self.clock.advance(ns);
        if self.timer.expire(self.clock.get_ns()) {
            self.rtc.alarm_cb();
        }
    }
}

#[test]
fn time_starts_at_the_host_second_and_runs() {
    let mut t = Rig::new();
    // Truncated to the second at reset, as QEMU's qemu_get_timedate.
    assert_eq!(t.time(), (START - 250_000_000) as u64);
    t.run(1_500);
    assert_eq!(t.time(), (START - 250_000_000 + 1_500) as u64);
}

#[test]
fn time_low_read_latches_high() {
    let mut t = Rig::new();
    t.rtc.write(RTC_TIME_HIGH, 4, 0);
    t.rtc.write(RTC_TIME_LOW, 4, 0xffff_fff0);
    let lo = t.rtc.read(RTC_TIME_LOW, 4);
    assert_eq!(lo, 0xffff_fff0);
    // The low half wraps before HIGH is read: HIGH still matches the LOW read.
    t.run(0x20);
    assert_eq!(t.rtc.read(RTC_TIME_HIGH, 4), 0);
    assert_eq!(t.rtc.read(RTC_TIME_LOW, 4), 0x10);
    assert_eq!(t.rtc.read(RTC_TIME_HIGH, 4), 1);
}

#[test]
fn time_writes_replace_one_half() {
    let mut t = Rig::new();
    t.rtc.write(RTC_TIME_HIGH, 4, 0x1234);
    t.rtc.write(RTC_TIME_LOW, 4, 0x5678);
    assert_eq!(t.time(), 0x1234_0000_5678);
    t.run(10);
    assert_eq!(t.time(), 0x1234_0000_5682);
}

#[test]
fn alarm_in_future_fires_at_deadline() {
    let mut t = Rig::new();
    t.rtc.write(RTC_IRQ_ENABLED, 4, 1);
    let now = t.time();
    let when = now + 5 * SEC as u64;
    t.rtc.write(RTC_ALARM_HIGH, 4, when >> 32);
    t.rtc.write(RTC_ALARM_LOW, 4, when & 0xffff_ffff);
    assert_eq!(t.rtc.read(RTC_ALARM_STATUS, 4), 1);
    assert_eq!(t.rtc.read(RTC_ALARM_LOW, 4), when & 0xffff_ffff);
    assert_eq!(t.rtc.read(RTC_ALARM_HIGH, 4), when >> 32);
    assert_eq!(t.timer.deadline(), Some(START + 5 * SEC));
    t.run(5 * SEC - 1);
    assert!(!t.irq.level());
    t.run(1);
    assert!(t.irq.level());
    assert_eq!(t.rtc.read(RTC_ALARM_STATUS, 4), 0);
    t.rtc.write(RTC_CLEAR_INTERRUPT, 4, 1);
    assert!(!t.irq.level());
}

#[test]
fn alarm_in_past_fires_at_once_and_enable_gates_the_line() {
    let mut t = Rig::new();
    t.rtc.write(RTC_ALARM_HIGH, 4, 0);
    t.rtc.write(RTC_ALARM_LOW, 4, 1);
    assert_eq!(t.rtc.read(RTC_ALARM_STATUS, 4), 0);
    assert_eq!(t.timer.deadline(), None);
    assert!(!t.irq.level(), "interrupt pending but disabled");
    t.rtc.write(RTC_IRQ_ENABLED, 4, 1);
    assert!(t.irq.level());
    assert_eq!(t.rtc.read(RTC_IRQ_ENABLED, 4), 1);
    t.rtc.write(RTC_IRQ_ENABLED, 4, 0);
    assert!(!t.irq.level());
}

#[test]
fn clear_alarm_disarms() {
    let mut t = Rig::new();
    t.rtc.write(RTC_IRQ_ENABLED, 4, 1);
    let when = t.time() + SEC as u64;
    t.rtc.write(RTC_ALARM_HIGH, 4, when >> 32);
    t.rtc.write(RTC_ALARM_LOW, 4, when & 0xffff_ffff);
    t.rtc.write(RTC_CLEAR_ALARM, 4, 1);
    assert_eq!(t.rtc.read(RTC_ALARM_STATUS, 4), 0);
    assert_eq!(t.timer.deadline(), None);
    t.run(2 * SEC);
    assert!(!t.irq.level());
}

#[test]
fn alarm_follows_guest_time_changes() {
    let mut t = Rig::new();
    // The guest sets its clock back to 1000 s, then an alarm at 1001 s.
    t.rtc.write(RTC_TIME_HIGH, 4, (1000 * SEC as u64) >> 32);
    t.rtc
        .write(RTC_TIME_LOW, 4, (1000 * SEC as u64) & 0xffff_ffff);
    let when = 1001 * SEC as u64;
    t.rtc.write(RTC_ALARM_HIGH, 4, when >> 32);
    t.rtc.write(RTC_ALARM_LOW, 4, when & 0xffff_ffff);
    assert_eq!(t.timer.deadline(), Some(START + SEC));
}

#[test]
fn reset_clears_alarm_and_interrupt() {
    let mut t = Rig::new();
    t.rtc.write(RTC_IRQ_ENABLED, 4, 1);
    t.rtc.write(RTC_ALARM_LOW, 4, 1);
    assert!(t.irq.level());
    t.rtc.reset();
    assert!(!t.irq.level());
    assert_eq!(t.rtc.read(RTC_IRQ_ENABLED, 4), 0);
    assert_eq!(t.rtc.read(RTC_ALARM_LOW, 4), 0);
}

#[test]
fn bad_offsets_are_harmless() {
    let mut t = Rig::new();
    assert_eq!(t.rtc.read(0x20, 4), 0);
    assert_eq!(t.rtc.read(RTC_CLEAR_ALARM, 4), 0);
    t.rtc.write(0xffc, 4, 1);
    t.rtc.write(RTC_ALARM_STATUS, 4, 1);
    assert_eq!(t.rtc.read(RTC_ALARM_STATUS, 4), 0);
}

#[test]
fn host_clock_gives_current_wall_time() {
    let timer = FakeTimer::new();
    let mut rtc = GoldfishRtc::new(Arc::new(HostClock), Box::new(timer), IrqProbe::new().line());
    let lo = rtc.read(RTC_TIME_LOW, 4);
    let hi = rtc.read(RTC_TIME_HIGH, 4);
    let guest = (hi << 32) | lo;
    let host = HostClock.get_ns() as u64;
    assert!(
        guest <= host,
        "guest time is the host's, truncated at reset"
    );
    // Not wall-clock timing: the RTC must simply be on the host's calendar
    // (after 2020), not counting from 0 like a virtual clock.
    assert!(guest > 1_577_836_800 * SEC as u64);
}
