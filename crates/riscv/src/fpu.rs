//! Interim floating-point back end with the interface of the coming
//! `ferrite-softfloat` crate (Berkeley SoftFloat style: raw bit patterns in,
//! raw bits out, a [`FloatStatus`] carrying the rounding mode and the
//! accrued exception flags).
//!
//! **Not bit-exact yet.** This implementation computes on the host FPU (which
//! rounds to nearest-even) and then:
//! * replaces every NaN result with RISC-V's canonical NaN and raises NV for
//!   signalling inputs and invalid operations;
//! * derives NX/OF/UF from exact error terms (TwoSum, TwoProduct, the FMA
//!   residual) and DZ from the operands;
//! * emulates the directed rounding modes (RTZ, RDN, RUP) and RMM by
//!   stepping the round-to-nearest result by one ulp according to the sign of
//!   the exact error.
//!
//! Checked against QEMU (softfloat) by `tests/qemu_diff.rs` on random
//! programs in all rounding modes, and against exact oracles in this
//! module's tests. Known gaps until `ferrite-softfloat` replaces this module:
//! tininess is judged on the result rounded to the subnormal grid rather than
//! with an unbounded exponent (differs only for results just below the
//! smallest normal).

/// Rounding modes (RISC-V `rm` encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundingMode {
    /// Round to nearest, ties to even.
    NearEven = 0,
    /// Round towards zero.
    ToZero = 1,
    /// Round down (towards −∞).
    Down = 2,
    /// Round up (towards +∞).
    Up = 3,
    /// Round to nearest, ties to max magnitude.
    NearMaxMag = 4,
}

impl RoundingMode {
    /// Decodes a RISC-V `rm` value (0–4).
    pub fn from_rm(rm: u8) -> Option<Self> {
        Some(match rm {
            0 => RoundingMode::NearEven,
            1 => RoundingMode::ToZero,
            2 => RoundingMode::Down,
            3 => RoundingMode::Up,
            4 => RoundingMode::NearMaxMag,
            _ => return None,
        })
    }
}

/// Invalid operation.
pub const FLAG_NV: u8 = 0x10;
/// Divide by zero.
pub const FLAG_DZ: u8 = 0x08;
/// Overflow.
pub const FLAG_OF: u8 = 0x04;
/// Underflow.
pub const FLAG_UF: u8 = 0x02;
/// Inexact.
pub const FLAG_NX: u8 = 0x01;

/// Rounding mode in, exception flags out.
#[derive(Clone, Copy, Debug)]
pub struct FloatStatus {
    /// Rounding mode for the operation.
    pub rounding_mode: RoundingMode,
    /// Accrued flags (RISC-V `fflags` layout).
    pub flags: u8,
}

impl FloatStatus {
    /// A status with mode `rm` and no flags.
    pub fn new(rounding_mode: RoundingMode) -> Self {
        FloatStatus {
            rounding_mode,
            flags: 0,
        }
    }
}

/// The canonical single-precision NaN.
pub const F32_DEFAULT_NAN: u32 = 0x7fc0_0000;
/// The canonical double-precision NaN.
pub const F64_DEFAULT_NAN: u64 = 0x7ff8_0000_0000_0000;

/// A host float type the generic code works over.
trait HostFloat: Copy + PartialOrd + std::ops::Neg<Output = Self> {
    type Bits: Copy;
    const DEFAULT_NAN: Self::Bits;
    const MIN_POSITIVE: Self;
    const MAX: Self;
    fn from_bits_(b: Self::Bits) -> Self;
    fn is_nan_(self) -> bool;
    fn is_inf_(self) -> bool;
    fn is_snan_bits(b: Self::Bits) -> bool;
    fn zero() -> Self;
    fn abs_(self) -> Self;
    fn next_up(self) -> Self;
    fn next_down(self) -> Self;
    fn is_sign_neg(self) -> bool;
}

macro_rules! host_float {
    ($t:ty, $bits:ty, $nan:expr, $quiet:expr) => {
        impl HostFloat for $t {
            type Bits = $bits;
            const DEFAULT_NAN: $bits = $nan;
            const MIN_POSITIVE: $t = <$t>::MIN_POSITIVE;
            const MAX: $t = <$t>::MAX;
            fn from_bits_(b: $bits) -> $t {
                <$t>::from_bits(b)
            }
            fn is_nan_(self) -> bool {
                self.is_nan()
            }
            fn is_inf_(self) -> bool {
                self.is_infinite()
            }
            fn is_snan_bits(b: $bits) -> bool {
                <$t>::from_bits(b).is_nan() && b & $quiet == 0
            }
            fn zero() -> $t {
                0.0
            }
            fn abs_(self) -> $t {
                self.abs()
            }
            fn next_up(self) -> $t {
                self.next_up()
            }
            fn next_down(self) -> $t {
                self.next_down()
            }
            fn is_sign_neg(self) -> bool {
                self.is_sign_negative()
            }
        }
    };
}
host_float!(f32, u32, F32_DEFAULT_NAN, 1 << 22);
host_float!(f64, u64, F64_DEFAULT_NAN, 1 << 51);

/// Adjusts the round-to-nearest-even result `r` of an operation whose exact
/// value is `r + err` (err only meaningful by sign, and `tie` says whether
/// the exact value was exactly halfway) to the requested mode, and raises
/// NX/OF/UF.
fn finish<F: HostFloat>(
    r: F,
    err_sign: i8,
    tie: bool,
    inputs_finite: bool,
    st: &mut FloatStatus,
) -> F {
    finish_big(r, err_sign, tie, inputs_finite, true, st)
}

