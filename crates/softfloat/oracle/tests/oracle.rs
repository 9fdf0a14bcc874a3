//! Differential tests against Berkeley SoftFloat 3 with its RISC-V
//! specialisation (through `softfloat-wrapper`, feature `riscv`): every
//! operation, every rounding mode, result bits and exception flags.
//!
//! Berkeley keeps its rounding mode and flags in C globals, but
//! `softfloat-sys` builds them `_Thread_local`, so the test threads that
//! `cargo test` runs in parallel do not disturb one another; every oracle
//! call below clears the flags first and reads them right after, on the
//! same thread.
//!
//! Inputs come from generators biased towards the cases where soft-float
//! implementations go wrong: zeros, subnormals and the normal/subnormal
//! boundary, infinities, quiet and signalling NaNs with various payloads,
//! exponents near overflow and underflow, significands that are all ones,
//! all zeros or just around a rounding half, and operand pairs whose
//! exponents are close (cancellation) or differ by about the precision
//! (halfway cases in addition).

use ferrite_softfloat as sf;
use ferrite_softfloat::{FloatStatus, MulAddOp, RoundingMode};
use ferrite_softfloat_oracle::{Brm, F32, F64, Float, brm, oracle};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Our side.

/// Runs one of our operations with a fresh status in mode `rm`.
fn ours<R>(rm: RoundingMode, f: impl FnOnce(&mut FloatStatus) -> R) -> (R, u8) {
    let mut s = FloatStatus::new(rm);
    let r = f(&mut s);
    (r, s.float_exception_flags)
}

/// Runs one of our operations with inexact already raised, as it usually
/// is in a running program: that enables the host-FPU fast path in
/// round-to-nearest-even, which must give the same result and flags.
fn ours_nx<R>(rm: RoundingMode, f: impl FnOnce(&mut FloatStatus) -> R) -> (R, u8) {
    let mut s = FloatStatus::new(rm);
    s.float_exception_flags = sf::FLAG_INEXACT;
    let r = f(&mut s);
    (r, s.float_exception_flags)
}

/// The oracle's answer as seen with inexact already raised.
fn with_nx<R>((r, flags): (R, u8)) -> (R, u8) {
    (r, flags | sf::FLAG_INEXACT)
}

fn rounding_mode() -> impl Strategy<Value = RoundingMode> {
    prop::sample::select(RoundingMode::ALL.to_vec())
}

// ---------------------------------------------------------------------------
// Edge-biased generators, parameterised by format.

#[derive(Clone, Copy, Debug)]
struct Fmt {
    exp_bits: u32,
    frac_bits: u32,
}

const F32_FMT: Fmt = Fmt {
    exp_bits: 8,
    frac_bits: 23,
};
const F64_FMT: Fmt = Fmt {
    exp_bits: 11,
    frac_bits: 52,
};

impl Fmt {
    fn exp_max(self) -> u64 {
        (1 << self.exp_bits) - 1
    }
    fn bias(self) -> u64 {
        (1 << (self.exp_bits - 1)) - 1
    }
    fn frac_mask(self) -> u64 {
        (1 << self.frac_bits) - 1
    }
    fn width(self) -> u32 {
        self.exp_bits + self.frac_bits + 1
    }
    fn make(self, sign: bool, exp: u64, frac: u64) -> u64 {
        ((sign as u64) << (self.width() - 1)) | (exp << self.frac_bits) | (frac & self.frac_mask())
    }
    fn exp_of(self, bits: u64) -> u64 {
        (bits >> self.frac_bits) & self.exp_max()
    }
}

/// Fraction fields that stress rounding: zeros, ones, single bits, patterns
/// around a half in the low bits, and random ones.
fn frac_strategy(fmt: Fmt) -> impl Strategy<Value = u64> {
    let mask = fmt.frac_mask();
    let fb = fmt.frac_bits;
    prop_oneof![
        3 => any::<u64>().prop_map(move |x| x & mask),
        1 => Just(0u64),
        1 => Just(mask),
        1 => (0..fb).prop_map(|i| 1u64 << i),
        1 => (0..fb).prop_map(move |i| mask >> i),
        1 => (0..fb).prop_map(move |i| (mask << i) & mask),
        // Random high bits, then a low tail of 10..0 or 01..1 shapes.
        2 => (any::<u64>(), 1..fb.min(30), any::<bool>()).prop_map(move |(x, k, ones)| {
            let low = if ones { (1u64 << (k - 1)) - 1 } else { 1u64 << (k - 1) };
            ((x << k) | low) & mask
        }),
    ]
}

