//! Property test: every integer ALU instruction (RV64IM, Zba, Zbb, Zbs),
//! executed through the translator and interpreter, against a reference
//! model written directly from the ISA manual.

// The reference model spells out the ISA manual's division-by-zero cases.
#![allow(clippy::manual_checked_ops)]

mod support;

use proptest::prelude::*;
use support::*;

/// (name, funct7, funct3, opcode) of the register-register forms.
const RR: &[(&str, u32, u32, u32)] = &[
    ("add", 0x00, 0, 0x33),
    ("sub", 0x20, 0, 0x33),
    ("sll", 0x00, 1, 0x33),
    ("slt", 0x00, 2, 0x33),
    ("sltu", 0x00, 3, 0x33),
    ("xor", 0x00, 4, 0x33),
    ("srl", 0x00, 5, 0x33),
    ("sra", 0x20, 5, 0x33),
    ("or", 0x00, 6, 0x33),
    ("and", 0x00, 7, 0x33),
    ("mul", 0x01, 0, 0x33),
    ("mulh", 0x01, 1, 0x33),
    ("mulhsu", 0x01, 2, 0x33),
    ("mulhu", 0x01, 3, 0x33),
    ("div", 0x01, 4, 0x33),
    ("divu", 0x01, 5, 0x33),
    ("rem", 0x01, 6, 0x33),
    ("remu", 0x01, 7, 0x33),
    ("addw", 0x00, 0, 0x3b),
    ("subw", 0x20, 0, 0x3b),
    ("sllw", 0x00, 1, 0x3b),
    ("srlw", 0x00, 5, 0x3b),
    ("sraw", 0x20, 5, 0x3b),
    ("mulw", 0x01, 0, 0x3b),
    ("divw", 0x01, 4, 0x3b),
    ("divuw", 0x01, 5, 0x3b),
    ("remw", 0x01, 6, 0x3b),
    ("remuw", 0x01, 7, 0x3b),
    ("sh1add", 0x10, 2, 0x33),
    ("sh2add", 0x10, 4, 0x33),
    ("sh3add", 0x10, 6, 0x33),
    ("add.uw", 0x04, 0, 0x3b),
    ("sh1add.uw", 0x10, 2, 0x3b),
    ("sh3add.uw", 0x10, 6, 0x3b),
    ("andn", 0x20, 7, 0x33),
    ("orn", 0x20, 6, 0x33),
    ("xnor", 0x20, 4, 0x33),
    ("min", 0x05, 4, 0x33),
    ("minu", 0x05, 5, 0x33),
    ("max", 0x05, 6, 0x33),
    ("maxu", 0x05, 7, 0x33),
    ("rol", 0x30, 1, 0x33),
    ("ror", 0x30, 5, 0x33),
    ("rolw", 0x30, 1, 0x3b),
    ("rorw", 0x30, 5, 0x3b),
    ("bclr", 0x24, 1, 0x33),
    ("bset", 0x14, 1, 0x33),
    ("binv", 0x34, 1, 0x33),
    ("bext", 0x24, 5, 0x33),
];

fn sx32(v: u64) -> u64 {
    v as i32 as i64 as u64
}

