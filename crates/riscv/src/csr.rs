//! Control and status registers (QEMU's `target/riscv/csr.c`): storage,
//! WARL legalisation and the access rules that raise illegal-instruction.

use ferrite_aio::log::LogMask;
use ferrite_aio::qemu_log_mask;

use crate::cpu::{PRV_M, PRV_S, PRV_U, RiscvCpu, irq};

/// `mstatus.SIE`.
pub const MSTATUS_SIE: u64 = 1 << 1;
/// `mstatus.MIE`.
pub const MSTATUS_MIE: u64 = 1 << 3;
/// `mstatus.SPIE`.
pub const MSTATUS_SPIE: u64 = 1 << 5;
/// `mstatus.MPIE`.
pub const MSTATUS_MPIE: u64 = 1 << 7;
/// `mstatus.SPP`.
pub const MSTATUS_SPP: u64 = 1 << 8;
/// `mstatus.MPP` (2 bits).
pub const MSTATUS_MPP: u64 = 3 << 11;
/// `mstatus.FS` (2 bits).
pub const MSTATUS_FS: u64 = 3 << 13;
/// `mstatus.XS` (2 bits, read-only zero here).
pub const MSTATUS_XS: u64 = 3 << 15;
/// `mstatus.MPRV`.
pub const MSTATUS_MPRV: u64 = 1 << 17;
/// `mstatus.SUM`.
pub const MSTATUS_SUM: u64 = 1 << 18;
/// `mstatus.MXR`.
pub const MSTATUS_MXR: u64 = 1 << 19;
/// `mstatus.TVM`.
pub const MSTATUS_TVM: u64 = 1 << 20;
/// `mstatus.TW`.
pub const MSTATUS_TW: u64 = 1 << 21;
/// `mstatus.TSR`.
pub const MSTATUS_TSR: u64 = 1 << 22;
/// `mstatus.UXL` = 2 (64-bit), read-only.
pub const MSTATUS_UXL_64: u64 = 2 << 32;
/// `mstatus.SXL` = 2 (64-bit), read-only.
pub const MSTATUS_SXL_64: u64 = 2 << 34;
/// `mstatus.SD`.
pub const MSTATUS_SD: u64 = 1 << 63;

/// `menvcfg.FIOM`.
pub const MENVCFG_FIOM: u64 = 1;
/// `menvcfg.STCE` (Sstc enable).
pub const MENVCFG_STCE: u64 = 1 << 63;

/// `misa` for RV64IMAFDC + S + U (plus B-less Zba/Zbb/Zbs, which have no
/// misa bit).
pub const MISA: u64 = (2 << 62)
    | (1 << 0)   // A
    | (1 << 2)   // C
    | (1 << 3)   // D
    | (1 << 5)   // F
    | (1 << 8)   // I
    | (1 << 12)  // M
    | (1 << 18)  // S
    | (1 << 20); // U

const MSTATUS_WMASK: u64 = MSTATUS_SIE
    | MSTATUS_MIE
    | MSTATUS_SPIE
    | MSTATUS_MPIE
    | MSTATUS_SPP
    | MSTATUS_MPP
    | MSTATUS_FS
    | MSTATUS_MPRV
    | MSTATUS_SUM
    | MSTATUS_MXR
    | MSTATUS_TVM
    | MSTATUS_TW
    | MSTATUS_TSR;
const SSTATUS_RMASK: u64 = MSTATUS_SIE
    | MSTATUS_SPIE
    | MSTATUS_SPP
    | MSTATUS_FS
    | MSTATUS_XS
    | MSTATUS_SUM
    | MSTATUS_MXR
    | (3 << 32)
    | MSTATUS_SD;
const SSTATUS_WMASK: u64 =
    MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR;

/// `mstatus` fields whose change flushes the TLB. MXR changes what the
/// cached permissions mean; MPP, MPRV and SUM do not need a flush (they
/// select an MMU index) but QEMU 7.2's `write_mstatus` flushes on them too,
/// and which accesses then refill the TLB is visible (a page-crossing
/// access is PMP-checked as a whole only on a refill), so we follow it.
const MSTATUS_FLUSH: u64 = MSTATUS_MXR | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_SUM;

