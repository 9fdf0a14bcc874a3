//! The RISC-V front end (QEMU's `target/riscv/translate.c` and
//! `insn_trans/*`): decodes guest instructions and emits IR.
//!
//! Integer ALU operations, branches, jumps, loads and stores become IR ops
//! directly (one op for most instructions). Everything with side effects on
//! CSRs, privilege or memory ordering — Zicsr, xRET, `ecall`/`ebreak`, `wfi`,
//! `sfence.vma`, AMOs, LR/SC and the F/D arithmetic — is a helper call that
//! decodes its operands from the instruction word. Compressed instructions
//! are expanded to their 32-bit equivalents first ([`expand_rvc`]).
//!
//! A block ends at a branch or jump, after an instruction that changes
//! translation state or needs the main loop (every CSR access, xRET,
//! `fence.i`, `sfence.vma`, `wfi`), at a page boundary (an instruction that
//! straddles two pages is translated as a block of its own), or after
//! [`ferrite_tcg::exec::TCG_MAX_INSNS`] instructions.

use ferrite_tcg::{Cond, ExitKind, Fault, IrBuilder, MemOp, Op, PAGE_MASK, Slot};

use crate::cpu::{FREG_BASE, RiscvCpu, SLOT_DISCARD, TMP0, TMP1};
use crate::helpers as h;

/// Decoded flags word (see `RiscvCpu::tb_flags`).
#[derive(Clone, Copy)]
struct Flags {
    data_mmu: u8,
    fs_off: bool,
    /// `mstatus.FS` is Dirty: instructions that would only set it again
    /// need not (a CSR write that changes FS ends the block).
    fs_dirty: bool,
}

struct Ctx<'a> {
    b: &'a mut IrBuilder<RiscvCpu>,
    /// Virtual PC of the block.
    tb_pc: u64,
    /// PC of the current instruction.
    pc: u64,
    /// Length of the current instruction (2 or 4).
    len: u64,
    /// Index of the current instruction in the block.
    insn: u16,
    /// Original instruction bits (16-bit for RVC), for `mtval`.
    raw: u32,
    flags: Flags,
}

/// What translating one instruction did to the block.
#[derive(PartialEq, Eq)]
enum Next {
    Continue,
    End,
}

fn rd(i: u32) -> u32 {
    (i >> 7) & 31
}
fn rs1(i: u32) -> u32 {
    (i >> 15) & 31
}
fn rs2(i: u32) -> u32 {
    (i >> 20) & 31
}
fn funct3(i: u32) -> u32 {
    (i >> 12) & 7
}
fn funct7(i: u32) -> u32 {
    i >> 25
}
fn imm_i(i: u32) -> i32 {
    (i as i32) >> 20
}
fn imm_s(i: u32) -> i32 {
    ((i as i32) >> 25 << 5) | ((i >> 7) & 31) as i32
}
fn imm_b(i: u32) -> i32 {
    (((i as i32) >> 31) << 12)
        | (((i >> 7) & 1) << 11) as i32
        | (((i >> 25) & 0x3f) << 5) as i32
        | (((i >> 8) & 0xf) << 1) as i32
}
fn imm_u(i: u32) -> i64 {
    (i & 0xffff_f000) as i32 as i64
}
fn imm_j(i: u32) -> i32 {
    (((i as i32) >> 31) << 20)
        | (((i >> 12) & 0xff) << 12) as i32
        | (((i >> 20) & 1) << 11) as i32
        | (((i >> 21) & 0x3ff) << 1) as i32
}

/// Destination slot for x register `r` (writes to x0 are discarded).
fn xd(r: u32) -> Slot {
    if r == 0 { SLOT_DISCARD } else { r as Slot }
}

impl Ctx<'_> {
    fn emit(&mut self, op: Op<RiscvCpu>) {
        self.b.emit(op);
    }

    fn next_pc(&self) -> u64 {
        self.pc.wrapping_add(self.len)
    }

    fn call(&mut self, f: ferrite_tcg::Helper<RiscvCpu>, arg: u32) {
        let insn = self.insn;
        self.emit(Op::Call { f, arg, insn });
    }

    /// Raises illegal instruction for this instruction and ends the block.
    fn illegal(&mut self) -> Next {
        let raw = self.raw;
        self.call(h::illegal, raw);
        Next::End
    }

    /// Jumps to a constant target: chained when on the block's page.
    fn goto(&mut self, n: u8, target: u64) {
        if target & PAGE_MASK == self.tb_pc & PAGE_MASK {
            self.emit(Op::GotoTb { n, pc: target });
        } else {
            self.emit(Op::SetPc { pc: target });
            self.emit(Op::ExitTb {
                kind: ExitKind::Lookup,
            });
        }
    }

    /// Ends the block after this instruction with a return to the main loop.
    fn exit_loop(&mut self) -> Next {
        let pc = self.next_pc();
        self.emit(Op::SetPc { pc });
        self.emit(Op::ExitTb {
            kind: ExitKind::Loop,
        });
        Next::End
    }

    fn mmu(&self) -> u8 {
        self.flags.data_mmu
    }
}

