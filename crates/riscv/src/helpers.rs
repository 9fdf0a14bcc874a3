//! Helper functions called from translated code (QEMU's `op_helper.c`,
//! `csr.c` entry points, `trans_rva.c.inc` atomics). Each takes the
//! instruction word and decodes its own operands.

use ferrite_aio::bql::with_bql;
use ferrite_aio::log::LogMask;
use ferrite_aio::qemu_log_mask;
use ferrite_tcg::Access;
use ferrite_tcg::Fault;
use ferrite_tcg::cpu::{AtomicOp, atomic_lookup, load, probe_write, store, tlb_lookup};

use crate::cpu::{PRV_M, PRV_S, PRV_U, RiscvCpu, excp};
use crate::csr::{self, MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP, MSTATUS_MPRV, MSTATUS_SIE};
use crate::csr::{MSTATUS_SPIE, MSTATUS_SPP, MSTATUS_TVM, MSTATUS_TW};

fn rd(i: u32) -> usize {
    ((i >> 7) & 31) as usize
}
fn rs1(i: u32) -> usize {
    ((i >> 15) & 31) as usize
}
fn rs2(i: u32) -> usize {
    ((i >> 20) & 31) as usize
}

/// Raises illegal instruction with the instruction bits as `tval`.
pub fn illegal(cpu: &mut RiscvCpu, raw: u32) -> Result<(), Fault> {
    qemu_log_mask!(
        LogMask::UNIMP,
        "illegal instruction 0x{raw:08x} at pc 0x{:x}\n",
        cpu.common.pc
    );
    Err(cpu.illegal(raw))
}

/// Marks the FP state dirty (after an FP load).
pub fn fs_dirty(cpu: &mut RiscvCpu, _: u32) -> Result<(), Fault> {
    cpu.csr.set_fs_dirty();
    Ok(())
}

/// `ecall`.
pub fn ecall(cpu: &mut RiscvCpu, _: u32) -> Result<(), Fault> {
    let cause = excp::ECALL_U + cpu.priv_ as u64;
    Err(cpu.raise(cause, 0))
}

/// `ebreak` (`tval` is filled with the PC at delivery).
pub fn ebreak(cpu: &mut RiscvCpu, _: u32) -> Result<(), Fault> {
    Err(cpu.raise(excp::BREAKPOINT, 0))
}

/// Zicsr: `csrrw`, `csrrs`, `csrrc` and the immediate forms.
pub fn csr(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    let csr = (i >> 20) as u16;
    let f3 = (i >> 12) & 7;
    let src = if f3 & 4 != 0 {
        rs1(i) as u64
    } else {
        cpu.x(rs1(i))
    };
    // csrrs/csrrc write only when the mask is non-zero. QEMU 7.2 quirk: it
    // looks at the mask's value, not at whether rs1 is x0, so a non-x0 rs1
    // holding 0 is a plain read, legal on a read-only CSR (the spec counts
    // it as a write); docs/divergences.md.
    let write = f3 & 3 == 1 || src != 0;
    if csr::csr_check(cpu, csr, write).is_err() {
        return Err(cpu.illegal(i));
    }
    let Ok(old) = csr::csr_read(cpu, csr) else {
        return Err(cpu.illegal(i));
    };
    if write {
        // For mip/sip, CSRRS and CSRRC modify the software-writable bits
        // only: the value read ORs in the interrupt controllers' lines
        // (SEIP from the PLIC, ...), and writing that back would latch a
        // momentary external interrupt into the software SEIP bit for
        // good (priv spec, "mip"; QEMU's rmw_mip writes only the bits in
        // the write mask).
        let base = if matches!(csr, 0x344 | 0x144) {
            cpu.csr.mip_sw
        } else {
            old
        };
        let new = match f3 & 3 {
            1 => src,
            2 => base | src,
            _ => base & !src,
        };
        if csr::csr_write(cpu, csr, new).is_err() {
            return Err(cpu.illegal(i));
        }
    }
    cpu.set_x(rd(i), old);
    Ok(())
}

