//! The decomposed representation every operation works on (QEMU's
//! `FloatParts64`), the format descriptions (QEMU's `FloatFmt`) and the one
//! rounding routine all results go through (QEMU's `parts_uncanon` plus
//! `pack_raw`).
//!
//! A finite nonzero value is held as `frac * 2^(exp - 63)` with the leading
//! one of `frac` at bit 63 (QEMU's `DECOMPOSED_BINARY_POINT`). Subnormal
//! inputs are normalised on unpacking, so the arithmetic never sees them;
//! results are denormalised again only in [`round_pack`]. Bits of a result
//! below bit 0 of `frac` are folded into bit 0 ("jamming", QEMU's and
//! Berkeley's `shift_right_jam`), which is all rounding needs to know.

use crate::status::{
    FLAG_INEXACT, FLAG_INVALID, FLAG_OVERFLOW, FLAG_UNDERFLOW, FloatStatus, RoundingMode,
};

/// A binary interchange format (QEMU's `FloatFmt`), as compile-time
/// constants so that every operation is monomorphised per format.
///
/// Bit patterns of any format travel in a `u64`, zero-extended.
pub(crate) trait Fmt {
    /// Width of the biased exponent field.
    const EXP_BITS: u32;
    /// Width of the stored fraction (the significand without its hidden bit).
    const FRAC_BITS: u32;
    /// The RISC-V canonical NaN: positive, quiet, payload zero.
    const DEFAULT_NAN: u64;

    /// Exponent bias.
    const BIAS: i32 = (1 << (Self::EXP_BITS - 1)) - 1;
    /// The all-ones exponent field of infinities and NaNs.
    const EXP_MAX: u64 = (1 << Self::EXP_BITS) - 1;
    /// Position of the sign bit.
    const SIGN_SHIFT: u32 = Self::EXP_BITS + Self::FRAC_BITS;
    /// Mask of the fraction field.
    const FRAC_MASK: u64 = (1 << Self::FRAC_BITS) - 1;
    /// The quiet bit (most significant fraction bit, RISC-V and IEEE 754-2008).
    const QUIET_BIT: u64 = 1 << (Self::FRAC_BITS - 1);
    /// Bit pattern of +infinity.
    const INF: u64 = Self::EXP_MAX << Self::FRAC_BITS;
    /// Mask of everything but the sign.
    const ABS_MASK: u64 = (1 << Self::SIGN_SHIFT) - 1;
    /// Number of `frac` bits below the rounding point of a normal result.
    const ROUND_SHIFT: u32 = 63 - Self::FRAC_BITS;
}

/// IEEE 754 binary32 (`float32`).
pub(crate) struct Float32;
impl Fmt for Float32 {
    const EXP_BITS: u32 = 8;
    const FRAC_BITS: u32 = 23;
    const DEFAULT_NAN: u64 = 0x7fc0_0000;
}

/// IEEE 754 binary64 (`float64`).
pub(crate) struct Float64;
impl Fmt for Float64 {
    const EXP_BITS: u32 = 11;
    const FRAC_BITS: u32 = 52;
    const DEFAULT_NAN: u64 = 0x7ff8_0000_0000_0000;
}

/// What kind of datum a [`FloatParts`] holds (QEMU's `FloatClass`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FloatClass {
    /// ±0.
    Zero,
    /// A finite nonzero value (normal or subnormal in the encoding).
    Normal,
    /// ±infinity.
    Inf,
    /// A quiet NaN.
    QNaN,
    /// A signalling NaN.
    SNaN,
}

/// A decomposed datum (QEMU's `FloatParts64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FloatParts {
    /// The class; `exp` and `frac` only mean something for `Normal`.
    pub(crate) cls: FloatClass,
    /// True for negative.
    pub(crate) sign: bool,
    /// Unbiased exponent of the value `frac * 2^(exp - 63)`.
    pub(crate) exp: i32,
    /// Significand with its leading one at bit 63.
    pub(crate) frac: u64,
}

