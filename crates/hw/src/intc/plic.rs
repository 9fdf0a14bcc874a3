//! The SiFive PLIC (QEMU: `hw/intc/sifive_plic.c`, with the parameters of
//! `hw/riscv/virt.c`).
//!
//! All registers are 32 bits wide and accessed with aligned 32-bit loads and
//! stores:
//!
//! | offset | register |
//! | --- | --- |
//! | `0x000000 + 4·s` | priority of source `s` (WARL, masked to the priority bits) |
//! | `0x001000 + 4·w` | pending bits of sources `32w..32w+31` (read-only) |
//! | `0x002000 + 0x80·c + 4·w` | enable bits of context `c` |
//! | `0x200000 + 0x1000·c` | priority threshold of context `c` |
//! | `0x200004 + 0x1000·c` | claim (read) / complete (write) of context `c` |
//!
//! On `virt` each hart has two contexts: `2h` drives its MEIP and `2h + 1` its
//! SEIP. A context's output is asserted iff some source is pending, enabled in
//! it, not in service, and has `priority > threshold`. A claim returns the
//! highest-priority such source (ties go to the lowest id), clears its pending
//! bit and puts it in service; a completion ends service.
//!
//! Gateways behave as QEMU 7.2's (`sifive_plic_irq_request`): each time a
//! device raises its line (also while the source is in service, where it is
//! then pending but not claimable) the source becomes pending; lowering the
//! line does nothing, so a forwarded request stays pending until claimed;
//! completion only ends service. A device whose line is still high at
//! completion is forwarded again the next time it raises the line, which the
//! `virt` devices do on every state update, as QEMU's do. (The PLIC
//! specification's level-triggered gateway would forward it at completion;
//! `docs/divergences.md` explains why QEMU's behaviour is kept.)
//!
//! The measured difference from QEMU 7.2 (see `docs/divergences.md`): QEMU
//! does not re-evaluate the outputs when enable bits change (only on the next
//! priority, threshold, claim, complete or line change). As on QEMU, the
//! enable bit of the nonexistent source 0 is stored and reads back (it can
//! never matter: source 0 is never pending).

use std::sync::Arc;

use parking_lot::Mutex;

use crate::irq::{HartIrq, IrqLine, hart_irq_line, mip};
use crate::mmio::{AccessRules, GUEST_ERROR, MmioDevice};

/// Number of interrupt sources on `virt` including the reserved source 0
/// (QEMU 7.2: `VIRT_IRQCHIP_NUM_SOURCES`), so ids 1..=95 are usable.
pub const VIRT_NUM_SOURCES: u32 = 96;
/// Highest priority on `virt` (`VIRT_IRQCHIP_NUM_PRIO_BITS` = 3).
pub const VIRT_NUM_PRIORITIES: u32 = 7;

/// Offset of the priority registers.
pub const PRIORITY_BASE: u64 = 0x0;
/// Offset of the pending bits.
pub const PENDING_BASE: u64 = 0x1000;
/// Offset of context 0's enable bits.
pub const ENABLE_BASE: u64 = 0x2000;
/// Distance between two contexts' enable bits.
pub const ENABLE_STRIDE: u64 = 0x80;
/// Offset of context 0's threshold and claim registers.
pub const CONTEXT_BASE: u64 = 0x20_0000;
/// Distance between two contexts' threshold and claim registers.
pub const CONTEXT_STRIDE: u64 = 0x1000;

/// The region's name in `info mtree`.
pub const REGION_NAME: &str = "riscv.sifive.plic";

/// Size of the MMIO region for `num_contexts` contexts (QEMU: `VIRT_PLIC_SIZE`).
pub const fn region_size(num_contexts: u64) -> u64 {
    CONTEXT_BASE + num_contexts * CONTEXT_STRIDE
}

/// A PLIC shared between its MMIO region and the IRQ lines that feed it.
pub type SharedPlic = Arc<Mutex<Plic>>;

/// The PLIC state.
pub struct Plic {
    num_sources: u32,
    num_priorities: u32,
    words: usize,
    priority: Vec<u32>,
    pending: Vec<u32>,
    /// Sources in service (claimed and not yet completed).
    claimed: Vec<u32>,
    /// `words` enable words per context.
    enable: Vec<u32>,
    threshold: Vec<u32>,
    outputs: Vec<IrqLine>,
}

impl std::fmt::Debug for Plic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plic")
            .field("num_sources", &self.num_sources)
            .field("contexts", &self.outputs.len())
            .field("pending", &self.pending)
            .field("claimed", &self.claimed)
            .finish_non_exhaustive()
    }
}

