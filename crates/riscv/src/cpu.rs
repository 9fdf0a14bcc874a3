//! The RISC-V hart state (QEMU's `CPURISCVState`) and its [`CpuEnv`]
//! implementation: translation flags, trap and interrupt delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrite_aio::log::LogMask;
use ferrite_aio::qemu_log_mask;
use ferrite_tcg::cpu::{REQ_EXIT, REQ_HARD};
use ferrite_tcg::{
    Access, CpuCommon, CpuEnv, CpuExit, Executor, Fault, IrBuilder, PhysMemory, TlbFill,
};
use parking_lot::{Condvar, Mutex};

use crate::csr::Csrs;

/// Privilege level: user.
pub const PRV_U: u8 = 0;
/// Privilege level: supervisor.
pub const PRV_S: u8 = 1;
/// Privilege level: machine.
pub const PRV_M: u8 = 3;

/// MMU index for user accesses.
pub const MMU_U: usize = 0;
/// MMU index for supervisor accesses with `SUM = 0`.
pub const MMU_S: usize = 1;
/// MMU index for supervisor accesses with `SUM = 1`.
pub const MMU_S_SUM: usize = 2;
/// MMU index for machine-mode (untranslated) accesses.
pub const MMU_M: usize = 3;

/// First register-file slot of the f registers (x registers are slots 0–31).
pub const FREG_BASE: u8 = 32;
/// Scratch slots for the translator.
pub const TMP0: u8 = 64;
/// Second scratch slot.
pub const TMP1: u8 = 65;
/// Writes to x0 go here and are never read.
pub const SLOT_DISCARD: u8 = 255;

/// Exception causes (privileged spec table 3.6).
pub mod excp {
    /// Instruction address misaligned.
    pub const INST_MISALIGNED: u64 = 0;
    /// Instruction access fault.
    pub const INST_ACCESS: u64 = 1;
    /// Illegal instruction.
    pub const ILLEGAL: u64 = 2;
    /// Breakpoint.
    pub const BREAKPOINT: u64 = 3;
    /// Load address misaligned.
    pub const LOAD_MISALIGNED: u64 = 4;
    /// Load access fault.
    pub const LOAD_ACCESS: u64 = 5;
    /// Store/AMO address misaligned.
    pub const STORE_MISALIGNED: u64 = 6;
    /// Store/AMO access fault.
    pub const STORE_ACCESS: u64 = 7;
    /// Environment call from U-mode (S: +1, M: +3).
    pub const ECALL_U: u64 = 8;
    /// Instruction page fault.
    pub const INST_PAGE: u64 = 12;
    /// Load page fault.
    pub const LOAD_PAGE: u64 = 13;
    /// Store/AMO page fault.
    pub const STORE_PAGE: u64 = 15;
}

/// Interrupt bits of `mip`/`mie`.
pub mod irq {
    /// Supervisor software interrupt.
    pub const SSIP: u64 = 1 << 1;
    /// Machine software interrupt.
    pub const MSIP: u64 = 1 << 3;
    /// Supervisor timer interrupt.
    pub const STIP: u64 = 1 << 5;
    /// Machine timer interrupt.
    pub const MTIP: u64 = 1 << 7;
    /// Supervisor external interrupt.
    pub const SEIP: u64 = 1 << 9;
    /// Machine external interrupt.
    pub const MEIP: u64 = 1 << 11;
}

/// The board side of the hart: the time base (`mtime`, 10 MHz on `virt`,
/// derived from the virtual clock) and the Sstc timer deadline.
pub trait Platform: Send + Sync {
    /// Current value of `mtime` (the `time` CSR).
    fn time(&self) -> u64;
    /// Whether the board gives the hart an rdtime source (QEMU's
    /// `env->rdtime_fn`). Without one the `time`/`timeh` CSRs are illegal
    /// instructions, as on QEMU's spike board. Defaults to `true`.
    fn has_time(&self) -> bool {
        true
    }
    /// The hart's `stimecmp` changed: the board must raise
    /// [`IrqLines::kick`] when `time()` reaches `deadline` (or cancel the
    /// timer for `None`), so the hart re-evaluates STIP.
    fn set_stimecmp_deadline(&self, hartid: u64, deadline: Option<u64>);
}