impl FloatParts {
    /// True for either kind of NaN.
    #[inline]
    pub(crate) fn is_nan(&self) -> bool {
        matches!(self.cls, FloatClass::QNaN | FloatClass::SNaN)
    }

    /// A finite nonzero value, normalised from an arbitrary nonzero integer
    /// significand: the value is `sig * 2^(exp_of_bit0)`.
    #[inline]
    pub(crate) fn from_u64(sign: bool, sig: u64, exp_of_bit0: i32) -> FloatParts {
        debug_assert!(sig != 0);
        let lz = sig.leading_zeros();
        FloatParts {
            cls: FloatClass::Normal,
            sign,
            exp: exp_of_bit0 + 63 - lz as i32,
            frac: sig << lz,
        }
    }
}

/// Splits a bit pattern of format `F` into parts (QEMU's `unpack_raw` +
/// `parts_canonicalize`).
#[inline]
pub(crate) fn unpack<F: Fmt>(bits: u64) -> FloatParts {
    let sign = (bits >> F::SIGN_SHIFT) & 1 != 0;
    let e = (bits >> F::FRAC_BITS) & F::EXP_MAX;
    let f = bits & F::FRAC_MASK;
    let (cls, exp, frac) = if e == F::EXP_MAX {
        if f == 0 {
            (FloatClass::Inf, 0, 0)
        } else if f & F::QUIET_BIT != 0 {
            (FloatClass::QNaN, 0, f)
        } else {
            (FloatClass::SNaN, 0, f)
        }
    } else if e == 0 {
        if f == 0 {
            (FloatClass::Zero, 0, 0)
        } else {
            // Subnormal: f * 2^(1 - bias - frac_bits); normalise it.
            return FloatParts::from_u64(sign, f, 1 - F::BIAS - F::FRAC_BITS as i32);
        }
    } else {
        (
            FloatClass::Normal,
            e as i32 - F::BIAS,
            (f | (1 << F::FRAC_BITS)) << F::ROUND_SHIFT,
        )
    };
    FloatParts {
        cls,
        sign,
        exp,
        frac,
    }
}

/// The parts of `bits` if it is a normal number (biased exponent neither 0
/// nor all ones), the common case that the operations test for first so
/// that it skips classification.
#[inline(always)]
pub(crate) fn unpack_normal<F: Fmt>(bits: u64) -> Option<FloatParts> {
    let e = (bits >> F::FRAC_BITS) & F::EXP_MAX;
    if e.wrapping_sub(1) < F::EXP_MAX - 1 {
        Some(FloatParts {
            cls: FloatClass::Normal,
            sign: (bits >> F::SIGN_SHIFT) & 1 != 0,
            exp: e as i32 - F::BIAS,
            frac: ((bits & F::FRAC_MASK) | (1 << F::FRAC_BITS)) << F::ROUND_SHIFT,
        })
    } else {
        None
    }
}

/// True if `bits` (format `F`) is a NaN.
#[inline]
pub(crate) fn is_nan<F: Fmt>(bits: u64) -> bool {
    bits & F::ABS_MASK > F::INF
}

/// True if `bits` (format `F`) is a signalling NaN.
#[inline]
pub(crate) fn is_snan<F: Fmt>(bits: u64) -> bool {
    is_nan::<F>(bits) && bits & F::QUIET_BIT == 0
}

/// The sign bit of format `F`, placed.
#[inline]
pub(crate) fn sign_bit<F: Fmt>(sign: bool) -> u64 {
    (sign as u64) << F::SIGN_SHIFT
}

/// Signed zero of format `F`.
#[inline]
pub(crate) fn zero<F: Fmt>(sign: bool) -> u64 {
    sign_bit::<F>(sign)
}

/// Signed infinity of format `F`.
#[inline]
pub(crate) fn inf<F: Fmt>(sign: bool) -> u64 {
    sign_bit::<F>(sign) | F::INF
}

