//! Hand-written vectors for the RISC-V rules that are easy to get wrong:
//! canonical NaNs, signalling-NaN flags, tininess after rounding, FMA's
//! `inf * 0` rule, min/max and signed zeros, saturating conversions and
//! `fclass`. Each expectation follows the RISC-V unprivileged ISA (F/D
//! chapters) and matches Berkeley SoftFloat's RISC-V specialisation.

use ferrite_softfloat::*;

const NV: u8 = FLAG_INVALID;
const DZ: u8 = FLAG_DIVBYZERO;
const OF: u8 = FLAG_OVERFLOW;
const UF: u8 = FLAG_UNDERFLOW;
const NX: u8 = FLAG_INEXACT;

const F32_QNAN_PAYLOAD: u32 = 0xffc0_1234; // negative quiet NaN with payload
const F32_SNAN: u32 = 0x7f80_0001;
const F64_SNAN: u64 = 0x7ff0_0000_0000_0001;
const F64_QNAN_PAYLOAD: u64 = 0xfff8_0000_dead_beef;

fn st(rm: RoundingMode) -> FloatStatus {
    FloatStatus::new(rm)
}

fn d(x: f64) -> u64 {
    x.to_bits()
}

fn f(x: f32) -> u32 {
    x.to_bits()
}

/// Runs `op` in mode `rm` and returns (result, flags).
fn run<R>(rm: RoundingMode, op: impl FnOnce(&mut FloatStatus) -> R) -> (R, u8) {
    let mut s = st(rm);
    let r = op(&mut s);
    (r, s.float_exception_flags)
}

const RNE: RoundingMode = RoundingMode::NearestEven;
const RTZ: RoundingMode = RoundingMode::ToZero;
const RDN: RoundingMode = RoundingMode::Down;
const RUP: RoundingMode = RoundingMode::Up;
const RMM: RoundingMode = RoundingMode::TiesAway;

#[test]
fn basic_arithmetic_and_inexact() {
    assert_eq!(
        run(RNE, |s| f64_add(d(0.1), d(0.2), s)),
        (d(0.30000000000000004), NX)
    );
    assert_eq!(run(RNE, |s| f64_add(d(1.5), d(2.25), s)), (d(3.75), 0));
    assert_eq!(run(RNE, |s| f32_mul(f(3.0), f(-0.5), s)), (f(-1.5), 0));
    assert_eq!(run(RNE, |s| f64_div(d(1.0), d(3.0), s)), (d(1.0 / 3.0), NX));
    assert_eq!(
        run(RNE, |s| f64_sqrt(d(2.0), s)),
        (d(std::f64::consts::SQRT_2), NX)
    );
    assert_eq!(run(RNE, |s| f32_sqrt(f(0.25), s)), (f(0.5), 0));
}

#[test]
fn rounding_modes_on_a_tie() {
    // 1 + 2^-24 is exactly halfway between two f32 neighbours of 1.
    let a = f(1.0);
    let b = f(2f32.powi(-24));
    let up = 0x3f80_0001;
    assert_eq!(run(RNE, |s| f32_add(a, b, s)), (0x3f80_0000, NX));
    assert_eq!(run(RMM, |s| f32_add(a, b, s)), (up, NX));
    assert_eq!(run(RTZ, |s| f32_add(a, b, s)), (0x3f80_0000, NX));
    assert_eq!(run(RDN, |s| f32_add(a, b, s)), (0x3f80_0000, NX));
    assert_eq!(run(RUP, |s| f32_add(a, b, s)), (up, NX));
    // Negative: RDN moves away from zero, RUP towards it.
    let na = a | 0x8000_0000;
    let nb = b | 0x8000_0000;
    assert_eq!(run(RDN, |s| f32_add(na, nb, s)), (up | 0x8000_0000, NX));
    assert_eq!(run(RUP, |s| f32_add(na, nb, s)), (na, NX));
}

#[test]
fn exact_cancellation_gives_plus_zero_except_rounding_down() {
    for rm in RoundingMode::ALL {
        let want = if rm == RDN { d(-0.0) } else { d(0.0) };
        assert_eq!(run(rm, |s| f64_sub(d(1.5), d(1.5), s)), (want, 0), "{rm:?}");
        assert_eq!(
            run(rm, |s| f64_add(d(0.0), d(-0.0), s)),
            (want, 0),
            "{rm:?}"
        );
    }
    assert_eq!(run(RNE, |s| f64_add(d(-0.0), d(-0.0), s)), (d(-0.0), 0));
}

