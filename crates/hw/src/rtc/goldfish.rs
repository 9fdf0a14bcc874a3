//! The goldfish RTC (QEMU: `hw/rtc/goldfish_rtc.c`; register interface from
//! Android's `GOLDFISH-VIRTUAL-HARDWARE.TXT`).
//!
//! 32-bit registers; time is in nanoseconds since the Unix epoch:
//!
//! | offset | register | behaviour |
//! | --- | --- | --- |
//! | 0x00 | TIME_LOW | read: low half of the time, latching the high half; write: replaces the low half |
//! | 0x04 | TIME_HIGH | read: the latched high half; write: replaces the high half |
//! | 0x08 | ALARM_LOW | write: low half of the alarm, and arms it (fires at once if not in the future) |
//! | 0x0c | ALARM_HIGH | write: high half of the alarm |
//! | 0x10 | IRQ_ENABLED | bit 0 |
//! | 0x14 | CLEAR_ALARM | write: disarms the alarm |
//! | 0x18 | ALARM_STATUS | read: 1 while an alarm is armed |
//! | 0x1c | CLEAR_INTERRUPT | write: clears the pending interrupt |
//!
//! As on QEMU, the time runs on the HOST clock (QEMU's default `rtc_clock`)
//! and starts, at reset, from the host's wall-clock time truncated to whole
//! seconds (`qemu_get_timedate`). The interrupt line is `pending AND enabled`.
//! The alarm is a [`Timer`] on the same clock; the board routes its expiry to
//! [`GoldfishRtc::alarm_cb`].

use std::sync::Arc;

use crate::clock::{Clock, Timer};
use crate::irq::IrqLine;
use crate::mmio::{AccessRules, GUEST_ERROR, MmioDevice, deposit64};

/// The region's name in `info mtree`.
pub const REGION_NAME: &str = "goldfish_rtc";
/// Size of the region (QEMU maps 0x24 bytes; the rest of the 0x1000-byte
/// slot is unassigned).
pub const REGION_SIZE: u64 = 0x24;

/// TIME_LOW register offset.
pub const RTC_TIME_LOW: u64 = 0x00;
/// TIME_HIGH register offset.
pub const RTC_TIME_HIGH: u64 = 0x04;
/// ALARM_LOW register offset.
pub const RTC_ALARM_LOW: u64 = 0x08;
/// ALARM_HIGH register offset.
pub const RTC_ALARM_HIGH: u64 = 0x0c;
/// IRQ_ENABLED register offset.
pub const RTC_IRQ_ENABLED: u64 = 0x10;
/// CLEAR_ALARM register offset.
pub const RTC_CLEAR_ALARM: u64 = 0x14;
/// ALARM_STATUS register offset.
pub const RTC_ALARM_STATUS: u64 = 0x18;
/// CLEAR_INTERRUPT register offset.
pub const RTC_CLEAR_INTERRUPT: u64 = 0x1c;

const NANOSECONDS_PER_SECOND: i64 = 1_000_000_000;

/// The RTC.
pub struct GoldfishRtc {
    clock: Arc<dyn Clock>,
    timer: Box<dyn Timer>,
    irq: IrqLine,
    /// Guest time minus clock time, modulo 2^64.
    tick_offset: u64,
    alarm_next: u64,
    alarm_running: bool,
    irq_pending: bool,
    irq_enabled: bool,
    time_high: u32,
}

impl std::fmt::Debug for GoldfishRtc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoldfishRtc")
            .field("alarm_next", &self.alarm_next)
            .field("alarm_running", &self.alarm_running)
            .field("irq_pending", &self.irq_pending)
            .field("irq_enabled", &self.irq_enabled)
            .finish_non_exhaustive()
    }
}

impl GoldfishRtc {
    /// An RTC counting on `clock` (the HOST clock, ns since the epoch, e.g.
    /// [`crate::clock::HostClock`]) with an alarm `timer` on that clock,
    /// driving `irq` (PLIC source 11 on `virt`). Starts in the reset state.
    pub fn new(clock: Arc<dyn Clock>, timer: Box<dyn Timer>, irq: IrqLine) -> Self {
        let mut s = Self {
            clock,
            timer,
            irq,
            tick_offset: 0,
            alarm_next: 0,
            alarm_running: false,
            irq_pending: false,
            irq_enabled: false,
            time_high: 0,
        };
        s.reset();
        s
    }

