//! Conversions between the formats and to and from integers (QEMU's
//! `parts_float_to_float`, `parts_float_to_sint`/`_uint` and
//! `parts_sint_to_float`/`_uint_to_float`), with RISC-V's saturation rules.
//!
//! Float to integer on RISC-V never produces an undefined value: NaN gives
//! the largest positive integer, out-of-range inputs (after rounding)
//! saturate to the nearest bound, and both raise only invalid, never
//! inexact. In-range inputs that needed rounding raise inexact.

use crate::parts::{FloatClass, FloatParts, Fmt, nan_result, pack, round_up, unpack, zero};
use crate::status::{FLAG_INEXACT, FLAG_INVALID, FloatStatus};

/// Converts between formats. Widening is exact; narrowing rounds once.
/// NaNs become the target's canonical NaN (invalid if signalling).
#[inline]
pub(crate) fn float_to_float<From: Fmt, To: Fmt>(a: u64, s: &mut FloatStatus) -> u64 {
    let p = unpack::<From>(a);
    if p.is_nan() {
        return nan_result::<To>(p.cls == FloatClass::SNaN, s);
    }
    pack::<To>(p, s)
}

/// Converts the integer `(-1)^sign * mag` to format `F`.
#[inline]
pub(crate) fn int_to_float<F: Fmt>(sign: bool, mag: u64, s: &mut FloatStatus) -> u64 {
    if mag == 0 {
        return zero::<F>(false);
    }
    pack::<F>(FloatParts::from_u64(sign, mag, 0), s)
}

/// The rounded magnitude of a finite nonzero `p` as an integer, `None` if it
/// is 2^64 or more, plus whether rounding discarded anything.
#[inline]
fn round_to_int(p: &FloatParts, s: &FloatStatus) -> (Option<u64>, bool) {
    if p.exp >= 64 {
        return (None, false);
    }
    // value = frac * 2^(exp - 63): shift right by 63 - exp, keeping the
    // discarded bits left-aligned in `round` so that a half is 2^63.
    let shift = (63 - p.exp) as u32;
    let (int, round) = match shift {
        0 => (p.frac, 0),
        1..=63 => (p.frac >> shift, p.frac << (64 - shift)),
        64 => (0, p.frac),
        // Below one half: only the sticky information survives.
        _ => (0, 1),
    };
    let int = if round_up(s.rounding_mode, p.sign, int & 1 != 0, round, 1 << 63) {
        int.checked_add(1)
    } else {
        Some(int)
    };
    (int, round != 0)
}

/// Converts to a signed integer with at most `max` (2^(n-1) - 1 for n
/// bits); returns the two's complement bits as `i64`.
#[inline]
pub(crate) fn float_to_sint<F: Fmt>(a: u64, max: i64, s: &mut FloatStatus) -> i64 {
    let p = unpack::<F>(a);
    let min = -max - 1;
    match p.cls {
        FloatClass::Zero => 0,
        FloatClass::QNaN | FloatClass::SNaN => {
            s.raise(FLAG_INVALID);
            max
        }
        FloatClass::Inf => {
            s.raise(FLAG_INVALID);
            if p.sign { min } else { max }
        }
        FloatClass::Normal => {
            let (int, inexact) = round_to_int(&p, s);
            // The largest magnitude allowed: max, or max + 1 when negative.
            let limit = max as u64 + p.sign as u64;
            match int {
                Some(m) if m <= limit => {
                    if inexact {
                        s.raise(FLAG_INEXACT);
                    }
                    if p.sign {
                        (m as i64).wrapping_neg()
                    } else {
                        m as i64
                    }
                }
                _ => {
                    s.raise(FLAG_INVALID);
                    if p.sign { min } else { max }
                }
            }
        }
    }
}

/// Converts to an unsigned integer with at most `max` (2^n - 1 for n bits).
/// Negative inputs that round to zero give 0 (inexact); any other negative
/// input is invalid and gives 0.
#[inline]
pub(crate) fn float_to_uint<F: Fmt>(a: u64, max: u64, s: &mut FloatStatus) -> u64 {
    let p = unpack::<F>(a);
    match p.cls {
        FloatClass::Zero => 0,
        FloatClass::QNaN | FloatClass::SNaN => {
            s.raise(FLAG_INVALID);
            max
        }
        FloatClass::Inf => {
            s.raise(FLAG_INVALID);
            if p.sign { 0 } else { max }
        }
        FloatClass::Normal => {
            let (int, inexact) = round_to_int(&p, s);
            match int {
                Some(0) if p.sign => {
                    if inexact {
                        s.raise(FLAG_INEXACT);
                    }
                    0
                }
                Some(m) if !p.sign && m <= max => {
                    if inexact {
                        s.raise(FLAG_INEXACT);
                    }
                    m
                }
                _ => {
                    s.raise(FLAG_INVALID);
                    if p.sign { 0 } else { max }
                }
            }
        }
    }
}
