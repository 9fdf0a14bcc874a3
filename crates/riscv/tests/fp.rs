//! F and D through the translator: FS gating and dirty tracking, NaN
//! boxing, rounding-mode selection (static, dynamic, reserved), flags,
//! conversions with saturation, min/max, classify, FMA, loads/stores.

mod support;

use support::*;

const MSTATUS: u32 = 0x300;
const FFLAGS: u32 = 0x001;
const FRM: u32 = 0x002;
const FCSR: u32 = 0x003;
const HANDLER: u64 = RAM_BASE + 0x3000;
const TRAP: u64 = 0x7777;

const S: u32 = 0;
const D: u32 = 1;

fn opfp(funct5: u32, fmt: u32, rs2: u32, rs1: u32, rm: u32, rd: u32) -> u32 {
    r((funct5 << 2) | fmt, rs2, rs1, rm, rd, 0x53)
}

fn fma(op: u32, fmt: u32, rs3: u32, rs2: u32, rs1: u32, rm: u32, rd: u32) -> u32 {
    (rs3 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (rm << 12) | (rd << 7) | op
}

/// Program prologue: mtvec = HANDLER, FS = Initial (unless `fs_off`).
fn prologue(a: &mut Asm, fs_off: bool) {
    a.la(T0, HANDLER).csrw(0x305, T0);
    if !fs_off {
        a.li(T0, 1 << 13).csrs(MSTATUS, T0);
    }
}

fn machine(a: &mut Asm) -> Machine {
    let m = Machine::with_program(a);
    let mut h = Asm::new(HANDLER);
    h.exit(TRAP as i64);
    m.load(HANDLER, &h.finish());
    m
}

fn f(m: &Machine, i: usize) -> u64 {
    m.hart.cpu.f(i)
}

/// Moves a 64-bit constant into f register `fd` with fmv.d.x.
fn fli(a: &mut Asm, fd: u32, v: u64) {
    a.li(T0, v as i64).w(opfp(0x1e, D, 0, T0, 0, fd));
}

/// Moves a boxed single into `fd` with fmv.w.x.
fn flis(a: &mut Asm, fd: u32, v: f32) {
    a.li(T0, v.to_bits() as i32 as i64)
        .w(opfp(0x1e, S, 0, T0, 0, fd));
}

#[test]
fn fs_off_makes_fp_illegal() {
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, true);
    let bad = opfp(0x00, D, 1, 2, 0, 3);
    a.w(bad);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP));
    assert_eq!(m.hart.cpu.csr.mcause, 2);
    assert_eq!(m.hart.cpu.csr.mtval, bad as u64);
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, true);
    a.csrr(A0, FFLAGS);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP));
    assert_eq!(m.hart.cpu.csr.mcause, 2);
}

#[test]
fn arithmetic_sets_dirty_and_sd() {
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, false);
    a.csrr(A1, MSTATUS);
    fli(&mut a, 1, 1.5f64.to_bits());
    fli(&mut a, 2, 2.25f64.to_bits());
    a.w(opfp(0x00, D, 2, 1, 0, 3)); // fadd.d f3 = 3.75
    a.w(opfp(0x02, D, 2, 1, 0, 4)); // fmul.d f4
    a.w(opfp(0x03, D, 2, 1, 0, 5)); // fdiv.d
    a.w(opfp(0x0b, D, 0, 2, 0, 6)); // fsqrt.d 1.5
    a.csrr(A0, MSTATUS).csrr(A2, FFLAGS).exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!((m.x(A1) >> 13) & 3, 1);
    assert_eq!((m.x(A0) >> 13) & 3, 3);
    assert_eq!(m.x(A0) >> 63, 1);
    assert_eq!(f64::from_bits(f(&m, 3)), 3.75);
    assert_eq!(f64::from_bits(f(&m, 4)), 3.375);
    assert_eq!(f(&m, 5), (1.5f64 / 2.25).to_bits());
    assert_eq!(f64::from_bits(f(&m, 6)), 1.5);
    assert_eq!(m.x(A2), 1, "1.5/2.25 is inexact: NX only");
}