/// `mret`.
pub fn mret(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    if cpu.priv_ < PRV_M {
        return Err(cpu.illegal(i));
    }
    let s = cpu.csr.mstatus;
    let mpp = ((s & MSTATUS_MPP) >> 11) as u8;
    let mut n = s & !(MSTATUS_MIE | MSTATUS_MPP);
    if s & MSTATUS_MPIE != 0 {
        n |= MSTATUS_MIE;
    }
    n |= MSTATUS_MPIE;
    if mpp != PRV_M {
        n &= !MSTATUS_MPRV;
    }
    cpu.csr.mstatus = n;
    cpu.priv_ = mpp;
    // mepc may hold an odd value (QEMU quirk, see csr.rs); the return PC
    // is kept 2-byte aligned so fetch never sees an odd PC.
    cpu.common.pc = cpu.csr.mepc & !1;
    Ok(())
}

/// `sret`.
pub fn sret(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    if !csr::sret_allowed(cpu) {
        return Err(cpu.illegal(i));
    }
    let s = cpu.csr.mstatus;
    let spp = if s & MSTATUS_SPP != 0 { PRV_S } else { PRV_U };
    let mut n = s & !(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV);
    if s & MSTATUS_SPIE != 0 {
        n |= MSTATUS_SIE;
    }
    n |= MSTATUS_SPIE;
    cpu.csr.mstatus = n;
    cpu.priv_ = spp;
    cpu.common.pc = cpu.csr.sepc & !1;
    Ok(())
}

/// `wfi`: legality only; the block then exits with `Halt`.
pub fn wfi(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    if cpu.priv_ == PRV_U || (cpu.priv_ == PRV_S && cpu.csr.mstatus & MSTATUS_TW != 0) {
        return Err(cpu.illegal(i));
    }
    Ok(())
}

/// `sfence.vma rs1, rs2`: precise by address; by ASID drops non-global
/// entries (the TLB only ever holds the current ASID's translations because a
/// `satp` change flushes it).
pub fn sfence_vma(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    if cpu.priv_ == PRV_U || (cpu.priv_ == PRV_S && cpu.csr.mstatus & MSTATUS_TVM != 0) {
        return Err(cpu.illegal(i));
    }
    let (a, asid) = (rs1(i), rs2(i));
    if a != 0 {
        let va = cpu.x(a);
        qemu_log_mask!(LogMask::MMU, "sfence.vma: flush page 0x{va:x}\n");
        cpu.common.tlb_flush_page(va);
    } else if asid != 0 {
        let cur = (cpu.csr.satp >> 44) & 0xffff;
        if cpu.x(asid) & 0xffff == cur {
            cpu.common.tlb_flush_nonglobal();
        }
    } else {
        cpu.common.tlb_flush();
    }
    Ok(())
}

fn amo_size(i: u32) -> u32 {
    if (i >> 12) & 7 == 2 { 4 } else { 8 }
}

fn sext_size(v: u64, size: u32) -> u64 {
    if size == 4 { v as i32 as i64 as u64 } else { v }
}

/// An AMO whose access faults for lack of memory or PMP permission:
/// QEMU 7.2 quirk, it reports a load access fault (5), not the spec's
/// store/AMO access fault (7), because its atomic helpers fall back to a
/// load-then-store sequence whose load faults first (docs/divergences.md).
/// Page faults keep their store/AMO cause.
fn amo_access_as_load(cpu: &mut RiscvCpu) -> Fault {
    if let Some(e) = cpu.pending.as_mut()
        && e.cause == excp::STORE_ACCESS
    {
        e.cause = excp::LOAD_ACCESS;
    }
    Fault
}

/// `lr.w`/`lr.d`: records the address and the value read (QEMU's
/// `load_res`/`load_val`); the SC compares against that value.
pub fn lr(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    let size = amo_size(i);
    let addr = cpu.x(rs1(i));
    if !addr.is_multiple_of(size as u64) {
        return Err(cpu.raise(excp::LOAD_MISALIGNED, addr));
    }
    let mmu = cpu.data_mmu_idx();
    let v = sext_size(load(cpu, addr, size, mmu)?, size);
    cpu.reservation = Some((addr, v));
    cpu.set_x(rd(i), v);
    Ok(())
}

