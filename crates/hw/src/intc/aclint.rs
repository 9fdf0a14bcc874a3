//! The RISC-V ACLINT: MSWI (machine software interrupts), MTIMER (machine
//! timer) and SSWI (QEMU: `hw/intc/riscv_aclint.c`).
//!
//! QEMU's `virt` board builds its CLINT out of two regions: an MSWI of
//! `0x4000` bytes at `0x0200_0000` (`msip[h]` at `4h`) and an MTIMER of
//! `0x8000` bytes at `0x0200_4000` (`mtimecmp[h]` at `8h`, `mtime` at
//! `0x7ff8`). [`AclintSwi`] and [`AclintMtimer`] are those two regions.
//!
//! `mtime` counts at 10 MHz from the VIRTUAL clock,
//! `mtime = ns × 10 MHz / 1e9 + delta`; writing it changes `delta`. The same counter feeds the harts'
//! `time` CSR through [`MtimeSource`], which the CPU holds in an `Arc`.
//! `MTIP(h) = mtime ≥ mtimecmp[h]`: a comparator in the future arms a
//! one-shot [`Timer`] for the exact nanosecond at which `mtime` reaches it;
//! the board routes that timer's expiry to [`AclintMtimer::mtimer_cb`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::{Clock, Timer};
use crate::irq::IrqLine;
use crate::mmio::{AccessRules, GUEST_ERROR, MmioDevice, deposit64};

/// The MTIMER frequency on `virt` (`RISCV_ACLINT_DEFAULT_TIMEBASE_FREQ`).
pub const TIMEBASE_FREQ: u64 = 10_000_000;
/// Size of the MSWI/SSWI region (`RISCV_ACLINT_SWI_SIZE`).
pub const SWI_SIZE: u64 = 0x4000;
/// Size of the MTIMER region (`RISCV_ACLINT_DEFAULT_MTIMER_SIZE`).
pub const MTIMER_SIZE: u64 = 0x8000;
/// The MSWI region's name in `info mtree`.
pub const SWI_REGION_NAME: &str = "riscv.aclint.swi";
/// The MTIMER region's name in `info mtree`.
pub const MTIMER_REGION_NAME: &str = "riscv.aclint.mtimer";
/// Offset of `mtimecmp[0]` in the MTIMER region (`RISCV_ACLINT_DEFAULT_MTIMECMP`).
pub const MTIMECMP: u64 = 0x0;
/// Offset of `mtime` in the MTIMER region (`RISCV_ACLINT_DEFAULT_MTIME`).
pub const MTIME: u64 = 0x7ff8;

const NANOSECONDS_PER_SECOND: u64 = 1_000_000_000;

/// `a * b / c` without intermediate overflow (QEMU: `muldiv64`).
fn muldiv64(a: u64, b: u64, c: u64) -> u128 {
    u128::from(a) * u128::from(b) / u128::from(c)
}

/// The `mtime` counter, shared by the MTIMER registers and the harts' `time`
/// CSR (QEMU: `cpu_riscv_read_rtc`, installed with `riscv_cpu_set_rdtime_fn`).
pub struct MtimeSource {
    clock: Arc<dyn Clock>,
    freq: u64,
    /// `mtime` minus the clock-derived tick count, modulo 2^64.
    delta: AtomicU64,
}

impl std::fmt::Debug for MtimeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtimeSource")
            .field("freq", &self.freq)
            .finish_non_exhaustive()
    }
}

impl MtimeSource {
    /// A counter running at `freq` Hz from `clock` (the VIRTUAL clock), starting at 0 now.
    pub fn new(clock: Arc<dyn Clock>, freq: u64) -> Arc<Self> {
        assert!(freq != 0, "mtime: zero frequency");
        let s = Self {
            clock,
            freq,
            delta: AtomicU64::new(0),
        };
        s.write(0);
        Arc::new(s)
    }

    /// Ticks derived from the clock alone (QEMU: `cpu_riscv_read_rtc_raw`).
    fn raw(&self) -> u64 {
        let ns = u64::try_from(self.clock.get_ns()).unwrap_or(0);
        muldiv64(ns, self.freq, NANOSECONDS_PER_SECOND) as u64
    }

    /// The current value of `mtime` (and of the `time` CSR).
    pub fn read(&self) -> u64 {
        self.raw().wrapping_add(self.delta.load(Ordering::Relaxed))
    }

    /// Sets `mtime` to `value` from now on.
    pub fn write(&self, value: u64) {
        self.delta
            .store(value.wrapping_sub(self.raw()), Ordering::Relaxed);
    }

    /// The counter frequency in Hz (the DT's `timebase-frequency`).
    pub fn freq(&self) -> u64 {
        self.freq
    }