/// A platform whose time only moves when told to (tests, bare-metal runs
/// without a clock).
#[derive(Default)]
pub struct ManualTime {
    /// Current time.
    pub now: AtomicU64,
}

impl Platform for ManualTime {
    fn time(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
    fn set_stimecmp_deadline(&self, _hartid: u64, _deadline: Option<u64>) {}
}

/// Interrupt lines driven by devices from any thread (CLINT MSIP/MTIP, PLIC
/// MEIP/SEIP), the hart's request word and the wake-up for a halted hart.
pub struct IrqLines {
    /// Level of the device-driven `mip` bits.
    pub pending: AtomicU64,
    request: Arc<std::sync::atomic::AtomicU32>,
    wake_lock: Mutex<()>,
    wake: Condvar,
    /// Also called on every wake-up, for a thread that sleeps for several
    /// harts at once (the round-robin vCPU thread).
    waker: std::sync::OnceLock<Arc<dyn Fn() + Send + Sync>>,
}

impl IrqLines {
    /// Sets or clears device-driven `mip` bits (QEMU's `riscv_cpu_update_mip`)
    /// and makes the hart re-check interrupts.
    pub fn set(&self, mask: u64, level: bool) {
        let old = if level {
            self.pending.fetch_or(mask, Ordering::SeqCst)
        } else {
            self.pending.fetch_and(!mask, Ordering::SeqCst)
        };
        // Only a change is news for the hart (QEMU's riscv_cpu_update_mip
        // interrupts the CPU only when mip changes): interrupt controllers
        // re-drive every output on each update.
        let now = if level { old | mask } else { old & !mask };
        if now != old {
            self.kick();
        }
    }

    /// Makes the hart re-check interrupts at its next block boundary and
    /// wakes it if halted (used for timer deadlines).
    pub fn kick(&self) {
        self.request.fetch_or(REQ_HARD, Ordering::SeqCst);
        self.wake_up();
    }

    fn wake_up(&self) {
        {
            let _g = self.wake_lock.lock();
            self.wake.notify_all();
        }
        if let Some(w) = self.waker.get() {
            w();
        }
    }

    /// Installs a function that every wake-up of this hart also calls
    /// (once; later calls are ignored): a thread that runs several harts
    /// (`-accel tcg,thread=single`) sleeps on its own condition and is
    /// woken through it.
    pub fn set_waker(&self, w: Arc<dyn Fn() + Send + Sync>) {
        let _ = self.waker.set(w);
    }

    /// Asks the hart to return from [`Hart::run`] at its next block
    /// boundary without waking anything (QEMU's bare `cpu_exit`; the
    /// round-robin thread's kick of the hart it is running).
    pub fn cpu_exit(&self) {
        self.request.fetch_or(REQ_EXIT, Ordering::SeqCst);
    }

    /// Asks the hart to return from [`Hart::run`] (QEMU's `cpu_exit`).
    pub fn request_exit(&self) {
        self.request.fetch_or(REQ_EXIT, Ordering::SeqCst);
        self.wake_up();
    }
}

/// A pending synchronous exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    /// Cause code.
    pub cause: u64,
    /// Trap value (`xtval`).
    pub tval: u64,
}

/// The architectural state of one hart.
pub struct RiscvCpu {
    /// Register file (x0–x31 in slots 0–31, f0–f31 in 32–63), PC, TLB.
    pub common: CpuCommon,
    /// Control and status registers.
    pub csr: Csrs,
    /// Current privilege level.
    pub priv_: u8,
    /// LR reservation: address and the loaded value (QEMU's `load_res` /
    /// `load_val`).
    pub reservation: Option<(u64, u64)>,
    /// Exception recorded by a helper or page walk, delivered by
    /// `do_exception`.
    pub pending: Option<Exception>,
    /// Device interrupt lines.
    pub irq: Arc<IrqLines>,
    /// Time source.
    pub platform: Arc<dyn Platform>,
}

