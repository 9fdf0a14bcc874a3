//! F and D instruction semantics (QEMU's `fpu_helper.c` and
//! `trans_rvf/rvd.c.inc`): operand NaN-unboxing, rounding-mode selection,
//! RISC-V's min/max, sign-injection, moves and classification, with the
//! arithmetic itself in [`crate::fpu`].

use ferrite_tcg::Fault;

use crate::cpu::RiscvCpu;
use crate::fpu::{self, FloatStatus, RoundingMode};

const BOX: u64 = 0xffff_ffff_0000_0000;

/// Reads an f register as binary32: an improperly NaN-boxed value is the
/// canonical NaN.
fn unbox32(v: u64) -> u32 {
    if v & BOX == BOX {
        v as u32
    } else {
        fpu::F32_DEFAULT_NAN
    }
}

fn boxed(v: u32) -> u64 {
    BOX | v as u64
}

fn f32_min_max(a: u32, b: u32, max: bool, st: &mut FloatStatus) -> u32 {
    let (x, y) = (f32::from_bits(a), f32::from_bits(b));
    if fpu::f32_is_snan(a) || fpu::f32_is_snan(b) {
        st.flags |= fpu::FLAG_NV;
    }
    match (x.is_nan(), y.is_nan()) {
        (true, true) => fpu::F32_DEFAULT_NAN,
        (true, false) => b,
        (false, true) => a,
        _ => {
            // -0 < +0.
            let a_less = x < y || (x == y && a >> 31 == 1);
            if a_less != max { a } else { b }
        }
    }
}

fn f64_min_max(a: u64, b: u64, max: bool, st: &mut FloatStatus) -> u64 {
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    if fpu::f64_is_snan(a) || fpu::f64_is_snan(b) {
        st.flags |= fpu::FLAG_NV;
    }
    match (x.is_nan(), y.is_nan()) {
        (true, true) => fpu::F64_DEFAULT_NAN,
        (true, false) => b,
        (false, true) => a,
        _ => {
            let a_less = x < y || (x == y && a >> 63 == 1);
            if a_less != max { a } else { b }
        }
    }
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
        RoundingMode::from_rm(r)
    };
    let (a, b) = (cpu.f(rs1), cpu.f(rs2));

    if opcode != 0x53 {
        // Fused multiply-add family.
        let Some(mode) = rm(cpu) else {
            return Err(cpu.illegal(i));
        };
        let c = cpu.f((i >> 27) as usize);
        let mut st = FloatStatus::new(mode);
        let (neg_prod, neg_add) = match opcode {
            0x43 => (false, false),
            0x47 => (false, true),
            0x4b => (true, false),
            _ => (true, true),
        };
        let r = if dbl {
            let sa = if neg_prod { 1 << 63 } else { 0 };
            let sc = if neg_add { 1 << 63 } else { 0 };
            fpu::f64_mul_add(a ^ sa, b, c ^ sc, &mut st)
        } else {
            let sa = if neg_prod { 1 << 31 } else { 0 };
            let sc = if neg_add { 1 << 31 } else { 0 };
            boxed(fpu::f32_mul_add(
                unbox32(a) ^ sa,
                unbox32(b),
                unbox32(c) ^ sc,
                &mut st,
            ))
        };
        cpu.csr.fflags |= st.flags;
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
        RoundingMode::NearEven
    };
    let mut st = FloatStatus::new(mode);
    enum Out {
        F(u64),
        X(u64),
    }
    let out = match funct5 {
        0x00..=0x03 => {
            let r = if dbl {
                let f = [fpu::f64_add, fpu::f64_sub, fpu::f64_mul, fpu::f64_div][funct5 as usize];
                f(a, b, &mut st)
            } else {
                let f = [fpu::f32_add, fpu::f32_sub, fpu::f32_mul, fpu::f32_div][funct5 as usize];
                boxed(f(unbox32(a), unbox32(b), &mut st))
            };
            Out::F(r)
        }
        0x0b if rs2 == 0 => Out::F(if dbl {
            fpu::f64_sqrt(a, &mut st)
        } else {
            boxed(fpu::f32_sqrt(unbox32(a), &mut st))
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
            Out::F(if dbl {
                f64_min_max(a, b, max, &mut st)
            } else {
                boxed(f32_min_max(unbox32(a), unbox32(b), max, &mut st))
            })
        }
        0x08 => match (dbl, rs2) {
            (false, 1) => Out::F(boxed(fpu::f64_to_f32(a, &mut st))),
            (true, 0) => Out::F(fpu::f32_to_f64(unbox32(a), &mut st)),
            _ => return Err(cpu.illegal(i)),
        },
        0x14 if rm_field <= 2 => {
            let r = if dbl {
                match rm_field {
                    2 => fpu::f64_eq(a, b, &mut st),
                    1 => fpu::f64_lt(a, b, &mut st),
                    _ => fpu::f64_le(a, b, &mut st),
                }
            } else {
                let (x, y) = (unbox32(a), unbox32(b));
                match rm_field {
                    2 => fpu::f32_eq(x, y, &mut st),
                    1 => fpu::f32_lt(x, y, &mut st),
                    _ => fpu::f32_le(x, y, &mut st),
                }
            };
            Out::X(r as u64)
        }
        0x18 if rs2 <= 3 => Out::X(if dbl {
            [
                fpu::f64_to_i32,
                fpu::f64_to_u32,
                fpu::f64_to_i64,
                fpu::f64_to_u64,
            ][rs2](a, &mut st)
        } else {
            [
                fpu::f32_to_i32,
                fpu::f32_to_u32,
                fpu::f32_to_i64,
                fpu::f32_to_u64,
            ][rs2](unbox32(a), &mut st)
        }),
        0x1a if rs2 <= 3 => {
            let x = cpu.x(rs1);
            Out::F(if dbl {
                match rs2 {
                    0 => fpu::i32_to_f64(x as i32, &mut st),
                    1 => fpu::u32_to_f64(x as u32, &mut st),
                    2 => fpu::i64_to_f64(x as i64, &mut st),
                    _ => fpu::u64_to_f64(x, &mut st),
                }
            } else {
                boxed(match rs2 {
                    0 => fpu::i32_to_f32(x as i32, &mut st),
                    1 => fpu::u32_to_f32(x as u32, &mut st),
                    2 => fpu::i64_to_f32(x as i64, &mut st),
                    _ => fpu::u64_to_f32(x, &mut st),
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
            fpu::f64_classify(a)
        } else {
            fpu::f32_classify(unbox32(a))
        }),
        0x1e if rs2 == 0 && rm_field == 0 => {
            let x = cpu.x(rs1);
            Out::F(if dbl { x } else { boxed(x as u32) })
        }
        _ => return Err(cpu.illegal(i)),
    };
    if st.flags != 0 {
        cpu.csr.fflags |= st.flags;
        cpu.csr.set_fs_dirty();
    }
    match out {
        Out::F(v) => cpu.set_f(rd, v),
        Out::X(v) => cpu.set_x(rd, v),
    }
    Ok(())
}