/// The zero an exact cancellation (x - x, or an exact zero sum of opposite
/// signs) produces: -0 when rounding down, +0 otherwise (IEEE 754 §6.3).
#[inline]
pub(crate) fn cancellation_zero<F: Fmt>(s: &FloatStatus) -> u64 {
    zero::<F>(s.rounding_mode == RoundingMode::Down)
}

/// The result of an operation with a NaN operand: RISC-V never propagates
/// payloads, it returns the canonical NaN, and any signalling NaN operand
/// raises invalid (QEMU's `parts_pick_nan` with `default_nan_mode` set).
#[inline]
pub(crate) fn nan_result<F: Fmt>(any_snan: bool, s: &mut FloatStatus) -> u64 {
    if any_snan {
        s.raise(FLAG_INVALID);
    }
    F::DEFAULT_NAN
}

/// An invalid operation: raises NV and returns the canonical NaN.
#[inline]
pub(crate) fn invalid<F: Fmt>(s: &mut FloatStatus) -> u64 {
    s.raise(FLAG_INVALID);
    F::DEFAULT_NAN
}

/// `x >> n` with every bit shifted out ORed into bit 0, for any `n`.
#[inline]
pub(crate) fn shift_right_jam64(x: u64, n: u32) -> u64 {
    if n == 0 {
        x
    } else if n < 64 {
        (x >> n) | ((x << (64 - n) != 0) as u64)
    } else {
        (x != 0) as u64
    }
}

/// `x >> n` with every bit shifted out ORed into bit 0, for any `n`.
#[inline]
pub(crate) fn shift_right_jam128(x: u128, n: u32) -> u128 {
    if n == 0 {
        x
    } else if n < 128 {
        (x >> n) | ((x << (128 - n) != 0) as u128)
    } else {
        (x != 0) as u128
    }
}

/// Whether to add one unit in the last place, given the discarded bits
/// `round` and the value `half` that a discarded exact half would have.
#[inline]
pub(crate) fn round_up(rm: RoundingMode, sign: bool, lsb_odd: bool, round: u64, half: u64) -> bool {
    match rm {
        RoundingMode::NearestEven => round > half || (round == half && lsb_odd),
        RoundingMode::TiesAway => round >= half,
        RoundingMode::ToZero => false,
        RoundingMode::Down => sign && round != 0,
        RoundingMode::Up => !sign && round != 0,
    }
}