#[test]
fn nan_boxing() {
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, false);
    fli(&mut a, 1, 0x0000_0000_3f80_0000); // 1.0f, not boxed
    flis(&mut a, 2, 1.0);
    a.w(opfp(0x00, S, 2, 1, 0, 3)); // fadd.s: unboxed input is the canonical NaN
    a.w(opfp(0x00, S, 2, 2, 0, 4)); // 2.0f, boxed
    a.w(opfp(0x1c, S, 0, 1, 0, A0)); // fmv.x.w ignores boxing: 0x3f800000
    a.w(opfp(0x1c, S, 0, 4, 1, A1)); // fclass.s 2.0 -> positive normal
    a.w(opfp(0x1c, S, 0, 1, 1, A2)); // fclass.s of an unboxed value: qNaN
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(f(&m, 3), 0xffff_ffff_7fc0_0000);
    assert_eq!(f(&m, 4), 0xffff_ffff_4000_0000);
    assert_eq!(m.x(A0), 0x3f80_0000);
    assert_eq!(m.x(A1), 1 << 6);
    assert_eq!(m.x(A2), 1 << 9);
}

#[test]
fn rounding_modes_static_dynamic_and_reserved() {
    let one = 1.0f64.to_bits();
    let tiny = 1e-30f64.to_bits();
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, false);
    fli(&mut a, 1, one);
    fli(&mut a, 2, tiny);
    a.w(opfp(0x00, D, 2, 1, 3, 3)); // RUP
    a.w(opfp(0x01, D, 2, 1, 1, 4)); // fsub RTZ
    a.li(T0, 2).csrw(FRM, T0);
    a.w(opfp(0x01, D, 2, 1, 7, 5)); // dynamic = RDN
    a.csrr(A0, FCSR);
    a.li(T0, 5).csrw(FRM, T0);
    a.w(opfp(0x00, D, 2, 1, 7, 6)); // dynamic with frm = 5: illegal
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP));
    assert_eq!(f64::from_bits(f(&m, 3)), 1.0f64.next_up());
    assert_eq!(f64::from_bits(f(&m, 4)), 1.0f64.next_down());
    assert_eq!(f64::from_bits(f(&m, 5)), 1.0f64.next_down());
    assert_eq!(m.x(A0), (2 << 5) | 1);
    assert_eq!(m.hart.cpu.csr.mcause, 2);
    // A reserved static rm (5) is illegal too.
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, false);
    a.w(opfp(0x00, D, 2, 1, 5, 3));
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP));
    assert_eq!(m.hart.cpu.csr.mcause, 2);
}

#[test]
fn conversions_saturate_and_flag() {
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, false);
    fli(&mut a, 1, 0x7ff8_0000_0000_0000); // qNaN
    fli(&mut a, 2, (-1.5f64).to_bits());
    fli(&mut a, 3, 1e20f64.to_bits());
    a.w(opfp(0x18, D, 0, 1, 1, A0)); // fcvt.w.d NaN -> 0x7fffffff, NV
    a.csrr(A1, FFLAGS).csrw(FFLAGS, ZERO);
    a.w(opfp(0x18, D, 1, 2, 1, A2)); // fcvt.wu.d -1.5 RTZ -> 0, NV
    a.w(opfp(0x18, D, 2, 3, 1, A3)); // fcvt.l.d 1e20 -> i64::MAX
    a.w(opfp(0x18, D, 0, 2, 2, A4)); // fcvt.w.d -1.5 RDN -> -2, NX
    a.li(T1, -7).w(opfp(0x1a, D, 0, T1, 0, 4)); // fcvt.d.w
    a.w(opfp(0x08, S, 1, 2, 0, 5)); // fcvt.s.d -1.5
    a.w(opfp(0x08, D, 0, 5, 0, 6)); // fcvt.d.s
    a.csrr(A5, FFLAGS).exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 0x7fff_ffff);
    assert_eq!(m.x(A1), 0x10);
    assert_eq!(m.x(A2), 0);
    assert_eq!(m.x(A3), i64::MAX as u64);
    assert_eq!(m.x(A4), -2i64 as u64);
    assert_eq!(m.x(A5), 0x11);
    assert_eq!(f64::from_bits(f(&m, 4)), -7.0);
    assert_eq!(f(&m, 5), 0xffff_ffff_0000_0000 | (-1.5f32).to_bits() as u64);
    assert_eq!(f64::from_bits(f(&m, 6)), -1.5);
}