/// Translates one block (the target's `translate_block`).
pub fn translate_block(
    cpu: &mut RiscvCpu,
    pc: u64,
    flags: u64,
    b: &mut IrBuilder<RiscvCpu>,
    max_insns: usize,
) -> Result<(), Fault> {
    let flags = Flags {
        data_mmu: ((flags >> 2) & 3) as u8,
        fs_off: (flags >> 4) & 3 == 0,
        fs_dirty: (flags >> 4) & 3 == 3,
    };
    let mut cur = pc;
    loop {
        let off = cur.wrapping_sub(pc);
        let first = b.num_insns() == 0;
        if !first && (cur & PAGE_MASK != pc & PAGE_MASK || b.num_insns() >= max_insns) {
            // Page boundary or size limit: continue in another block.
            b.finish(off as u16);
            let mut ctx = Ctx {
                b,
                tb_pc: pc,
                pc: cur,
                len: 0,
                insn: 0,
                raw: 0,
                flags,
            };
            ctx.goto(0, cur);
            return Ok(());
        }
        // Fetch. The first parcel's fault is the block's fault; a fault on
        // the second half of a straddling instruction is that instruction's
        // fault, and such an instruction is always alone in its block.
        let lo = match b.fetch_u16(cpu, cur) {
            Ok(v) => v,
            Err(f) => {
                if first {
                    return Err(f);
                }
                cpu.pending = None;
                b.finish(off as u16);
                let mut ctx = Ctx {
                    b,
                    tb_pc: pc,
                    pc: cur,
                    len: 0,
                    insn: 0,
                    raw: 0,
                    flags,
                };
                ctx.goto(0, cur);
                return Ok(());
            }
        };
        let (raw, len) = if lo & 3 == 3 {
            let hi_addr = cur.wrapping_add(2);
            if hi_addr & PAGE_MASK != cur & PAGE_MASK && !first {
                b.finish(off as u16);
                let mut ctx = Ctx {
                    b,
                    tb_pc: pc,
                    pc: cur,
                    len: 0,
                    insn: 0,
                    raw: 0,
                    flags,
                };
                ctx.goto(0, cur);
                return Ok(());
            }
            let hi = match b.fetch_u16(cpu, hi_addr) {
                Ok(v) => v,
                Err(f) => {
                    if first {
                        // The fault is on the second half: tval is its
                        // address, epc the instruction's.
                        return Err(f);
                    }
                    cpu.pending = None;
                    b.finish(off as u16);
                    let mut ctx = Ctx {
                        b,
                        tb_pc: pc,
                        pc: cur,
                        len: 0,
                        insn: 0,
                        raw: 0,
                        flags,
                    };
                    ctx.goto(0, cur);
                    return Ok(());
                }
            };
            ((lo as u32) | (hi as u32) << 16, 4)
        } else {
            (lo as u32, 2)
        };
        let insn = b.insn_start(off as u16);
        let mut ctx = Ctx {
            b,
            tb_pc: pc,
            pc: cur,
            len,
            insn,
            raw,
            flags,
        };
        let next = if len == 2 {
            match expand_rvc(raw as u16) {
                Some(i) => translate_insn(&mut ctx, i),
                None => ctx.illegal(),
            }
        } else {
            translate_insn(&mut ctx, raw)
        };
        cur = cur.wrapping_add(len);
        let b = ctx.b;
        if next == Next::End {
            b.finish(cur.wrapping_sub(pc) as u16);
            return Ok(());
        }
        // A block whose instruction straddled two pages ends right here.
        if b.pages.len() > 1 {
            b.finish(cur.wrapping_sub(pc) as u16);
            let mut ctx = Ctx {
                b,
                tb_pc: pc,
                pc: cur,
                len: 0,
                insn: 0,
                raw: 0,
                flags,
            };
            ctx.emit(Op::SetPc { pc: cur });
            ctx.emit(Op::ExitTb {
                kind: ExitKind::Lookup,
            });
            return Ok(());
        }
    }
}

