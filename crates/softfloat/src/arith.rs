//! Arithmetic: addition, multiplication, division, square root and fused
//! multiply-add (QEMU's `parts_addsub`, `parts_mul`, `parts_div`,
//! `parts_sqrt`, `parts_muladd`).
//!
//! Each operation first handles the special classes (NaN, infinity, zero) as
//! RISC-V specifies, then computes the exact result, or the exact result
//! with everything below 64 significant bits jammed into a sticky bit, and
//! hands it to [`round_pack`] exactly once. Nothing is rounded twice.

use crate::parts::{
    FloatClass, FloatParts, Fmt, cancellation_zero, inf, invalid, nan_result, round_pack,
    round_pack128, shift_right_jam64, shift_right_jam128, unpack, unpack_normal, zero,
};
use crate::status::{FLAG_DIVBYZERO, FloatStatus};

/// Which of RISC-V's four fused multiply-adds to compute (QEMU's
/// `float_muladd_negate_*` flags). Both negations are applied to the
/// operands before the single rounding, so the rounding direction sees the
/// true sign of the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MulAddOp {
    /// Negate the product `a * b` (`fnmsub`, `fnmadd`).
    pub negate_product: bool,
    /// Negate the addend `c` (`fmsub`, `fnmadd`).
    pub negate_addend: bool,
}

impl MulAddOp {
    /// `fmadd`: `a * b + c`.
    pub const MADD: MulAddOp = MulAddOp {
        negate_product: false,
        negate_addend: false,
    };
    /// `fmsub`: `a * b - c`.
    pub const MSUB: MulAddOp = MulAddOp {
        negate_product: false,
        negate_addend: true,
    };
    /// `fnmsub`: `-(a * b) + c`.
    pub const NMSUB: MulAddOp = MulAddOp {
        negate_product: true,
        negate_addend: false,
    };
    /// `fnmadd`: `-(a * b) - c`.
    pub const NMADD: MulAddOp = MulAddOp {
        negate_product: true,
        negate_addend: true,
    };
}

/// True if any of the parts is a signalling NaN.
#[inline]
fn any_snan<const N: usize>(ps: [FloatParts; N]) -> bool {
    ps.iter().any(|p| p.cls == FloatClass::SNaN)
}

/// Adds two finite nonzero values given as 128-bit significands with their
/// leading one at bit 125 (two bits of headroom), `x = sig * 2^(exp - 125)`.
/// The smaller one is shifted right with jamming; that is exact enough for
/// correct rounding because an alignment shift of two or more cancels at
/// most one leading bit, leaving the sticky bit far below the rounding point.
#[inline]
fn add_aligned<F: Fmt>(
    (sa, ea, xa): (bool, i32, u128),
    (sb, eb, xb): (bool, i32, u128),
    s: &mut FloatStatus,
) -> u64 {
    let ((sa, ea, xa), (sb, _, xb)) = if ea >= eb {
        (
            (sa, ea, xa),
            (sb, eb, shift_right_jam128(xb, (ea - eb) as u32)),
        )
    } else {
        (
            (sb, eb, xb),
            (sa, ea, shift_right_jam128(xa, (eb - ea) as u32)),
        )
    };
    // Bit 127 has weight 2^(ea + 2).
    if sa == sb {
        round_pack128::<F>(sa, ea + 2, xa + xb, s)
    } else if xa > xb {
        round_pack128::<F>(sa, ea + 2, xa - xb, s)
    } else if xb > xa {
        round_pack128::<F>(sb, ea + 2, xb - xa, s)
    } else {
        cancellation_zero::<F>(s)
    }
}