/// Biased exponent fields: the extremes, around the bias, and random.
fn exp_strategy(fmt: Fmt) -> impl Strategy<Value = u64> {
    let max = fmt.exp_max();
    let bias = fmt.bias();
    let fb = fmt.frac_bits as u64;
    prop_oneof![
        3 => 0..=max,
        2 => prop::sample::select(vec![0, 1, 2, max - 1, max - 2, max]),
        2 => (0..8u64).prop_map(move |d| bias - 4 + d),
        // Products and quotients of these land near overflow or underflow.
        1 => (0..8u64).prop_map(move |d| bias / 2 - 4 + d),
        1 => (0..8u64).prop_map(move |d| bias + bias / 2 - 4 + d),
        // Within the precision of the subnormal range.
        1 => (0..=fb + 2).prop_map(move |d| (1 + d).min(max)),
    ]
}

fn specials(fmt: Fmt) -> Vec<u64> {
    let max = fmt.exp_max();
    let mask = fmt.frac_mask();
    let quiet = 1u64 << (fmt.frac_bits - 1);
    let mut v = Vec::new();
    for sign in [false, true] {
        v.extend([
            fmt.make(sign, 0, 0),           // zero
            fmt.make(sign, 0, 1),           // smallest subnormal
            fmt.make(sign, 0, mask),        // largest subnormal
            fmt.make(sign, 1, 0),           // smallest normal
            fmt.make(sign, max - 1, mask),  // largest finite
            fmt.make(sign, fmt.bias(), 0),  // one
            fmt.make(sign, max, 0),         // infinity
            fmt.make(sign, max, quiet),     // canonical-payload quiet NaN
            fmt.make(sign, max, mask),      // quiet NaN, full payload
            fmt.make(sign, max, 1),         // signalling NaN
            fmt.make(sign, max, quiet - 1), // signalling NaN, full payload
        ]);
    }
    v
}

fn value(fmt: Fmt) -> impl Strategy<Value = u64> {
    let w = fmt.width();
    let all = if w == 64 { u64::MAX } else { (1 << w) - 1 };
    prop_oneof![
        2 => any::<u64>().prop_map(move |x| x & all),
        2 => prop::sample::select(specials(fmt)),
        6 => (any::<bool>(), exp_strategy(fmt), frac_strategy(fmt))
            .prop_map(move |(s, e, f)| fmt.make(s, e, f)),
    ]
}

/// A second operand related to `a`: exponent a little or about a precision
/// apart (cancellation and halfway cases), either sign.
fn related(fmt: Fmt, a: u64) -> impl Strategy<Value = u64> {
    let max = fmt.exp_max();
    let span = fmt.frac_bits as i64 + 4;
    (
        any::<bool>(),
        -span..=span,
        frac_strategy(fmt),
        any::<u64>(),
    )
        .prop_map(move |(sign, d, frac, r)| {
            let e = (fmt.exp_of(a) as i64 + d).clamp(0, max as i64 - 1) as u64;
            // Half the time keep most of a's fraction so that the operands
            // share leading bits.
            let frac = if r & 1 == 0 {
                a ^ (frac >> (r % 24))
            } else {
                frac
            };
            fmt.make(sign, e, frac)
        })
}

fn pair(fmt: Fmt) -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![
        1 => (value(fmt), value(fmt)),
        1 => value(fmt).prop_flat_map(move |a| (Just(a), related(fmt, a))),
    ]
}

fn pair32() -> impl Strategy<Value = (u32, u32)> {
    pair(F32_FMT).prop_map(|(a, b)| (a as u32, b as u32))
}
fn pair64() -> impl Strategy<Value = (u64, u64)> {
    pair(F64_FMT)
}
fn val32() -> impl Strategy<Value = u32> {
    value(F32_FMT).prop_map(|a| a as u32)
}
fn val64() -> impl Strategy<Value = u64> {
    value(F64_FMT)
}

// ---------------------------------------------------------------------------
// Checks.