/// The reference model.
fn model(name: &str, a: u64, b: u64) -> u64 {
    let (sa, sb) = (a as i64, b as i64);
    let (wa, wb) = (a as u32, b as u32);
    let sh = b & 63;
    match name {
        "add" => a.wrapping_add(b),
        "sub" => a.wrapping_sub(b),
        "sll" => a << sh,
        "slt" => (sa < sb) as u64,
        "sltu" => (a < b) as u64,
        "xor" => a ^ b,
        "srl" => a >> sh,
        "sra" => (sa >> sh) as u64,
        "or" => a | b,
        "and" => a & b,
        "mul" => a.wrapping_mul(b),
        "mulh" => ((sa as i128 * sb as i128) >> 64) as u64,
        "mulhsu" => ((sa as i128 * b as u128 as i128) >> 64) as u64,
        "mulhu" => ((a as u128 * b as u128) >> 64) as u64,
        "div" => match (sa, sb) {
            (_, 0) => u64::MAX,
            (i64::MIN, -1) => a,
            _ => (sa / sb) as u64,
        },
        "divu" => {
            if b == 0 {
                u64::MAX
            } else {
                a / b
            }
        }
        "rem" => match (sa, sb) {
            (_, 0) => a,
            (i64::MIN, -1) => 0,
            _ => (sa % sb) as u64,
        },
        "remu" => {
            if b == 0 {
                a
            } else {
                a % b
            }
        }
        "addw" => sx32(wa.wrapping_add(wb) as u64),
        "subw" => sx32(wa.wrapping_sub(wb) as u64),
        "sllw" => sx32((wa << (b & 31)) as u64),
        "srlw" => sx32((wa >> (b & 31)) as u64),
        "sraw" => ((wa as i32) >> (b & 31)) as i64 as u64,
        "mulw" => sx32(wa.wrapping_mul(wb) as u64),
        "divw" => match (wa as i32, wb as i32) {
            (_, 0) => u64::MAX,
            (i32::MIN, -1) => sx32(wa as u64),
            (x, y) => (x / y) as i64 as u64,
        },
        "divuw" => {
            if wb == 0 {
                u64::MAX
            } else {
                sx32((wa / wb) as u64)
            }
        }
        "remw" => match (wa as i32, wb as i32) {
            (x, 0) => x as i64 as u64,
            (i32::MIN, -1) => 0,
            (x, y) => (x % y) as i64 as u64,
        },
        "remuw" => {
            if wb == 0 {
                sx32(wa as u64)
            } else {
                sx32((wa % wb) as u64)
            }
        }
        "sh1add" => b.wrapping_add(a << 1),
        "sh2add" => b.wrapping_add(a << 2),
        "sh3add" => b.wrapping_add(a << 3),
        "add.uw" => b.wrapping_add(wa as u64),
        "sh1add.uw" => b.wrapping_add((wa as u64) << 1),
        "sh3add.uw" => b.wrapping_add((wa as u64) << 3),
        "andn" => a & !b,
        "orn" => a | !b,
        "xnor" => !(a ^ b),
        "min" => sa.min(sb) as u64,
        "minu" => a.min(b),
        "max" => sa.max(sb) as u64,
        "maxu" => a.max(b),
        "rol" => a.rotate_left(sh as u32),
        "ror" => a.rotate_right(sh as u32),
        "rolw" => sx32(wa.rotate_left((b & 31) as u32) as u64),
        "rorw" => sx32(wa.rotate_right((b & 31) as u32) as u64),
        "bclr" => a & !(1 << sh),
        "bset" => a | (1 << sh),
        "binv" => a ^ (1 << sh),
        "bext" => (a >> sh) & 1,
        _ => unreachable!("{name}"),
    }
}

/// (name, funct3, opcode, shift-type?) immediate forms.
const RI: &[(&str, u32, u32)] = &[
    ("addi", 0, 0x13),
    ("slti", 2, 0x13),
    ("sltiu", 3, 0x13),
    ("xori", 4, 0x13),
    ("ori", 6, 0x13),
    ("andi", 7, 0x13),
    ("addiw", 0, 0x1b),
];

fn model_imm(name: &str, a: u64, imm: i32) -> u64 {
    let i = imm as i64 as u64;
    match name {
        "addi" => a.wrapping_add(i),
        "slti" => ((a as i64) < imm as i64) as u64,
        "sltiu" => (a < i) as u64,
        "xori" => a ^ i,
        "ori" => a | i,
        "andi" => a & i,
        "addiw" => sx32((a as u32).wrapping_add(imm as u32) as u64),
        _ => unreachable!(),
    }
}

/// Interesting operand values mixed with random ones.
fn operand() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0u64),
        Just(1u64),
        Just(u64::MAX),
        Just(i64::MIN as u64),
        Just(0x8000_0000u64),
        Just(0xffff_ffff_8000_0000u64),
        (0u64..128),
    ]
}

fn run_one(insn: u32, a: u64, b: u64) -> u64 {
    let mut asm = Asm::new(RAM_BASE);
    asm.li(A0, a as i64).li(A1, b as i64).w(insn).exit(1);
    let mut m = Machine::with_program(&mut asm);
    assert_eq!(m.run(1000), Some(1));
    m.x(A2)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn register_ops_match_model(k in 0..RR.len(), a in operand(), b in operand()) {
        let (name, f7, f3, op) = RR[k];
        let insn = r(f7, A1, A0, f3, A2, op);
        prop_assert_eq!(run_one(insn, a, b), model(name, a, b), "{} {:#x} {:#x}", name, a, b);
    }

    #[test]
    fn immediate_ops_match_model(k in 0..RI.len(), a in operand(), imm in -2048i32..2048) {
        let (name, f3, op) = RI[k];
        let insn = i(imm, A0, f3, A2, op);
        prop_assert_eq!(run_one(insn, a, 0), model_imm(name, a, imm), "{} {:#x} {}", name, a, imm);
    }

    #[test]
    fn shift_immediates_match_model(a in operand(), sh in 0u32..64, kind in 0u32..3) {
        let (f3, hi, name) = match kind { 0 => (1, 0, "sll"), 1 => (5, 0, "srl"), _ => (5, 0x400, "sra") };
        let insn = i((hi | sh) as i32, A0, f3, A2, 0x13);
        prop_assert_eq!(run_one(insn, a, 0), model(name, a, sh as u64));
        let sh5 = sh & 31;
        let (wname, wf3, whi) = match kind { 0 => ("sllw", 1, 0), 1 => ("srlw", 5, 0), _ => ("sraw", 5, 0x400) };
        let insn = i((whi | sh5) as i32, A0, wf3, A2, 0x1b);
        prop_assert_eq!(run_one(insn, a, 0), model(wname, a, sh5 as u64));
    }
}