#[test]
fn min_max_compare_and_sign_injection() {
    let snan = 0x7ff0_0000_0000_0001u64;
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, false);
    fli(&mut a, 1, snan);
    fli(&mut a, 2, 3.0f64.to_bits());
    fli(&mut a, 3, (-0.0f64).to_bits());
    fli(&mut a, 4, 0.0f64.to_bits());
    a.w(opfp(0x05, D, 2, 1, 0, 5)); // fmin(sNaN, 3) = 3, NV
    a.w(opfp(0x05, D, 4, 3, 1, 6)); // fmax(-0, +0) = +0
    a.w(opfp(0x05, D, 4, 3, 0, 7)); // fmin(-0, +0) = -0
    a.w(opfp(0x05, D, 1, 1, 0, 8)); // fmin(sNaN, sNaN) = canonical NaN
    a.csrr(A0, FFLAGS).csrw(FFLAGS, ZERO);
    a.w(opfp(0x14, D, 2, 1, 2, A1)); // feq(sNaN, 3) = 0, NV
    a.csrr(A2, FFLAGS).csrw(FFLAGS, ZERO);
    fli(&mut a, 9, 0x7ff8_0000_0000_0000);
    a.w(opfp(0x14, D, 2, 9, 2, A3)); // feq(qNaN, 3): quiet, no flag
    a.csrr(A4, FFLAGS);
    a.w(opfp(0x14, D, 2, 9, 1, A5)); // flt(qNaN, 3): NV
    a.csrr(S1, FFLAGS);
    a.w(opfp(0x04, D, 3, 2, 0, 10)); // fsgnj.d 3 with sign of -0 -> -3
    a.w(opfp(0x04, D, 3, 3, 2, 11)); // fsgnjx(-0, -0) -> +0
    a.w(opfp(0x1c, D, 0, 10, 1, S2)); // fclass -3 -> negative normal
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(f64::from_bits(f(&m, 5)), 3.0);
    assert_eq!(f(&m, 6), 0);
    assert_eq!(f(&m, 7), (-0.0f64).to_bits());
    assert_eq!(f(&m, 8), 0x7ff8_0000_0000_0000);
    assert_eq!(m.x(A0), 0x10);
    assert_eq!(m.x(A1), 0);
    assert_eq!(m.x(A2), 0x10);
    assert_eq!(m.x(A3), 0);
    assert_eq!(m.x(A4), 0);
    assert_eq!(m.x(S1), 0x10);
    assert_eq!(f64::from_bits(f(&m, 10)), -3.0);
    assert_eq!(f(&m, 11), 0);
    assert_eq!(m.x(S2), 1 << 1);
}

const S1: u32 = 9;
const S2: u32 = 18;