impl Plic {
    /// A PLIC with `num_sources` sources (ids `1..num_sources`; 0 is reserved),
    /// priorities `0..=num_priorities`, and one context per entry of `outputs`.
    pub fn new(num_sources: u32, num_priorities: u32, outputs: Vec<IrqLine>) -> Self {
        assert!(
            (2..=1024).contains(&num_sources),
            "plic: {num_sources} sources out of range"
        );
        assert!(!outputs.is_empty(), "plic: no contexts");
        assert!(
            outputs.len() as u64 <= (CONTEXT_BASE - ENABLE_BASE) / ENABLE_STRIDE,
            "plic: too many contexts"
        );
        let words = num_sources.div_ceil(32) as usize;
        let contexts = outputs.len();
        Self {
            num_sources,
            num_priorities,
            words,
            priority: vec![0; num_sources as usize + 1],
            pending: vec![0; words],
            claimed: vec![0; words],
            enable: vec![0; words * contexts],
            threshold: vec![0; contexts],
            outputs,
        }
    }

    /// The `virt` PLIC for `num_harts` harts: contexts `2h` (M, driving MEIP)
    /// and `2h + 1` (S, driving SEIP), as QEMU's `hart-config "MS"`.
    pub fn new_virt(num_harts: usize, harts: &Arc<dyn HartIrq>) -> Self {
        let outputs = (0..num_harts)
            .flat_map(|h| {
                [
                    hart_irq_line(harts, h, mip::MEIP),
                    hart_irq_line(harts, h, mip::SEIP),
                ]
            })
            .collect();
        Self::new(VIRT_NUM_SOURCES, VIRT_NUM_PRIORITIES, outputs)
    }

    /// Number of contexts.
    pub fn num_contexts(&self) -> usize {
        self.outputs.len()
    }

    /// An [`IrqLine`] feeding source `source` of `plic`
    /// (QEMU: `qdev_get_gpio_in(plic, source)`).
    pub fn input(plic: &SharedPlic, source: u32) -> IrqLine {
        assert!(
            source != 0 && source < plic.lock().num_sources,
            "plic: no input {source}"
        );
        let plic = Arc::clone(plic);
        IrqLine::new(move |level| plic.lock().set_irq(source, level))
    }

    /// Sets the level of source `source`'s input line (QEMU: `sifive_plic_irq_request`).
    pub fn set_irq(&mut self, source: u32, level: bool) {
        if source == 0 || source >= self.num_sources {
            log::error!("plic: set_irq on nonexistent source {source}");
            return;
        }
        let (w, bit) = (source as usize / 32, 1u32 << (source % 32));
        // As on QEMU 7.2, a raise latches the request even while the source
        // is in service (the claim stays blocked until completion), and a
        // forwarded request stays pending until claimed when the line drops.
        if level {
            self.pending[w] |= bit;
            self.update();
        }
    }

    /// Device reset: nothing pending, enabled or in service; all priorities
    /// and thresholds 0 (the devices driving the inputs reset themselves).
    pub fn reset(&mut self) {
        self.priority.fill(0);
        self.pending.fill(0);
        self.claimed.fill(0);
        self.enable.fill(0);
        self.threshold.fill(0);
        self.update();
    }

    /// The best claimable source for context `ctx`, or 0.
    fn best_source(&self, ctx: usize) -> u32 {
        let mut best = 0;
        let mut best_prio = self.threshold[ctx];
        for w in 0..self.words {
            let mut bits = self.pending[w] & !self.claimed[w] & self.enable[ctx * self.words + w];
            while bits != 0 {
                let j = bits.trailing_zeros();
                bits &= bits - 1;
                let source = w as u32 * 32 + j;
                let prio = self.priority[source as usize];
                if prio > best_prio {
                    best = source;
                    best_prio = prio;
                }
            }
        }
        best
    }

    /// Re-evaluates every context's output (QEMU: `sifive_plic_update`).
    fn update(&mut self) {
        for ctx in 0..self.outputs.len() {
            let level = self.best_source(ctx) != 0;
            self.outputs[ctx].set(level);
        }
    }

    fn claim(&mut self, ctx: usize) -> u32 {
        let source = self.best_source(ctx);
        if source != 0 {
            let (w, bit) = (source as usize / 32, 1u32 << (source % 32));
            self.pending[w] &= !bit;
            self.claimed[w] |= bit;
        }
        self.update();
        source
    }