#[test]
fn nan_results_are_canonical_and_snan_raises_invalid() {
    assert_eq!(
        run(RNE, |s| f32_add(F32_QNAN_PAYLOAD, f(1.0), s)),
        (F32_DEFAULT_NAN, 0)
    );
    assert_eq!(
        run(RNE, |s| f32_add(F32_SNAN, f(1.0), s)),
        (F32_DEFAULT_NAN, NV)
    );
    assert_eq!(
        run(RNE, |s| f64_mul(F64_QNAN_PAYLOAD, d(2.0), s)),
        (F64_DEFAULT_NAN, 0)
    );
    assert_eq!(run(RNE, |s| f64_sqrt(F64_SNAN, s)), (F64_DEFAULT_NAN, NV));
    assert_eq!(
        run(RNE, |s| f64_sub(d(f64::INFINITY), d(f64::INFINITY), s)),
        (F64_DEFAULT_NAN, NV)
    );
    assert_eq!(
        run(RNE, |s| f64_mul(d(f64::INFINITY), d(0.0), s)),
        (F64_DEFAULT_NAN, NV)
    );
    assert_eq!(
        run(RNE, |s| f64_div(d(0.0), d(-0.0), s)),
        (F64_DEFAULT_NAN, NV)
    );
    assert_eq!(run(RNE, |s| f64_sqrt(d(-1.0), s)), (F64_DEFAULT_NAN, NV));
    assert_eq!(run(RNE, |s| f64_sqrt(d(-0.0), s)), (d(-0.0), 0));
    // Conversions do not propagate payloads either.
    assert_eq!(
        run(RNE, |s| f32_to_f64(F32_QNAN_PAYLOAD, s)),
        (F64_DEFAULT_NAN, 0)
    );
    assert_eq!(run(RNE, |s| f64_to_f32(F64_SNAN, s)), (F32_DEFAULT_NAN, NV));
}

#[test]
fn division_by_zero() {
    assert_eq!(
        run(RNE, |s| f64_div(d(1.0), d(0.0), s)),
        (d(f64::INFINITY), DZ)
    );
    assert_eq!(
        run(RNE, |s| f64_div(d(-1.0), d(0.0), s)),
        (d(f64::NEG_INFINITY), DZ)
    );
    assert_eq!(
        run(RNE, |s| f32_div(f(1.0), f(-0.0), s)),
        (f(f32::NEG_INFINITY), DZ)
    );
    // Infinity / 0 is an exact infinity, not a division by zero.
    assert_eq!(
        run(RNE, |s| f64_div(d(f64::INFINITY), d(0.0), s)),
        (d(f64::INFINITY), 0)
    );
}

#[test]
fn overflow_depends_on_rounding_direction() {
    let max = d(f64::MAX);
    let inf = d(f64::INFINITY);
    assert_eq!(run(RNE, |s| f64_mul(max, d(2.0), s)), (inf, OF | NX));
    assert_eq!(run(RMM, |s| f64_mul(max, d(2.0), s)), (inf, OF | NX));
    assert_eq!(run(RTZ, |s| f64_mul(max, d(2.0), s)), (max, OF | NX));
    assert_eq!(run(RDN, |s| f64_mul(max, d(2.0), s)), (max, OF | NX));
    assert_eq!(run(RUP, |s| f64_mul(max, d(2.0), s)), (inf, OF | NX));
    let nmax = d(-f64::MAX);
    assert_eq!(
        run(RDN, |s| f64_mul(nmax, d(2.0), s)),
        (d(f64::NEG_INFINITY), OF | NX)
    );
    assert_eq!(run(RUP, |s| f64_mul(nmax, d(2.0), s)), (nmax, OF | NX));
    // Rounding up into the overflow range from just below it.
    assert_eq!(
        run(RNE, |s| f32_add(f(f32::MAX), f(2f32.powi(103)), s)),
        (f(f32::INFINITY), OF | NX)
    );
    assert_eq!(
        run(RNE, |s| f32_add(f(f32::MAX), f(2f32.powi(102)), s)),
        (f(f32::MAX), NX)
    );
}

