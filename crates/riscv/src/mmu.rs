//! Address translation (Sv39/Sv48 page walks with hardware A/D updates) and
//! physical memory protection (QEMU's `get_physical_address` and `pmp.c`).

use std::sync::atomic::{AtomicU64, Ordering};

use ferrite_aio::log::LogMask;
use ferrite_aio::qemu_log_mask;
use ferrite_tcg::cpu::{PROT_EXEC, PROT_READ, PROT_WRITE};
use ferrite_tcg::{Access, CpuCommon, Fault, PAGE_MASK, PAGE_SIZE, Section, TlbFill};

use crate::cpu::{MMU_M, MMU_S, MMU_S_SUM, MMU_U, PRV_M, PRV_S, PRV_U, RiscvCpu, excp};
use crate::csr::MSTATUS_MXR;

const PTE_V: u64 = 1 << 0;
const PTE_R: u64 = 1 << 1;
const PTE_W: u64 = 1 << 2;
const PTE_X: u64 = 1 << 3;
const PTE_U: u64 = 1 << 4;
const PTE_G: u64 = 1 << 5;
const PTE_A: u64 = 1 << 6;
const PTE_D: u64 = 1 << 7;
const PTE_PPN_MASK: u64 = ((1 << 44) - 1) << 10;
/// Bits 63:54: N, PBMT and reserved; none of the extensions that give them
/// meaning (Svnapot, Svpbmt) is implemented, so any set bit is a fault.
const PTE_RESERVED: u64 = 0x3FF << 54;

const PMP_R: u8 = 1;
const PMP_W: u8 = 2;
const PMP_X: u8 = 4;
const PMP_A_SHIFT: u8 = 3;
const PMP_L: u8 = 0x80;

fn page_fault(access: Access) -> u64 {
    match access {
        Access::Read => excp::LOAD_PAGE,
        Access::Write => excp::STORE_PAGE,
        Access::Fetch => excp::INST_PAGE,
    }
}

fn access_fault(access: Access) -> u64 {
    match access {
        Access::Read => excp::LOAD_ACCESS,
        Access::Write => excp::STORE_ACCESS,
        Access::Fetch => excp::INST_ACCESS,
    }
}

fn prot_bit(access: Access) -> u8 {
    match access {
        Access::Read => PROT_READ,
        Access::Write => PROT_WRITE,
        Access::Fetch => PROT_EXEC,
    }
}

/// The target's `tlb_fill`: translation then PMP.
pub fn tlb_fill(
    cpu: &mut RiscvCpu,
    vaddr: u64,
    size: u32,
    access: Access,
    mmu_idx: usize,
) -> Result<TlbFill, Fault> {
    let priv_ = match mmu_idx {
        MMU_U => PRV_U,
        MMU_S | MMU_S_SUM => PRV_S,
        _ => PRV_M,
    };
    let mode = cpu.csr.satp >> 60;
    let (paddr, mut prot, global, large) = if mmu_idx == MMU_M || mode == 0 {
        (
            vaddr & PAGE_MASK,
            PROT_READ | PROT_WRITE | PROT_EXEC,
            true,
            0,
        )
    } else {
        match walk(cpu, vaddr, access, priv_, mmu_idx == MMU_S_SUM) {
            Ok(r) => r,
            Err(cause) => {
                qemu_log_mask!(
                    LogMask::MMU,
                    "riscv_cpu_tlb_fill: fault vaddr 0x{vaddr:x} {access:?} mmu_idx {mmu_idx} cause {cause}\n"
                );
                return Err(cpu.raise(cause, vaddr));
            }
        }
    };
    // PMP: the access itself must pass; other permissions in the TLB entry
    // are those PMP grants for the whole page.
    let pa = paddr | (vaddr & !PAGE_MASK);
    let (pmp_prot, uniform) = pmp_page_prot(cpu, paddr, priv_);
    if !uniform {
        // The page is split between PMP regions: check this access exactly
        // and do not cache the translation.
        if !pmp_allows(cpu, pa, size.max(1) as u64, access, priv_) {
            return Err(cpu.raise(access_fault(access), vaddr));
        }
        return Ok(TlbFill {
            paddr,
            prot: prot_bit(access),
            global,
            large_mask: large,
            cacheable: false,
        });
    }
    prot &= pmp_prot;
    if (pa & !PAGE_MASK) + size as u64 > PAGE_SIZE
        && !pmp_allows(cpu, pa, size as u64, access, priv_)
    {
        // A page-crossing access is checked by PMP as a whole when its first
        // page is filled (QEMU's `pmp_hart_has_privs(addr, size)`): one that
        // leaves its entry fails, with the access's start in xtval.
        return Err(cpu.raise(access_fault(access), vaddr));
    }
    if prot & prot_bit(access) == 0 {
        return Err(cpu.raise(access_fault(access), vaddr));
    }
    qemu_log_mask!(
        LogMask::MMU,
        "riscv_cpu_tlb_fill: vaddr 0x{vaddr:x} -> paddr 0x{pa:x} prot {prot:x} mmu_idx {mmu_idx}\n"
    );
    Ok(TlbFill {
        paddr,
        prot,
        global,
        large_mask: large,
        cacheable: true,
    })
}

