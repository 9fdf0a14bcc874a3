//! The interpreter backend: executes a block's op vector.
//!
//! * The ops are pre-decoded (`Copy` enums of 16 bytes in a boxed slice)
//!   and lowered once per block by [`crate::ir::IrBuilder::seal`]: loads,
//!   stores and branches carry their size, extension or condition in the op
//!   kind, so each op costs exactly one dispatch.
//! * The op list is validated when the block is created, so the loop
//!   indexes it without bounds checks; the register file is a `[u64; 256]`
//!   indexed by `u8` (no bounds checks either).
//! * Dispatch is a `match` in a loop, which the workspace's build flags
//!   (`.cargo/config.toml`) let LLVM turn into threaded code: every op's
//!   arm ends in its own copy of "fetch the next op, jump through the
//!   table", so the host's branch predictor learns op-to-op transitions
//!   per op instead of through one shared jump.
//! * Loads and stores try the TLB fast path inline (one compare: see
//!   [`crate::cpu::load_fast`]) before calling the slow path.
//! * Instructions are counted per block (at its exit, or up to the
//!   faulting instruction), never per instruction, and nothing allocates.
//!
//! Block boundaries — chaining, the exit-request and interrupt check, the
//! jump cache — are handled by the caller, [`crate::exec`].

use crate::cpu::{CpuEnv, load, load_fast, store, store_fast};
use crate::ir::{ExitKind, Op};

/// How a block was left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TbExit {
    /// Through chain slot 0 or 1 (`goto_tb`); the PC is set.
    Chain(u8),
    /// Through `exit_tb`.
    Exit(ExitKind),
    /// Instruction `k` of the block raised an exception (pending in the
    /// target); instructions before it retired.
    Fault(u16),
    /// Instruction `k - 1` wrote to a page holding translated code; execution
    /// must resume at instruction `k` from a fresh translation.
    Smc(u16),
}

#[inline(always)]
fn div(a: i64, b: i64) -> i64 {
    if b == 0 { -1 } else { a.wrapping_div(b) }
}
#[inline(always)]
fn rem(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { a.wrapping_rem(b) }
}
#[inline(always)]
fn divu(a: u64, b: u64) -> u64 {
    a.checked_div(b).unwrap_or(u64::MAX)
}
#[inline(always)]
fn remu(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { a % b }
}
#[inline(always)]
fn sext32(v: u32) -> u64 {
    v as i32 as i64 as u64
}