    /// Device reset (QEMU: `goldfish_rtc_reset`): the time restarts from the
    /// host's current second; alarm and interrupt are cleared.
    pub fn reset(&mut self) {
        self.timer.delete();
        let now = self.clock.get_ns();
        let whole_seconds = now.div_euclid(NANOSECONDS_PER_SECOND) * NANOSECONDS_PER_SECOND;
        self.tick_offset = (whole_seconds as u64).wrapping_sub(now as u64);
        self.alarm_next = 0;
        self.alarm_running = false;
        self.irq_pending = false;
        self.irq_enabled = false;
        self.time_high = 0;
        self.update();
    }

    /// The guest-visible time in ns (QEMU: `goldfish_rtc_get_count`).
    pub fn get_count(&self) -> u64 {
        self.tick_offset.wrapping_add(self.clock.get_ns() as u64)
    }

    fn update(&mut self) {
        self.irq.set(self.irq_pending && self.irq_enabled);
    }

    fn clear_alarm(&mut self) {
        self.timer.delete();
        self.alarm_running = false;
    }

    /// The alarm fired (QEMU: `goldfish_rtc_interrupt`).
    pub fn alarm_cb(&mut self) {
        self.alarm_running = false;
        self.irq_pending = true;
        self.update();
    }

    fn set_alarm(&mut self) {
        let ticks = self.get_count();
        let event = self.alarm_next;
        if event <= ticks {
            self.clear_alarm();
            self.alarm_cb();
        } else {
            // The clock reading at which the guest time reaches `event`.
            let now = self.clock.get_ns();
            let deadline = i64::try_from(event - ticks)
                .ok()
                .and_then(|d| now.checked_add(d))
                .unwrap_or(i64::MAX);
            self.timer.modify(deadline);
            self.alarm_running = true;
        }
    }
}

impl MmioDevice for GoldfishRtc {
    fn access_rules(&self) -> AccessRules {
        AccessRules::sizes(4, 4)
    }

    fn read(&mut self, offset: u64, _size: u32) -> u64 {
        match offset {
            RTC_TIME_LOW => {
                // Latch the high half so that LOW-then-HIGH reads are consistent.
                let count = self.get_count();
                self.time_high = (count >> 32) as u32;
                count & 0xffff_ffff
            }
            RTC_TIME_HIGH => u64::from(self.time_high),
            RTC_ALARM_LOW => self.alarm_next & 0xffff_ffff,
            RTC_ALARM_HIGH => self.alarm_next >> 32,
            RTC_IRQ_ENABLED => u64::from(self.irq_enabled),
            RTC_ALARM_STATUS => u64::from(self.alarm_running),
            _ => {
                log::warn!(target: GUEST_ERROR, "goldfish_rtc: read of bad offset {offset:#x}");
                0
            }
        }
    }

    fn write(&mut self, offset: u64, _size: u32, value: u64) {
        let value = value & 0xffff_ffff;
        match offset {
            RTC_TIME_LOW | RTC_TIME_HIGH => {
                let current = self.get_count();
                let shift = if offset == RTC_TIME_LOW { 0 } else { 32 };
                let new = deposit64(current, shift, 32, value);
                self.tick_offset = self.tick_offset.wrapping_add(new.wrapping_sub(current));
            }
            RTC_ALARM_LOW => {
                self.alarm_next = deposit64(self.alarm_next, 0, 32, value);
                self.set_alarm();
            }
            RTC_ALARM_HIGH => self.alarm_next = deposit64(self.alarm_next, 32, 32, value),
            RTC_IRQ_ENABLED => {
                self.irq_enabled = value & 1 != 0;
                self.update();
            }
            RTC_CLEAR_ALARM => self.clear_alarm(),
            RTC_CLEAR_INTERRUPT => {
                self.irq_pending = false;
                self.update();
            }
            _ => log::warn!(target: GUEST_ERROR, "goldfish_rtc: write to bad offset {offset:#x}"),
        }
    }
}
