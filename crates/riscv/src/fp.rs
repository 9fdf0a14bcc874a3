//! F and D instruction semantics (QEMU's `fpu_helper.c` and
//! `trans_rvf/rvd.c.inc`): operand NaN-unboxing, rounding-mode selection,
//! sign-injection and moves, with the arithmetic, comparisons, min/max,
//! classification and conversions done bit-exactly by `ferrite-softfloat`
//! (QEMU's `fpu/softfloat.c` with its RISC-V specialisation).

use ferrite_tcg::Fault;

use crate::cpu::RiscvCpu;
use ferrite_softfloat::{self as sf, FloatStatus, MulAddOp, RoundingMode};

const BOX: u64 = 0xffff_ffff_0000_0000;

/// Reads an f register as binary32: an improperly NaN-boxed value is the
/// canonical NaN.
fn unbox32(v: u64) -> u32 {
    if v & BOX == BOX {
        v as u32
    } else {
        sf::F32_DEFAULT_NAN
    }
}

fn boxed(v: u32) -> u64 {
    BOX | v as u64
}

/// The rounding mode of instruction `i` (its `rm` field, or `frm` when the
/// field is 7), `None` if reserved.
#[inline(always)]
fn rm_of(cpu: &RiscvCpu, i: u32) -> Option<RoundingMode> {
    let f = (i >> 12) & 7;
    let r = if f == 7 { u32::from(cpu.csr.frm) } else { f };
    RoundingMode::from_frm(r)
}

/// `fadd`/`fsub`/`fmul`/`fdiv` (`OP` 0 to 3, the instruction's `funct5`),
/// binary64 if `DBL`, else binary32: the translator picks this helper at
/// translation time, so the operation is not decoded again per execution.
/// The same semantics as the corresponding arm of [`fp_insn`].
pub fn fp_arith<const OP: usize, const DBL: bool>(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    let Some(mode) = rm_of(cpu, i) else {
        return Err(cpu.illegal(i));
    };
    let mut st = FloatStatus {
        rounding_mode: mode,
        float_exception_flags: cpu.csr.fflags,
    };
    let (a, b) = (
        cpu.f(((i >> 15) & 31) as usize),
        cpu.f(((i >> 20) & 31) as usize),
    );
    let r = if DBL {
        match OP {
            0 => sf::f64_add(a, b, &mut st),
            1 => sf::f64_sub(a, b, &mut st),
            2 => sf::f64_mul(a, b, &mut st),
            _ => sf::f64_div(a, b, &mut st),
        }
    } else {
        let (x, y) = (unbox32(a), unbox32(b));
        boxed(match OP {
            0 => sf::f32_add(x, y, &mut st),
            1 => sf::f32_sub(x, y, &mut st),
            2 => sf::f32_mul(x, y, &mut st),
            _ => sf::f32_div(x, y, &mut st),
        })
    };
    cpu.csr.fflags = st.float_exception_flags;
    cpu.set_f(((i >> 7) & 31) as usize, r);
    Ok(())
}

/// The fused multiply-add family (`OP` = opcode bits 3..2: 0 `fmadd`,
/// 1 `fmsub`, 2 `fnmsub`, 3 `fnmadd`), binary64 if `DBL`; chosen at
/// translation time like [`fp_arith`].
pub fn fp_fma<const OP: u8, const DBL: bool>(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    let Some(mode) = rm_of(cpu, i) else {
        return Err(cpu.illegal(i));
    };
    let mut st = FloatStatus {
        rounding_mode: mode,
        float_exception_flags: cpu.csr.fflags,
    };
    let op = match OP {
        0 => MulAddOp::MADD,
        1 => MulAddOp::MSUB,
        2 => MulAddOp::NMSUB,
        _ => MulAddOp::NMADD,
    };
    let a = cpu.f(((i >> 15) & 31) as usize);
    let b = cpu.f(((i >> 20) & 31) as usize);
    let c = cpu.f((i >> 27) as usize);
    let r = if DBL {
        sf::f64_muladd(a, b, c, op, &mut st)
    } else {
        boxed(sf::f32_muladd(
            unbox32(a),
            unbox32(b),
            unbox32(c),
            op,
            &mut st,
        ))
    };
    cpu.csr.fflags = st.float_exception_flags;
    cpu.set_f(((i >> 7) & 31) as usize, r);
    Ok(())
}