/// Interrupts that exist on this hart.
const ALL_INTS: u64 = irq::SSIP | irq::MSIP | irq::STIP | irq::MTIP | irq::SEIP | irq::MEIP;
/// Interrupts M-mode may delegate (QEMU's `delegable_ints`).
const DELEGABLE_INTS: u64 = irq::SSIP | irq::STIP | irq::SEIP;
/// Exceptions M-mode may delegate: everything except the reserved codes 10
/// and 14. QEMU 7.2 quirk: bit 11 (ecall from M) is writable too, although
/// the privileged spec makes it read-only 0; traps taken in M are never
/// delegated, so only the read-back value differs (docs/divergences.md).
const DELEGABLE_EXCPS: u64 = 0xBBFF;

/// CSR storage.
#[derive(Clone, Debug)]
pub struct Csrs {
    /// `mstatus` (SD is computed on read).
    pub mstatus: u64,
    /// `medeleg`.
    pub medeleg: u64,
    /// `mideleg`.
    pub mideleg: u64,
    /// `mie`.
    pub mie: u64,
    /// Software-written `mip` bits (SSIP, STIP, SEIP).
    pub mip_sw: u64,
    /// `mtvec`.
    pub mtvec: u64,
    /// `stvec`.
    pub stvec: u64,
    /// `mscratch`.
    pub mscratch: u64,
    /// `sscratch`.
    pub sscratch: u64,
    /// `mepc`.
    pub mepc: u64,
    /// `sepc`.
    pub sepc: u64,
    /// `mcause`.
    pub mcause: u64,
    /// `scause`.
    pub scause: u64,
    /// `mtval`.
    pub mtval: u64,
    /// `stval`.
    pub stval: u64,
    /// `satp`.
    pub satp: u64,
    /// `mcounteren`.
    pub mcounteren: u64,
    /// `scounteren`.
    pub scounteren: u64,
    /// `mcountinhibit` (CY and IR implemented).
    pub mcountinhibit: u64,
    /// `menvcfg`.
    pub menvcfg: u64,
    /// `senvcfg`.
    pub senvcfg: u64,
    /// `stimecmp` (Sstc).
    pub stimecmp: u64,
    /// `mhartid`.
    pub mhartid: u64,
    /// `frm`.
    pub frm: u8,
    /// `fflags`.
    pub fflags: u8,
    /// `pmpcfg` bytes for the 16 entries.
    pub pmpcfg: [u8; 16],
    /// `pmpaddr0`–`pmpaddr15`.
    pub pmpaddr: [u64; 16],
    /// `mcycle` = instret-based count + this offset.
    pub mcycle_off: u64,
    /// `minstret` = retired count + this offset.
    pub minstret_off: u64,
    /// Value `mcycle` froze at while inhibited.
    pub mcycle_frozen: u64,
    /// Value `minstret` froze at while inhibited.
    pub minstret_frozen: u64,
}

impl Csrs {
    /// Reset values.
    pub fn new(hartid: u64) -> Self {
        Csrs {
            mstatus: 0,
            medeleg: 0,
            mideleg: 0,
            mie: 0,
            mip_sw: 0,
            mtvec: 0,
            stvec: 0,
            mscratch: 0,
            sscratch: 0,
            mepc: 0,
            sepc: 0,
            mcause: 0,
            scause: 0,
            mtval: 0,
            stval: 0,
            satp: 0,
            mcounteren: 0,
            scounteren: 0,
            mcountinhibit: 0,
            menvcfg: 0,
            senvcfg: 0,
            // QEMU 7.2 resets stimecmp to 0 (the bare-metal sstc test reads
            // it back); STIP only follows it once menvcfg.STCE is set.
            stimecmp: 0,
            mhartid: hartid,
            frm: 0,
            fflags: 0,
            pmpcfg: [0; 16],
            pmpaddr: [0; 16],
            mcycle_off: 0,
            minstret_off: 0,
            mcycle_frozen: 0,
            minstret_frozen: 0,
        }
    }

    /// `mstatus` as read, with SD computed from FS.
    pub fn mstatus_read(&self) -> u64 {
        let mut v = self.mstatus | MSTATUS_UXL_64 | MSTATUS_SXL_64;
        if v & MSTATUS_FS == MSTATUS_FS {
            v |= MSTATUS_SD;
        }
        v
    }

    /// FS field.
    pub fn fs(&self) -> u64 {
        (self.mstatus >> 13) & 3
    }