/// Adds two finite nonzero values in 64 bits (Berkeley's and QEMU's
/// approach for addition): both significands move down two bits, leaving
/// headroom for a carry and still eight bits below a double's 53 (the
/// bits dropped are zero, as every unpacked significand has at least 11
/// trailing zeros), and the smaller operand is aligned with jamming. As in
/// [`add_aligned`], a jammed alignment of two or more bits cancels at most
/// one leading bit, so the sticky bit stays below the rounding point.
#[inline]
fn add_normal<F: Fmt>(a: FloatParts, b: FloatParts, s: &mut FloatStatus) -> u64 {
    let (big, small) = if a.exp >= b.exp { (a, b) } else { (b, a) };
    let xa = big.frac >> 2;
    let xb = shift_right_jam64(small.frac >> 2, (big.exp - small.exp) as u32);
    // Bit 61 has weight 2^big.exp, so bit 63 weighs 2^(big.exp + 2).
    let (sign, x) = if big.sign == small.sign {
        (big.sign, xa + xb)
    } else if xa > xb {
        (big.sign, xa - xb)
    } else if xb > xa {
        (small.sign, xb - xa)
    } else {
        return cancellation_zero::<F>(s);
    };
    let lz = x.leading_zeros();
    round_pack::<F>(sign, big.exp + 2 - lz as i32, x << lz, s)
}

/// `a + b`, or `a - b` if `subtract` (QEMU's `parts_addsub`).
#[inline]
pub(crate) fn add<F: Fmt>(a: u64, b: u64, subtract: bool, s: &mut FloatStatus) -> u64 {
    if let (Some(a), Some(mut b)) = (unpack_normal::<F>(a), unpack_normal::<F>(b)) {
        b.sign ^= subtract;
        return add_normal::<F>(a, b, s);
    }
    let a = unpack::<F>(a);
    let mut b = unpack::<F>(b);
    b.sign ^= subtract;
    match (a.cls, b.cls) {
        (FloatClass::Normal, FloatClass::Normal) => add_normal::<F>(a, b, s),
        _ if a.is_nan() || b.is_nan() => nan_result::<F>(any_snan([a, b]), s),
        (FloatClass::Inf, FloatClass::Inf) => {
            if a.sign == b.sign {
                inf::<F>(a.sign)
            } else {
                invalid::<F>(s)
            }
        }
        (FloatClass::Inf, _) => inf::<F>(a.sign),
        (_, FloatClass::Inf) => inf::<F>(b.sign),
        (FloatClass::Zero, FloatClass::Zero) => {
            if a.sign == b.sign {
                zero::<F>(a.sign)
            } else {
                cancellation_zero::<F>(s)
            }
        }
        // x + 0 = x exactly; repacking a representable value raises nothing.
        (FloatClass::Zero, _) => round_pack::<F>(b.sign, b.exp, b.frac, s),
        (_, _) => round_pack::<F>(a.sign, a.exp, a.frac, s),
    }
}

/// Multiplies two finite nonzero values.
#[inline]
fn mul_normal<F: Fmt>(a: FloatParts, b: FloatParts, s: &mut FloatStatus) -> u64 {
    // frac_a * frac_b has weight 2^(ea + eb - 126) per unit and its leading
    // one at bit 126 or 127; its low 64 bits only matter as a sticky bit.
    let prod = a.frac as u128 * b.frac as u128;
    let hi = (prod >> 64) as u64;
    let frac = hi | (prod as u64 != 0) as u64;
    let top = (hi >> 63) as u32;
    // Normalise to bit 63: shift left by one unless bit 127 was set. The
    // sticky bit moves too, which is harmless: it stays below bit 10.
    round_pack::<F>(
        a.sign ^ b.sign,
        a.exp + b.exp + top as i32,
        frac << (1 - top),
        s,
    )
}