#[test]
fn tininess_is_detected_after_rounding() {
    // (1 - 2^-25) * 2^-126 lies below the smallest normal, but rounding it
    // to 24 bits with an unbounded exponent gives exactly 2^-126: not tiny
    // after rounding, so RISC-V raises no underflow, only inexact.
    let x = d((1.0 - 2f64.powi(-25)) * 2f64.powi(-126));
    assert_eq!(run(RNE, |s| f64_to_f32(x, s)), (0x0080_0000, NX));
    // Truncating keeps it tiny: subnormal result and underflow.
    assert_eq!(run(RTZ, |s| f64_to_f32(x, s)), (0x007f_ffff, UF | NX));
    // An exact subnormal result is tiny but exact: no underflow.
    assert_eq!(
        run(RNE, |s| f32_mul(0x0000_0002, f(0.5), s)),
        (0x0000_0001, 0)
    );
    // Below half the smallest subnormal: zero, underflow and inexact.
    assert_eq!(run(RNE, |s| f64_mul(1, d(0.25), s)), (0, UF | NX));
    assert_eq!(run(RUP, |s| f64_mul(1, d(0.25), s)), (1, UF | NX));
}

#[test]
fn fused_multiply_add() {
    let inf = d(f64::INFINITY);
    // inf * 0 + qNaN is invalid on RISC-V, and the result is canonical.
    assert_eq!(
        run(RNE, |s| f64_muladd(
            inf,
            d(0.0),
            F64_QNAN_PAYLOAD,
            MulAddOp::MADD,
            s
        )),
        (F64_DEFAULT_NAN, NV)
    );
    assert_eq!(
        run(RNE, |s| f64_muladd(d(0.0), inf, d(1.0), MulAddOp::MADD, s)),
        (F64_DEFAULT_NAN, NV)
    );
    // inf + -inf through the product.
    assert_eq!(
        run(RNE, |s| f64_muladd(inf, d(1.0), inf, MulAddOp::MSUB, s)),
        (F64_DEFAULT_NAN, NV)
    );
    // qNaN addend with a finite product: no flag.
    assert_eq!(
        run(RNE, |s| f64_muladd(
            d(2.0),
            d(3.0),
            F64_QNAN_PAYLOAD,
            MulAddOp::MADD,
            s
        )),
        (F64_DEFAULT_NAN, 0)
    );
    // Single rounding: (1 + 2^-30)^2 - 1 keeps the 2^-60 term that a
    // separately rounded f64 product would lose.
    let a = d(1.0 + 2f64.powi(-30));
    let want = d(2f64.powi(-29) + 2f64.powi(-60));
    assert_eq!(
        run(RNE, |s| f64_muladd(a, a, d(1.0), MulAddOp::MSUB, s)),
        (want, 0)
    );
    // The four variants.
    let (x, y, z) = (d(2.0), d(3.0), d(1.0));
    assert_eq!(
        run(RNE, |s| f64_muladd(x, y, z, MulAddOp::MADD, s)).0,
        d(7.0)
    );
    assert_eq!(
        run(RNE, |s| f64_muladd(x, y, z, MulAddOp::MSUB, s)).0,
        d(5.0)
    );
    assert_eq!(
        run(RNE, |s| f64_muladd(x, y, z, MulAddOp::NMSUB, s)).0,
        d(-5.0)
    );
    assert_eq!(
        run(RNE, |s| f64_muladd(x, y, z, MulAddOp::NMADD, s)).0,
        d(-7.0)
    );
    // An exact nonzero product cancelled by the addend: +0, or -0 in RDN.
    assert_eq!(
        run(RNE, |s| f64_muladd(
            d(3.0),
            d(5.0),
            d(15.0),
            MulAddOp::MSUB,
            s
        )),
        (d(0.0), 0)
    );
    assert_eq!(
        run(RDN, |s| f64_muladd(
            d(3.0),
            d(5.0),
            d(15.0),
            MulAddOp::MSUB,
            s
        )),
        (d(-0.0), 0)
    );
    // A product far below the addend only nudges the rounding direction.
    let tiny = d(2f64.powi(-600));
    assert_eq!(
        run(RUP, |s| f64_muladd(tiny, tiny, d(1.0), MulAddOp::MADD, s)),
        (d(1.0) + 1, NX)
    );
    assert_eq!(
        run(RDN, |s| f64_muladd(tiny, tiny, d(1.0), MulAddOp::MSUB, s)),
        (d(-1.0), NX)
    );
    assert_eq!(
        run(RTZ, |s| f64_muladd(tiny, tiny, d(1.0), MulAddOp::NMSUB, s)),
        (d(1.0) - 1, NX)
    );
    // Zero sum signs: 0 * 1 - 0 is +0, but -0 when rounding down.
    assert_eq!(
        run(RNE, |s| f64_muladd(
            d(0.0),
            d(1.0),
            d(0.0),
            MulAddOp::MSUB,
            s
        ))
        .0,
        d(0.0)
    );
    assert_eq!(
        run(RDN, |s| f64_muladd(
            d(0.0),
            d(1.0),
            d(0.0),
            MulAddOp::MSUB,
            s
        ))
        .0,
        d(-0.0)
    );
    assert_eq!(
        run(RNE, |s| f32_muladd(
            f(-0.0),
            f(1.0),
            f(-0.0),
            MulAddOp::MADD,
            s
        ))
        .0,
        f(-0.0)
    );
}