impl RiscvCpu {
    /// A hart in its reset state (M-mode, PC 0; the board sets the PC).
    pub fn new(mem: Arc<dyn PhysMemory>, platform: Arc<dyn Platform>, hartid: u64) -> Self {
        let common = CpuCommon::new(mem);
        let irq = Arc::new(IrqLines {
            pending: AtomicU64::new(0),
            request: common.interrupt_request.clone(),
            wake_lock: Mutex::new(()),
            waker: std::sync::OnceLock::new(),
            wake: Condvar::new(),
        });
        RiscvCpu {
            common,
            csr: Csrs::new(hartid),
            priv_: PRV_M,
            reservation: None,
            pending: None,
            irq,
            platform,
        }
    }

    /// x register `i`.
    pub fn x(&self, i: usize) -> u64 {
        self.common.regs[i & 31]
    }

    /// Writes x register `i` (writes to x0 are dropped).
    pub fn set_x(&mut self, i: usize, v: u64) {
        if i & 31 != 0 {
            self.common.regs[i & 31] = v;
        }
    }

    /// f register `i`, raw 64 bits.
    pub fn f(&self, i: usize) -> u64 {
        self.common.regs[FREG_BASE as usize + (i & 31)]
    }

    /// Writes f register `i` (raw) and marks the FP state dirty.
    pub fn set_f(&mut self, i: usize, v: u64) {
        self.common.regs[FREG_BASE as usize + (i & 31)] = v;
        self.csr.set_fs_dirty();
    }

    /// The PC.
    pub fn pc(&self) -> u64 {
        self.common.pc
    }

    /// Records an exception for delivery and returns [`Fault`].
    pub fn raise(&mut self, cause: u64, tval: u64) -> Fault {
        self.pending = Some(Exception { cause, tval });
        Fault
    }

    /// Records an illegal-instruction exception for instruction bits `insn`.
    pub fn illegal(&mut self, insn: u32) -> Fault {
        self.raise(excp::ILLEGAL, insn as u64)
    }

    /// The privilege used for data accesses (MPRV applies `MPP` in M-mode).
    pub fn data_priv(&self) -> u8 {
        if self.priv_ == PRV_M && self.csr.mstatus & crate::csr::MSTATUS_MPRV != 0 {
            ((self.csr.mstatus >> 11) & 3) as u8
        } else {
            self.priv_
        }
    }

    /// MMU index for data accesses.
    pub fn data_mmu_idx(&self) -> usize {
        match self.data_priv() {
            PRV_U => MMU_U,
            PRV_S if self.csr.mstatus & crate::csr::MSTATUS_SUM != 0 => MMU_S_SUM,
            PRV_S => MMU_S,
            _ => MMU_M,
        }
    }

    /// Instructions retired so far, exact also inside a helper.
    pub fn instret_now(&self) -> u64 {
        self.common.icount + self.common.cur_insn as u64
    }

    /// The effective `mip`: software bits, device lines and the Sstc timer.
    pub fn mip(&self) -> u64 {
        let mut v = self.csr.mip_sw | self.irq.pending.load(Ordering::Relaxed);
        if self.csr.menvcfg & crate::csr::MENVCFG_STCE != 0 {
            v &= !irq::STIP;
            if self.platform.time() >= self.csr.stimecmp {
                v |= irq::STIP;
            }
        }
        v
    }

    /// Whether an interrupt is pending and enabled in `mie`, regardless of
    /// global enables (the `wfi` wake-up condition).
    pub fn has_work(&self) -> bool {
        self.mip() & self.csr.mie != 0
    }