/// The helper for every F/D instruction except loads and stores.
pub fn fp_insn(cpu: &mut RiscvCpu, i: u32) -> Result<(), Fault> {
    let opcode = i & 0x7f;
    let rd = ((i >> 7) & 31) as usize;
    let rs1 = ((i >> 15) & 31) as usize;
    let rs2 = ((i >> 20) & 31) as usize;
    let rm_field = ((i >> 12) & 7) as u8;
    let fmt = (i >> 25) & 3;
    if fmt > 1 {
        return Err(cpu.illegal(i));
    }
    let dbl = fmt == 1;
    // The rounding mode, for the instructions that have one.
    let rm = |cpu: &RiscvCpu| -> Option<RoundingMode> {
        let r = if rm_field == 7 { cpu.csr.frm } else { rm_field };
        RoundingMode::from_frm(u32::from(r))
    };
    let (a, b) = (cpu.f(rs1), cpu.f(rs2));

    if opcode != 0x53 {
        // Fused multiply-add family.
        let Some(mode) = rm(cpu) else {
            return Err(cpu.illegal(i));
        };
        let c = cpu.f((i >> 27) as usize);
        // The accrued fflags seed the status (they only ever grow), which also
        // lets the soft-float's host fast path run once NX is set.
        let mut st = FloatStatus {
            rounding_mode: mode,
            float_exception_flags: cpu.csr.fflags,
        };
        let op = match opcode {
            0x43 => MulAddOp::MADD,
            0x47 => MulAddOp::MSUB,
            0x4b => MulAddOp::NMSUB,
            _ => MulAddOp::NMADD,
        };
        let r = if dbl {
            sf::f64_muladd(a, b, c, op, &mut st)
        } else {
            boxed(sf::f32_muladd(
                unbox32(a),
                unbox32(b),
                unbox32(c),
                op,
                &mut st,
            ))
        };
        cpu.csr.fflags = st.float_exception_flags;
        cpu.set_f(rd, r);
        return Ok(());
    }

    let funct5 = i >> 27;
    // Operations with a rounding mode.
    let needs_rm = matches!(funct5, 0x00..=0x03 | 0x0b | 0x08 | 0x18 | 0x1a);
    let mode = if needs_rm {
        match rm(cpu) {
            Some(m) => m,
            None => return Err(cpu.illegal(i)),
        }
    } else {
        RoundingMode::NearestEven
    };
    let mut st = FloatStatus {
        rounding_mode: mode,
        float_exception_flags: cpu.csr.fflags,
    };
    enum Out {
        F(u64),
        X(u64),
    }
    let out = match funct5 {
        0x00..=0x03 => {
            let r = if dbl {
                let f = [sf::f64_add, sf::f64_sub, sf::f64_mul, sf::f64_div][funct5 as usize];
                f(a, b, &mut st)
            } else {
                let f = [sf::f32_add, sf::f32_sub, sf::f32_mul, sf::f32_div][funct5 as usize];
                boxed(f(unbox32(a), unbox32(b), &mut st))
            };
            Out::F(r)
        }
        0x0b if rs2 == 0 => Out::F(if dbl {
            sf::f64_sqrt(a, &mut st)
        } else {
            boxed(sf::f32_sqrt(unbox32(a), &mut st))
        }),
        0x04 if rm_field <= 2 => {
            if dbl {
                let s = match rm_field {
                    0 => b,
                    1 => !b,
                    _ => a ^ b,
                } & (1 << 63);
                Out::F((a & !(1 << 63)) | s)
            } else {
                let (x, y) = (unbox32(a), unbox32(b));
                let s = match rm_field {
                    0 => y,
                    1 => !y,
                    _ => x ^ y,
                } & (1 << 31);
                Out::F(boxed((x & !(1 << 31)) | s))
            }
        }
        0x05 if rm_field <= 1 => {
            let max = rm_field == 1;
            Out::F(match (dbl, max) {
                (true, false) => sf::f64_min(a, b, &mut st),
                (true, true) => sf::f64_max(a, b, &mut st),
                (false, false) => boxed(sf::f32_min(unbox32(a), unbox32(b), &mut st)),
                (false, true) => boxed(sf::f32_max(unbox32(a), unbox32(b), &mut st)),
            })
        }
        0x08 => match (dbl, rs2) {
            (false, 1) => Out::F(boxed(sf::f64_to_f32(a, &mut st))),
            (true, 0) => Out::F(sf::f32_to_f64(unbox32(a), &mut st)),
            _ => return Err(cpu.illegal(i)),
        },
        0x14 if rm_field <= 2 => {
            let r = if dbl {
                match rm_field {
                    2 => sf::f64_eq(a, b, &mut st),
                    1 => sf::f64_lt(a, b, &mut st),
                    _ => sf::f64_le(a, b, &mut st),
                }
            } else {
                let (x, y) = (unbox32(a), unbox32(b));
                match rm_field {
                    2 => sf::f32_eq(x, y, &mut st),
                    1 => sf::f32_lt(x, y, &mut st),
                    _ => sf::f32_le(x, y, &mut st),
                }
            };
            Out::X(r as u64)
        }
        // 32-bit results are sign-extended into x registers, fcvt.wu too.
        0x18 if rs2 <= 3 => Out::X(if dbl {
            match rs2 {
                0 => sf::f64_to_i32(a, &mut st) as i64 as u64,
                1 => sf::f64_to_u32(a, &mut st) as i32 as i64 as u64,
                2 => sf::f64_to_i64(a, &mut st) as u64,
                _ => sf::f64_to_u64(a, &mut st),
            }
        } else {
            let x = unbox32(a);
            match rs2 {
                0 => sf::f32_to_i32(x, &mut st) as i64 as u64,
                1 => sf::f32_to_u32(x, &mut st) as i32 as i64 as u64,
                2 => sf::f32_to_i64(x, &mut st) as u64,
                _ => sf::f32_to_u64(x, &mut st),
            }
        }),
        0x1a if rs2 <= 3 => {
            let x = cpu.x(rs1);
            Out::F(if dbl {
                match rs2 {
                    0 => sf::i32_to_f64(x as i32, &mut st),
                    1 => sf::u32_to_f64(x as u32, &mut st),
                    2 => sf::i64_to_f64(x as i64, &mut st),
                    _ => sf::u64_to_f64(x, &mut st),
                }
            } else {
                boxed(match rs2 {
                    0 => sf::i32_to_f32(x as i32, &mut st),
                    1 => sf::u32_to_f32(x as u32, &mut st),
                    2 => sf::i64_to_f32(x as i64, &mut st),
                    _ => sf::u64_to_f32(x, &mut st),
                })
            })
        }
        0x1c if rs2 == 0 && rm_field == 0 => {
            // fmv.x.w / fmv.x.d: raw bits, no NaN-box check.
            Out::X(if dbl {
                a
            } else {
                a as u32 as i32 as i64 as u64
            })
        }
        0x1c if rs2 == 0 && rm_field == 1 => Out::X(if dbl {
            u64::from(sf::f64_classify(a))
        } else {
            u64::from(sf::f32_classify(unbox32(a)))
        }),
        0x1e if rs2 == 0 && rm_field == 0 => {
            let x = cpu.x(rs1);
            Out::F(if dbl { x } else { boxed(x as u32) })
        }
        _ => return Err(cpu.illegal(i)),
    };
    if st.float_exception_flags != cpu.csr.fflags {
        cpu.csr.fflags = st.float_exception_flags;
        cpu.csr.set_fs_dirty();
    }
    match out {
        Out::F(v) => cpu.set_f(rd, v),
        Out::X(v) => cpu.set_x(rd, v),
    }
    Ok(())
}