macro_rules! check_binary {
    ($name:ident, $pair:expr, $ty:ident, $ours:path, $theirs:ident) => {
        proptest! {
            #![proptest_config(config())]
            #[test]
            fn $name((a, b) in $pair, rm in rounding_mode()) {
                let want = oracle(|| $ty::from_bits(a).$theirs($ty::from_bits(b), brm(rm)).to_bits());
                let got = ours(rm, |s| $ours(a, b, s));
                prop_assert_eq!(got, want, "a={:#x} b={:#x} rm={:?}", a, b, rm);
                let got = ours_nx(rm, |s| $ours(a, b, s));
                prop_assert_eq!(got, with_nx(want), "NX set: a={:#x} b={:#x} rm={:?}", a, b, rm);
            }
        }
    };
}

fn config() -> ProptestConfig {
    // 16384 cases per property by default; PROPTEST_CASES overrides.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16384);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

check_binary!(f32_add, pair32(), F32, sf::f32_add, add);
check_binary!(f32_sub, pair32(), F32, sf::f32_sub, sub);
check_binary!(f32_mul, pair32(), F32, sf::f32_mul, mul);
check_binary!(f32_div, pair32(), F32, sf::f32_div, div);
check_binary!(f64_add, pair64(), F64, sf::f64_add, add);
check_binary!(f64_sub, pair64(), F64, sf::f64_sub, sub);
check_binary!(f64_mul, pair64(), F64, sf::f64_mul, mul);
check_binary!(f64_div, pair64(), F64, sf::f64_div, div);

/// A third operand for FMA: an arbitrary value, or one close to minus the
/// product so that the sum cancels massively.
fn addend(fmt: Fmt, a: u64, b: u64) -> BoxedStrategy<u64> {
    let width = fmt.width();
    let product = move |rm: Brm| -> u64 {
        if width == 32 {
            F32::from_bits(a as u32)
                .mul(F32::from_bits(b as u32), rm)
                .to_bits() as u64
        } else {
            F64::from_bits(a).mul(F64::from_bits(b), rm).to_bits()
        }
    };
    let near_product = (any::<bool>(), -3i64..=3).prop_map(move |(neg, ulps)| {
        let p = product(Brm::TowardZero);
        let all = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        let p = (p as i64).wrapping_add(ulps) as u64 & all;
        if neg { p ^ (1 << (width - 1)) } else { p }
    });
    prop_oneof![
        2 => value(fmt),
        1 => related(fmt, a),
        2 => near_product,
    ]
    .boxed()
}

fn triple(fmt: Fmt) -> impl Strategy<Value = (u64, u64, u64)> {
    pair(fmt).prop_flat_map(move |(a, b)| (Just(a), Just(b), addend(fmt, a, b)))
}

fn muladd_op() -> impl Strategy<Value = MulAddOp> {
    prop::sample::select(vec![
        MulAddOp::MADD,
        MulAddOp::MSUB,
        MulAddOp::NMSUB,
        MulAddOp::NMADD,
    ])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn f32_muladd((a, b, c) in triple(F32_FMT), op in muladd_op(), rm in rounding_mode()) {
        let (a, b, c) = (a as u32, b as u32, c as u32);
        // Berkeley's RISC-V mulAdd negates by flipping operand signs, which
        // is how the ISA defines fmsub/fnmsub/fnmadd.
        let sign = 1u32 << 31;
        let a_in = if op.negate_product { a ^ sign } else { a };
        let c_in = if op.negate_addend { c ^ sign } else { c };
        let want = oracle(|| {
            F32::from_bits(a_in).fused_mul_add(F32::from_bits(b), F32::from_bits(c_in), brm(rm)).to_bits()
        });
        let got = ours(rm, |s| sf::f32_muladd(a, b, c, op, s));
        prop_assert_eq!(got, want, "a={:#x} b={:#x} c={:#x} {:?} {:?}", a, b, c, op, rm);
        let got = ours_nx(rm, |s| sf::f32_muladd(a, b, c, op, s));
        prop_assert_eq!(got, with_nx(want), "NX set: a={:#x} b={:#x} c={:#x} {:?} {:?}", a, b, c, op, rm);
    }

    #[test]
    fn f64_muladd((a, b, c) in triple(F64_FMT), op in muladd_op(), rm in rounding_mode()) {
        let sign = 1u64 << 63;
        let a_in = if op.negate_product { a ^ sign } else { a };
        let c_in = if op.negate_addend { c ^ sign } else { c };
        let want = oracle(|| {
            F64::from_bits(a_in).fused_mul_add(F64::from_bits(b), F64::from_bits(c_in), brm(rm)).to_bits()
        });
        let got = ours(rm, |s| sf::f64_muladd(a, b, c, op, s));
        prop_assert_eq!(got, want, "a={:#x} b={:#x} c={:#x} {:?} {:?}", a, b, c, op, rm);
        let got = ours_nx(rm, |s| sf::f64_muladd(a, b, c, op, s));
        prop_assert_eq!(got, with_nx(want), "NX set: a={:#x} b={:#x} c={:#x} {:?} {:?}", a, b, c, op, rm);
    }

    #[test]
    fn f32_sqrt(a in val32(), rm in rounding_mode()) {
        let want = oracle(|| F32::from_bits(a).sqrt(brm(rm)).to_bits());
        prop_assert_eq!(ours(rm, |s| sf::f32_sqrt(a, s)), want, "a={:#x} {:?}", a, rm);
        prop_assert_eq!(ours_nx(rm, |s| sf::f32_sqrt(a, s)), with_nx(want), "NX set: a={:#x} {:?}", a, rm);
    }

    #[test]
    fn f64_sqrt(a in val64(), rm in rounding_mode()) {
        let want = oracle(|| F64::from_bits(a).sqrt(brm(rm)).to_bits());
        prop_assert_eq!(ours(rm, |s| sf::f64_sqrt(a, s)), want, "a={:#x} {:?}", a, rm);
        prop_assert_eq!(ours_nx(rm, |s| sf::f64_sqrt(a, s)), with_nx(want), "NX set: a={:#x} {:?}", a, rm);
    }

    #[test]
    fn f32_compare((a, b) in pair32()) {
        let (fa, fb) = (F32::from_bits(a), F32::from_bits(b));
        let rm = RoundingMode::NearestEven;
        prop_assert_eq!(ours(rm, |s| sf::f32_eq(a, b, s)), oracle(|| fa.eq(fb)));
        prop_assert_eq!(ours(rm, |s| sf::f32_lt(a, b, s)), oracle(|| fa.lt(fb)));
        prop_assert_eq!(ours(rm, |s| sf::f32_le(a, b, s)), oracle(|| fa.le(fb)));
    }

    #[test]
    fn f64_compare((a, b) in pair64()) {
        let (fa, fb) = (F64::from_bits(a), F64::from_bits(b));
        let rm = RoundingMode::NearestEven;
        prop_assert_eq!(ours(rm, |s| sf::f64_eq(a, b, s)), oracle(|| fa.eq(fb)));
        prop_assert_eq!(ours(rm, |s| sf::f64_lt(a, b, s)), oracle(|| fa.lt(fb)));
        prop_assert_eq!(ours(rm, |s| sf::f64_le(a, b, s)), oracle(|| fa.le(fb)));
    }

    #[test]
    fn f32_minmax((a, b) in pair32()) {
        let rm = RoundingMode::NearestEven;
        prop_assert_eq!(ours(rm, |s| sf::f32_min(a, b, s)), minmax_model(F32::from_bits(a), F32::from_bits(b), false, sf::F32_DEFAULT_NAN), "a={:#x} b={:#x}", a, b);
        prop_assert_eq!(ours(rm, |s| sf::f32_max(a, b, s)), minmax_model(F32::from_bits(a), F32::from_bits(b), true, sf::F32_DEFAULT_NAN), "a={:#x} b={:#x}", a, b);
    }

    #[test]
    fn f64_minmax((a, b) in pair64()) {
        let rm = RoundingMode::NearestEven;
        prop_assert_eq!(ours(rm, |s| sf::f64_min(a, b, s)), minmax_model(F64::from_bits(a), F64::from_bits(b), false, sf::F64_DEFAULT_NAN), "a={:#x} b={:#x}", a, b);
        prop_assert_eq!(ours(rm, |s| sf::f64_max(a, b, s)), minmax_model(F64::from_bits(a), F64::from_bits(b), true, sf::F64_DEFAULT_NAN), "a={:#x} b={:#x}", a, b);
    }

    #[test]
    fn f32_classify(a in val32()) {
        prop_assert_eq!(sf::f32_classify(a), classify_model(F32::from_bits(a)), "a={:#x}", a);
    }

    #[test]
    fn f64_classify(a in val64()) {
        prop_assert_eq!(sf::f64_classify(a), classify_model(F64::from_bits(a)), "a={:#x}", a);
    }

    #[test]
    fn f32_to_f64(a in val32(), rm in rounding_mode()) {
        let want = oracle(|| F32::from_bits(a).to_f64(brm(rm)).to_bits());
        prop_assert_eq!(ours(rm, |s| sf::f32_to_f64(a, s)), want, "a={:#x}", a);
    }

    #[test]
    fn f64_to_f32(a in f64_narrowing(), rm in rounding_mode()) {
        let want = oracle(|| F64::from_bits(a).to_f32(brm(rm)).to_bits());
        prop_assert_eq!(ours(rm, |s| sf::f64_to_f32(a, s)), want, "a={:#x} {:?}", a, rm);
    }

    #[test]
    fn f32_to_int(a in f32_int_range(), rm in rounding_mode()) {
        let f = F32::from_bits(a);
        let r = brm(rm);
        prop_assert_eq!(ours(rm, |s| sf::f32_to_i32(a, s)), oracle(|| f.to_i32(r, true)), "i32 a={:#x} {:?}", a, rm);
        prop_assert_eq!(ours(rm, |s| sf::f32_to_u32(a, s)), oracle(|| f.to_u32(r, true)), "u32 a={:#x} {:?}", a, rm);
        prop_assert_eq!(ours(rm, |s| sf::f32_to_i64(a, s)), oracle(|| f.to_i64(r, true)), "i64 a={:#x} {:?}", a, rm);
        prop_assert_eq!(ours(rm, |s| sf::f32_to_u64(a, s)), oracle(|| f.to_u64(r, true)), "u64 a={:#x} {:?}", a, rm);
    }

    #[test]
    fn f64_to_int(a in f64_int_range(), rm in rounding_mode()) {
        let f = F64::from_bits(a);
        let r = brm(rm);
        prop_assert_eq!(ours(rm, |s| sf::f64_to_i32(a, s)), oracle(|| f.to_i32(r, true)), "i32 a={:#x} {:?}", a, rm);
        prop_assert_eq!(ours(rm, |s| sf::f64_to_u32(a, s)), oracle(|| f.to_u32(r, true)), "u32 a={:#x} {:?}", a, rm);
        prop_assert_eq!(ours(rm, |s| sf::f64_to_i64(a, s)), oracle(|| f.to_i64(r, true)), "i64 a={:#x} {:?}", a, rm);
        prop_assert_eq!(ours(rm, |s| sf::f64_to_u64(a, s)), oracle(|| f.to_u64(r, true)), "u64 a={:#x} {:?}", a, rm);
    }

    #[test]
    fn int_to_float(x in int_values(), rm in rounding_mode()) {
        let r = brm(rm);
        let (i32v, u32v, i64v, u64v) = (x as i32, x as u32, x as i64, x);
        prop_assert_eq!(ours(rm, |s| sf::i32_to_f32(i32v, s)), oracle(|| F32::from_i32(i32v, r).to_bits()));
        prop_assert_eq!(ours(rm, |s| sf::u32_to_f32(u32v, s)), oracle(|| F32::from_u32(u32v, r).to_bits()));
        prop_assert_eq!(ours(rm, |s| sf::i64_to_f32(i64v, s)), oracle(|| F32::from_i64(i64v, r).to_bits()));
        prop_assert_eq!(ours(rm, |s| sf::u64_to_f32(u64v, s)), oracle(|| F32::from_u64(u64v, r).to_bits()));
        prop_assert_eq!(ours(rm, |s| sf::i32_to_f64(i32v, s)), oracle(|| F64::from_i32(i32v, r).to_bits()));
        prop_assert_eq!(ours(rm, |s| sf::u32_to_f64(u32v, s)), oracle(|| F64::from_u32(u32v, r).to_bits()));
        prop_assert_eq!(ours(rm, |s| sf::i64_to_f64(i64v, s)), oracle(|| F64::from_i64(i64v, r).to_bits()));
        prop_assert_eq!(ours(rm, |s| sf::u64_to_f64(u64v, s)), oracle(|| F64::from_u64(u64v, r).to_bits()));
    }
}

/// f64 inputs for narrowing: general values plus exponents around f32's
/// overflow and subnormal ranges.
fn f64_narrowing() -> impl Strategy<Value = u64> {
    let near_f32_edges = (
        any::<bool>(),
        -30i64..=30,
        prop::bool::ANY,
        frac_strategy(F64_FMT),
    )
        .prop_map(|(sign, d, low, frac)| {
            // 1023 + 128 is the first f32 overflow exponent; 1023 - 126 the
            // smallest normal f32; 1023 - 149 the smallest subnormal.
            let centre = if low { 1023 - 126 - 12 } else { 1023 + 127 };
            F64_FMT.make(sign, (centre + d) as u64, frac)
        });
    prop_oneof![1 => val64(), 2 => near_f32_edges]
}

/// Floats whose magnitude is near the integer ranges (and around 0.5, 1.5,
/// ...), plus general values.
fn int_range(fmt: Fmt) -> impl Strategy<Value = u64> {
    let bias = fmt.bias() as i64;
    let near = (any::<bool>(), -3i64..=66, frac_strategy(fmt))
        .prop_map(move |(sign, e, frac)| fmt.make(sign, (bias + e) as u64, frac));
    let tiny = (any::<bool>(), -4i64..0, frac_strategy(fmt))
        .prop_map(move |(sign, e, frac)| fmt.make(sign, (bias + e) as u64, frac));
    prop_oneof![1 => value(fmt), 3 => near, 1 => tiny]
}
fn f32_int_range() -> impl Strategy<Value = u32> {
    int_range(F32_FMT).prop_map(|a| a as u32)
}
fn f64_int_range() -> impl Strategy<Value = u64> {
    int_range(F64_FMT)
}

/// Integers with every bit length and round-off patterns in the low bits.
fn int_values() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0..64u32, any::<u64>()).prop_map(|(n, x)| x >> n),
        (0..64u32, any::<u64>()).prop_map(|(n, x)| (x >> n).wrapping_neg()),
        prop::sample::select(vec![
            0,
            1,
            u64::MAX,
            i64::MAX as u64,
            i64::MIN as u64,
            u32::MAX as u64,
            i32::MIN as u64,
            0x0100_0001,
            0x0020_0000_0000_0001
        ]),
    ]
}