/// Rounds the finite nonzero value `(-1)^sign * frac * 2^(exp - 63)` (leading
/// one of `frac` at bit 63, lower bits jammed) to format `F` and packs it,
/// raising inexact, underflow and overflow as RISC-V defines them
/// (tininess detected after rounding).
pub(crate) fn round_pack<F: Fmt>(sign: bool, exp: i32, frac: u64, s: &mut FloatStatus) -> u64 {
    debug_assert!(frac >> 63 == 1);
    let rm = s.rounding_mode;
    let round_mask = (1u64 << F::ROUND_SHIFT) - 1;
    let half = 1u64 << (F::ROUND_SHIFT - 1);
    // Biased exponent if the result is normal.
    let e = exp.saturating_add(F::BIAS);

    if e >= 1 {
        if e as u64 >= F::EXP_MAX {
            return overflow::<F>(sign, s);
        }
        let round = frac & round_mask;
        // Round by adding an increment below the rounding point and
        // truncating (Berkeley's trick, fewer branches than `round_up`):
        // half for the nearest modes, all ones for a directed mode that
        // rounds this sign away from zero, else nothing. A carry out of
        // bit 63 is put back on top.
        let inc = match rm {
            RoundingMode::NearestEven | RoundingMode::TiesAway => half,
            RoundingMode::ToZero => 0,
            RoundingMode::Down => round_mask * sign as u64,
            RoundingMode::Up => round_mask * !sign as u64,
        };
        let (sum, carry) = frac.overflowing_add(inc);
        // Significand including the hidden bit, in [2^fb, 2^(fb+1)].
        let mut m = (sum >> F::ROUND_SHIFT) | ((carry as u64) << (64 - F::ROUND_SHIFT));
        if rm == RoundingMode::NearestEven && round == half {
            // A tie went up; ties go to even.
            m &= !1;
        }
        // Adding the significand (with its hidden bit) to exponent - 1 lets a
        // carry out of the significand bump the exponent for free.
        let bits = ((e as u64 - 1) << F::FRAC_BITS) + m;
        if bits >> F::FRAC_BITS >= F::EXP_MAX {
            return overflow::<F>(sign, s);
        }
        if round != 0 {
            s.raise(FLAG_INEXACT);
        }
        return sign_bit::<F>(sign) | bits;
    }

    // The result is below the normal range before rounding. Tininess after
    // rounding: it is not tiny only if rounding to full precision with an
    // unbounded exponent would carry up to the smallest normal, which needs
    // e == 0 and an all-ones significand that rounds up.
    let tiny = e < 0 || {
        let m = frac >> F::ROUND_SHIFT;
        let all_ones = (1u64 << (F::FRAC_BITS + 1)) - 1;
        !(m == all_ones && round_up(rm, sign, true, frac & round_mask, half))
    };
    // Denormalise: the encoding's exponent 0 means 2^(1 - bias) without a
    // hidden bit, so shift right by 1 - e.
    let shift = (1i64 - e as i64).min(64 + 1) as u32;
    let frac = shift_right_jam64(frac, shift);
    let round = frac & round_mask;
    let mut m = frac >> F::ROUND_SHIFT;
    if round_up(rm, sign, m & 1 != 0, round, half) {
        // A carry into bit fb yields the smallest normal's encoding.
        m += 1;
    }
    if round != 0 {
        s.raise(FLAG_INEXACT | if tiny { FLAG_UNDERFLOW } else { 0 });
    }
    sign_bit::<F>(sign) | m
}

/// Overflow: OF and NX, and either infinity or the largest finite value of
/// the sign, depending on the rounding direction.
#[cold]
fn overflow<F: Fmt>(sign: bool, s: &mut FloatStatus) -> u64 {
    s.raise(FLAG_OVERFLOW | FLAG_INEXACT);
    let to_inf = match s.rounding_mode {
        RoundingMode::NearestEven | RoundingMode::TiesAway => true,
        RoundingMode::ToZero => false,
        RoundingMode::Down => sign,
        RoundingMode::Up => !sign,
    };
    if to_inf {
        inf::<F>(sign)
    } else {
        sign_bit::<F>(sign) | (F::INF - 1)
    }
}

/// Rounds and packs `parts` (QEMU's `parts_uncanon` + `pack_raw`); NaNs
/// become the canonical NaN.
#[inline]
pub(crate) fn pack<F: Fmt>(p: FloatParts, s: &mut FloatStatus) -> u64 {
    match p.cls {
        FloatClass::Zero => zero::<F>(p.sign),
        FloatClass::Inf => inf::<F>(p.sign),
        FloatClass::QNaN | FloatClass::SNaN => F::DEFAULT_NAN,
        FloatClass::Normal => round_pack::<F>(p.sign, p.exp, p.frac, s),
    }
}

/// Normalises the nonzero 128-bit significand `x`, whose bit 127 has weight
/// `2^e127`, jams it to 64 bits and rounds it to format `F`.
#[inline]
pub(crate) fn round_pack128<F: Fmt>(sign: bool, e127: i32, x: u128, s: &mut FloatStatus) -> u64 {
    debug_assert!(x != 0);
    let lz = x.leading_zeros();
    let x = x << lz;
    let frac = (x >> 64) as u64 | (x as u64 != 0) as u64;
    round_pack::<F>(sign, e127 - lz as i32, frac, s)
}