#[test]
fn min_max() {
    assert_eq!(run(RNE, |s| f64_min(d(-0.0), d(0.0), s)), (d(-0.0), 0));
    assert_eq!(run(RNE, |s| f64_min(d(0.0), d(-0.0), s)), (d(-0.0), 0));
    assert_eq!(run(RNE, |s| f64_max(d(-0.0), d(0.0), s)), (d(0.0), 0));
    assert_eq!(run(RNE, |s| f64_max(d(0.0), d(-0.0), s)), (d(0.0), 0));
    assert_eq!(run(RNE, |s| f64_min(d(-3.0), d(2.0), s)), (d(-3.0), 0));
    assert_eq!(run(RNE, |s| f64_max(d(-3.0), d(-2.0), s)), (d(-2.0), 0));
    // One NaN: the number wins; signalling still raises invalid.
    assert_eq!(
        run(RNE, |s| f64_min(F64_QNAN_PAYLOAD, d(1.0), s)),
        (d(1.0), 0)
    );
    assert_eq!(run(RNE, |s| f64_max(d(1.0), F64_SNAN, s)), (d(1.0), NV));
    assert_eq!(run(RNE, |s| f32_min(F32_SNAN, f(-1.0), s)), (f(-1.0), NV));
    // Two NaNs: canonical NaN.
    assert_eq!(
        run(RNE, |s| f32_max(F32_QNAN_PAYLOAD, F32_QNAN_PAYLOAD, s)),
        (F32_DEFAULT_NAN, 0)
    );
    assert_eq!(
        run(RNE, |s| f64_min(F64_SNAN, F64_QNAN_PAYLOAD, s)),
        (F64_DEFAULT_NAN, NV)
    );
}

#[test]
fn comparisons() {
    assert_eq!(run(RNE, |s| f64_eq(d(0.0), d(-0.0), s)), (true, 0));
    assert_eq!(run(RNE, |s| f64_lt(d(-0.0), d(0.0), s)), (false, 0));
    assert_eq!(run(RNE, |s| f64_le(d(-0.0), d(0.0), s)), (true, 0));
    assert_eq!(run(RNE, |s| f64_lt(d(-2.0), d(-1.0), s)), (true, 0));
    // feq is quiet: only signalling NaNs raise invalid.
    assert_eq!(
        run(RNE, |s| f64_eq(F64_QNAN_PAYLOAD, d(1.0), s)),
        (false, 0)
    );
    assert_eq!(run(RNE, |s| f64_eq(F64_SNAN, d(1.0), s)), (false, NV));
    assert_eq!(
        run(RNE, |s| f64_eq(F64_QNAN_PAYLOAD, F64_QNAN_PAYLOAD, s)),
        (false, 0)
    );
    // flt/fle signal on any NaN.
    assert_eq!(
        run(RNE, |s| f32_lt(F32_QNAN_PAYLOAD, f(1.0), s)),
        (false, NV)
    );
    assert_eq!(
        run(RNE, |s| f32_le(f(1.0), F32_QNAN_PAYLOAD, s)),
        (false, NV)
    );
}