/// `sc.w`/`sc.d`: succeeds if the reservation is for this address and memory
/// still holds the value LR read, as one host compare-and-swap (QEMU's
/// `gen_sc`: `tcg_gen_atomic_cmpxchg_tl` against `load_val`). Like QEMU it
/// does not notice a change back to the same value (ABA).
pub fn sc(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    let size = amo_size(i);
    let addr = cpu.x(rs1(i));
    let res = cpu.reservation.take();
    let mmu = cpu.data_mmu_idx();
    let ok = match res {
        Some((a, val)) if a == addr => {
            // A reservation is only ever taken at an aligned address (a
            // misaligned LR traps), so this SC is aligned. QEMU 7.2 checks
            // the reservation before the alignment: a misaligned SC just
            // fails below without trapping (docs/divergences.md).
            probe_write(cpu, addr, size, mmu)?;
            let new = cpu.x(rs2(i));
            match atomic_lookup(cpu, addr, size, mmu)? {
                Some(ram) => ram.cmpxchg(val, new),
                // The non-RAM fallback (a device, ROM): a load then a store
                // with the BQL held across both. QEMU runs it with every other
                // vCPU stopped (`cpu_exec_step_atomic`); device accesses are
                // serialised by the BQL, so the pair is atomic for devices.
                None => with_bql(|| -> Result<bool, Fault> {
                    let cur = load(cpu, addr, size, mmu)?;
                    if sext_size(cur, size) == val {
                        store(cpu, addr, size, new, mmu)?;
                        Ok(true)
                    } else {
                        Ok(false)
                    }
                })?,
            }
        }
        _ => false,
    };
    cpu.set_x(rd(i), (!ok) as u64);
    Ok(())
}

/// The AMO read-modify-write instructions: one host atomic RMW on RAM
/// (QEMU's `tcg_gen_atomic_fetch_*`); on a device, a load and a store
/// under the BQL.
pub fn amo(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    let size = amo_size(i);
    let addr = cpu.x(rs1(i));
    if !addr.is_multiple_of(size as u64) {
        // QEMU 7.2 quirk: load address-misaligned (4), not the spec's
        // store/AMO address-misaligned (6) (docs/divergences.md).
        return Err(cpu.raise(excp::LOAD_MISALIGNED, addr));
    }
    let mmu = cpu.data_mmu_idx();
    probe_write(cpu, addr, size, mmu).map_err(|_| amo_access_as_load(cpu))?;
    // The read permission, with the fault a load would raise.
    tlb_lookup(cpu, addr, size, Access::Read, mmu).map_err(|_| amo_access_as_load(cpu))?;
    let op = match i >> 27 {
        0x01 => AtomicOp::Swap,
        0x00 => AtomicOp::Add,
        0x04 => AtomicOp::Xor,
        0x0c => AtomicOp::And,
        0x08 => AtomicOp::Or,
        0x10 => AtomicOp::Min,
        0x14 => AtomicOp::Max,
        0x18 => AtomicOp::Minu,
        _ => AtomicOp::Maxu,
    };
    let src = cpu.x(rs2(i));
    let old = match atomic_lookup(cpu, addr, size, mmu).map_err(|_| amo_access_as_load(cpu))? {
        Some(ram) => sext_size(ram.rmw(op, src), size),
        // Device or ROM: load then store under the BQL (see `sc`).
        None => with_bql(|| -> Result<u64, Fault> {
            let old = sext_size(
                load(cpu, addr, size, mmu).map_err(|_| amo_access_as_load(cpu))?,
                size,
            );
            store(cpu, addr, size, amo_value(op, old, src, size), mmu)?;
            Ok(old)
        })?,
    };
    cpu.set_x(rd(i), old);
    Ok(())
}

/// The value an AMO stores, for the non-atomic fallback.
fn amo_value(op: AtomicOp, old: u64, src: u64, size: u32) -> u64 {
    let src = sext_size(src, size);
    match op {
        AtomicOp::Swap => src,
        AtomicOp::Add => old.wrapping_add(src),
        AtomicOp::Xor => old ^ src,
        AtomicOp::And => old & src,
        AtomicOp::Or => old | src,
        AtomicOp::Min => (old as i64).min(src as i64) as u64,
        AtomicOp::Max => (old as i64).max(src as i64) as u64,
        AtomicOp::Minu if size == 4 => (old as u32).min(src as u32) as u64,
        AtomicOp::Maxu if size == 4 => (old as u32).max(src as u32) as u64,
        AtomicOp::Minu => old.min(src),
        AtomicOp::Maxu => old.max(src),
    }
}

/// `fence` ordering earlier stores before later loads: a full host fence.
/// Every other ordering RVWMO asks for already holds on the host: the
/// interpreter performs guest accesses in program order, and x86-TSO keeps
/// load-load, load-store and store-store order; only store-load needs a
/// barrier (QEMU's `tcg_gen_mb` emits one only for that on x86).
pub fn fence(_cpu: &mut RiscvCpu, _: u32) -> Result<(), Fault> {
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    Ok(())
}
