//! Interrupt lines (QEMU: `hw/core/irq.c`, `qemu_irq`) and the seam through
//! which interrupt controllers set a hart's `mip` bits.
//!
//! An [`IrqLine`] is a cloneable handle to a `set_level` callback. A device
//! holds the line it drives and calls [`IrqLine::set`] (QEMU's
//! `qemu_set_irq`); whoever created the line (the PLIC for its inputs, the
//! board for hart interrupts) decides what the level means. Lines are level
//! signals: raising an already raised line is harmless, and receivers must not
//! count edges.

use std::fmt;
use std::sync::Arc;

/// A hart's `mip` bit numbers driven by the devices in this crate
/// (the privileged spec's interrupt numbers, = the `riscv,cpu-intc` cells).
pub mod mip {
    /// Supervisor software interrupt (ACLINT SSWI).
    pub const SSIP: u32 = 1;
    /// Machine software interrupt (ACLINT MSWI).
    pub const MSIP: u32 = 3;
    /// Supervisor timer interrupt (Sstc; driven by the hart itself).
    pub const STIP: u32 = 5;
    /// Machine timer interrupt (ACLINT MTIMER).
    pub const MTIP: u32 = 7;
    /// Supervisor external interrupt (PLIC S context).
    pub const SEIP: u32 = 9;
    /// Machine external interrupt (PLIC M context).
    pub const MEIP: u32 = 11;
}

/// A level-triggered interrupt line (QEMU's `qemu_irq`).
#[derive(Clone)]
pub struct IrqLine {
    handler: Arc<dyn Fn(bool) + Send + Sync>,
}

impl IrqLine {
    /// Makes a line whose level changes call `handler`.
    pub fn new(handler: impl Fn(bool) + Send + Sync + 'static) -> Self {
        Self {
            handler: Arc::new(handler),
        }
    }

    /// A line connected to nothing (QEMU: a NULL `qemu_irq`); setting it does nothing.
    pub fn disconnected() -> Self {
        Self::new(|_| {})
    }

    /// Sets the line's level (QEMU: `qemu_set_irq`).
    pub fn set(&self, level: bool) {
        (self.handler)(level)
    }

    /// Raises the line (QEMU: `qemu_irq_raise`).
    pub fn raise(&self) {
        self.set(true)
    }

    /// Lowers the line (QEMU: `qemu_irq_lower`).
    pub fn lower(&self) {
        self.set(false)
    }

    /// Raises and lowers the line (QEMU: `qemu_irq_pulse`).
    pub fn pulse(&self) {
        self.set(true);
        self.set(false);
    }
}

impl fmt::Debug for IrqLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IrqLine")
    }
}

/// Where interrupt controllers deliver hart-local interrupts
/// (QEMU: `riscv_cpu_update_mip` behind the CPU's GPIO inputs).
///
/// The board implements this on its set of harts: an atomic interrupt-request
/// word per vCPU plus a kick. `bit` is one of the [`mip`] constants.
pub trait HartIrq: Send + Sync {
    /// Sets (`level = true`) or clears bit `bit` of hart `hart`'s `mip`.
    fn set_mip(&self, hart: usize, bit: u32, level: bool);
}

/// Returns an [`IrqLine`] that drives `mip[bit]` of hart `hart` through `harts`.
pub fn hart_irq_line(harts: &Arc<dyn HartIrq>, hart: usize, bit: u32) -> IrqLine {
    let harts = Arc::clone(harts);
    IrqLine::new(move |level| harts.set_mip(hart, bit, level))
}

/// A test helper: a line that records its current level and how many times it was set.
///
/// Public so that board tests can use it as well.
#[derive(Clone, Default, Debug)]
pub struct IrqProbe {
    state: Arc<parking_lot::Mutex<ProbeState>>,
}

#[derive(Default, Debug)]
struct ProbeState {
    level: bool,
    raises: u64,
}

impl IrqProbe {
    /// A probe whose line starts low.
    pub fn new() -> Self {
        Self::default()
    }

    /// An [`IrqLine`] that feeds this probe.
    pub fn line(&self) -> IrqLine {
        let state = Arc::clone(&self.state);
        IrqLine::new(move |level| {
            let mut s = state.lock();
            if level && !s.level {
                s.raises += 1;
            }
            s.level = level;
        })
    }

    /// The line's current level.
    pub fn level(&self) -> bool {
        self.state.lock().level
    }

    /// How many low-to-high transitions the line has seen.
    pub fn raises(&self) -> u64 {
        self.state.lock().raises
    }
}

/// A test helper implementing [`HartIrq`] with a plain `mip` word per hart.
#[derive(Debug)]
pub struct MipProbe {
    mip: parking_lot::Mutex<Vec<u64>>,
}

impl MipProbe {
    /// Probe for `harts` harts, all `mip` bits clear.
    pub fn new(harts: usize) -> Arc<Self> {
        Arc::new(Self {
            mip: parking_lot::Mutex::new(vec![0; harts]),
        })
    }

    /// The current `mip` of `hart`.
    pub fn mip(&self, hart: usize) -> u64 {
        self.mip.lock()[hart]
    }

    /// Whether `mip[bit]` of `hart` is set.
    pub fn bit(&self, hart: usize, bit: u32) -> bool {
        self.mip(hart) & (1 << bit) != 0
    }
}

impl HartIrq for MipProbe {
    fn set_mip(&self, hart: usize, bit: u32, level: bool) {
        let mut mip = self.mip.lock();
        let word = &mut mip[hart];
        if level {
            *word |= 1 << bit;
        } else {
            *word &= !(1 << bit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_counts_rising_edges_only() {
        let p = IrqProbe::new();
        let l = p.line();
        l.raise();
        l.raise();
        assert!(p.level());
        l.lower();
        l.pulse();
        assert!(!p.level());
        assert_eq!(p.raises(), 2);
    }

    #[test]
    fn hart_line_sets_and_clears_mip() {
        let probe = MipProbe::new(2);
        let harts: Arc<dyn HartIrq> = probe.clone();
        let l = hart_irq_line(&harts, 1, mip::MEIP);
        l.raise();
        assert_eq!(probe.mip(1), 1 << 11);
        assert_eq!(probe.mip(0), 0);
        l.lower();
        assert_eq!(probe.mip(1), 0);
    }
}