    /// The earliest clock reading (ns) at which [`read`](Self::read)
    /// returns at least `value` (unless `mtime` is written meanwhile);
    /// `i64::MAX` if beyond the clock's range. Computed from one sample of
    /// the offset, so a timer armed at this time never fires before
    /// `mtime` has reached `value`.
    pub fn ns_at(&self, value: u64) -> i64 {
        let raw = value.wrapping_sub(self.delta.load(Ordering::Relaxed));
        let ns =
            (u128::from(raw) * u128::from(NANOSECONDS_PER_SECOND)).div_ceil(u128::from(self.freq));
        i64::try_from(ns).unwrap_or(i64::MAX)
    }

    /// The clock reading (ns) at which `mtime` will reach `target`, given that
    /// it reads `now_ticks` at clock time `now_ns`; `i64::MAX` if never.
    fn deadline_ns(&self, now_ns: i64, now_ticks: u64, target: u64) -> i64 {
        let diff = target - now_ticks;
        // Round up so that mtime has really reached the target when the timer fires.
        let ns_diff =
            (u128::from(diff) * u128::from(NANOSECONDS_PER_SECOND)).div_ceil(u128::from(self.freq));
        i64::try_from(ns_diff)
            .ok()
            .and_then(|d| now_ns.checked_add(d))
            .unwrap_or(i64::MAX)
    }
}

/// The MTIMER region: `mtimecmp[h]` and `mtime`.
pub struct AclintMtimer {
    time: Arc<MtimeSource>,
    timecmp: Vec<u64>,
    timers: Vec<Box<dyn Timer>>,
    /// MTIP lines, one per hart.
    irqs: Vec<IrqLine>,
}

impl std::fmt::Debug for AclintMtimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclintMtimer")
            .field("timecmp", &self.timecmp)
            .finish_non_exhaustive()
    }
}

impl AclintMtimer {
    /// An MTIMER for `irqs.len()` harts: `irqs[h]` drives hart `h`'s MTIP and
    /// `timers[h]` is a VIRTUAL-clock timer whose expiry the board routes to
    /// `mtimer_cb(h)`. Starts in the reset state (`mtime` = 0, `mtimecmp` = 0,
    /// so MTIP is pending, as on QEMU).
    pub fn new(time: Arc<MtimeSource>, irqs: Vec<IrqLine>, timers: Vec<Box<dyn Timer>>) -> Self {
        assert_eq!(irqs.len(), timers.len(), "aclint: one timer per hart");
        assert!(!irqs.is_empty(), "aclint: no harts");
        assert!(irqs.len() as u64 * 8 <= MTIME, "aclint: too many harts");
        let mut m = Self {
            timecmp: vec![0; irqs.len()],
            time,
            timers,
            irqs,
        };
        m.reset();
        m
    }

    /// The shared `mtime` counter (hand it to the harts for the `time` CSR).
    pub fn time_source(&self) -> &Arc<MtimeSource> {
        &self.time
    }

    /// Device reset (QEMU: `riscv_aclint_mtimer_reset_enter`): `mtime` is
    /// cleared and every comparator re-evaluated; `mtimecmp` keeps its value
    /// (the ACLINT spec calls it unknown after reset).
    pub fn reset(&mut self) {
        self.write_mtime(0);
    }

    /// The value of `mtimecmp[hart]`.
    pub fn timecmp(&self, hart: usize) -> u64 {
        self.timecmp[hart]
    }

    /// Sets `mtimecmp[hart]` and re-evaluates MTIP (QEMU:
    /// `riscv_aclint_mtimer_write_timecmp`).
    fn write_timecmp(&mut self, hart: usize, value: u64) {
        let now_ns = self.time.clock.get_ns();
        let now_ticks = self
            .time
            .raw()
            .wrapping_add(self.time.delta.load(Ordering::Relaxed));
        self.timecmp[hart] = value;
        if value <= now_ticks {
            // A comparator in the past interrupts at once.
            self.timers[hart].delete();
            self.irqs[hart].raise();
            return;
        }
        self.irqs[hart].lower();
        let deadline = self.time.deadline_ns(now_ns, now_ticks, value);
        self.timers[hart].modify(deadline);
    }

    fn write_mtime(&mut self, value: u64) {
        self.time.write(value);
        for h in 0..self.timecmp.len() {
            self.write_timecmp(h, self.timecmp[h]);
        }
    }

    /// Expiry of hart `hart`'s comparator timer (QEMU: `riscv_aclint_mtimer_cb`):
    /// raises MTIP if `mtime` has reached `mtimecmp`, and re-arms otherwise.
    pub fn mtimer_cb(&mut self, hart: usize) {
        self.write_timecmp(hart, self.timecmp[hart]);
    }
}

impl MmioDevice for AclintMtimer {
    fn access_rules(&self) -> AccessRules {
        AccessRules::sizes(4, 8)
    }