/// [`finish`], knowing for a result that overflowed in round-to-nearest
/// whether the exact magnitude reaches 2^(emax+1) (`big`). If it does not,
/// rounding towards zero gives the largest finite number *without*
/// overflow (IEEE 754 detects overflow on the result rounded with an
/// unbounded exponent).
fn finish_big<F: HostFloat>(
    mut r: F,
    err_sign: i8,
    tie: bool,
    inputs_finite: bool,
    big: bool,
    st: &mut FloatStatus,
) -> F {
    let exact_overflow = r.is_inf_() && inputs_finite;
    if exact_overflow {
        let neg = r.is_sign_neg();
        let to_max = match st.rounding_mode {
            RoundingMode::ToZero => true,
            RoundingMode::Down => !neg,
            RoundingMode::Up => neg,
            _ => false,
        };
        st.flags |= if to_max && !big {
            FLAG_NX
        } else {
            FLAG_OF | FLAG_NX
        };
        if to_max {
            r = if neg { -F::MAX } else { F::MAX };
        }
        return r;
    }
    if err_sign == 0 {
        return r;
    }
    st.flags |= FLAG_NX;
    // err_sign > 0: exact value is above r.
    match st.rounding_mode {
        RoundingMode::NearEven => {}
        RoundingMode::ToZero => {
            if !r.is_sign_neg() && err_sign < 0 && r != F::zero() {
                r = r.next_down();
            } else if r.is_sign_neg() && err_sign > 0 && r != F::zero() {
                r = r.next_up();
            }
            if r == F::zero() && err_sign != 0 {
                // Exact value is between 0 and the smallest subnormal:
                // keep the sign of the exact value.
            }
        }
        RoundingMode::Down => {
            if err_sign < 0 {
                r = r.next_down();
            }
        }
        RoundingMode::Up => {
            if err_sign > 0 {
                r = r.next_up();
            }
        }
        RoundingMode::NearMaxMag => {
            if tie {
                // RNE picked the even neighbour; RMM wants the one away
                // from zero.
                let away = if r.is_sign_neg() || (r == F::zero() && err_sign < 0) {
                    err_sign < 0
                } else {
                    err_sign > 0
                };
                if away {
                    r = if err_sign > 0 {
                        r.next_up()
                    } else {
                        r.next_down()
                    };
                }
            }
        }
    }
    if r.is_inf_() && inputs_finite {
        st.flags |= FLAG_OF;
    }
    if r.abs_() < F::MIN_POSITIVE {
        st.flags |= FLAG_UF;
    }
    r
}