/// Host pointer to an 8-byte page-table entry in RAM (and whether the RAM
/// is writable, for A/D updates), if it is RAM.
fn pte_ptr(common: &mut CpuCommon, pa: u64) -> Option<(*mut u64, bool)> {
    match common.translate_ram(pa) {
        Section::Ram {
            host,
            avail,
            writable,
            ..
        } if avail >= 8 && pa.is_multiple_of(8) => Some((host as *mut u64, writable)),
        _ => None,
    }
}

/// Walks the page table for `vaddr`. Returns (page-aligned PA, prot, global,
/// superpage offset mask or 0) or the exception cause.
fn walk(
    cpu: &mut RiscvCpu,
    vaddr: u64,
    access: Access,
    priv_: u8,
    sum: bool,
) -> Result<(u64, u8, bool, u64), u64> {
    let satp = cpu.csr.satp;
    let levels: u32 = if satp >> 60 == 9 { 4 } else { 3 };
    let va_bits = 12 + 9 * levels;
    // Canonical check: bits 63..va_bits-1 all equal.
    let top = (vaddr as i64) >> (va_bits - 1);
    if top != 0 && top != -1 {
        return Err(page_fault(access));
    }
    let mxr = cpu.csr.mstatus & MSTATUS_MXR != 0;
    let mut base = (satp & ((1 << 44) - 1)) << 12;
    for level in (0..levels).rev() {
        let idx = (vaddr >> (12 + 9 * level)) & 0x1ff;
        let pte_addr = base + idx * 8;
        // The walk's implicit accesses are checked by PMP as S-mode reads.
        if !pmp_allows(cpu, pte_addr, 8, Access::Read, PRV_S) {
            return Err(access_fault(access));
        }
        let Some((ptr, writable)) = pte_ptr(&mut cpu.common, pte_addr) else {
            // QEMU 7.2 quirk: a PTE read that fails (nothing behind the
            // address) ends the walk as a page fault, where the spec asks
            // for an access fault (docs/divergences.md).
            return Err(page_fault(access));
        };
        // SAFETY: `ptr` points to 8 aligned bytes of guest RAM, valid for the
        // current memory generation; page-table entries are updated
        // atomically as the spec requires for A/D updates.
        let atom = unsafe { AtomicU64::from_ptr(ptr) };
        let mut pte = atom.load(Ordering::Acquire);
        loop {
            if pte & PTE_V == 0 || (pte & PTE_R == 0 && pte & PTE_W != 0) || pte & PTE_RESERVED != 0
            {
                return Err(page_fault(access));
            }
            let ppn = (pte & PTE_PPN_MASK) >> 10;
            if pte & (PTE_R | PTE_X) == 0 {
                // Pointer to the next level; A, D and U must be clear.
                if level == 0 || pte & (PTE_A | PTE_D | PTE_U) != 0 {
                    return Err(page_fault(access));
                }
                base = ppn << 12;
                break;
            }
            // Leaf.
            if pte & PTE_U != 0 {
                if priv_ == PRV_S && (access == Access::Fetch || !sum) {
                    return Err(page_fault(access));
                }
            } else if priv_ == PRV_U {
                return Err(page_fault(access));
            }
            let readable = pte & PTE_R != 0 || (mxr && pte & PTE_X != 0);
            let ok = match access {
                Access::Read => readable,
                Access::Write => pte & PTE_W != 0,
                Access::Fetch => pte & PTE_X != 0,
            };
            if !ok {
                return Err(page_fault(access));
            }
            if level > 0 && ppn & ((1 << (9 * level)) - 1) != 0 {
                // Misaligned superpage.
                return Err(page_fault(access));
            }
            // Hardware A/D update (Svadu behaviour, as QEMU 7.2).
            let mut want = pte | PTE_A;
            if access == Access::Write {
                want |= PTE_D;
            }
            if want != pte {
                // The update is a store to the PTE: it needs writable RAM
                // and PMP write permission.
                if !writable || !pmp_allows(cpu, pte_addr, 8, Access::Write, PRV_S) {
                    return Err(access_fault(access));
                }
                match atom.compare_exchange(pte, want, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => pte = want,
                    Err(now) => {
                        // Someone changed the PTE: re-check it.
                        pte = now;
                        continue;
                    }
                }
            }
            let mut prot = 0;
            if readable {
                prot |= PROT_READ;
            }
            if pte & PTE_X != 0 {
                prot |= PROT_EXEC;
            }
            // Only map writable once D is set, so the first store through a
            // read-filled entry comes back here to set D.
            if pte & PTE_W != 0 && pte & PTE_D != 0 {
                prot |= PROT_WRITE;
            }
            let page_mask = (1u64 << (12 + 9 * level)) - 1;
            let pa = ((ppn << 12) & !page_mask) | (vaddr & page_mask & PAGE_MASK);
            let large = if level > 0 { page_mask } else { 0 };
            return Ok((pa, prot, pte & PTE_G != 0, large));
        }
    }
    Err(page_fault(access))
}