/// Runs `ops` on `cpu` until an exit op, a fault or a code write.
///
/// `ops` must satisfy [`crate::ir::IrBuilder::validate`] (checked when the
/// block is created): the interpreter indexes the ops without bounds
/// checks.
#[inline(always)]
pub(crate) fn interp<C: CpuEnv>(cpu: &mut C, ops: &[Op<C>]) -> TbExit {
    let mut i = 0usize;
    loop {
        // The validated op list ends in an op that leaves the loop and all
        // branch targets are in range; keep the check in debug builds.
        debug_assert!(i < ops.len());
        // SAFETY: `IrBuilder::validate` (run on every block before it can
        // be executed) guarantees that every branch target is an index into
        // `ops` and that the last op never falls through, so `i` stays in
        // bounds: it starts at 0 (the list is non-empty), grows by one only
        // past an op that is not last, or is set to a validated target.
        // The op is matched in place, not copied out: each arm loads only
        // the operands it uses, so the dispatch jump depends on nothing but
        // the tag byte.
        let op = unsafe { ops.get_unchecked(i) };
        i += 1;
        let c = cpu.common();
        let r = &mut c.regs;
        macro_rules! rr {
            ($d:expr, $a:expr, $b:expr, |$x:ident, $y:ident| $e:expr) => {{
                let $x = r[$a as usize];
                let $y = r[$b as usize];
                r[$d as usize] = $e;
            }};
        }
        macro_rules! ri {
            ($d:expr, $a:expr, |$x:ident| $e:expr) => {{
                let $x = r[$a as usize];
                r[$d as usize] = $e;
            }};
        }
        // A load of `$size` bytes, extended by `$ext`: the TLB fast path
        // inline, the slow path (fill, MMIO, page crossing) out of line.
        macro_rules! ld {
            ($d:expr, $a:expr, $off:expr, $mmu:expr, $insn:expr, $size:expr, |$v:ident| $ext:expr) => {{
                let va = r[$a as usize].wrapping_add($off as i64 as u64);
                let $v = match load_fast(c, va, $size, $mmu as usize) {
                    Some(v) => v,
                    None => match load(cpu, va, $size, $mmu as usize) {
                        Ok(v) => v,
                        Err(_) => return TbExit::Fault($insn),
                    },
                };
                cpu.common().regs[$d as usize] = $ext;
            }};
        }
        macro_rules! st {
            ($s:expr, $a:expr, $off:expr, $mmu:expr, $insn:expr, $size:expr) => {{
                let va = r[$a as usize].wrapping_add($off as i64 as u64);
                let v = r[$s as usize];
                if !store_fast(c, va, $size, v, $mmu as usize) {
                    if store(cpu, va, $size, v, $mmu as usize).is_err() {
                        return TbExit::Fault($insn);
                    }
                    if !cpu.common().smc_pages.is_empty() {
                        return TbExit::Smc($insn + 1);
                    }
                }
            }};
        }
        macro_rules! br {
            ($a:expr, $b:expr, $target:expr, |$x:ident, $y:ident| $cond:expr) => {{
                let ($x, $y) = (r[$a as usize], r[$b as usize]);
                if $cond {
                    i = $target as usize;
                }
            }};
        }
        macro_rules! brtb {
            ($a:expr, $b:expr, $len:expr, $off:expr, $pc:expr, |$x:ident, $y:ident| $cond:expr) => {{
                let ($x, $y) = (r[$a as usize], r[$b as usize]);
                if $cond {
                    c.pc = $pc.wrapping_add($off as i64 as u64);
                    return TbExit::Chain(1);
                }
                c.pc = $pc.wrapping_add($len as u64);
                return TbExit::Chain(0);
            }};
        }
        match *op {
            Op::LdU8 {
                d,
                a,
                off,
                mmu,
                insn,
            } => ld!(d, a, off, mmu, insn, 1, |v| v as u8 as u64),
            Op::LdS8 {
                d,
                a,
                off,
                mmu,
                insn,
            } => {
                ld!(d, a, off, mmu, insn, 1, |v| v as i8 as i64 as u64)
            }
            Op::LdU16 {
                d,
                a,
                off,
                mmu,
                insn,
            } => ld!(d, a, off, mmu, insn, 2, |v| v as u16 as u64),
            Op::LdS16 {
                d,
                a,
                off,
                mmu,
                insn,
            } => {
                ld!(d, a, off, mmu, insn, 2, |v| v as i16 as i64 as u64)
            }
            Op::LdU32 {
                d,
                a,
                off,
                mmu,
                insn,
            } => ld!(d, a, off, mmu, insn, 4, |v| v as u32 as u64),
            Op::LdS32 {
                d,
                a,
                off,
                mmu,
                insn,
            } => {
                ld!(d, a, off, mmu, insn, 4, |v| v as i32 as i64 as u64)
            }
            Op::LdU64 {
                d,
                a,
                off,
                mmu,
                insn,
            } => ld!(d, a, off, mmu, insn, 8, |v| v),
            Op::St8 {
                s,
                a,
                off,
                mmu,
                insn,
            } => st!(s, a, off, mmu, insn, 1),
            Op::St16 {
                s,
                a,
                off,
                mmu,
                insn,
            } => st!(s, a, off, mmu, insn, 2),
            Op::St32 {
                s,
                a,
                off,
                mmu,
                insn,
            } => st!(s, a, off, mmu, insn, 4),
            Op::St64 {
                s,
                a,
                off,
                mmu,
                insn,
            } => st!(s, a, off, mmu, insn, 8),
            Op::BrEq { a, b, target } => br!(a, b, target, |x, y| x == y),
            Op::BrNe { a, b, target } => br!(a, b, target, |x, y| x != y),
            Op::BrLt { a, b, target } => br!(a, b, target, |x, y| (x as i64) < (y as i64)),
            Op::BrGe { a, b, target } => br!(a, b, target, |x, y| (x as i64) >= (y as i64)),
            Op::BrLtu { a, b, target } => br!(a, b, target, |x, y| x < y),
            Op::BrGeu { a, b, target } => br!(a, b, target, |x, y| x >= y),
            Op::BrTbEq { a, b, len, off, pc } => brtb!(a, b, len, off, pc, |x, y| x == y),
            Op::BrTbNe { a, b, len, off, pc } => brtb!(a, b, len, off, pc, |x, y| x != y),
            Op::BrTbLt { a, b, len, off, pc } => {
                brtb!(a, b, len, off, pc, |x, y| (x as i64) < (y as i64))
            }
            Op::BrTbGe { a, b, len, off, pc } => {
                brtb!(a, b, len, off, pc, |x, y| (x as i64) >= (y as i64))
            }
            Op::BrTbLtu { a, b, len, off, pc } => brtb!(a, b, len, off, pc, |x, y| x < y),
            Op::BrTbGeu { a, b, len, off, pc } => brtb!(a, b, len, off, pc, |x, y| x >= y),
            Op::Mov { d, a } => ri!(d, a, |x| x),
            Op::MovI { d, imm } => r[d as usize] = imm,
            Op::Add { d, a, b } => rr!(d, a, b, |x, y| x.wrapping_add(y)),
            Op::Sub { d, a, b } => rr!(d, a, b, |x, y| x.wrapping_sub(y)),
            Op::And { d, a, b } => rr!(d, a, b, |x, y| x & y),
            Op::Or { d, a, b } => rr!(d, a, b, |x, y| x | y),
            Op::Xor { d, a, b } => rr!(d, a, b, |x, y| x ^ y),
            Op::Sll { d, a, b } => rr!(d, a, b, |x, y| x << (y & 63)),
            Op::Srl { d, a, b } => rr!(d, a, b, |x, y| x >> (y & 63)),
            Op::Sra { d, a, b } => rr!(d, a, b, |x, y| ((x as i64) >> (y & 63)) as u64),
            Op::Slt { d, a, b } => rr!(d, a, b, |x, y| ((x as i64) < (y as i64)) as u64),
            Op::Sltu { d, a, b } => rr!(d, a, b, |x, y| (x < y) as u64),
            Op::Mul { d, a, b } => rr!(d, a, b, |x, y| x.wrapping_mul(y)),
            Op::Mulh { d, a, b } => rr!(d, a, b, |x, y| ((x as i64 as i128 * y as i64 as i128)
                >> 64) as u64),
            Op::Mulhsu { d, a, b } => {
                rr!(d, a, b, |x, y| ((x as i64 as i128 * y as i128) >> 64)
                    as u64)
            }
            Op::Mulhu { d, a, b } => rr!(d, a, b, |x, y| ((x as u128 * y as u128) >> 64) as u64),
            Op::Div { d, a, b } => rr!(d, a, b, |x, y| div(x as i64, y as i64) as u64),
            Op::Divu { d, a, b } => rr!(d, a, b, |x, y| divu(x, y)),
            Op::Rem { d, a, b } => rr!(d, a, b, |x, y| rem(x as i64, y as i64) as u64),
            Op::Remu { d, a, b } => rr!(d, a, b, |x, y| remu(x, y)),
            Op::AddW { d, a, b } => rr!(d, a, b, |x, y| sext32((x as u32).wrapping_add(y as u32))),
            Op::SubW { d, a, b } => rr!(d, a, b, |x, y| sext32((x as u32).wrapping_sub(y as u32))),
            Op::SllW { d, a, b } => rr!(d, a, b, |x, y| sext32((x as u32) << (y & 31))),
            Op::SrlW { d, a, b } => rr!(d, a, b, |x, y| sext32((x as u32) >> (y & 31))),
            Op::SraW { d, a, b } => rr!(d, a, b, |x, y| ((x as i32) >> (y & 31)) as i64 as u64),
            Op::MulW { d, a, b } => rr!(d, a, b, |x, y| sext32((x as u32).wrapping_mul(y as u32))),
            Op::DivW { d, a, b } => rr!(d, a, b, |x, y| {
                let (x, y) = (x as i32, y as i32);
                (if y == 0 { -1 } else { x.wrapping_div(y) }) as i64 as u64
            }),
            Op::DivuW { d, a, b } => rr!(d, a, b, |x, y| {
                sext32((x as u32).checked_div(y as u32).unwrap_or(u32::MAX))
            }),
            Op::RemW { d, a, b } => rr!(d, a, b, |x, y| {
                let (x, y) = (x as i32, y as i32);
                (if y == 0 { x } else { x.wrapping_rem(y) }) as i64 as u64
            }),
            Op::RemuW { d, a, b } => rr!(d, a, b, |x, y| {
                let (x, y) = (x as u32, y as u32);
                sext32(if y == 0 { x } else { x % y })
            }),
            Op::ShAdd { d, a, b, sh } => rr!(d, a, b, |x, y| x.wrapping_add(y << sh)),
            Op::ShAddUw { d, a, b, sh } => {
                rr!(d, a, b, |x, y| x.wrapping_add((y as u32 as u64) << sh))
            }
            Op::Andn { d, a, b } => rr!(d, a, b, |x, y| x & !y),
            Op::Orn { d, a, b } => rr!(d, a, b, |x, y| x | !y),
            Op::Xnor { d, a, b } => rr!(d, a, b, |x, y| !(x ^ y)),
            Op::Min { d, a, b } => rr!(d, a, b, |x, y| (x as i64).min(y as i64) as u64),
            Op::Minu { d, a, b } => rr!(d, a, b, |x, y| x.min(y)),
            Op::Max { d, a, b } => rr!(d, a, b, |x, y| (x as i64).max(y as i64) as u64),
            Op::Maxu { d, a, b } => rr!(d, a, b, |x, y| x.max(y)),
            Op::Rol { d, a, b } => rr!(d, a, b, |x, y| x.rotate_left((y & 63) as u32)),
            Op::Ror { d, a, b } => rr!(d, a, b, |x, y| x.rotate_right((y & 63) as u32)),
            Op::RolW { d, a, b } => rr!(d, a, b, |x, y| sext32(
                (x as u32).rotate_left((y & 31) as u32)
            )),
            Op::RorW { d, a, b } => {
                rr!(d, a, b, |x, y| sext32(
                    (x as u32).rotate_right((y & 31) as u32)
                ))
            }
            Op::Bclr { d, a, b } => rr!(d, a, b, |x, y| x & !(1u64 << (y & 63))),
            Op::Bset { d, a, b } => rr!(d, a, b, |x, y| x | (1u64 << (y & 63))),
            Op::Binv { d, a, b } => rr!(d, a, b, |x, y| x ^ (1u64 << (y & 63))),
            Op::Bext { d, a, b } => rr!(d, a, b, |x, y| (x >> (y & 63)) & 1),
            Op::AddI { d, a, imm } => ri!(d, a, |x| x.wrapping_add(imm as i64 as u64)),
            Op::AndI { d, a, imm } => ri!(d, a, |x| x & imm as i64 as u64),
            Op::OrI { d, a, imm } => ri!(d, a, |x| x | imm as i64 as u64),
            Op::XorI { d, a, imm } => ri!(d, a, |x| x ^ imm as i64 as u64),
            Op::SltI { d, a, imm } => ri!(d, a, |x| ((x as i64) < imm as i64) as u64),
            Op::SltuI { d, a, imm } => ri!(d, a, |x| (x < imm as i64 as u64) as u64),
            Op::SllI { d, a, sh } => ri!(d, a, |x| x << sh),
            Op::SrlI { d, a, sh } => ri!(d, a, |x| x >> sh),
            Op::SraI { d, a, sh } => ri!(d, a, |x| ((x as i64) >> sh) as u64),
            Op::RorI { d, a, sh } => ri!(d, a, |x| x.rotate_right(sh as u32)),
            Op::AddIW { d, a, imm } => ri!(d, a, |x| sext32((x as u32).wrapping_add(imm as u32))),
            Op::SllIW { d, a, sh } => ri!(d, a, |x| sext32((x as u32) << sh)),
            Op::SrlIW { d, a, sh } => ri!(d, a, |x| sext32((x as u32) >> sh)),
            Op::SraIW { d, a, sh } => ri!(d, a, |x| ((x as i32) >> sh) as i64 as u64),
            Op::RorIW { d, a, sh } => ri!(d, a, |x| sext32((x as u32).rotate_right(sh as u32))),
            Op::SllIUw { d, a, sh } => ri!(d, a, |x| (x as u32 as u64) << sh),
            Op::Clz { d, a } => ri!(d, a, |x| x.leading_zeros() as u64),
            Op::Ctz { d, a } => ri!(d, a, |x| x.trailing_zeros() as u64),
            Op::Cpop { d, a } => ri!(d, a, |x| x.count_ones() as u64),
            Op::ClzW { d, a } => ri!(d, a, |x| (x as u32).leading_zeros() as u64),
            Op::CtzW { d, a } => ri!(d, a, |x| (x as u32).trailing_zeros() as u64),
            Op::CpopW { d, a } => ri!(d, a, |x| (x as u32).count_ones() as u64),
            Op::SextB { d, a } => ri!(d, a, |x| x as i8 as i64 as u64),
            Op::SextH { d, a } => ri!(d, a, |x| x as i16 as i64 as u64),
            Op::ZextH { d, a } => ri!(d, a, |x| x as u16 as u64),
            Op::Rev8 { d, a } => ri!(d, a, |x| x.swap_bytes()),
            Op::OrcB { d, a } => ri!(d, a, |x| {
                let mut v = 0u64;
                for k in 0..8 {
                    if (x >> (8 * k)) & 0xff != 0 {
                        v |= 0xff << (8 * k);
                    }
                }
                v
            }),
            Op::Br { cond, a, b, target } => {
                if cond.eval(r[a as usize], r[b as usize]) {
                    i = target as usize;
                }
            }
            Op::Jmp { target } => i = target as usize,
            Op::Ld {
                mop,
                d,
                a,
                off,
                mmu,
                insn,
            } => {
                let va = r[a as usize].wrapping_add(off as i64 as u64);
                let size = mop.size();
                let v = match load_fast(c, va, size, mmu as usize) {
                    Some(v) => v,
                    None => match load(cpu, va, size, mmu as usize) {
                        Ok(v) => v,
                        Err(_) => return TbExit::Fault(insn),
                    },
                };
                cpu.common().regs[d as usize] = mop.extend(v);
            }
            Op::St {
                mop,
                s,
                a,
                off,
                mmu,
                insn,
            } => {
                let va = r[a as usize].wrapping_add(off as i64 as u64);
                let v = r[s as usize];
                let size = mop.size();
                if !store_fast(c, va, size, v, mmu as usize) {
                    if store(cpu, va, size, v, mmu as usize).is_err() {
                        return TbExit::Fault(insn);
                    }
                    if !cpu.common().smc_pages.is_empty() {
                        return TbExit::Smc(insn + 1);
                    }
                }
            }
            Op::SetPc { pc } => c.pc = pc,
            Op::SetPcReg { a, off } => c.pc = r[a as usize].wrapping_add(off as i64 as u64) & !1,
            Op::BrTb {
                cond,
                a,
                b,
                len,
                off,
                pc,
            } => {
                if cond.eval(r[a as usize], r[b as usize]) {
                    c.pc = pc.wrapping_add(off as i64 as u64);
                    return TbExit::Chain(1);
                }
                c.pc = pc.wrapping_add(len as u64);
                return TbExit::Chain(0);
            }
            Op::GotoTb { n, pc } => {
                c.pc = pc;
                return TbExit::Chain(n);
            }
            Op::ExitTb { kind } => return TbExit::Exit(kind),
            Op::Call { f, arg, insn } => {
                c.cur_insn = insn;
                if f(cpu, arg).is_err() {
                    return TbExit::Fault(insn);
                }
                if !cpu.common().smc_pages.is_empty() {
                    return TbExit::Smc(insn + 1);
                }
            }
        }
    }
}