fn translate_insn(c: &mut Ctx<'_>, i: u32) -> Next {
    let opcode = i & 0x7f;
    let (rd_, rs1_, rs2_) = (rd(i), rs1(i), rs2(i));
    let (d, a, bb) = (xd(rd_), rs1_ as Slot, rs2_ as Slot);
    match opcode {
        0x37 => {
            // LUI
            if rd_ != 0 {
                c.emit(Op::MovI {
                    d,
                    imm: imm_u(i) as u64,
                });
            }
        }
        0x17 => {
            // AUIPC
            if rd_ != 0 {
                let imm = c.pc.wrapping_add(imm_u(i) as u64);
                c.emit(Op::MovI { d, imm });
            }
        }
        0x6f => {
            // JAL
            let target = c.pc.wrapping_add(imm_j(i) as i64 as u64);
            if rd_ != 0 {
                let imm = c.next_pc();
                c.emit(Op::MovI { d, imm });
            }
            c.goto(0, target);
            return Next::End;
        }
        0x67 => {
            // JALR
            if funct3(i) != 0 {
                return c.illegal();
            }
            c.emit(Op::SetPcReg { a, off: imm_i(i) });
            if rd_ != 0 {
                let imm = c.next_pc();
                c.emit(Op::MovI { d, imm });
            }
            c.emit(Op::ExitTb {
                kind: ExitKind::Lookup,
            });
            return Next::End;
        }
        0x63 => {
            let cond = match funct3(i) {
                0 => Cond::Eq,
                1 => Cond::Ne,
                4 => Cond::Lt,
                5 => Cond::Ge,
                6 => Cond::Ltu,
                7 => Cond::Geu,
                _ => return c.illegal(),
            };
            let off = imm_b(i);
            let target = c.pc.wrapping_add(off as i64 as u64);
            let page = c.tb_pc & PAGE_MASK;
            if target & PAGE_MASK == page && c.next_pc() & PAGE_MASK == page {
                let (pc, len) = (c.pc, c.len as u8);
                c.emit(Op::BrTb {
                    cond,
                    a,
                    b: bb,
                    len,
                    off: off as i16,
                    pc,
                });
                return Next::End;
            }
            let br = c.b.label();
            c.emit(Op::Br {
                cond,
                a,
                b: bb,
                target: 0,
            });
            let next = c.next_pc();
            c.goto(0, next);
            let l = c.b.label();
            c.b.patch_branch(br, l);
            c.goto(1, target);
            return Next::End;
        }
        0x03 => {
            let mop = match funct3(i) {
                0 => MemOp::S8,
                1 => MemOp::S16,
                2 => MemOp::S32,
                3 => MemOp::U64,
                4 => MemOp::U8,
                5 => MemOp::U16,
                6 => MemOp::U32,
                _ => return c.illegal(),
            };
            let (mmu, insn) = (c.mmu(), c.insn);
            c.emit(Op::Ld {
                mop,
                d,
                a,
                off: imm_i(i),
                mmu,
                insn,
            });
        }
        0x23 => {
            let mop = match funct3(i) {
                0 => MemOp::U8,
                1 => MemOp::U16,
                2 => MemOp::U32,
                3 => MemOp::U64,
                _ => return c.illegal(),
            };
            let (mmu, insn) = (c.mmu(), c.insn);
            c.emit(Op::St {
                mop,
                s: bb,
                a,
                off: imm_s(i),
                mmu,
                insn,
            });
        }
        0x13 => return op_imm(c, i, d, a),
        0x1b => return op_imm32(c, i, d, a),
        0x33 => return op_reg(c, i, d, a, bb),
        0x3b => return op_reg32(c, i, d, a, bb),
        0x0f => match funct3(i) {
            // FENCE: only a store-before-load ordering (predecessor set
            // has W or O, successor set has R or I) needs a host barrier
            // (helpers::fence); PAUSE (pred W, succ none) and the rest are
            // free.
            0 => {
                let (pred, succ) = ((i >> 24) & 0xf, (i >> 20) & 0xf);
                if pred & 0b0101 != 0 && succ & 0b1010 != 0 {
                    c.call(h::fence, i);
                }
            }
            // FENCE.I: self-modifying code is already handled precisely
            // through code-page tracking; end the block so the next
            // instruction is looked up afresh (as QEMU does).
            1 => return c.exit_loop(),
            _ => return c.illegal(),
        },
        0x73 => return system(c, i),
        0x2f => {
            let f3 = funct3(i);
            if f3 != 2 && f3 != 3 {
                return c.illegal();
            }
            match i >> 27 {
                0x02 => {
                    if rs2_ != 0 {
                        return c.illegal();
                    }
                    c.call(h::lr, i);
                }
                0x03 => c.call(h::sc, i),
                0x00 | 0x01 | 0x04 | 0x08 | 0x0c | 0x10 | 0x14 | 0x18 | 0x1c => c.call(h::amo, i),
                _ => return c.illegal(),
            }
        }
        // F/D loads and stores.
        0x07 | 0x27 => {
            if c.flags.fs_off {
                return c.illegal();
            }
            let f3 = funct3(i);
            let (mmu, insn) = (c.mmu(), c.insn);
            if opcode == 0x07 {
                let fd = FREG_BASE + rd_ as u8;
                match f3 {
                    2 => {
                        c.emit(Op::Ld {
                            mop: MemOp::U32,
                            d: TMP0,
                            a,
                            off: imm_i(i),
                            mmu,
                            insn,
                        });
                        c.emit(Op::MovI {
                            d: TMP1,
                            imm: 0xffff_ffff_0000_0000,
                        });
                        c.emit(Op::Or {
                            d: fd,
                            a: TMP0,
                            b: TMP1,
                        });
                    }
                    3 => c.emit(Op::Ld {
                        mop: MemOp::U64,
                        d: fd,
                        a,
                        off: imm_i(i),
                        mmu,
                        insn,
                    }),
                    _ => return c.illegal(),
                }
                if !c.flags.fs_dirty {
                    c.call(h::fs_dirty, 0);
                }
            } else {
                let fs = FREG_BASE + rs2_ as u8;
                let mop = match f3 {
                    2 => MemOp::U32,
                    3 => MemOp::U64,
                    _ => return c.illegal(),
                };
                c.emit(Op::St {
                    mop,
                    s: fs,
                    a,
                    off: imm_s(i),
                    mmu,
                    insn,
                });
            }
        }
        0x43 | 0x47 | 0x4b | 0x4f | 0x53 => {
            if c.flags.fs_off {
                return c.illegal();
            }
            c.call(fp_helper(i), i);
        }
        _ => return c.illegal(),
    }
    Next::Continue
}