/// The address range `[lo, hi)` of PMP entry `i`, or `None` if it is off.
fn pmp_range(cpu: &RiscvCpu, i: usize) -> Option<(u64, u64)> {
    let cfg = cpu.csr.pmpcfg[i];
    let addr = cpu.csr.pmpaddr[i];
    match (cfg >> PMP_A_SHIFT) & 3 {
        0 => None,
        1 => {
            // TOR
            let lo = if i == 0 {
                0
            } else {
                cpu.csr.pmpaddr[i - 1] << 2
            };
            let hi = addr << 2;
            Some((lo, hi))
        }
        2 => {
            let lo = addr << 2;
            Some((lo, lo.saturating_add(4)))
        }
        _ => {
            // NAPOT: trailing ones give the size.
            let ones = (!addr).trailing_zeros() as u64;
            let size = 1u128 << (ones + 3);
            let lo = (addr << 2) & !((size - 1) as u64);
            let hi = (lo as u128 + size).min(u64::MAX as u128) as u64;
            Some((lo, hi))
        }
    }
}

fn pmp_active(cpu: &RiscvCpu) -> bool {
    cpu.csr.pmpcfg.iter().any(|c| (c >> PMP_A_SHIFT) & 3 != 0)
}

fn pmp_perm_ok(cfg: u8, access: Access, priv_: u8) -> bool {
    if priv_ == PRV_M && cfg & PMP_L == 0 {
        return true;
    }
    match access {
        Access::Read => cfg & PMP_R != 0,
        Access::Write => cfg & PMP_W != 0,
        Access::Fetch => cfg & PMP_X != 0,
    }
}