/// `a * b` (QEMU's `parts_mul`).
#[inline]
pub(crate) fn mul<F: Fmt>(a: u64, b: u64, s: &mut FloatStatus) -> u64 {
    if let (Some(a), Some(b)) = (unpack_normal::<F>(a), unpack_normal::<F>(b)) {
        return mul_normal::<F>(a, b, s);
    }
    let a = unpack::<F>(a);
    let b = unpack::<F>(b);
    let sign = a.sign ^ b.sign;
    match (a.cls, b.cls) {
        (FloatClass::Normal, FloatClass::Normal) => mul_normal::<F>(a, b, s),
        _ if a.is_nan() || b.is_nan() => nan_result::<F>(any_snan([a, b]), s),
        (FloatClass::Inf, FloatClass::Zero) | (FloatClass::Zero, FloatClass::Inf) => {
            invalid::<F>(s)
        }
        (FloatClass::Inf, _) | (_, FloatClass::Inf) => inf::<F>(sign),
        _ => zero::<F>(sign),
    }
}

/// `floor(fa * 2^54 / fb)` for significands normalised to bit 63 with at
/// most 53 significant bits, and whether the division left a remainder.
/// The quotient has 54 or 55 bits: a double's 53, a round bit and more.
#[inline]
fn div_significands(fa: u64, fb: u64) -> (u64, bool) {
    // Both operands as exact 53-bit integers (the bits dropped are zero).
    let (a, b) = (fa >> 11, fb >> 11);
    // The host's correctly rounded f64 quotient is a first guess within a
    // few units; the integer loops below make the result exact, so the
    // outcome never depends on the host FPU. (A hardware 128-by-64 integer
    // divide would be exact at once, but measured about 1.7 times slower
    // overall; a second f64 correction step instead of the loops, slower
    // still.)
    let guess = (a as f64 / b as f64) * (1u64 << 54) as f64;
    let mut q = guess as u64;
    let n = (a as u128) << 54;
    // |remainder| is below 2^60 whichever way the guess errs.
    let mut r = (n as i128 - (q as u128 * b as u128) as i128) as i64;
    let b = b as i64;
    while r < 0 {
        q -= 1;
        r += b;
    }
    while r >= b {
        q += 1;
        r -= b;
    }
    (q, r != 0)
}

/// `floor(fa * 2^26 / fb)` for significands normalised to bit 63 with at
/// most 24 significant bits (binary32), and whether it is inexact.
#[inline]
fn div_significands_24(fa: u64, fb: u64) -> (u64, bool) {
    // Exact 24-bit integers; n < 2^50 converts to f64 exactly.
    let (a, b) = (fa >> 40, fb >> 40);
    let n = a << 26;
    // n / b is either an integer or at least 1/b > 2^-24 away from one,
    // while the correctly rounded f64 quotient (below 2^27) is within half
    // an ulp, at most 2^-27, of it: truncating it gives the exact floor.
    let q = (n as f64 / b as f64) as u64;
    (q, q * b != n)
}

/// Divides two finite nonzero values.
#[inline]
fn div_normal<F: Fmt>(a: FloatParts, b: FloatParts, s: &mut FloatStatus) -> u64 {
    let sign = a.sign ^ b.sign;
    // q = floor(frac_a * 2^k / frac_b) weighs 2^(ea - eb - k) per unit and
    // has k + 1 or k + 2 bits: the format's precision, a round bit and
    // more; the remainder becomes the sticky bit below it.
    let (q, inexact, k) = if F::FRAC_BITS <= 23 {
        let (q, inexact) = div_significands_24(a.frac, b.frac);
        (q, inexact, 26)
    } else {
        let (q, inexact) = div_significands(a.frac, b.frac);
        (q, inexact, 54)
    };
    let lz = q.leading_zeros();
    round_pack::<F>(
        sign,
        a.exp - b.exp - k + 63 - lz as i32,
        (q << lz) | inexact as u64,
        s,
    )
}