/// Error terms: TwoSum (exact a + b = s + e).
fn two_sum_f64(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

fn sign_of(e: f64) -> i8 {
    if e > 0.0 {
        1
    } else if e < 0.0 {
        -1
    } else {
        0
    }
}

/// Whether the exact value r + e is a tie between r and its neighbour
/// towards e.
fn is_tie_f64(r: f64, e: f64) -> bool {
    if e == 0.0 || !r.is_finite() {
        return false;
    }
    let n = if e > 0.0 { r.next_up() } else { r.next_down() };
    ((n - r) / 2.0).abs() == e.abs()
}

/// NaN handling shared by the arithmetic operations: returns the canonical
/// NaN (and NV for signalling inputs) if an input is NaN.
fn nan_in<F: HostFloat>(a: F::Bits, b: F::Bits, st: &mut FloatStatus) -> Option<F::Bits>
where
    F::Bits: Copy,
{
    let (fa, fb) = (F::from_bits_(a), F::from_bits_(b));
    if fa.is_nan_() || fb.is_nan_() {
        if F::is_snan_bits(a) || F::is_snan_bits(b) {
            st.flags |= FLAG_NV;
        }
        return Some(F::DEFAULT_NAN);
    }
    None
}

/// Whether the exact value `h + e` (halved operands) has magnitude at
/// least 2^1023, i.e. the unhalved result reaches 2^1024.
fn halves_big(h: f64, e: f64) -> bool {
    let lim = 2f64.powi(1023);
    h.abs() > lim || (h.abs() == lim && e * h.signum() >= 0.0)
}

macro_rules! arith_f64 {
    ($name:ident, $op:tt, $err:expr, $big:expr) => {
        /// IEEE 754 operation on binary64 bit patterns.
        pub fn $name(a: u64, b: u64, st: &mut FloatStatus) -> u64 {
            if let Some(n) = nan_in::<f64>(a, b, st) {
                return n;
            }
            let (x, y) = (f64::from_bits(a), f64::from_bits(b));
            let r = x $op y;
            if r.is_nan() {
                st.flags |= FLAG_NV;
                return F64_DEFAULT_NAN;
            }
            let err: fn(f64, f64, f64) -> f64 = $err;
            let e = if r.is_finite() { err(x, y, r) } else { 0.0 };
            let tie = is_tie_f64(r, e);
            let big: fn(f64, f64) -> bool = $big;
            let big = r.is_infinite() && big(x, y);
            finish_big(r, sign_of(e), tie, x.is_finite() && y.is_finite(), big, st).to_bits()
        }
    };
}

arith_f64!(f64_add_rne_zero, +, |x, y, _r| two_sum_f64(x, y).1, |x, y| {
    let (h, e) = two_sum_f64(x * 0.5, y * 0.5);
    halves_big(h, e)
});
arith_f64!(f64_sub_rne_zero, -, |x, y, _r| two_sum_f64(x, -y).1, |x, y| {
    let (h, e) = two_sum_f64(x * 0.5, -y * 0.5);
    halves_big(h, e)
});
/// 2^600: scales tiny operands so that error terms do not underflow.
const SCALE_UP: f64 = f64::from_bits((1023 + 600) << 52);
/// Results below this magnitude get their error term computed scaled.
const TINY: f64 = f64::from_bits((1023 - 900) << 52);

/// Error term of a product `r = x * y`, exact in sign even when the product
/// underflowed (the residual is then computed with the smaller operand
/// scaled by 2^600).
fn mul_err(x: f64, y: f64, r: f64) -> f64 {
    if r.abs() >= TINY {
        return x.mul_add(y, -r);
    }
    if r == 0.0 && x != 0.0 && y != 0.0 {
        // A product of nonzero numbers is nonzero: it underflowed entirely
        // (possibly too far for the scaled residual below to see it).
        return if (x < 0.0) != (y < 0.0) { -1.0 } else { 1.0 };
    }
    let (small, other) = if x.abs() <= y.abs() { (x, y) } else { (y, x) };
    (small * SCALE_UP).mul_add(other, -(r * SCALE_UP))
}

arith_f64!(f64_mul, *, mul_err, |x, y| {
    let h = (x * 0.5) * y;
    halves_big(h, (x * 0.5).mul_add(y, -h))
});

/// IEEE 754: an exact zero sum of operands with opposite signs (or of
/// zeros of opposite signs) is +0, except when rounding down, where it is −0.
fn fix_zero_sum(r: u64, a_sign: u64, b_sign: u64, st: &FloatStatus) -> u64 {
    if r & !(1 << 63) == 0 && a_sign != b_sign && st.rounding_mode == RoundingMode::Down {
        1 << 63
    } else {
        r
    }
}

/// binary64 addition.
pub fn f64_add(a: u64, b: u64, st: &mut FloatStatus) -> u64 {
    let r = f64_add_rne_zero(a, b, st);
    fix_zero_sum(r, a >> 63, b >> 63, st)
}

/// binary64 subtraction.
pub fn f64_sub(a: u64, b: u64, st: &mut FloatStatus) -> u64 {
    let r = f64_sub_rne_zero(a, b, st);
    fix_zero_sum(r, a >> 63, (b >> 63) ^ 1, st)
}

/// binary64 division.
pub fn f64_div(a: u64, b: u64, st: &mut FloatStatus) -> u64 {
    if let Some(n) = nan_in::<f64>(a, b, st) {
        return n;
    }
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    if y == 0.0 && x.is_finite() && x != 0.0 {
        st.flags |= FLAG_DZ;
    }
    let r = x / y;
    if r.is_nan() {
        st.flags |= FLAG_NV;
        return F64_DEFAULT_NAN;
    }
    // Residual x - r*y is exact (if no underflow); its sign relative to y
    // gives the direction of the exact quotient.
    let e = if r.is_finite() && x.is_finite() && x != 0.0 && y.is_finite() && y != 0.0 {
        // The residual x - r*y can underflow when the quotient is tiny and
        // the dividend small; compute it scaled then.
        let lim = f64::from_bits((1023 + 400) << 52);
        let rem = if r.abs() >= TINY && x.abs() >= TINY {
            (-r).mul_add(y, x)
        } else if y.abs() < lim {
            // S*(x - r*y) with dividend and divisor scaled by S = 2^600.
            (-r).mul_add(y * SCALE_UP, x * SCALE_UP)
        } else if x.abs() < lim {
            (-(r * SCALE_UP)).mul_add(y, x * SCALE_UP)
        } else {
            (-r).mul_add(y, x)
        };
        let s = sign_of(rem) * if y < 0.0 { -1 } else { 1 };
        s as f64
    } else {
        0.0
    };
    let big = r.is_infinite() && y.is_finite() && y != 0.0 && {
        let h = (x * 0.5) / y;
        let rem = (-h).mul_add(y, x * 0.5);
        halves_big(h, rem * y.signum())
    };
    finish_big(r, sign_of(e), false, x.is_finite() && y != 0.0, big, st).to_bits()
}

/// binary64 square root.
pub fn f64_sqrt(a: u64, st: &mut FloatStatus) -> u64 {
    let x = f64::from_bits(a);
    if x.is_nan() {
        if <f64 as HostFloat>::is_snan_bits(a) {
            st.flags |= FLAG_NV;
        }
        return F64_DEFAULT_NAN;
    }
    if x < 0.0 {
        st.flags |= FLAG_NV;
        return F64_DEFAULT_NAN;
    }
    let r = x.sqrt();
    let e = if r.is_finite() && r != 0.0 {
        if x < TINY {
            // r*r - x underflows for tiny x: scale x by 2^600 and r by 2^300.
            let rs = r * f64::from_bits((1023 + 300) << 52);
            sign_of(-(rs.mul_add(rs, -(x * SCALE_UP))))
        } else {
            sign_of(-(r.mul_add(r, -x)))
        }
    } else {
        0
    };
    finish(r, e, false, x.is_finite(), st).to_bits()
}

/// binary64 fused multiply-add `a * b + c` with one rounding.
pub fn f64_mul_add(a: u64, b: u64, c: u64, st: &mut FloatStatus) -> u64 {
    let mut local = FloatStatus::new(st.rounding_mode);
    let r = f64_mul_add_rne_zero(a, b, c, &mut local);
    st.flags |= local.flags;
    // An exact zero from a product and an addend of opposite signs is -0
    // when rounding down (the host computed +0).
    let prod_neg = (a ^ b) >> 63;
    if r << 1 == 0 && local.flags == 0 && prod_neg != c >> 63 {
        return fix_zero_sum(0, prod_neg, c >> 63, st);
    }
    r
}

fn f64_mul_add_rne_zero(a: u64, b: u64, c: u64, st: &mut FloatStatus) -> u64 {
    let (x, y, z) = (f64::from_bits(a), f64::from_bits(b), f64::from_bits(c));
    // ∞ × 0 is invalid even when the addend is a quiet NaN.
    if (x.is_infinite() && y == 0.0) || (x == 0.0 && y.is_infinite()) {
        st.flags |= FLAG_NV;
        return F64_DEFAULT_NAN;
    }
    if x.is_nan() || y.is_nan() || z.is_nan() {
        if [a, b, c]
            .iter()
            .any(|&v| <f64 as HostFloat>::is_snan_bits(v))
        {
            st.flags |= FLAG_NV;
        }
        return F64_DEFAULT_NAN;
    }
    let r = x.mul_add(y, z);
    if r.is_nan() {
        st.flags |= FLAG_NV;
        return F64_DEFAULT_NAN;
    }
    // ErrFma (Boldo–Muller): exact a*b + c - r as a sum of two terms.
    let prod_sign = if (x < 0.0) != (y < 0.0) { -1.0 } else { 1.0 };
    let e = if r.is_finite() && r == z && x != 0.0 && y != 0.0 && (x * y).abs() < TINY {
        // The product is far below the addend's ulp: the result is the
        // addend, and the exact value lies on the product's side of it.
        prod_sign
    } else if r.is_finite() && r.abs() < TINY && x != 0.0 && y != 0.0 {
        // Tiny result: redo the error analysis with the product and the
        // addend scaled by 2^600 (exact), so nothing underflows.
        let (small, other) = if x.abs() <= y.abs() { (x, y) } else { (y, x) };
        let (xs, zs) = (small * SCALE_UP, z * SCALE_UP);
        let rs = r * SCALE_UP;
        let u1 = xs * other;
        let u2 = xs.mul_add(other, -u1);
        let (a1, z1) = two_sum_f64(zs, u2);
        let (b1, b2) = two_sum_f64(u1, a1);
        let e = ((b1 - rs) + b2) + z1;
        if e == 0.0 && z == 0.0 {
            // A nonzero product plus zero that still looks exact only
            // underflowed beyond the scaled range.
            if (x < 0.0) != (y < 0.0) { -1.0 } else { 1.0 }
        } else {
            e
        }
    } else if r.is_finite() {
        let u1 = x * y;
        let u2 = x.mul_add(y, -u1);
        let (a1, z1) = two_sum_f64(z, u2);
        let (b1, b2) = two_sum_f64(u1, a1);
        let g = (b1 - r) + b2;
        g + z1
    } else {
        0.0
    };
    let tie = is_tie_f64(r, e);
    finish(
        r,
        sign_of(e),
        tie,
        x.is_finite() && y.is_finite() && z.is_finite(),
        st,
    )
    .to_bits()
}

/// Rounds an f64 that holds an exactly computed (or once-rounded with
/// enough spare precision) value to f32 in the current mode. `e64` is the
/// sign of the error already committed computing `v` in f64.
fn round_to_f32(v: f64, e64: i8, inputs_finite: bool, st: &mut FloatStatus) -> u32 {
    let r = v as f32;
    if r.is_infinite() && !v.is_infinite() || (r.is_infinite() && inputs_finite) {
        let lim = 2f64.powi(128);
        let big = v.abs() > lim || (v.abs() == lim && e64 as f64 * v.signum() >= 0.0);
        return finish_big(r, 1, false, true, big, st).to_bits();
    }
    let diff = v - r as f64;
    let mut r = r;
    let mut e = if diff != 0.0 { sign_of(diff) } else { e64 };
    let mut tie = false;
    if diff != 0.0 {
        let n = if diff > 0.0 {
            r.next_up()
        } else {
            r.next_down()
        };
        if ((n as f64 - r as f64) / 2.0).abs() == diff.abs() {
            if e64 == 0 {
                tie = true;
            } else if matches!(
                st.rounding_mode,
                RoundingMode::NearEven | RoundingMode::NearMaxMag
            ) {
                // `v` is a midpoint only because it was rounded: the exact
                // value lies on the `e64` side of it (double rounding).
                if e64 == sign_of(diff) {
                    r = n;
                    e = -sign_of(diff);
                }
            }
        }
    }
    finish(r, e, tie, inputs_finite, st).to_bits()
}

fn nan_in32(a: u32, b: u32, st: &mut FloatStatus) -> Option<u32> {
    nan_in::<f32>(a, b, st)
}

macro_rules! arith_f32 {
    ($name:ident, $f64op:ident) => {
        /// IEEE 754 operation on binary32 bit patterns (computed exactly or
        /// with innocuous double rounding in binary64).
        pub fn $name(a: u32, b: u32, st: &mut FloatStatus) -> u32 {
            if let Some(n) = nan_in32(a, b, st) {
                return n;
            }
            let (x, y) = (f32::from_bits(a) as f64, f32::from_bits(b) as f64);
            let mut st64 = FloatStatus::new(RoundingMode::NearEven);
            let r = f64::from_bits($f64op(x.to_bits(), y.to_bits(), &mut st64));
            st.flags |= st64.flags & (FLAG_NV | FLAG_DZ);
            if r.is_nan() {
                return F32_DEFAULT_NAN;
            }
            // Sign of the error of the f64 step (0 if exact).
            let e64 = if st64.flags & FLAG_NX != 0 {
                // Recompute direction: compare with the f64 result's
                // neighbours is not possible; use the operation's own
                // residual through a directed-mode probe.
                let mut up = FloatStatus::new(RoundingMode::Up);
                let ru = f64::from_bits($f64op(x.to_bits(), y.to_bits(), &mut up));
                if ru == r { -1 } else { 1 }
            } else {
                0
            };
            // An infinite binary64 result comes from infinite operands or a
            // division by zero, never from overflow (binary32 operands are
            // far inside binary64's range).
            round_to_f32(r, e64, r.is_finite(), st)
        }
    };
}

arith_f32!(f32_add_rne_zero, f64_add);
arith_f32!(f32_sub_rne_zero, f64_sub);

/// binary32 addition.
pub fn f32_add(a: u32, b: u32, st: &mut FloatStatus) -> u32 {
    let r = f32_add_rne_zero(a, b, st);
    let z = fix_zero_sum((r as u64) << 32, (a >> 31) as u64, (b >> 31) as u64, st);
    (z >> 32) as u32
}

/// binary32 subtraction.
pub fn f32_sub(a: u32, b: u32, st: &mut FloatStatus) -> u32 {
    let r = f32_sub_rne_zero(a, b, st);
    let z = fix_zero_sum(
        (r as u64) << 32,
        (a >> 31) as u64,
        ((b >> 31) ^ 1) as u64,
        st,
    );
    (z >> 32) as u32
}
arith_f32!(f32_mul, f64_mul);
arith_f32!(f32_div, f64_div);

/// binary32 square root.
pub fn f32_sqrt(a: u32, st: &mut FloatStatus) -> u32 {
    let x = f32::from_bits(a);
    if x.is_nan() {
        if <f32 as HostFloat>::is_snan_bits(a) {
            st.flags |= FLAG_NV;
        }
        return F32_DEFAULT_NAN;
    }
    if x < 0.0 {
        st.flags |= FLAG_NV;
        return F32_DEFAULT_NAN;
    }
    let mut st64 = FloatStatus::new(RoundingMode::NearEven);
    let r = f64::from_bits(f64_sqrt((x as f64).to_bits(), &mut st64));
    let e64 = if st64.flags & FLAG_NX != 0 {
        sign_of(-(r.mul_add(r, -(x as f64))))
    } else {
        0
    };
    round_to_f32(r, e64, x.is_finite(), st)
}

/// binary32 fused multiply-add (computed as an exact product in binary64
/// plus one binary64 addition, then rounded).
pub fn f32_mul_add(a: u32, b: u32, c: u32, st: &mut FloatStatus) -> u32 {
    let mut local = FloatStatus::new(st.rounding_mode);
    let r = f32_mul_add_rne_zero(a, b, c, &mut local);
    st.flags |= local.flags;
    let prod_neg = ((a ^ b) >> 31) as u64;
    if r << 1 == 0 && local.flags == 0 && prod_neg != (c >> 31) as u64 {
        return (fix_zero_sum(0, prod_neg, (c >> 31) as u64, st) >> 32) as u32;
    }
    r
}

fn f32_mul_add_rne_zero(a: u32, b: u32, c: u32, st: &mut FloatStatus) -> u32 {
    let (x, y, z) = (f32::from_bits(a), f32::from_bits(b), f32::from_bits(c));
    if (x.is_infinite() && y == 0.0) || (x == 0.0 && y.is_infinite()) {
        st.flags |= FLAG_NV;
        return F32_DEFAULT_NAN;
    }
    if x.is_nan() || y.is_nan() || z.is_nan() {
        if [a, b, c]
            .iter()
            .any(|&v| <f32 as HostFloat>::is_snan_bits(v))
        {
            st.flags |= FLAG_NV;
        }
        return F32_DEFAULT_NAN;
    }
    let p = x as f64 * y as f64; // exact
    let (s, e) = two_sum_f64(p, z as f64);
    if s.is_nan() {
        st.flags |= FLAG_NV;
        return F32_DEFAULT_NAN;
    }
    round_to_f32(
        s,
        sign_of(e),
        x.is_finite() && y.is_finite() && z.is_finite(),
        st,
    )
}

/// Quiet equality (NV only for signalling NaNs).
pub fn f64_eq(a: u64, b: u64, st: &mut FloatStatus) -> bool {
    if <f64 as HostFloat>::is_snan_bits(a) || <f64 as HostFloat>::is_snan_bits(b) {
        st.flags |= FLAG_NV;
    }
    f64::from_bits(a) == f64::from_bits(b)
}

/// Signalling less-than (NV for any NaN).
pub fn f64_lt(a: u64, b: u64, st: &mut FloatStatus) -> bool {
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    if x.is_nan() || y.is_nan() {
        st.flags |= FLAG_NV;
    }
    x < y
}

/// Signalling less-or-equal (NV for any NaN).
pub fn f64_le(a: u64, b: u64, st: &mut FloatStatus) -> bool {
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    if x.is_nan() || y.is_nan() {
        st.flags |= FLAG_NV;
    }
    x <= y
}

/// Quiet equality, binary32.
pub fn f32_eq(a: u32, b: u32, st: &mut FloatStatus) -> bool {
    if <f32 as HostFloat>::is_snan_bits(a) || <f32 as HostFloat>::is_snan_bits(b) {
        st.flags |= FLAG_NV;
    }
    f32::from_bits(a) == f32::from_bits(b)
}

/// Signalling less-than, binary32.
pub fn f32_lt(a: u32, b: u32, st: &mut FloatStatus) -> bool {
    f64_lt(
        (f32::from_bits(a) as f64).to_bits(),
        (f32::from_bits(b) as f64).to_bits(),
        st,
    )
}

/// Signalling less-or-equal, binary32.
pub fn f32_le(a: u32, b: u32, st: &mut FloatStatus) -> bool {
    f64_le(
        (f32::from_bits(a) as f64).to_bits(),
        (f32::from_bits(b) as f64).to_bits(),
        st,
    )
}

/// Whether a binary32 pattern is a signalling NaN.
pub fn f32_is_snan(a: u32) -> bool {
    <f32 as HostFloat>::is_snan_bits(a)
}

/// Whether a binary64 pattern is a signalling NaN.
pub fn f64_is_snan(a: u64) -> bool {
    <f64 as HostFloat>::is_snan_bits(a)
}

/// Rounds `x` to an integral value in mode `rm` (exact operation).
fn round_integral(x: f64, rm: RoundingMode) -> f64 {
    match rm {
        RoundingMode::NearEven => x.round_ties_even(),
        RoundingMode::ToZero => x.trunc(),
        RoundingMode::Down => x.floor(),
        RoundingMode::Up => x.ceil(),
        RoundingMode::NearMaxMag => x.round(),
    }
}

/// Float (as f64, exact for f32 inputs) to a signed/unsigned integer of
/// `bits` bits with RISC-V saturation: NaN and +overflow → max, −overflow →
/// min, NV on out-of-range, NX on inexact.
fn to_int(x: f64, signed: bool, bits: u32, st: &mut FloatStatus) -> u64 {
    let (min, max): (i128, i128) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if x.is_nan() {
        st.flags |= FLAG_NV;
        return max as u64;
    }
    let r = round_integral(x, st.rounding_mode);
    if r.is_infinite() || r < min as f64 || r > max as f64 || (r as i128) > max || (r as i128) < min
    {
        st.flags |= FLAG_NV;
        return if x < 0.0 { min as u64 } else { max as u64 };
    }
    if r != x {
        st.flags |= FLAG_NX;
    }
    r as i128 as u64
}

/// binary64 to signed 32-bit (result sign-extended to 64 bits).
pub fn f64_to_i32(a: u64, st: &mut FloatStatus) -> u64 {
    to_int(f64::from_bits(a), true, 32, st) as i32 as i64 as u64
}
/// binary64 to unsigned 32-bit (result sign-extended, as RV64 requires).
pub fn f64_to_u32(a: u64, st: &mut FloatStatus) -> u64 {
    to_int(f64::from_bits(a), false, 32, st) as u32 as i32 as i64 as u64
}
/// binary64 to signed 64-bit.
pub fn f64_to_i64(a: u64, st: &mut FloatStatus) -> u64 {
    to_int(f64::from_bits(a), true, 64, st)
}
/// binary64 to unsigned 64-bit.
pub fn f64_to_u64(a: u64, st: &mut FloatStatus) -> u64 {
    to_int(f64::from_bits(a), false, 64, st)
}
/// binary32 to signed 32-bit.
pub fn f32_to_i32(a: u32, st: &mut FloatStatus) -> u64 {
    f64_to_i32((f32::from_bits(a) as f64).to_bits(), st)
}
/// binary32 to unsigned 32-bit.
pub fn f32_to_u32(a: u32, st: &mut FloatStatus) -> u64 {
    f64_to_u32((f32::from_bits(a) as f64).to_bits(), st)
}
/// binary32 to signed 64-bit.
pub fn f32_to_i64(a: u32, st: &mut FloatStatus) -> u64 {
    f64_to_i64((f32::from_bits(a) as f64).to_bits(), st)
}
/// binary32 to unsigned 64-bit.
pub fn f32_to_u64(a: u32, st: &mut FloatStatus) -> u64 {
    f64_to_u64((f32::from_bits(a) as f64).to_bits(), st)
}

/// Integer (exact as i128) to binary64 in the current mode.
fn int_to_f64(v: i128, st: &mut FloatStatus) -> u64 {
    let r = v as f64; // RNE
    let back = r as i128;
    let e = (v - back).signum() as i8;
    let tie = e != 0 && {
        let n = if e > 0 { r.next_up() } else { r.next_down() };
        (n as i128 - back).abs() == 2 * (v - back).abs()
    };
    finish(r, e, tie, true, st).to_bits()
}

/// Integer to binary32 in the current mode.
fn int_to_f32(v: i128, st: &mut FloatStatus) -> u32 {
    let r = v as f32;
    let back = r as i128;
    let e = (v - back).signum() as i8;
    let tie = e != 0 && {
        let n = if e > 0 { r.next_up() } else { r.next_down() };
        (n as i128 - back).abs() == 2 * (v - back).abs()
    };
    finish(r, e, tie, true, st).to_bits()
}

/// Signed 32-bit to binary64 (always exact).
pub fn i32_to_f64(v: i32, st: &mut FloatStatus) -> u64 {
    int_to_f64(v as i128, st)
}
/// Unsigned 32-bit to binary64.
pub fn u32_to_f64(v: u32, st: &mut FloatStatus) -> u64 {
    int_to_f64(v as i128, st)
}
/// Signed 64-bit to binary64.
pub fn i64_to_f64(v: i64, st: &mut FloatStatus) -> u64 {
    int_to_f64(v as i128, st)
}
/// Unsigned 64-bit to binary64.
pub fn u64_to_f64(v: u64, st: &mut FloatStatus) -> u64 {
    int_to_f64(v as i128, st)
}
/// Signed 32-bit to binary32.
pub fn i32_to_f32(v: i32, st: &mut FloatStatus) -> u32 {
    int_to_f32(v as i128, st)
}
/// Unsigned 32-bit to binary32.
pub fn u32_to_f32(v: u32, st: &mut FloatStatus) -> u32 {
    int_to_f32(v as i128, st)
}
/// Signed 64-bit to binary32.
pub fn i64_to_f32(v: i64, st: &mut FloatStatus) -> u32 {
    int_to_f32(v as i128, st)
}
/// Unsigned 64-bit to binary32.
pub fn u64_to_f32(v: u64, st: &mut FloatStatus) -> u32 {
    int_to_f32(v as i128, st)
}

/// binary32 to binary64 (exact; NaN → canonical NaN, NV for sNaN).
pub fn f32_to_f64(a: u32, st: &mut FloatStatus) -> u64 {
    let x = f32::from_bits(a);
    if x.is_nan() {
        if f32_is_snan(a) {
            st.flags |= FLAG_NV;
        }
        return F64_DEFAULT_NAN;
    }
    (x as f64).to_bits()
}

/// binary64 to binary32 in the current mode.
pub fn f64_to_f32(a: u64, st: &mut FloatStatus) -> u32 {
    let x = f64::from_bits(a);
    if x.is_nan() {
        if f64_is_snan(a) {
            st.flags |= FLAG_NV;
        }
        return F32_DEFAULT_NAN;
    }
    round_to_f32(x, 0, x.is_finite(), st)
}

/// `fclass` for binary64: one-hot 10-bit mask.
pub fn f64_classify(a: u64) -> u64 {
    let x = f64::from_bits(a);
    let neg = a >> 63 != 0;
    classify(
        x.is_nan(),
        f64_is_snan(a),
        x.is_infinite(),
        x == 0.0,
        x.is_subnormal(),
        neg,
    )
}

/// `fclass` for binary32.
pub fn f32_classify(a: u32) -> u64 {
    let x = f32::from_bits(a);
    let neg = a >> 31 != 0;
    classify(
        x.is_nan(),
        f32_is_snan(a),
        x.is_infinite(),
        x == 0.0,
        x.is_subnormal(),
        neg,
    )
}

fn classify(nan: bool, snan: bool, inf: bool, zero: bool, sub: bool, neg: bool) -> u64 {
    let bit = if nan {
        if snan { 8 } else { 9 }
    } else if inf {
        if neg { 0 } else { 7 }
    } else if zero {
        if neg { 3 } else { 4 }
    } else if sub {
        if neg { 2 } else { 5 }
    } else if neg {
        1
    } else {
        6
    };
    1 << bit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(rm: RoundingMode) -> FloatStatus {
        FloatStatus::new(rm)
    }

    #[test]
    fn add_flags_and_directed_rounding() {
        let one = 1.0f64.to_bits();
        let tiny = 1e-30f64.to_bits();
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(f64_add(one, tiny, &mut s), one);
        assert_eq!(s.flags, FLAG_NX);
        let mut s = st(RoundingMode::Up);
        assert_eq!(f64::from_bits(f64_add(one, tiny, &mut s)), 1.0f64.next_up());
        let mut s = st(RoundingMode::Down);
        assert_eq!(f64_sub(one, tiny, &mut s), 1.0f64.next_down().to_bits());
        let mut s = st(RoundingMode::ToZero);
        assert_eq!(f64_sub(one, tiny, &mut s), 1.0f64.next_down().to_bits());
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(f64_add(one, one, &mut s), 2.0f64.to_bits());
        assert_eq!(s.flags, 0);
    }

    #[test]
    fn invalid_and_nan_canonicalisation() {
        let inf = f64::INFINITY.to_bits();
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(f64_sub(inf, inf, &mut s), F64_DEFAULT_NAN);
        assert_eq!(s.flags, FLAG_NV);
        let snan = 0x7ff0_0000_0000_0001u64;
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(f64_add(snan, 0, &mut s), F64_DEFAULT_NAN);
        assert_eq!(s.flags, FLAG_NV);
        let qnan_payload = 0x7ff8_0000_0000_1234u64;
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(f64_mul(qnan_payload, 0, &mut s), F64_DEFAULT_NAN);
        assert_eq!(s.flags, 0);
        // inf * 0 + qNaN is invalid.
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(
            f64_mul_add(inf, 0, F64_DEFAULT_NAN, &mut s),
            F64_DEFAULT_NAN
        );
        assert_eq!(s.flags, FLAG_NV);
    }

    #[test]
    fn division_by_zero_and_overflow() {
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(
            f64_div(1.0f64.to_bits(), 0, &mut s),
            f64::INFINITY.to_bits()
        );
        assert_eq!(s.flags, FLAG_DZ);
        let max = f64::MAX.to_bits();
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(
            f64_mul(max, 2.0f64.to_bits(), &mut s),
            f64::INFINITY.to_bits()
        );
        assert_eq!(s.flags, FLAG_OF | FLAG_NX);
        let mut s = st(RoundingMode::ToZero);
        assert_eq!(f64_mul(max, 2.0f64.to_bits(), &mut s), max);
        let mut s = st(RoundingMode::NearEven);
        let r = f32_mul(f32::MIN_POSITIVE.to_bits(), 0.5f32.to_bits(), &mut s);
        assert_eq!(f32::from_bits(r), f32::MIN_POSITIVE / 2.0);
        assert_eq!(s.flags, 0, "exact subnormal result: no underflow");
        let mut s = st(RoundingMode::NearEven);
        f32_mul(f32::MIN_POSITIVE.to_bits(), 0.3f32.to_bits(), &mut s);
        assert_eq!(s.flags, FLAG_UF | FLAG_NX);
    }

    #[test]
    fn conversions_saturate() {
        let mut s = st(RoundingMode::ToZero);
        assert_eq!(f64_to_i32(f64::INFINITY.to_bits(), &mut s), 0x7fff_ffff);
        assert_eq!(s.flags, FLAG_NV);
        let mut s = st(RoundingMode::ToZero);
        assert_eq!(f64_to_i32(F64_DEFAULT_NAN, &mut s), 0x7fff_ffff);
        let mut s = st(RoundingMode::ToZero);
        assert_eq!(f64_to_u64((-1.0f64).to_bits(), &mut s), 0);
        assert_eq!(s.flags, FLAG_NV);
        let mut s = st(RoundingMode::ToZero);
        assert_eq!(f64_to_u64((-0.5f64).to_bits(), &mut s), 0);
        assert_eq!(s.flags, FLAG_NX);
        let mut s = st(RoundingMode::NearMaxMag);
        assert_eq!(f64_to_i64(2.5f64.to_bits(), &mut s), 3);
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(f64_to_i64(2.5f64.to_bits(), &mut s), 2);
        let mut s = st(RoundingMode::Down);
        assert_eq!(f32_to_i32((-2.5f32).to_bits(), &mut s) as i64, -3);
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(f64_to_u32(4294967295.0f64.to_bits(), &mut s), u64::MAX);
        let mut s = st(RoundingMode::Up);
        let r = i64_to_f32(0x7fff_ffff_ffff_ffff, &mut s);
        assert_eq!(f32::from_bits(r), 9.223372e18);
        assert_eq!(s.flags, FLAG_NX);
        let mut s = st(RoundingMode::Down);
        let r = u64_to_f64(u64::MAX, &mut s);
        assert_eq!(f64::from_bits(r), 18446744073709549568.0);
    }

    #[test]
    fn classify_masks() {
        assert_eq!(f64_classify(f64::NEG_INFINITY.to_bits()), 1);
        assert_eq!(f64_classify((-0.0f64).to_bits()), 1 << 3);
        assert_eq!(f64_classify(F64_DEFAULT_NAN), 1 << 9);
        assert_eq!(f64_classify(0x7ff0_0000_0000_0001), 1 << 8);
        assert_eq!(f32_classify(1u32), 1 << 5);
        assert_eq!(f32_classify(1.0f32.to_bits()), 1 << 6);
    }

    #[test]
    fn underflow_below_the_subnormal_range_is_inexact() {
        let mut s = st(RoundingMode::NearEven);
        let r = f64_mul(1e-300f64.to_bits(), (-1e-73f64).to_bits(), &mut s);
        assert_eq!(r, (-0.0f64).to_bits());
        assert_eq!(s.flags, FLAG_UF | FLAG_NX);
        let mut s = st(RoundingMode::Down);
        let r = f64_mul(1e-300f64.to_bits(), (-1e-73f64).to_bits(), &mut s);
        assert_eq!(r, (-f64::from_bits(1)).to_bits());
        let mut s = st(RoundingMode::NearMaxMag);
        let r = f64_mul(2f64.powi(-818).to_bits(), 2f64.powi(-934).to_bits(), &mut s);
        assert_eq!(r, 0);
        assert_eq!(s.flags, FLAG_UF | FLAG_NX);
        let mut s = st(RoundingMode::NearEven);
        let r = f64_div(1e-300f64.to_bits(), 3e20f64.to_bits(), &mut s);
        assert_eq!(r, (1e-300f64 / 3e20).to_bits());
        assert_eq!(s.flags, FLAG_UF | FLAG_NX);
    }

    #[test]
    fn single_division_by_zero_is_not_overflow() {
        let mut s = st(RoundingMode::NearEven);
        let r = f32_div((-452.0f32).to_bits(), 0, &mut s);
        assert_eq!(r, f32::NEG_INFINITY.to_bits());
        assert_eq!(s.flags, FLAG_DZ);
    }

    #[test]
    fn sqrt_of_subnormal_rounds_down_correctly() {
        let x = 0x0000_0000_3f80_0000u64;
        let mut s = st(RoundingMode::Down);
        let r = f64_sqrt(x, &mut s);
        let v = f64::from_bits(r);
        // r is the largest double whose square does not exceed x.
        assert!(v * v <= f64::from_bits(x) || (v * v - f64::from_bits(x)) < 1e-320);
        assert_eq!(r, 0x1f4f_dfef_efeb_e3d5);
        assert_eq!(s.flags, FLAG_NX);
    }

    #[test]
    fn fma_with_vanishing_product_rounds_the_addend() {
        let sub = 0x000f_ffff_ffff_ffffu64;
        let c = 0x0ee3_7b4a_2eaf_aac0u64;
        let mut s = st(RoundingMode::Down);
        // -(sub * sub) + c, rounded down: just below c.
        let r = f64_mul_add(sub | 1 << 63, sub, c, &mut s);
        assert_eq!(r, c - 1);
        assert_eq!(s.flags, FLAG_NX);
    }

    #[test]
    fn single_fma_avoids_double_rounding() {
        // a*b = 2^-24 - 2^-70, c = 1 + 2^-23: the binary64 sum rounds to the
        // binary32 midpoint 1 + 2^-23 + 2^-24, but the exact value is below
        // it, so RNE must give 1 + 2^-23 (not the even 1 + 2^-22).
        let a = 1.0f32 + f32::EPSILON;
        let b = 2f32.powi(-24) * (1.0 - f32::EPSILON);
        let c = 1.0f32 + f32::EPSILON;
        let mut s = st(RoundingMode::NearEven);
        let r = f32_mul_add(a.to_bits(), b.to_bits(), c.to_bits(), &mut s);
        assert_eq!(f32::from_bits(r), c);
        assert_eq!(s.flags, FLAG_NX);
    }

    #[test]
    fn division_of_a_subnormal_is_inexact() {
        let mut s = st(RoundingMode::ToZero);
        let r = f64_div(0x3f80_0000, 0x8c4b_89e5_ee3e_b339, &mut s);
        assert_eq!(r, 0xb252_7260_e9c1_085e);
        assert_eq!(s.flags, FLAG_NX);
    }

    #[test]
    fn fma_exact_zero_sign() {
        let one = 1.0f64.to_bits();
        let m1 = (-1.0f64).to_bits();
        let mut s = st(RoundingMode::Down);
        assert_eq!(f64_mul_add(one, one, m1, &mut s), 1 << 63);
        let mut s = st(RoundingMode::NearEven);
        assert_eq!(f64_mul_add(one, one, m1, &mut s), 0);
        let mut s = st(RoundingMode::Down);
        let r = f32_mul_add(
            1.0f32.to_bits(),
            2.0f32.to_bits(),
            (-2.0f32).to_bits(),
            &mut s,
        );
        assert_eq!(r, 0x8000_0000);
        assert_eq!(s.flags, 0);
    }

    #[test]
    fn sqrt_of_infinity_is_exact() {
        for rm in [RoundingMode::NearEven, RoundingMode::Down] {
            let mut s = st(rm);
            assert_eq!(
                f64_sqrt(f64::INFINITY.to_bits(), &mut s),
                f64::INFINITY.to_bits()
            );
            assert_eq!(
                f32_sqrt(f32::INFINITY.to_bits(), &mut s),
                f32::INFINITY.to_bits()
            );
            assert_eq!(s.flags, 0);
        }
    }

    /// Independent oracle: rounds an exactly known value (held exactly in
    /// an f64) to binary32 in `rm` by picking between its two neighbours.
    fn oracle_round_f32(exact: f64, rm: RoundingMode) -> (f32, bool) {
        let c = exact as f32;
        if c as f64 == exact {
            return (c, false);
        }
        let (lo, hi) = if (c as f64) < exact {
            (c, c.next_up())
        } else {
            (c.next_down(), c)
        };
        let r = match rm {
            RoundingMode::NearEven => c,
            RoundingMode::Down => lo,
            RoundingMode::Up => hi,
            RoundingMode::ToZero => {
                if exact > 0.0 {
                    lo
                } else {
                    hi
                }
            }
            RoundingMode::NearMaxMag => {
                let (dl, dh) = (exact - lo as f64, hi as f64 - exact);
                if dl == dh {
                    if exact > 0.0 { hi } else { lo }
                } else {
                    c
                }
            }
        };
        (r, true)
    }

    fn any_rm() -> impl proptest::strategy::Strategy<Value = RoundingMode> {
        proptest::sample::select(vec![
            RoundingMode::NearEven,
            RoundingMode::ToZero,
            RoundingMode::Down,
            RoundingMode::Up,
            RoundingMode::NearMaxMag,
        ])
    }

    fn finite_f32() -> impl proptest::strategy::Strategy<Value = f32> {
        use proptest::prelude::*;
        prop_oneof![
            any::<f32>().prop_filter("finite", |x| x.is_finite()),
            (-1000i32..1000).prop_map(|v| v as f32 / 8.0),
            any::<u32>().prop_map(|b| f32::from_bits(b & 0x807f_ffff)), // subnormals
        ]
    }

    proptest::proptest! {
        #[test]
        fn f32_mul_matches_oracle(a in finite_f32(), b in finite_f32(), rm in any_rm()) {
            // The product of two binary32 values is exact in binary64.
            let exact = a as f64 * b as f64;
            let (want, inexact) = oracle_round_f32(exact, rm);
            let mut s = st(rm);
            let got = f32::from_bits(f32_mul(a.to_bits(), b.to_bits(), &mut s));
            proptest::prop_assert_eq!(got.to_bits(), want.to_bits(), "{} * {} {:?}", a, b, rm);
            proptest::prop_assert_eq!(s.flags & FLAG_NX != 0, inexact);
            proptest::prop_assert_eq!(s.flags & (FLAG_NV | FLAG_DZ), 0);
        }

        #[test]
        fn f32_add_matches_oracle(a in finite_f32(), d in -20i32..20, rm in any_rm()) {
            // Operands within 2^20 of each other: the sum is exact in binary64.
            let b = a * 2f32.powi(d) * if d % 2 == 0 { 1.0 } else { -1.0 };
            proptest::prop_assume!(b.is_finite());
            let exact = a as f64 + b as f64;
            let (want, inexact) = oracle_round_f32(exact, rm);
            let mut s = st(rm);
            let got = f32::from_bits(f32_add(a.to_bits(), b.to_bits(), &mut s));
            // Exact zero sums: +0 except in RDN (-0), per IEEE 754.
            if exact == 0.0 {
                // Opposite-signed operands: +0, or -0 when rounding down.
                let neg = if a.is_sign_negative() == b.is_sign_negative() {
                    a.is_sign_negative()
                } else {
                    rm == RoundingMode::Down
                };
                proptest::prop_assert_eq!(got.to_bits(), if neg { 0x8000_0000 } else { 0 });
            } else {
                proptest::prop_assert_eq!(got.to_bits(), want.to_bits(), "{} + {} {:?}", a, b, rm);
                proptest::prop_assert_eq!(s.flags & FLAG_NX != 0, inexact);
            }
        }

        #[test]
        fn f64_to_f32_matches_oracle(
            raw in proptest::prelude::any::<u64>(),
            e in 0u64..277,
            rm in any_rm(),
        ) {
            // Exponents from below the binary32 subnormal range to its top.
            let bits = (raw & 0x800f_ffff_ffff_ffff) | ((1023 - 150 + e) << 52);
            let x = f64::from_bits(bits);
            proptest::prop_assume!(x.abs() < f32::MAX as f64);
            let (want, inexact) = oracle_round_f32(x, rm);
            let mut s = st(rm);
            let got = f32::from_bits(f64_to_f32(bits, &mut s));
            proptest::prop_assert_eq!(got.to_bits(), want.to_bits(), "{} {:?}", x, rm);
            proptest::prop_assert_eq!(s.flags & FLAG_NX != 0, inexact);
        }

        #[test]
        fn i64_to_f64_matches_oracle(v in proptest::prelude::any::<i64>(), rm in any_rm()) {
            let mut s = st(rm);
            let got = f64::from_bits(i64_to_f64(v, &mut s));
            // Oracle: exact comparison in i128 between the neighbours.
            let c = v as f64;
            let cv = c as i128;
            let exact = v as i128;
            let want = if cv == exact {
                c
            } else {
                let (lo, hi) = if cv < exact { (c, c.next_up()) } else { (c.next_down(), c) };
                match rm {
                    RoundingMode::NearEven => c,
                    RoundingMode::Down => lo,
                    RoundingMode::Up => hi,
                    RoundingMode::ToZero => if exact > 0 { lo } else { hi },
                    RoundingMode::NearMaxMag => {
                        let (dl, dh) = (exact - lo as i128, hi as i128 - exact);
                        if dl == dh { if exact > 0 { hi } else { lo } } else { c }
                    }
                }
            };
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(s.flags & FLAG_NX != 0, cv != exact);
        }
    }
}