    /// Sets `mstatus.FS` to Dirty (3).
    #[inline]
    pub fn set_fs_dirty(&mut self) {
        self.mstatus |= MSTATUS_FS;
    }
}

/// Whether the counter CSR `csr` (0xC00–0xC1F family) may be read at the
/// current privilege (Zicntr/Zihpm enables).
fn counter_enabled(cpu: &RiscvCpu, bit: u32) -> bool {
    if cpu.priv_ < PRV_M && (cpu.csr.mcounteren >> bit) & 1 == 0 {
        return false;
    }
    if cpu.priv_ < PRV_S && (cpu.csr.scounteren >> bit) & 1 == 0 {
        return false;
    }
    true
}

fn mcycle(cpu: &RiscvCpu) -> u64 {
    if cpu.csr.mcountinhibit & 1 != 0 {
        cpu.csr.mcycle_frozen
    } else {
        cpu.instret_now().wrapping_add(cpu.csr.mcycle_off)
    }
}

fn minstret(cpu: &RiscvCpu) -> u64 {
    if cpu.csr.mcountinhibit & 4 != 0 {
        cpu.csr.minstret_frozen
    } else {
        cpu.instret_now().wrapping_add(cpu.csr.minstret_off)
    }
}

/// A CSR access that must raise illegal instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IllegalCsr;

/// Outcome of a CSR access.
pub type CsrResult<T> = Result<T, IllegalCsr>;

/// Reads CSR `csr` with the access checks (privilege, existence, counter
/// enables, FS, TVM, Sstc enables). `write` says whether the instruction
/// will also write it (for the read-only check). `Err` means
/// illegal instruction.
pub fn csr_check(cpu: &RiscvCpu, csr: u16, write: bool) -> CsrResult<()> {
    let min_priv = ((csr >> 8) & 3) as u8;
    if cpu.priv_ < min_priv {
        return Err(IllegalCsr);
    }
    if write && (csr >> 10) & 3 == 3 {
        return Err(IllegalCsr);
    }
    Ok(())
}

/// Reads a CSR (after [`csr_check`]). `Err` = illegal instruction
/// (nonexistent CSR or disabled by an enable bit).
pub fn csr_read(cpu: &mut RiscvCpu, csr: u16) -> CsrResult<u64> {
    let c = &cpu.csr;
    let v = match csr {
        0x001..=0x003 => {
            if c.fs() == 0 {
                return Err(IllegalCsr);
            }
            match csr {
                0x001 => c.fflags as u64,
                0x002 => c.frm as u64,
                _ => (c.frm as u64) << 5 | c.fflags as u64,
            }
        }
        0xC00..=0xC1F => {
            let bit = (csr - 0xC00) as u32;
            if !counter_enabled(cpu, bit) {
                return Err(IllegalCsr);
            }
            match bit {
                0 => mcycle(cpu),
                1 => {
                    // QEMU's `time` predicate: illegal without an rdtime
                    // source (e.g. QEMU's spike board).
                    if !cpu.platform.has_time() {
                        return Err(IllegalCsr);
                    }
                    cpu.platform.time()
                }
                2 => minstret(cpu),
                _ => 0,
            }
        }
        0x100 => c.mstatus_read() & SSTATUS_RMASK,
        0x104 => c.mie & c.mideleg,
        0x105 => c.stvec,
        0x106 => c.scounteren,
        0x10A => c.senvcfg,
        0x140 => c.sscratch,
        0x141 => c.sepc,
        0x142 => c.scause,
        0x143 => c.stval,
        0x144 => cpu.mip() & c.mideleg,
        0x14D => {
            stimecmp_check(cpu)?;
            c.stimecmp
        }
        0x180 => {
            if cpu.priv_ == PRV_S && c.mstatus & MSTATUS_TVM != 0 {
                return Err(IllegalCsr);
            }
            c.satp
        }
        0x300 => c.mstatus_read(),
        0x301 => MISA,
        0x302 => c.medeleg,
        0x303 => c.mideleg,
        0x304 => c.mie,
        0x305 => c.mtvec,
        0x306 => c.mcounteren,
        0x30A => c.menvcfg,
        0x320 => c.mcountinhibit,
        0x323..=0x33F => 0,
        0x340 => c.mscratch,
        0x341 => c.mepc,
        0x342 => c.mcause,
        0x343 => c.mtval,
        0x344 => cpu.mip(),
        0x3A0 => u64::from_le_bytes(c.pmpcfg[0..8].try_into().unwrap()),
        0x3A2 => u64::from_le_bytes(c.pmpcfg[8..16].try_into().unwrap()),
        0x3B0..=0x3BF => crate::mmu::pmpaddr_read(cpu, (csr - 0x3B0) as usize),
        0x7A0..=0x7A3 => 0,
        0xB00 => mcycle(cpu),
        0xB02 => minstret(cpu),
        0xB03..=0xB1F => 0,
        0xF11..=0xF13 | 0xF15 => 0,
        0xF14 => c.mhartid,
        _ => {
            qemu_log_mask!(
                LogMask::GUEST_ERROR,
                "access to unimplemented CSR 0x{csr:03x}\n"
            );
            return Err(IllegalCsr);
        }
    };
    Ok(v)
}