/// The helper for an F/D computational instruction: the common arithmetic
/// and fused multiply-adds get helpers specialised for their operation and
/// format, everything else (and every reserved encoding) the generic
/// [`crate::fp::fp_insn`].
fn fp_helper(i: u32) -> ferrite_tcg::Helper<RiscvCpu> {
    use crate::fp::{fp_arith, fp_fma, fp_insn};
    let fmt = (i >> 25) & 3;
    match (i & 0x7f, fmt) {
        (0x43, 1) => fp_fma::<0, true>,
        (0x47, 1) => fp_fma::<1, true>,
        (0x4b, 1) => fp_fma::<2, true>,
        (0x4f, 1) => fp_fma::<3, true>,
        (0x43, 0) => fp_fma::<0, false>,
        (0x47, 0) => fp_fma::<1, false>,
        (0x4b, 0) => fp_fma::<2, false>,
        (0x4f, 0) => fp_fma::<3, false>,
        (0x53, _) => match (i >> 27, fmt) {
            (0, 1) => fp_arith::<0, true>,
            (1, 1) => fp_arith::<1, true>,
            (2, 1) => fp_arith::<2, true>,
            (3, 1) => fp_arith::<3, true>,
            (0, 0) => fp_arith::<0, false>,
            (1, 0) => fp_arith::<1, false>,
            (2, 0) => fp_arith::<2, false>,
            (3, 0) => fp_arith::<3, false>,
            _ => fp_insn,
        },
        _ => fp_insn,
    }
}