/// RISC-V `fmin`/`fmax` from Berkeley's quiet comparison: a NaN operand is
/// ignored, two NaNs give the canonical NaN, a signalling NaN raises
/// invalid, and of two equal values (only -0/+0 differ) min picks the
/// negative and max the positive.
fn minmax_model<T: Float>(a: T, b: T, max: bool, default_nan: T::Payload) -> (T::Payload, u8)
where
    T::Payload: Copy,
{
    let flags = if a.is_signaling_nan() || b.is_signaling_nan() {
        sf::FLAG_INVALID
    } else {
        0
    };
    let r = match (a.is_nan(), b.is_nan()) {
        (true, true) => default_nan,
        (true, false) => b.to_bits(),
        (false, true) => a.to_bits(),
        _ => {
            let (a_lt, b_lt) = (oracle(|| a.lt_quiet(&b)).0, oracle(|| b.lt_quiet(&a)).0);
            let pick_a = if a_lt || b_lt {
                a_lt != max
            } else {
                a.is_negative() != max
            };
            if pick_a { a.to_bits() } else { b.to_bits() }
        }
    };
    (r, flags)
}

/// `fclass` from Berkeley's classification predicates.
fn classify_model<T: Float>(a: T) -> u32 {
    let preds = [
        a.is_negative_infinity(),
        a.is_negative_normal(),
        a.is_negative_subnormal(),
        a.is_negative_zero(),
        a.is_positive_zero(),
        a.is_positive_subnormal(),
        a.is_positive_normal(),
        a.is_positive_infinity(),
        a.is_signaling_nan(),
        a.is_nan() && !a.is_signaling_nan(),
    ];
    let mut mask = 0;
    for (i, p) in preds.iter().enumerate() {
        mask |= (*p as u32) << i;
    }
    mask
}

/// The parallel tests above rely on Berkeley's flags being thread-local
/// (softfloat-sys builds `softfloat_exceptionFlags` as `_Thread_local`);
/// if that ever changes, this fails instead of the others flaking.
#[test]
fn berkeley_flags_are_thread_local() {
    use ferrite_softfloat_oracle::ExceptionFlags;
    ExceptionFlags::from_bits(0).set();
    let _ = F64::from_bits(1.0f64.to_bits()).div(F64::from_bits(0), Brm::TiesToEven);
    let mut here = ExceptionFlags::default();
    here.get();
    assert_eq!(here.to_bits(), sf::FLAG_DIVBYZERO);
    let there = std::thread::spawn(|| {
        let mut f = ExceptionFlags::default();
        f.get();
        f.to_bits()
    })
    .join()
    .unwrap();
    assert_eq!(there, 0, "another thread saw this thread's flags");
}