    /// Takes a trap (QEMU's `riscv_cpu_do_interrupt`). `cause` without the
    /// interrupt bit; the PC must be the trapping instruction (exceptions) or
    /// the next one to execute (interrupts).
    pub fn trap(&mut self, cause: u64, tval: u64, is_irq: bool) {
        use crate::csr::*;
        let pc = self.common.pc;
        // Any trap drops the LR reservation (QEMU's exception entry resets
        // `load_res`; the spec allows this), so an SC after it fails.
        self.reservation = None;
        let deleg = if is_irq {
            self.csr.mideleg
        } else {
            self.csr.medeleg
        };
        let full_cause = cause | if is_irq { 1 << 63 } else { 0 };
        qemu_log_mask!(
            LogMask::INT,
            "riscv_cpu_do_interrupt: hart:{}, async:{}, cause:{:016x}, epc:0x{:016x}, tval:0x{:016x}, desc={}\n",
            self.csr.mhartid,
            is_irq as u8,
            full_cause,
            pc,
            tval,
            cause_name(cause, is_irq)
        );
        let vec = |tvec: u64| {
            if is_irq && tvec & 3 == 1 {
                (tvec & !3).wrapping_add(4 * cause)
            } else {
                tvec & !3
            }
        };
        if self.priv_ <= PRV_S && (deleg >> cause) & 1 != 0 {
            let s = self.csr.mstatus;
            let mut n = s & !(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP);
            if s & MSTATUS_SIE != 0 {
                n |= MSTATUS_SPIE;
            }
            if self.priv_ == PRV_S {
                n |= MSTATUS_SPP;
            }
            self.csr.mstatus = n;
            self.csr.scause = full_cause;
            self.csr.sepc = pc;
            self.csr.stval = tval;
            self.priv_ = PRV_S;
            self.common.pc = vec(self.csr.stvec);
        } else {
            let s = self.csr.mstatus;
            let mut n = s & !(MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPP);
            if s & MSTATUS_MIE != 0 {
                n |= MSTATUS_MPIE;
            }
            n |= (self.priv_ as u64) << 11;
            self.csr.mstatus = n;
            self.csr.mcause = full_cause;
            self.csr.mepc = pc;
            self.csr.mtval = tval;
            self.priv_ = PRV_M;
            self.common.pc = vec(self.csr.mtvec);
        }
    }
}

/// QEMU's names for causes in `-d int` output.
fn cause_name(cause: u64, is_irq: bool) -> &'static str {
    if is_irq {
        match cause {
            1 => "s_software",
            3 => "m_software",
            5 => "s_timer",
            7 => "m_timer",
            9 => "s_external",
            11 => "m_external",
            _ => "unknown",
        }
    } else {
        match cause {
            0 => "misaligned_fetch",
            1 => "fault_fetch",
            2 => "illegal_instruction",
            3 => "breakpoint",
            4 => "misaligned_load",
            5 => "fault_load",
            6 => "misaligned_store",
            7 => "fault_store",
            8 => "user_ecall",
            9 => "supervisor_ecall",
            11 => "machine_ecall",
            12 => "exec_page_fault",
            13 => "load_page_fault",
            15 => "store_page_fault",
            _ => "unknown",
        }
    }
}

impl CpuEnv for RiscvCpu {
    #[inline(always)]
    fn common(&mut self) -> &mut CpuCommon {
        &mut self.common
    }

    #[inline(always)]
    fn common_ref(&self) -> &CpuCommon {
        &self.common
    }

    fn tb_flags(&self) -> u64 {
        let fs = (self.csr.mstatus >> 13) & 3;
        self.priv_ as u64 | (self.data_mmu_idx() as u64) << 2 | fs << 4
    }

    fn fetch_mmu_idx(&self) -> usize {
        match self.priv_ {
            PRV_U => MMU_U,
            PRV_S => MMU_S,
            _ => MMU_M,
        }
    }

    fn tlb_fill(
        &mut self,
        vaddr: u64,
        size: u32,
        access: Access,
        mmu_idx: usize,
    ) -> Result<TlbFill, Fault> {
        crate::mmu::tlb_fill(self, vaddr, size, access, mmu_idx)
    }