/// `a / b` (QEMU's `parts_div`).
#[inline]
pub(crate) fn div<F: Fmt>(a: u64, b: u64, s: &mut FloatStatus) -> u64 {
    if let (Some(a), Some(b)) = (unpack_normal::<F>(a), unpack_normal::<F>(b)) {
        return div_normal::<F>(a, b, s);
    }
    let a = unpack::<F>(a);
    let b = unpack::<F>(b);
    let sign = a.sign ^ b.sign;
    match (a.cls, b.cls) {
        (FloatClass::Normal, FloatClass::Normal) => div_normal::<F>(a, b, s),
        _ if a.is_nan() || b.is_nan() => nan_result::<F>(any_snan([a, b]), s),
        (FloatClass::Inf, FloatClass::Inf) | (FloatClass::Zero, FloatClass::Zero) => {
            invalid::<F>(s)
        }
        (FloatClass::Inf, _) => inf::<F>(sign),
        (_, FloatClass::Zero) => {
            s.raise(FLAG_DIVBYZERO);
            inf::<F>(sign)
        }
        // 0 / finite and finite / inf.
        _ => zero::<F>(sign),
    }
}

/// The square root of `m`, which lies in `[2^110, 2^112)` and has at most
/// 53 significant bits: its floor in `[2^55, 2^56)` and whether it is
/// inexact.
#[inline]
fn isqrt_56(m: u128) -> (u64, bool) {
    // `m` converts to f64 exactly, and the host's correctly rounded f64
    // square root is then within half an f64 ulp (4 units here) of the true
    // root. That guess is only a starting point: the integer loops below
    // make the result exact, so the outcome never depends on the host FPU.
    // (Built from the bits: a u128 to f64 conversion is a slow library call.)
    let lz = m.leading_zeros();
    let top = (m << lz >> 75) as u64; // the 53 leading bits, leading one included
    let exp = 127 - lz as u64 - 52; // m = top * 2^exp exactly
    let guess = f64::from_bits(((1023 + 52 + exp) << 52) | (top & ((1 << 52) - 1)));
    let mut r = guess.sqrt() as u64;
    while (r as u128) * (r as u128) > m {
        r -= 1;
    }
    while (r as u128 + 1) * (r as u128 + 1) <= m {
        r += 1;
    }
    (r, (r as u128) * (r as u128) != m)
}

/// `floor(sqrt(m))` for `m` in `[2^49, 2^51)` (binary32 square roots), and
/// whether it is inexact.
#[inline]
fn isqrt_24(m: u64) -> (u64, bool) {
    // m converts to f64 exactly. sqrt(m) is an integer k or at least
    // |m - k^2| / (sqrt(m) + k) >= 2^-26.5 away from one, while the correctly
    // rounded f64 root (below 2^25.5) is within half an ulp, at most 2^-28,
    // of it: truncating it gives the exact floor.
    let r = (m as f64).sqrt() as u64;
    (r, r * r != m)
}

/// Square root (QEMU's `parts_sqrt`).
#[inline]
pub(crate) fn sqrt<F: Fmt>(a: u64, s: &mut FloatStatus) -> u64 {
    let a = unpack::<F>(a);
    match a.cls {
        FloatClass::Normal if !a.sign && F::FRAC_BITS <= 23 => {
            // binary32: value = A * 2^(exp - 23) with A = frac >> 40, a
            // 24-bit integer. With m = A * 2^(26 + p), p chosen to make
            // exp - 49 - p even, m lies in [2^49, 2^51) and the root is
            // sqrt(m) * 2^((exp - 49 - p) / 2), sqrt(m) in [2^24.5, 2^25.5).
            let p = ((a.exp - 49) & 1) as u32;
            let (r, inexact) = isqrt_24((a.frac >> 40) << (26 + p));
            let lz = r.leading_zeros();
            let e = ((a.exp - 49 - p as i32) >> 1) + 63 - lz as i32;
            round_pack::<F>(false, e, (r << lz) | inexact as u64, s)
        }
        FloatClass::Normal if !a.sign => {
            // value = frac * 2^(exp - 63). Make the exponent even by
            // doubling when it is odd; then with m = frac * 2^(47 + odd),
            // which lies in [2^110, 2^112) and loses no bits because frac
            // has at most 53 significant ones, the root is
            // sqrt(m) * 2^((exp >> 1) - 55): 56 bits, three more than a
            // double keeps, plus the sticky remainder.
            let m = (a.frac as u128) << (47 + (a.exp & 1) as u32);
            let (r, inexact) = isqrt_56(m);
            round_pack::<F>(false, a.exp >> 1, (r << 8) | inexact as u64, s)
        }
        FloatClass::QNaN | FloatClass::SNaN => nan_result::<F>(a.cls == FloatClass::SNaN, s),
        // sqrt(-0) = -0, sqrt(+0) = +0.
        FloatClass::Zero => zero::<F>(a.sign),
        FloatClass::Inf if !a.sign => inf::<F>(false),
        // Negative nonzero, including -inf.
        _ => invalid::<F>(s),
    }
}

