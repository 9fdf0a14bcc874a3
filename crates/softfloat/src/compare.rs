//! Comparisons, RISC-V's minimum/maximum and `fclass` (QEMU's
//! `parts_compare`, `parts_minmax` and RISC-V's `fclass_s/d` helpers).
//!
//! These never round, so they work on the bit patterns directly.

use crate::parts::{Fmt, is_nan, is_snan};
use crate::status::{FLAG_INVALID, FloatStatus};

/// Orders two non-NaN bit patterns numerically: returns true if `a < b`
/// (`or_equal`: `a <= b`), with -0 == +0.
#[inline]
fn less<F: Fmt>(a: u64, b: u64, or_equal: bool) -> bool {
    let sa = a >> F::SIGN_SHIFT != 0;
    let sb = b >> F::SIGN_SHIFT != 0;
    let both_zero = (a | b) & F::ABS_MASK == 0;
    if both_zero {
        return or_equal;
    }
    if a == b {
        return or_equal;
    }
    if sa != sb {
        return sa;
    }
    // Same sign: magnitudes order like the integers; negation reverses.
    (a < b) != sa
}

/// `feq`: quiet equality; only signalling NaNs raise invalid.
#[inline]
pub(crate) fn eq<F: Fmt>(a: u64, b: u64, s: &mut FloatStatus) -> bool {
    if is_nan::<F>(a) || is_nan::<F>(b) {
        if is_snan::<F>(a) || is_snan::<F>(b) {
            s.raise(FLAG_INVALID);
        }
        return false;
    }
    a == b || (a | b) & F::ABS_MASK == 0
}

/// `flt` (`or_equal` false) and `fle` (true): signalling comparisons; any
/// NaN operand raises invalid and the result is false.
#[inline]
pub(crate) fn lt_le<F: Fmt>(a: u64, b: u64, or_equal: bool, s: &mut FloatStatus) -> bool {
    if is_nan::<F>(a) || is_nan::<F>(b) {
        s.raise(FLAG_INVALID);
        return false;
    }
    less::<F>(a, b, or_equal)
}

/// `fmin`/`fmax` as RISC-V defines them since F 2.2 (IEEE 754-2019
/// `minimumNumber`/`maximumNumber`): a single NaN operand is ignored, two
/// NaNs give the canonical NaN, a signalling NaN raises invalid even when
/// the result is a number, and -0 is less than +0.
#[inline]
pub(crate) fn minmax<F: Fmt>(a: u64, b: u64, max: bool, s: &mut FloatStatus) -> u64 {
    let a_nan = is_nan::<F>(a);
    let b_nan = is_nan::<F>(b);
    if a_nan || b_nan {
        if is_snan::<F>(a) || is_snan::<F>(b) {
            s.raise(FLAG_INVALID);
        }
        return match (a_nan, b_nan) {
            (true, true) => F::DEFAULT_NAN,
            (true, false) => b,
            _ => a,
        };
    }
    let sa = a >> F::SIGN_SHIFT != 0;
    let sb = b >> F::SIGN_SHIFT != 0;
    // Ordering with -0 < +0: differing signs decide by sign alone.
    let a_less = if sa != sb { sa } else { (a < b) != sa };
    if a_less != max { a } else { b }
}

/// `fclass` result bits, RISC-V numbering.
pub mod fclass {
    /// Negative infinity.
    pub const NEG_INF: u32 = 1 << 0;
    /// Negative normal number.
    pub const NEG_NORMAL: u32 = 1 << 1;
    /// Negative subnormal number.
    pub const NEG_SUBNORMAL: u32 = 1 << 2;
    /// Negative zero.
    pub const NEG_ZERO: u32 = 1 << 3;
    /// Positive zero.
    pub const POS_ZERO: u32 = 1 << 4;
    /// Positive subnormal number.
    pub const POS_SUBNORMAL: u32 = 1 << 5;
    /// Positive normal number.
    pub const POS_NORMAL: u32 = 1 << 6;
    /// Positive infinity.
    pub const POS_INF: u32 = 1 << 7;
    /// Signalling NaN.
    pub const SNAN: u32 = 1 << 8;
    /// Quiet NaN.
    pub const QNAN: u32 = 1 << 9;
}

/// `fclass`: the one-hot 10-bit class mask. Raises nothing.
#[inline]
pub(crate) fn classify<F: Fmt>(a: u64) -> u32 {
    let neg = a >> F::SIGN_SHIFT != 0;
    let e = (a >> F::FRAC_BITS) & F::EXP_MAX;
    let f = a & F::FRAC_MASK;
    let (n, p) = if e == F::EXP_MAX {
        if f == 0 {
            (fclass::NEG_INF, fclass::POS_INF)
        } else if f & F::QUIET_BIT != 0 {
            return fclass::QNAN;
        } else {
            return fclass::SNAN;
        }
    } else if e == 0 {
        if f == 0 {
            (fclass::NEG_ZERO, fclass::POS_ZERO)
        } else {
            (fclass::NEG_SUBNORMAL, fclass::POS_SUBNORMAL)
        }
    } else {
        (fclass::NEG_NORMAL, fclass::POS_NORMAL)
    };
    if neg { n } else { p }
}