    fn raise_access_fault(&mut self, vaddr: u64, access: Access) -> Fault {
        let cause = match access {
            Access::Read => excp::LOAD_ACCESS,
            Access::Write => excp::STORE_ACCESS,
            Access::Fetch => excp::INST_ACCESS,
        };
        qemu_log_mask!(
            LogMask::GUEST_ERROR,
            "Invalid access at addr 0x{vaddr:x}, {access:?}\n"
        );
        self.raise(cause, vaddr)
    }

    fn translate_block(
        &mut self,
        pc: u64,
        flags: u64,
        b: &mut IrBuilder<Self>,
        max_insns: usize,
    ) -> Result<(), Fault> {
        crate::translate::translate_block(self, pc, flags, b, max_insns)
    }

    fn exec_interrupt(&mut self) -> bool {
        let pending = self.mip() & self.csr.mie;
        if pending == 0 {
            return false;
        }
        let mstatus = self.csr.mstatus;
        let m_enabled = self.priv_ < PRV_M || mstatus & crate::csr::MSTATUS_MIE != 0;
        let s_enabled =
            self.priv_ < PRV_S || (self.priv_ == PRV_S && mstatus & crate::csr::MSTATUS_SIE != 0);
        let m = if m_enabled {
            pending & !self.csr.mideleg
        } else {
            0
        };
        let s = if s_enabled {
            pending & self.csr.mideleg
        } else {
            0
        };
        let set = if m != 0 { m } else { s };
        if set == 0 {
            return false;
        }
        // QEMU 7.2 quirk: without AIA it takes the lowest-numbered pending
        // interrupt first (SSI, MSI, STI, MTI, SEI, MEI), not the spec's
        // MEI > MSI > MTI > SEI > SSI > STI (docs/divergences.md).
        let cause = set.trailing_zeros() as u64;
        self.trap(cause, 0, true);
        true
    }

    fn do_exception(&mut self) {
        let e = self
            .pending
            .take()
            .expect("do_exception without a pending exception");
        // `ebreak` leaves xtval = 0, as QEMU 7.2 does (the spec allows 0 or
        // the PC); the raising helper already passed 0.
        self.trap(e.cause, e.tval, false);
    }

    fn log_translation(&mut self, pc: u64, insn_off: &[u16]) {
        crate::disas::log_in_asm(self, pc, insn_off);
    }
}

/// A hart with its translation cache: the unit a board's vCPU thread runs.
pub struct Hart {
    /// Architectural state.
    pub cpu: RiscvCpu,
    /// TB cache and execution loop.
    pub exec: Executor<RiscvCpu>,
}

impl Hart {
    /// A reset hart.
    pub fn new(mem: Arc<dyn PhysMemory>, platform: Arc<dyn Platform>, hartid: u64) -> Self {
        Hart {
            cpu: RiscvCpu::new(mem, platform, hartid),
            exec: Executor::new(),
        }
    }

    /// Runs until an exit request, `wfi`, or about `budget` instructions.
    pub fn run(&mut self, budget: u64) -> CpuExit {
        self.exec.cpu_exec(&mut self.cpu, budget)
    }

    /// The device interrupt lines of this hart (clone the `Arc` into devices).
    pub fn irq_lines(&self) -> Arc<IrqLines> {
        self.cpu.irq.clone()
    }

    /// Sleeps a halted hart until an interrupt is pending and enabled in
    /// `mie`, an exit is requested, or `timeout` passes (QEMU's halted vCPU
    /// waiting on `qemu_cpu_cond`). Returns true if there is work.
    pub fn wait_for_interrupt(&self, timeout: Option<Duration>) -> bool {
        let lines = &self.cpu.irq;
        let mut g = lines.wake_lock.lock();
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            if self.cpu.has_work() {
                return true;
            }
            if lines.request.load(Ordering::SeqCst) & REQ_EXIT != 0 {
                return false;
            }
            match deadline {
                Some(d) => {
                    if lines.wake.wait_until(&mut g, d).timed_out() {
                        return self.cpu.has_work();
                    }
                }
                None => lines.wake.wait(&mut g),
            }
        }
    }
}