fn stimecmp_check(cpu: &RiscvCpu) -> CsrResult<()> {
    if cpu.priv_ < PRV_M && (cpu.csr.menvcfg & MENVCFG_STCE == 0 || cpu.csr.mcounteren & 2 == 0) {
        return Err(IllegalCsr);
    }
    Ok(())
}

/// What a CSR write requires from the translator/TLB afterwards.
fn flush_tlb(cpu: &mut RiscvCpu) {
    qemu_log_mask!(LogMask::MMU, "tlb_flush: satp/mstatus change\n");
    cpu.common.tlb_flush();
}

/// Writes a CSR (after [`csr_check`] and a successful [`csr_read`] of the
/// same CSR). `Err` = illegal instruction.
pub fn csr_write(cpu: &mut RiscvCpu, csr: u16, v: u64) -> CsrResult<()> {
    let c = &mut cpu.csr;
    match csr {
        0x001 => {
            c.fflags = (v & 0x1f) as u8;
            c.set_fs_dirty();
        }
        0x002 => {
            c.frm = (v & 7) as u8;
            c.set_fs_dirty();
        }
        0x003 => {
            c.fflags = (v & 0x1f) as u8;
            c.frm = ((v >> 5) & 7) as u8;
            c.set_fs_dirty();
        }
        0xC00..=0xC1F => return Err(IllegalCsr),
        0x100 => {
            let old = c.mstatus;
            c.mstatus = (old & !SSTATUS_WMASK) | (v & SSTATUS_WMASK);
            if (old ^ c.mstatus) & MSTATUS_FLUSH != 0 {
                flush_tlb(cpu);
            }
        }
        0x104 => c.mie = (c.mie & !c.mideleg) | (v & c.mideleg & ALL_INTS),
        0x105 => write_tvec(&mut c.stvec, v),
        0x106 => c.scounteren = v & 0xffff_ffff,
        0x10A => c.senvcfg = v & MENVCFG_FIOM,
        0x140 => c.sscratch = v,
        // QEMU 7.2 quirk: sepc keeps bit 0 as written (docs/divergences.md).
        0x141 => c.sepc = v,
        0x142 => c.scause = v,
        0x143 => c.stval = v,
        0x144 => {
            let mask = irq::SSIP & c.mideleg;
            c.mip_sw = (c.mip_sw & !mask) | (v & mask);
        }
        0x14D => {
            c.stimecmp = v;
            let hart = c.mhartid;
            if c.menvcfg & MENVCFG_STCE == 0 {
                // QEMU 7.2 quirk (riscv_timer_write_timecmp): the
                // comparison runs on every write whatever STCE says, and
                // with STCE clear it drives the software-writable STIP: a
                // reached value sets it, a future one clears it
                // (docs/divergences.md).
                if cpu.platform.time() >= v {
                    c.mip_sw |= irq::STIP;
                } else {
                    c.mip_sw &= !irq::STIP;
                }
            }
            cpu.platform.set_stimecmp_deadline(hart, Some(v));
        }
        0x180 => {
            let mode = v >> 60;
            if mode != 0 && mode != 8 && mode != 9 {
                // WARL: a write with an unsupported mode has no effect.
                return Ok(());
            }
            // MODE, a 16-bit ASID and a 44-bit PPN fill all 64 bits.
            let new = v;
            if new != c.satp {
                c.satp = new;
                flush_tlb(cpu);
            }
        }
        0x300 => {
            let old = c.mstatus;
            let mut n = (old & !MSTATUS_WMASK) | (v & MSTATUS_WMASK);
            if (n & MSTATUS_MPP) >> 11 == 2 {
                // MPP is WARL: 2 (H) is not a supported mode; keep the old value.
                n = (n & !MSTATUS_MPP) | (old & MSTATUS_MPP);
            }
            c.mstatus = n;
            if (old ^ n) & MSTATUS_FLUSH != 0 {
                flush_tlb(cpu);
            }
        }
        0x301 => {} // misa is read-only (WARL).
        0x302 => c.medeleg = v & DELEGABLE_EXCPS,
        0x303 => c.mideleg = v & DELEGABLE_INTS,
        0x304 => c.mie = v & ALL_INTS,
        0x305 => write_tvec(&mut c.mtvec, v),
        0x306 => c.mcounteren = v & 0xffff_ffff,
        0x30A => c.menvcfg = v & (MENVCFG_FIOM | MENVCFG_STCE),
        0x320 => {
            let cy = mcycle(cpu);
            let ir = minstret(cpu);
            let c = &mut cpu.csr;
            let old = c.mcountinhibit;
            let new = v & !2 & 0xffff_ffff;
            let now = cpu.common.icount + cpu.common.cur_insn as u64;
            if new & 1 != 0 && old & 1 == 0 {
                c.mcycle_frozen = cy;
            } else if new & 1 == 0 && old & 1 != 0 {
                c.mcycle_off = c.mcycle_frozen.wrapping_sub(now);
            }
            if new & 4 != 0 && old & 4 == 0 {
                c.minstret_frozen = ir;
            } else if new & 4 == 0 && old & 4 != 0 {
                c.minstret_off = c.minstret_frozen.wrapping_sub(now);
            }
            c.mcountinhibit = new;
        }
        0x323..=0x33F => {}
        0x340 => c.mscratch = v,
        // QEMU 7.2 quirk: mepc keeps bit 0 as written (docs/divergences.md).
        0x341 => c.mepc = v,
        0x342 => c.mcause = v,
        0x343 => c.mtval = v,
        0x344 => {
            let mut mask = irq::SSIP | irq::STIP | irq::SEIP;
            if c.menvcfg & MENVCFG_STCE != 0 {
                mask &= !irq::STIP;
            }
            c.mip_sw = (c.mip_sw & !mask) | (v & mask);
        }
        0x3A0 => crate::mmu::pmpcfg_write(cpu, 0, v),
        0x3A2 => crate::mmu::pmpcfg_write(cpu, 8, v),
        0x3B0..=0x3BF => crate::mmu::pmpaddr_write(cpu, (csr - 0x3B0) as usize, v),
        0x7A0..=0x7A3 => {} // No triggers: tselect reads 0, writes ignored.
        0xB00 | 0xB02 => {
            let now = cpu.instret_now();
            let c = &mut cpu.csr;
            // QEMU 7.2 quirk (with -icount): the writing instruction still
            // counts, so the next instruction reads the written value + 1
            // (the spec: the write replaces that increment, giving the value
            // itself); docs/divergences.md.
            if csr == 0xB00 {
                if c.mcountinhibit & 1 != 0 {
                    c.mcycle_frozen = v;
                } else {
                    c.mcycle_off = v.wrapping_sub(now);
                }
            } else if c.mcountinhibit & 4 != 0 {
                c.minstret_frozen = v;
            } else {
                c.minstret_off = v.wrapping_sub(now);
            }
        }
        0xB03..=0xB1F => {}
        _ => return Err(IllegalCsr),
    }
    Ok(())
}

fn write_tvec(reg: &mut u64, v: u64) {
    if v & 3 < 2 {
        *reg = v;
    } else {
        qemu_log_mask!(LogMask::UNIMP, "CSR_MTVEC: reserved mode not supported\n");
    }
}

/// Whether the current privilege allows `sret` (not U, not S with TSR).
pub fn sret_allowed(cpu: &RiscvCpu) -> bool {
    !(cpu.priv_ == PRV_U || (cpu.priv_ == PRV_S && cpu.csr.mstatus & MSTATUS_TSR != 0))
}