    fn read(&mut self, offset: u64, size: u32) -> u64 {
        let harts = self.timecmp.len() as u64;
        if (MTIMECMP..MTIMECMP + harts * 8).contains(&offset) {
            let h = ((offset - MTIMECMP) / 8) as usize;
            let cmp = self.timecmp[h];
            return match (offset & 7, size) {
                (0, 4) => cmp & 0xffff_ffff,
                (4, 4) => cmp >> 32,
                (0, 8) => cmp,
                _ => {
                    log::warn!(target: GUEST_ERROR, "aclint-mtimer: invalid read {offset:#x}/{size}");
                    0
                }
            };
        }
        let time = self.time.read();
        match (offset, size) {
            (MTIME, 4) => time & 0xffff_ffff,
            (MTIME, 8) => time,
            (o, 4) if o == MTIME + 4 => time >> 32,
            _ => {
                log::warn!(target: GUEST_ERROR, "aclint-mtimer: invalid read {offset:#x}/{size}");
                0
            }
        }
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        let harts = self.timecmp.len() as u64;
        if (MTIMECMP..MTIMECMP + harts * 8).contains(&offset) {
            let h = ((offset - MTIMECMP) / 8) as usize;
            let cmp = self.timecmp[h];
            let new = match (offset & 7, size) {
                (0, 4) => deposit64(cmp, 0, 32, value),
                (4, 4) => deposit64(cmp, 32, 32, value),
                (0, 8) => value,
                _ => {
                    log::warn!(target: GUEST_ERROR, "aclint-mtimer: invalid write {offset:#x}/{size}");
                    return;
                }
            };
            return self.write_timecmp(h, new);
        }
        let time = self.time.read();
        let new = match (offset, size) {
            (MTIME, 4) => deposit64(time, 0, 32, value),
            (MTIME, 8) => value,
            (o, 4) if o == MTIME + 4 => deposit64(time, 32, 32, value),
            _ => {
                log::warn!(target: GUEST_ERROR, "aclint-mtimer: invalid write {offset:#x}/{size}");
                return;
            }
        };
        self.write_mtime(new);
    }
}

/// The MSWI (`msip[h]`) or SSWI (`setssip[h]`) region.
pub struct AclintSwi {
    sswi: bool,
    /// MSIP (or SSIP) lines, one per hart.
    irqs: Vec<IrqLine>,
    /// The level this device drives on each MSIP line.
    msip: Vec<bool>,
}

impl std::fmt::Debug for AclintSwi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclintSwi")
            .field("sswi", &self.sswi)
            .field("msip", &self.msip)
            .finish()
    }
}

impl AclintSwi {
    /// An MSWI for `irqs.len()` harts; `irqs[h]` drives hart `h`'s MSIP.
    pub fn new_mswi(irqs: Vec<IrqLine>) -> Self {
        Self::new(irqs, false)
    }

    /// An SSWI (`-M virt,aclint=on`); `irqs[h]` drives hart `h`'s SSIP.
    /// Writing 1 raises SSIP, which software then clears in `sip`; reads return 0.
    pub fn new_sswi(irqs: Vec<IrqLine>) -> Self {
        Self::new(irqs, true)
    }

    fn new(irqs: Vec<IrqLine>, sswi: bool) -> Self {
        assert!(!irqs.is_empty(), "aclint: no harts");
        assert!(irqs.len() as u64 * 4 <= SWI_SIZE, "aclint: too many harts");
        let mut s = Self {
            sswi,
            msip: vec![false; irqs.len()],
            irqs,
        };
        s.reset();
        s
    }

    /// Device reset (QEMU: `riscv_aclint_swi_reset_enter`): every MSIP is
    /// cleared. The SSWI has no state to reset.
    pub fn reset(&mut self) {
        if !self.sswi {
            for (line, level) in self.irqs.iter().zip(&mut self.msip) {
                *level = false;
                line.lower();
            }
        }
    }
}

impl MmioDevice for AclintSwi {
    fn access_rules(&self) -> AccessRules {
        AccessRules::sizes(4, 4)
    }

    fn read(&mut self, offset: u64, _size: u32) -> u64 {
        let h = (offset / 4) as usize;
        if h < self.irqs.len() && offset.is_multiple_of(4) {
            // SSWI registers read 0; msip reads the current MSIP.
            return u64::from(!self.sswi && self.msip[h]);
        }
        log::warn!(target: GUEST_ERROR, "aclint-swi: invalid read {offset:#x}");
        0
    }

    fn write(&mut self, offset: u64, _size: u32, value: u64) {
        let h = (offset / 4) as usize;
        if h < self.irqs.len() && offset.is_multiple_of(4) {
            let bit = value & 1 != 0;
            if self.sswi {
                // setssip is edge-like: a 1 sets SSIP, a 0 does nothing.
                if bit {
                    self.irqs[h].raise();
                }
            } else {
                self.msip[h] = bit;
                self.irqs[h].set(bit);
            }
            return;
        }
        log::warn!(target: GUEST_ERROR, "aclint-swi: invalid write {offset:#x}");
    }
}