    fn complete(&mut self, source: u32) {
        // QEMU 7.2 ignores ids at or beyond the number of sources and does
        // not check the context's enable bits; Ferrite does the same.
        if source >= self.num_sources {
            return;
        }
        let (w, bit) = (source as usize / 32, 1u32 << (source % 32));
        self.claimed[w] &= !bit;
        self.update();
    }

    /// Masks a WARL priority value as QEMU does: modulo the priority range when
    /// it is a power of two, otherwise rejecting values above the maximum.
    fn warl_priority(&self, old: u32, value: u32) -> u32 {
        let n = self.num_priorities;
        if (n + 1) & n == 0 {
            value & n
        } else if value <= n {
            value
        } else {
            old
        }
    }

    /// Decodes `offset` into a context register (threshold or claim).
    fn context_reg(&self, offset: u64) -> Option<(usize, u64)> {
        let rel = offset.checked_sub(CONTEXT_BASE)?;
        let ctx = usize::try_from(rel / CONTEXT_STRIDE).ok()?;
        (ctx < self.outputs.len()).then_some((ctx, rel % CONTEXT_STRIDE))
    }

    /// Decodes `offset` into an enable word.
    fn enable_word(&self, offset: u64) -> Option<usize> {
        let rel = offset.checked_sub(ENABLE_BASE)?;
        if offset >= CONTEXT_BASE {
            return None;
        }
        let ctx = usize::try_from(rel / ENABLE_STRIDE).ok()?;
        let word = (rel % ENABLE_STRIDE / 4) as usize;
        (ctx < self.outputs.len() && word < self.words).then_some(ctx * self.words + word)
    }

    /// Decodes `offset` into a priority register. Like QEMU 7.2 (and the DT's
    /// `riscv,ndev`), priorities exist for ids `1..=num_sources`, one more
    /// than the pending and enable bits cover; the last is plain storage.
    fn priority_source(&self, offset: u64) -> Option<usize> {
        let s = (offset - PRIORITY_BASE) / 4;
        (offset < PENDING_BASE && s <= u64::from(self.num_sources)).then_some(s as usize)
    }

    fn pending_word(&self, offset: u64) -> Option<usize> {
        let rel = offset.checked_sub(PENDING_BASE)?;
        let w = (rel / 4) as usize;
        (offset < ENABLE_BASE && w < self.words).then_some(w)
    }

    /// Mask of the bits of enable word `w` that name a source id below
    /// `num_sources`. Bit 0 (source 0) is included: QEMU 7.2 stores it and a
    /// guest reads it back, although source 0 can never be pending.
    fn word_mask(&self, w: usize) -> u32 {
        let first = w as u32 * 32;
        let n = (self.num_sources - first).min(32);
        if n == 32 { u32::MAX } else { (1u32 << n) - 1 }
    }
}

impl MmioDevice for Plic {
    fn access_rules(&self) -> AccessRules {
        AccessRules::sizes(4, 4)
    }

    fn read(&mut self, offset: u64, _size: u32) -> u64 {
        if let Some(s) = self.priority_source(offset) {
            return u64::from(self.priority[s]);
        }
        if let Some(w) = self.pending_word(offset) {
            return u64::from(self.pending[w]);
        }
        if let Some(i) = self.enable_word(offset) {
            return u64::from(self.enable[i]);
        }
        if let Some((ctx, reg)) = self.context_reg(offset) {
            match reg {
                0 => return u64::from(self.threshold[ctx]),
                4 => return u64::from(self.claim(ctx)),
                _ => {}
            }
        }
        log::warn!(target: GUEST_ERROR, "plic: invalid register read {offset:#x}");
        0
    }

    fn write(&mut self, offset: u64, _size: u32, value: u64) {
        let value = value as u32;
        if let Some(s) = self.priority_source(offset) {
            if s != 0 {
                self.priority[s] = self.warl_priority(self.priority[s], value);
                self.update();
            }
            return;
        }
        if self.pending_word(offset).is_some() {
            log::warn!(target: GUEST_ERROR, "plic: invalid pending write {offset:#x}");
            return;
        }
        if let Some(i) = self.enable_word(offset) {
            self.enable[i] = value & self.word_mask(i % self.words);
            self.update();
            return;
        }
        if let Some((ctx, reg)) = self.context_reg(offset) {
            match reg {
                0 => {
                    self.threshold[ctx] = self.warl_priority(self.threshold[ctx], value);
                    self.update();
                    return;
                }
                4 => return self.complete(value),
                _ => {}
            }
        }
        log::warn!(target: GUEST_ERROR, "plic: invalid register write {offset:#x}");
    }
}