/// The exact product of two finite nonzero values in [`add_aligned`]'s
/// form: leading one at bit 125, `x = sig * 2^(exp - 125)`.
#[inline]
fn product_125(sign: bool, a: &FloatParts, b: &FloatParts) -> (bool, i32, u128) {
    let prod = a.frac as u128 * b.frac as u128;
    // The leading one is at bit 126 or 127. Both significands have at least
    // 11 trailing zeros, so the product has at least 22 and this shift is
    // exact.
    let top = (prod >> 127) as u32;
    (sign, a.exp + b.exp + top as i32, prod >> (1 + top))
}

/// Fused `(±a * b) ± c` with a single rounding (QEMU's `parts_muladd`).
#[inline]
pub(crate) fn muladd<F: Fmt>(a: u64, b: u64, c: u64, op: MulAddOp, s: &mut FloatStatus) -> u64 {
    if let (Some(a), Some(b), Some(c)) = (
        unpack_normal::<F>(a),
        unpack_normal::<F>(b),
        unpack_normal::<F>(c),
    ) {
        let sign_p = a.sign ^ b.sign ^ op.negate_product;
        return add_aligned::<F>(
            product_125(sign_p, &a, &b),
            (c.sign ^ op.negate_addend, c.exp, (c.frac as u128) << 62),
            s,
        );
    }
    let a = unpack::<F>(a);
    let b = unpack::<F>(b);
    let mut c = unpack::<F>(c);
    c.sign ^= op.negate_addend;
    let sign_p = a.sign ^ b.sign ^ op.negate_product;

    if a.cls == FloatClass::Normal && b.cls == FloatClass::Normal {
        let p = product_125(sign_p, &a, &b);
        return match c.cls {
            FloatClass::Normal => add_aligned::<F>(p, (c.sign, c.exp, (c.frac as u128) << 62), s),
            FloatClass::Zero => round_pack128::<F>(p.0, p.1 + 2, p.2, s),
            FloatClass::Inf => inf::<F>(c.sign),
            _ => nan_result::<F>(c.cls == FloatClass::SNaN, s),
        };
    }

    if a.is_nan() || b.is_nan() {
        return nan_result::<F>(any_snan([a, b, c]), s);
    }
    // RISC-V (like Berkeley's RISC-V specialisation) raises invalid for
    // inf * 0 even when the addend is a quiet NaN.
    let inf_times_zero = matches!(
        (a.cls, b.cls),
        (FloatClass::Inf, FloatClass::Zero) | (FloatClass::Zero, FloatClass::Inf)
    );
    if inf_times_zero {
        return invalid::<F>(s);
    }
    if c.is_nan() {
        return nan_result::<F>(c.cls == FloatClass::SNaN, s);
    }
    if a.cls == FloatClass::Inf || b.cls == FloatClass::Inf {
        // The product is an infinity.
        if c.cls == FloatClass::Inf && c.sign != sign_p {
            return invalid::<F>(s);
        }
        return inf::<F>(sign_p);
    }
    // The product is a zero.
    match c.cls {
        FloatClass::Inf => inf::<F>(c.sign),
        FloatClass::Zero if c.sign == sign_p => zero::<F>(sign_p),
        FloatClass::Zero => cancellation_zero::<F>(s),
        // 0 + c = c exactly.
        _ => round_pack::<F>(c.sign, c.exp, c.frac, s),
    }
}