#[test]
fn float_to_int_saturates() {
    let nan = F64_DEFAULT_NAN;
    assert_eq!(run(RNE, |s| f64_to_i32(nan, s)), (i32::MAX, NV));
    assert_eq!(run(RNE, |s| f64_to_u32(nan, s)), (u32::MAX, NV));
    assert_eq!(run(RNE, |s| f64_to_i64(nan, s)), (i64::MAX, NV));
    assert_eq!(run(RNE, |s| f64_to_u64(nan, s)), (u64::MAX, NV));
    assert_eq!(
        run(RNE, |s| f32_to_i32(f(f32::NEG_INFINITY), s)),
        (i32::MIN, NV)
    );
    assert_eq!(run(RNE, |s| f64_to_i32(d(3e9), s)), (i32::MAX, NV));
    assert_eq!(run(RNE, |s| f64_to_i32(d(-3e9), s)), (i32::MIN, NV));
    assert_eq!(run(RNE, |s| f64_to_i32(d(-2147483648.0), s)), (i32::MIN, 0));
    // Rounding decides the range: 2^31 - 0.5 rounds to 2^31 under RNE.
    assert_eq!(run(RNE, |s| f64_to_i32(d(2147483647.5), s)), (i32::MAX, NV));
    assert_eq!(run(RTZ, |s| f64_to_i32(d(2147483647.5), s)), (i32::MAX, NX));
    assert_eq!(
        run(RNE, |s| f64_to_i64(d(2f64.powi(63)), s)),
        (i64::MAX, NV)
    );
    assert_eq!(
        run(RNE, |s| f64_to_i64(d(-(2f64.powi(63))), s)),
        (i64::MIN, 0)
    );
    // Unsigned: negatives that round to zero are only inexact.
    assert_eq!(run(RNE, |s| f64_to_u32(d(-0.3), s)), (0, NX));
    assert_eq!(run(RNE, |s| f64_to_u32(d(-0.0), s)), (0, 0));
    assert_eq!(run(RNE, |s| f64_to_u32(d(-0.7), s)), (0, NV));
    assert_eq!(run(RTZ, |s| f64_to_u32(d(-0.7), s)), (0, NX));
    assert_eq!(run(RNE, |s| f64_to_u32(d(-1.0), s)), (0, NV));
    assert_eq!(
        run(RNE, |s| f64_to_u64(d(1.8446744073709552e19), s)),
        (u64::MAX, NV)
    );
    // Rounding modes.
    assert_eq!(run(RNE, |s| f64_to_i32(d(2.5), s)), (2, NX));
    assert_eq!(run(RMM, |s| f64_to_i32(d(2.5), s)), (3, NX));
    assert_eq!(run(RDN, |s| f64_to_i32(d(-2.5), s)), (-3, NX));
    assert_eq!(run(RUP, |s| f64_to_i32(d(-2.5), s)), (-2, NX));
    assert_eq!(run(RTZ, |s| f32_to_u64(f(7.9), s)), (7, NX));
}

#[test]
fn int_to_float_rounds() {
    assert_eq!(
        run(RNE, |s| i64_to_f64(i64::MAX, s)),
        (d(2f64.powi(63)), NX)
    );
    assert_eq!(
        run(RTZ, |s| i64_to_f64(i64::MAX, s)),
        (d(2f64.powi(63) - 1024.0), NX)
    );
    assert_eq!(
        run(RNE, |s| i64_to_f64(i64::MIN, s)),
        (d(-(2f64.powi(63))), 0)
    );
    assert_eq!(
        run(RNE, |s| u32_to_f32(16_777_217, s)),
        (f(16_777_216.0), NX)
    );
    assert_eq!(
        run(RUP, |s| u32_to_f32(16_777_217, s)),
        (f(16_777_218.0), NX)
    );
    assert_eq!(run(RNE, |s| i32_to_f64(-7, s)), (d(-7.0), 0));
    assert_eq!(run(RDN, |s| u64_to_f64(0, s)), (d(0.0), 0));
    assert_eq!(run(RNE, |s| u64_to_f32(u64::MAX, s)), (f(1.8446744e19), NX));
}