/// Whether an access of `size` bytes at physical `pa` passes PMP.
pub fn pmp_allows(cpu: &RiscvCpu, pa: u64, size: u64, access: Access, priv_: u8) -> bool {
    if !pmp_active(cpu) {
        // QEMU: with no rules configured every access is allowed.
        return true;
    }
    let end = pa + size;
    for i in 0..16 {
        let Some((lo, hi)) = pmp_range(cpu, i) else {
            continue;
        };
        let inside = pa >= lo && end <= hi;
        let overlap = pa < hi && lo < end;
        if inside {
            return pmp_perm_ok(cpu.csr.pmpcfg[i], access, priv_);
        }
        if overlap {
            // Partial match: the access fails.
            return false;
        }
    }
    priv_ == PRV_M
}

/// PMP permissions for a whole 4 KiB page, and whether they are uniform
/// across it (else the translation must not be cached).
fn pmp_page_prot(cpu: &RiscvCpu, page: u64, priv_: u8) -> (u8, bool) {
    let all = PROT_READ | PROT_WRITE | PROT_EXEC;
    if !pmp_active(cpu) {
        return (all, true);
    }
    let end = page + PAGE_SIZE;
    for i in 0..16 {
        let Some((lo, hi)) = pmp_range(cpu, i) else {
            continue;
        };
        if page >= lo && end <= hi {
            let cfg = cpu.csr.pmpcfg[i];
            let mut p = 0;
            for (a, bit) in [
                (Access::Read, PROT_READ),
                (Access::Write, PROT_WRITE),
                (Access::Fetch, PROT_EXEC),
            ] {
                if pmp_perm_ok(cfg, a, priv_) {
                    p |= bit;
                }
            }
            return (p, true);
        }
        if page < hi && lo < end {
            return (0, false);
        }
    }
    (if priv_ == PRV_M { all } else { 0 }, true)
}

/// Reads `pmpaddr[i]` (with the NA4/NAPOT granularity of 4 bytes the stored
/// value is returned as written).
pub fn pmpaddr_read(cpu: &RiscvCpu, i: usize) -> u64 {
    cpu.csr.pmpaddr[i]
}

fn entry_locked(cpu: &RiscvCpu, i: usize) -> bool {
    cpu.csr.pmpcfg[i] & PMP_L != 0
}

/// Writes `pmpaddr[i]`; ignored if the entry is locked, or if the next entry
/// is a locked TOR entry (its lower bound).
pub fn pmpaddr_write(cpu: &mut RiscvCpu, i: usize, v: u64) {
    if entry_locked(cpu, i) {
        return;
    }
    if i + 1 < 16 && entry_locked(cpu, i + 1) && (cpu.csr.pmpcfg[i + 1] >> PMP_A_SHIFT) & 3 == 1 {
        return;
    }
    // QEMU 7.2 quirk: pmpaddr keeps all 64 bits as written (the spec makes
    // bits 63:54 read as zero on RV64); docs/divergences.md.
    cpu.csr.pmpaddr[i] = v;
    cpu.common.tlb_flush();
}

/// Writes a `pmpcfg` register covering entries `first..first + 8`.
pub fn pmpcfg_write(cpu: &mut RiscvCpu, first: usize, v: u64) {
    for k in 0..8 {
        let i = first + k;
        if entry_locked(cpu, i) {
            continue;
        }
        // QEMU 7.2 quirk: the reserved R = 0, W = 1 combination is stored
        // as written (later QEMUs keep the old byte); permissions are then
        // checked bit by bit (docs/divergences.md).
        cpu.csr.pmpcfg[i] = (v >> (8 * k)) as u8 & 0x9F;
    }
    cpu.common.tlb_flush();
}

/// Translates for a debugger-style probe: the physical address `vaddr` maps
/// to for `access` in the current data MMU mode, without side effects on
/// pending exceptions (used by tests and `-d` output).
pub fn debug_translate(cpu: &mut RiscvCpu, vaddr: u64, access: Access) -> Option<u64> {
    let idx = if access == Access::Fetch {
        match cpu.priv_ {
            PRV_M => MMU_M,
            PRV_S => MMU_S,
            _ => MMU_U,
        }
    } else {
        cpu.data_mmu_idx()
    };
    let saved = cpu.pending;
    let r = tlb_fill(cpu, vaddr, 1, access, idx).ok();
    cpu.pending = saved;
    r.map(|f| f.paddr | (vaddr & !PAGE_MASK))
}