fn op_imm(c: &mut Ctx<'_>, i: u32, d: Slot, a: Slot) -> Next {
    let imm = imm_i(i);
    let sh = ((i >> 20) & 63) as u8;
    let f6 = i >> 26;
    let imm12 = (i >> 20) & 0xfff;
    // Zbs immediate forms (bclri/bseti/binvi/bexti): kind 0..=3.
    let mut bit_kind = None;
    let op = match funct3(i) {
        0 => Op::AddI { d, a, imm },
        2 => Op::SltI { d, a, imm },
        3 => Op::SltuI { d, a, imm },
        4 => Op::XorI { d, a, imm },
        6 => Op::OrI { d, a, imm },
        7 => Op::AndI { d, a, imm },
        1 => match f6 {
            0x00 => Op::SllI { d, a, sh },
            0x12 | 0x0a | 0x1a => {
                bit_kind = Some(match f6 {
                    0x12 => 0,
                    0x0a => 1,
                    _ => 2,
                });
                Op::Mov { d, a }
            }
            0x18 => match imm12 {
                0x600 => Op::Clz { d, a },
                0x601 => Op::Ctz { d, a },
                0x602 => Op::Cpop { d, a },
                0x604 => Op::SextB { d, a },
                0x605 => Op::SextH { d, a },
                _ => return c.illegal(),
            },
            _ => return c.illegal(),
        },
        _ => match (f6, imm12) {
            (_, 0x287) => Op::OrcB { d, a },
            (_, 0x6b8) => Op::Rev8 { d, a },
            (0x00, _) => Op::SrlI { d, a, sh },
            (0x10, _) => Op::SraI { d, a, sh },
            (0x18, _) => Op::RorI { d, a, sh },
            (0x12, _) => {
                bit_kind = Some(3);
                Op::Mov { d, a }
            }
            _ => return c.illegal(),
        },
    };
    if d == SLOT_DISCARD {
        return Next::Continue;
    }
    match bit_kind {
        None => c.emit(op),
        Some(kind) => {
            c.emit(Op::MovI {
                d: TMP0,
                imm: sh as u64,
            });
            let b = TMP0;
            c.emit(match kind {
                0 => Op::Bclr { d, a, b },
                1 => Op::Bset { d, a, b },
                2 => Op::Binv { d, a, b },
                _ => Op::Bext { d, a, b },
            });
        }
    }
    Next::Continue
}

fn op_imm32(c: &mut Ctx<'_>, i: u32, d: Slot, a: Slot) -> Next {
    let sh5 = ((i >> 20) & 31) as u8;
    let f7 = funct7(i);
    let op = match funct3(i) {
        0 => Op::AddIW {
            d,
            a,
            imm: imm_i(i),
        },
        1 => match f7 {
            0x00 => Op::SllIW { d, a, sh: sh5 },
            0x04 | 0x05 => Op::SllIUw {
                d,
                a,
                sh: ((i >> 20) & 63) as u8,
            },
            0x30 => match rs2(i) {
                0 => Op::ClzW { d, a },
                1 => Op::CtzW { d, a },
                2 => Op::CpopW { d, a },
                _ => return c.illegal(),
            },
            _ => return c.illegal(),
        },
        5 => match f7 {
            0x00 => Op::SrlIW { d, a, sh: sh5 },
            0x20 => Op::SraIW { d, a, sh: sh5 },
            0x30 => Op::RorIW { d, a, sh: sh5 },
            _ => return c.illegal(),
        },
        _ => return c.illegal(),
    };
    if d != SLOT_DISCARD {
        c.emit(op);
    }
    Next::Continue
}

fn op_reg(c: &mut Ctx<'_>, i: u32, d: Slot, a: Slot, b: Slot) -> Next {
    let op = match (funct7(i), funct3(i)) {
        (0x00, 0) => Op::Add { d, a, b },
        (0x20, 0) => Op::Sub { d, a, b },
        (0x00, 1) => Op::Sll { d, a, b },
        (0x00, 2) => Op::Slt { d, a, b },
        (0x00, 3) => Op::Sltu { d, a, b },
        (0x00, 4) => Op::Xor { d, a, b },
        (0x00, 5) => Op::Srl { d, a, b },
        (0x20, 5) => Op::Sra { d, a, b },
        (0x00, 6) => Op::Or { d, a, b },
        (0x00, 7) => Op::And { d, a, b },
        (0x01, 0) => Op::Mul { d, a, b },
        (0x01, 1) => Op::Mulh { d, a, b },
        (0x01, 2) => Op::Mulhsu { d, a, b },
        (0x01, 3) => Op::Mulhu { d, a, b },
        (0x01, 4) => Op::Div { d, a, b },
        (0x01, 5) => Op::Divu { d, a, b },
        (0x01, 6) => Op::Rem { d, a, b },
        (0x01, 7) => Op::Remu { d, a, b },
        // Zba
        (0x10, 2) => Op::ShAdd {
            d,
            a: b,
            b: a,
            sh: 1,
        },
        (0x10, 4) => Op::ShAdd {
            d,
            a: b,
            b: a,
            sh: 2,
        },
        (0x10, 6) => Op::ShAdd {
            d,
            a: b,
            b: a,
            sh: 3,
        },
        // Zbb
        (0x20, 7) => Op::Andn { d, a, b },
        (0x20, 6) => Op::Orn { d, a, b },
        (0x20, 4) => Op::Xnor { d, a, b },
        (0x05, 4) => Op::Min { d, a, b },
        (0x05, 5) => Op::Minu { d, a, b },
        (0x05, 6) => Op::Max { d, a, b },
        (0x05, 7) => Op::Maxu { d, a, b },
        (0x30, 1) => Op::Rol { d, a, b },
        (0x30, 5) => Op::Ror { d, a, b },
        // Zbs
        (0x24, 1) => Op::Bclr { d, a, b },
        (0x14, 1) => Op::Bset { d, a, b },
        (0x34, 1) => Op::Binv { d, a, b },
        (0x24, 5) => Op::Bext { d, a, b },
        _ => return c.illegal(),
    };
    if d != SLOT_DISCARD {
        c.emit(op);
    }
    Next::Continue
}