#[test]
fn classify_every_class() {
    let cases: [(u64, u32); 10] = [
        (d(f64::NEG_INFINITY), fclass::NEG_INF),
        (d(-1.0), fclass::NEG_NORMAL),
        (d(-f64::from_bits(1)), fclass::NEG_SUBNORMAL),
        (d(-0.0), fclass::NEG_ZERO),
        (d(0.0), fclass::POS_ZERO),
        (0x000f_ffff_ffff_ffff, fclass::POS_SUBNORMAL),
        (d(f64::MAX), fclass::POS_NORMAL),
        (d(f64::INFINITY), fclass::POS_INF),
        (F64_SNAN, fclass::SNAN),
        (F64_QNAN_PAYLOAD, fclass::QNAN),
    ];
    for (i, (x, want)) in cases.into_iter().enumerate() {
        assert_eq!(want, 1 << i);
        assert_eq!(f64_classify(x), want, "{x:#x}");
    }
    assert_eq!(f32_classify(0x8000_0001), fclass::NEG_SUBNORMAL);
    assert_eq!(f32_classify(F32_SNAN), fclass::SNAN);
}

#[test]
fn flags_accumulate_and_nan_boxing() {
    let mut s = st(RNE);
    f64_div(d(1.0), d(0.0), &mut s);
    f64_add(d(0.1), d(0.2), &mut s);
    assert_eq!(s.float_exception_flags, DZ | NX);
    assert_eq!(s.take_flags(), DZ | NX);
    assert_eq!(s.float_exception_flags, 0);

    assert_eq!(nanbox_f32(f(1.0)), 0xffff_ffff_3f80_0000);
    assert_eq!(unbox_f32(0xffff_ffff_3f80_0000), f(1.0));
    assert_eq!(unbox_f32(0x0000_0000_3f80_0000), F32_DEFAULT_NAN);
    assert_eq!(RoundingMode::from_frm(4), Some(RMM));
    assert_eq!(RoundingMode::from_frm(7), None);
    assert_eq!(RMM.to_frm(), 4);
}

/// With inexact already raised and round-to-nearest-even, the arithmetic
/// may use the host FPU; results and the remaining flags must not change.
#[test]
fn fast_path_with_inexact_already_set() {
    let run_nx = |op: &dyn Fn(&mut FloatStatus) -> u64| {
        let mut s = st(RNE);
        s.float_exception_flags = NX;
        let r = op(&mut s);
        (r, s.float_exception_flags)
    };
    assert_eq!(
        run_nx(&|s| f64_add(d(0.1), d(0.2), s)),
        (d(0.30000000000000004), NX)
    );
    assert_eq!(
        run_nx(&|s| f64_mul(d(f64::MAX), d(2.0), s)),
        (d(f64::INFINITY), OF | NX)
    );
    assert_eq!(run_nx(&|s| f64_mul(d(1e-300), d(1e-300), s)), (0, UF | NX));
    assert_eq!(
        run_nx(&|s| f64_mul(d(1e-160), d(1e-160), s)),
        (d(1e-320), UF | NX)
    );
    assert_eq!(
        run_nx(&|s| f64_div(d(1.0), d(0.0), s)),
        (d(f64::INFINITY), DZ | NX)
    );
    assert_eq!(
        run_nx(&|s| f64_sqrt(d(-4.0), s)),
        (F64_DEFAULT_NAN, NV | NX)
    );
    assert_eq!(run_nx(&|s| f64_sub(d(1.5), d(1.5), s)), (d(0.0), NX));
    assert_eq!(
        run_nx(&|s| f32_div(f(1.0), f(3.0), s) as u64),
        (f(1.0 / 3.0) as u64, NX)
    );
    assert_eq!(
        run_nx(&|s| f32_add(f(f32::MAX), f(f32::MAX), s) as u64),
        (f(f32::INFINITY) as u64, OF | NX)
    );
    assert_eq!(
        run_nx(&|s| f64_muladd(d(2.0), d(3.0), d(1.0), MulAddOp::NMADD, s)),
        (d(-7.0), NX)
    );
    // Other rounding modes never take the host path.
    let mut s = st(RUP);
    s.float_exception_flags = NX;
    assert_eq!(f64_add(d(1.0), d(2f64.powi(-60)), &mut s), d(1.0) + 1);
}