#[test]
fn fused_multiply_add_and_memory() {
    let data = RAM_BASE + 0x2000;
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, false);
    fli(&mut a, 1, 0.1f64.to_bits());
    fli(&mut a, 2, 10.0f64.to_bits());
    fli(&mut a, 3, (-1.0f64).to_bits());
    a.w(fma(0x43, D, 3, 2, 1, 0, 4)); // fmadd: 0.1*10 - 1, fused: 2^-54
    a.w(fma(0x4f, D, 3, 2, 1, 0, 5)); // fnmadd: -(0.1*10) + 1
    fli(&mut a, 6, f64::INFINITY.to_bits());
    fli(&mut a, 7, 0);
    fli(&mut a, 8, 0x7ff8_0000_0000_0000);
    a.csrw(FFLAGS, ZERO);
    a.w(fma(0x43, D, 8, 7, 6, 0, 9)); // inf * 0 + qNaN: NV
    a.csrr(A0, FFLAGS);
    // fsd / fld / fsw / flw
    a.la(A1, data);
    a.s(0, 4, A1, 3, 0x27); // fsd f4
    a.i(0, A1, 3, 12, 0x07); // fld f12
    flis(&mut a, 13, -2.5);
    a.s(8, 13, A1, 2, 0x27); // fsw f13
    a.i(8, A1, 2, 14, 0x07); // flw f14
    a.lw(A2, A1, 8);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    let exact = 0.1f64.mul_add(10.0, -1.0);
    assert_eq!(f64::from_bits(f(&m, 4)), exact);
    assert_ne!(exact, 0.0, "the product must not have been rounded first");
    assert_eq!(f64::from_bits(f(&m, 5)), -exact);
    assert_eq!(f(&m, 9), 0x7ff8_0000_0000_0000);
    assert_eq!(m.x(A0), 0x10);
    assert_eq!(f(&m, 12), f(&m, 4));
    assert_eq!(
        f(&m, 14),
        0xffff_ffff_0000_0000 | (-2.5f32).to_bits() as u64
    );
    assert_eq!(m.x(A2) as u32, (-2.5f32).to_bits());
}

/// Moves a raw binary32 pattern into `fd` (boxed) with fmv.w.x.
fn flis_bits(a: &mut Asm, fd: u32, bits: u32) {
    a.li(T0, bits as i32 as i64).w(opfp(0x1e, S, 0, T0, 0, fd));
}

#[test]
fn tininess_is_detected_after_rounding_with_unbounded_exponent() {
    // fmul.s 2^-126 * (1 - 2^-24) = 2^-126 - 2^-150, exact at 24 bits with
    // an unbounded exponent, hence tiny. On the subnormal grid (2^-149) it
    // is a tie between 0x007fffff and 0x00800000 and rounds to even, the
    // smallest normal. IEEE 754 tininess after rounding (QEMU's softfloat,
    // fp_arith test 93): UF | NX with the normal result. The interim
    // host-float FPU judged tininess on the subnormal-rounded result and
    // missed UF.
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, false);
    flis_bits(&mut a, 10, 0x0080_0000);
    flis_bits(&mut a, 11, 0x3f7f_ffff);
    a.w(opfp(0x02, S, 11, 10, 0, 12)); // fmul.s fa2, fa0, fa1, rne
    a.csrr(A0, FFLAGS).exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(f(&m, 12), 0xffff_ffff_0080_0000);
    assert_eq!(m.x(A0), 0x3, "UF | NX");
    // The same product in RTZ stays subnormal: UF | NX too.
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, false);
    flis_bits(&mut a, 10, 0x0080_0000);
    flis_bits(&mut a, 11, 0x3f7f_ffff);
    a.w(opfp(0x02, S, 11, 10, 1, 12)); // fmul.s fa2, fa0, fa1, rtz
    a.csrr(A0, FFLAGS).exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(f(&m, 12), 0xffff_ffff_007f_ffff);
    assert_eq!(m.x(A0), 0x3);
}

#[test]
fn flags_accrue_across_operations() {
    // NX from 1/3, then DZ from 1/0: both remain; an exact op adds nothing.
    let mut a = Asm::new(RAM_BASE);
    prologue(&mut a, false);
    flis(&mut a, 10, 1.0);
    flis(&mut a, 11, 3.0);
    flis(&mut a, 13, 0.0);
    a.w(opfp(0x03, S, 11, 10, 0, 12)); // fdiv.s 1/3
    a.w(opfp(0x03, S, 13, 10, 0, 12)); // fdiv.s 1/0
    a.w(opfp(0x00, S, 10, 10, 0, 12)); // fadd.s 1+1 (exact)
    a.csrr(A0, FFLAGS).exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 0x08 | 0x01);
    assert_eq!(f(&m, 12), 0xffff_ffff_4000_0000);
}