fn op_reg32(c: &mut Ctx<'_>, i: u32, d: Slot, a: Slot, b: Slot) -> Next {
    let op = match (funct7(i), funct3(i)) {
        (0x00, 0) => Op::AddW { d, a, b },
        (0x20, 0) => Op::SubW { d, a, b },
        (0x00, 1) => Op::SllW { d, a, b },
        (0x00, 5) => Op::SrlW { d, a, b },
        (0x20, 5) => Op::SraW { d, a, b },
        (0x01, 0) => Op::MulW { d, a, b },
        (0x01, 4) => Op::DivW { d, a, b },
        (0x01, 5) => Op::DivuW { d, a, b },
        (0x01, 6) => Op::RemW { d, a, b },
        (0x01, 7) => Op::RemuW { d, a, b },
        // Zba
        (0x04, 0) => Op::ShAddUw {
            d,
            a: b,
            b: a,
            sh: 0,
        },
        (0x10, 2) => Op::ShAddUw {
            d,
            a: b,
            b: a,
            sh: 1,
        },
        (0x10, 4) => Op::ShAddUw {
            d,
            a: b,
            b: a,
            sh: 2,
        },
        (0x10, 6) => Op::ShAddUw {
            d,
            a: b,
            b: a,
            sh: 3,
        },
        // Zbb
        (0x04, 4) if rs2(i) == 0 => Op::ZextH { d, a },
        (0x30, 1) => Op::RolW { d, a, b },
        (0x30, 5) => Op::RorW { d, a, b },
        _ => return c.illegal(),
    };
    if d != SLOT_DISCARD {
        c.emit(op);
    }
    Next::Continue
}

fn system(c: &mut Ctx<'_>, i: u32) -> Next {
    let f3 = funct3(i);
    if f3 == 4 {
        return c.illegal();
    }
    if f3 != 0 {
        // Zicsr: always through the helper, always ends the block.
        c.call(h::csr, i);
        return c.exit_loop();
    }
    if rd(i) != 0 {
        return c.illegal();
    }
    match i >> 20 {
        0x000 if rs1(i) == 0 => {
            c.call(h::ecall, 0);
            Next::End
        }
        0x001 if rs1(i) == 0 => {
            c.call(h::ebreak, 0);
            Next::End
        }
        0x302 if rs1(i) == 0 => {
            // xRET changes privilege: back to the loop so the new flags and
            // pending interrupts are seen.
            c.call(h::mret, i);
            c.emit(Op::ExitTb {
                kind: ExitKind::Loop,
            });
            Next::End
        }
        0x102 if rs1(i) == 0 => {
            c.call(h::sret, i);
            c.emit(Op::ExitTb {
                kind: ExitKind::Loop,
            });
            Next::End
        }
        0x105 if rs1(i) == 0 => {
            c.call(h::wfi, i);
            let pc = c.next_pc();
            c.emit(Op::SetPc { pc });
            c.emit(Op::ExitTb {
                kind: ExitKind::Halt,
            });
            Next::End
        }
        _ if funct7(i) == 0x09 => {
            c.call(h::sfence_vma, i);
            c.exit_loop()
        }
        _ => c.illegal(),
    }
}

/// Expands a compressed instruction to its 32-bit equivalent (RV64C), or
/// `None` for reserved/illegal encodings.
pub fn expand_rvc(c: u16) -> Option<u32> {
    let c = c as u32;
    let op = c & 3;
    let f3 = (c >> 13) & 7;
    let r = |hi: u32| -> u32 { ((c >> hi) & 7) + 8 };
    let rd_full = (c >> 7) & 31;
    let rs2_full = (c >> 2) & 31;
    // Encoders for the 32-bit forms.
    let itype = |imm: i32, rs1: u32, f3: u32, rd: u32, opc: u32| -> u32 {
        ((imm as u32 & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc
    };
    let stype = |imm: i32, rs2: u32, rs1: u32, f3: u32, opc: u32| -> u32 {
        let imm = imm as u32;
        (((imm >> 5) & 0x7f) << 25)
            | (rs2 << 20)
            | (rs1 << 15)
            | (f3 << 12)
            | ((imm & 31) << 7)
            | opc
    };
    let rtype = |f7: u32, rs2: u32, rs1: u32, f3: u32, rd: u32, opc: u32| -> u32 {
        (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc
    };
    let btype = |imm: i32, rs2: u32, rs1: u32, f3: u32| -> u32 {
        let imm = imm as u32;
        (((imm >> 12) & 1) << 31)
            | (((imm >> 5) & 0x3f) << 25)
            | (rs2 << 20)
            | (rs1 << 15)
            | (f3 << 12)
            | (((imm >> 1) & 0xf) << 8)
            | (((imm >> 11) & 1) << 7)
            | 0x63
    };
    let jtype = |imm: i32, rd: u32| -> u32 {
        let imm = imm as u32;
        (((imm >> 20) & 1) << 31)
            | (((imm >> 1) & 0x3ff) << 21)
            | (((imm >> 11) & 1) << 20)
            | (((imm >> 12) & 0xff) << 12)
            | (rd << 7)
            | 0x6f
    };
    let bit = |n: u32| (c >> n) & 1;
    let sext = |v: u32, bits: u32| ((v << (32 - bits)) as i32) >> (32 - bits);
    match (op, f3) {
        (0, 0) => {
            // C.ADDI4SPN
            let imm =
                (((c >> 7) & 0xf) << 6) | (((c >> 11) & 3) << 4) | (bit(5) << 3) | (bit(6) << 2);
            if imm == 0 {
                return None;
            }
            Some(itype(imm as i32, 2, 0, r(2), 0x13))
        }
        (0, 1) => {
            // C.FLD
            let imm = (((c >> 10) & 7) << 3) | (((c >> 5) & 3) << 6);
            Some(itype(imm as i32, r(7), 3, r(2), 0x07))
        }
        (0, 2) => {
            // C.LW
            let imm = (((c >> 10) & 7) << 3) | (bit(6) << 2) | (bit(5) << 6);
            Some(itype(imm as i32, r(7), 2, r(2), 0x03))
        }
        (0, 3) => {
            // C.LD
            let imm = (((c >> 10) & 7) << 3) | (((c >> 5) & 3) << 6);
            Some(itype(imm as i32, r(7), 3, r(2), 0x03))
        }
        (0, 5) => {
            // C.FSD
            let imm = (((c >> 10) & 7) << 3) | (((c >> 5) & 3) << 6);
            Some(stype(imm as i32, r(2), r(7), 3, 0x27))
        }
        (0, 6) => {
            // C.SW
            let imm = (((c >> 10) & 7) << 3) | (bit(6) << 2) | (bit(5) << 6);
            Some(stype(imm as i32, r(2), r(7), 2, 0x23))
        }
        (0, 7) => {
            // C.SD
            let imm = (((c >> 10) & 7) << 3) | (((c >> 5) & 3) << 6);
            Some(stype(imm as i32, r(2), r(7), 3, 0x23))
        }
        (1, 0) => {
            // C.ADDI / C.NOP
            let imm = sext((bit(12) << 5) | ((c >> 2) & 31), 6);
            Some(itype(imm, rd_full, 0, rd_full, 0x13))
        }
        (1, 1) => {
            // C.ADDIW
            if rd_full == 0 {
                return None;
            }
            let imm = sext((bit(12) << 5) | ((c >> 2) & 31), 6);
            Some(itype(imm, rd_full, 0, rd_full, 0x1b))
        }
        (1, 2) => {
            // C.LI
            let imm = sext((bit(12) << 5) | ((c >> 2) & 31), 6);
            Some(itype(imm, 0, 0, rd_full, 0x13))
        }
        (1, 3) => {
            if rd_full == 2 {
                // C.ADDI16SP
                let imm = (bit(12) << 9)
                    | (bit(6) << 4)
                    | (bit(5) << 6)
                    | (((c >> 3) & 3) << 7)
                    | (bit(2) << 5);
                let imm = sext(imm, 10);
                if imm == 0 {
                    return None;
                }
                Some(itype(imm, 2, 0, 2, 0x13))
            } else {
                // C.LUI
                let imm = sext((bit(12) << 17) | (((c >> 2) & 31) << 12), 18);
                if imm == 0 {
                    return None;
                }
                Some((imm as u32 & 0xffff_f000) | (rd_full << 7) | 0x37)
            }
        }
        (1, 4) => {
            let rd = r(7);
            let sh = (bit(12) << 5) | ((c >> 2) & 31);
            match (c >> 10) & 3 {
                0 => Some(itype(sh as i32, rd, 5, rd, 0x13)), // C.SRLI
                1 => Some(itype((sh | 0x400) as i32, rd, 5, rd, 0x13)), // C.SRAI
                2 => {
                    // C.ANDI
                    let imm = sext((bit(12) << 5) | ((c >> 2) & 31), 6);
                    Some(itype(imm, rd, 7, rd, 0x13))
                }
                _ => {
                    let rs2 = r(2);
                    match (bit(12), (c >> 5) & 3) {
                        (0, 0) => Some(rtype(0x20, rs2, rd, 0, rd, 0x33)), // C.SUB
                        (0, 1) => Some(rtype(0, rs2, rd, 4, rd, 0x33)),    // C.XOR
                        (0, 2) => Some(rtype(0, rs2, rd, 6, rd, 0x33)),    // C.OR
                        (0, 3) => Some(rtype(0, rs2, rd, 7, rd, 0x33)),    // C.AND
                        (1, 0) => Some(rtype(0x20, rs2, rd, 0, rd, 0x3b)), // C.SUBW
                        (1, 1) => Some(rtype(0, rs2, rd, 0, rd, 0x3b)),    // C.ADDW
                        _ => None,
                    }
                }
            }
        }
        (1, 5) => {
            // C.J
            let imm = (bit(12) << 11)
                | (bit(11) << 4)
                | (((c >> 9) & 3) << 8)
                | (bit(8) << 10)
                | (bit(7) << 6)
                | (bit(6) << 7)
                | (((c >> 3) & 7) << 1)
                | (bit(2) << 5);
            Some(jtype(sext(imm, 12), 0))
        }
        (1, 6) | (1, 7) => {
            // C.BEQZ / C.BNEZ
            let imm = (bit(12) << 8)
                | (((c >> 10) & 3) << 3)
                | (((c >> 5) & 3) << 6)
                | (((c >> 3) & 3) << 1)
                | (bit(2) << 5);
            Some(btype(sext(imm, 9), 0, r(7), f3 - 6))
        }
        (2, 0) => {
            // C.SLLI
            let sh = (bit(12) << 5) | ((c >> 2) & 31);
            Some(itype(sh as i32, rd_full, 1, rd_full, 0x13))
        }
        (2, 1) => {
            // C.FLDSP
            let imm = (bit(12) << 5) | (((c >> 5) & 3) << 3) | (((c >> 2) & 7) << 6);
            Some(itype(imm as i32, 2, 3, rd_full, 0x07))
        }
        (2, 2) => {
            // C.LWSP
            if rd_full == 0 {
                return None;
            }
            let imm = (bit(12) << 5) | (((c >> 4) & 7) << 2) | (((c >> 2) & 3) << 6);
            Some(itype(imm as i32, 2, 2, rd_full, 0x03))
        }
        (2, 3) => {
            // C.LDSP
            if rd_full == 0 {
                return None;
            }
            let imm = (bit(12) << 5) | (((c >> 5) & 3) << 3) | (((c >> 2) & 7) << 6);
            Some(itype(imm as i32, 2, 3, rd_full, 0x03))
        }
        (2, 4) => match (bit(12), rd_full, rs2_full) {
            (0, 0, 0) => None,
            (0, rs1, 0) => Some(itype(0, rs1, 0, 0, 0x67)), // C.JR
            (0, rd, rs2) => Some(rtype(0, rs2, 0, 0, rd, 0x33)), // C.MV
            (1, 0, 0) => Some(0x0010_0073),                 // C.EBREAK
            (1, rs1, 0) => Some(itype(0, rs1, 0, 1, 0x67)), // C.JALR
            (1, rd, rs2) => Some(rtype(0, rs2, rd, 0, rd, 0x33)), // C.ADD
            _ => None,
        },
        (2, 5) => {
            // C.FSDSP
            let imm = (((c >> 10) & 7) << 3) | (((c >> 7) & 7) << 6);
            Some(stype(imm as i32, rs2_full, 2, 3, 0x27))
        }
        (2, 6) => {
            // C.SWSP
            let imm = (((c >> 9) & 0xf) << 2) | (((c >> 7) & 3) << 6);
            Some(stype(imm as i32, rs2_full, 2, 2, 0x23))
        }
        (2, 7) => {
            // C.SDSP
            let imm = (((c >> 10) & 7) << 3) | (((c >> 7) & 7) << 6);
            Some(stype(imm as i32, rs2_full, 2, 3, 0x23))
        }
        _ => None,
    }
}
