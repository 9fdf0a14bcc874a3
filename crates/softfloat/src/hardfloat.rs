//! Host-FPU fast path for the common case (QEMU's "hardfloat", in
//! `fpu/softfloat.c`).
//!
//! The host's binary32/binary64 `+ - * /` and square root are IEEE 754
//! operations rounding to nearest-even, so for ordinary operands they give
//! exactly the soft-float result. What the host does not give is the
//! exception flags. QEMU's observation, reused here: once inexact is
//! already raised (the normal state of a program doing floating point, as
//! nothing clears `fflags` but software), the only flags an ordinary
//! operation can still add are overflow, which shows as an infinite result
//! from finite operands, and underflow, which can only happen for results
//! at or below the smallest normal, which are handed back to the soft path.
//! Invalid and divide-by-zero cannot arise from the operands admitted:
//! zeros and normal numbers only, nonzero divisors, non-negative square
//! root operands.
//!
//! So the fast path runs when inexact is set and the rounding mode is
//! round-to-nearest-even; otherwise, or when an operation returns `None`,
//! the caller uses the soft path. Fused multiply-add is included only when
//! the host has hardware FMA — known at build time (`target_feature =
//! "fma"`) or, on x86-64, detected at run time (`is_x86_feature_detected!`,
//! a cached flag after the first call) and then executed by a function
//! compiled for FMA — so that correctness never rests on a libm `fma()`
//! implementation.
//!
//! This relies on the host FPU being in its default state (round to
//! nearest, no flush-to-zero or denormals-are-zero), which Rust code
//! assumes anyway.

use crate::arith::MulAddOp;
use crate::status::{FLAG_INEXACT, FLAG_OVERFLOW, FloatStatus, RoundingMode};

/// Whether the fast path may be tried under this status.
#[inline(always)]
pub(crate) fn enabled(s: &FloatStatus) -> bool {
    s.float_exception_flags & FLAG_INEXACT != 0 && s.rounding_mode == RoundingMode::NearestEven
}

/// Whether the host FPU has a fused multiply-add instruction.
#[inline(always)]
fn host_fma() -> bool {
    if cfg!(target_feature = "fma") {
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

macro_rules! fused {
    ($name:ident, $float:ident) => {
        /// `x * y + z` with one rounding, by the host's FMA instruction.
        /// Call only when [`host_fma`] is true.
        #[inline(always)]
        fn $name(x: $float, y: $float, z: $float) -> $float {
            #[cfg(all(target_arch = "x86_64", not(target_feature = "fma")))]
            {
                #[target_feature(enable = "fma")]
                fn hw(x: $float, y: $float, z: $float) -> $float {
                    x.mul_add(y, z)
                }
                debug_assert!(host_fma());
                // SAFETY: callers only get here after `host_fma()` found
                // the FMA instruction set on this CPU.
                unsafe { hw(x, y, z) }
            }
            #[cfg(not(all(target_arch = "x86_64", not(target_feature = "fma"))))]
            {
                x.mul_add(y, z)
            }
        }
    };
}
fused!(fma64, f64);
fused!(fma32, f32);

macro_rules! host_ops {
    ($float:ident, $bits:ty, $frac_bits:expr, $exp_mask:expr,
     $zon:ident, $finish:ident, $add:ident, $mul:ident, $div:ident, $sqrt:ident, $muladd:ident,
     $fused:ident) => {
        /// True for a zero or a normal number (not subnormal, infinite or NaN).
        #[inline(always)]
        fn $zon(a: $bits) -> bool {
            let e = (a >> $frac_bits) & $exp_mask;
            e != $exp_mask && (e != 0 || a << 1 == 0)
        }

        /// Accepts a host result: an infinity (from finite operands) is an
        /// overflow; anything at or below the smallest normal, zeros
        /// included, goes back to the soft path, which alone knows
        /// underflow and the sign rules of exact zeros.
        #[inline(always)]
        fn $finish(r: $float, s: &mut FloatStatus) -> Option<$bits> {
            if r.is_infinite() {
                s.raise(FLAG_OVERFLOW);
                Some(r.to_bits())
            } else if r.abs() <= $float::MIN_POSITIVE {
                None
            } else {
                Some(r.to_bits())
            }
        }

        /// `a + b` or `a - b` on the host, if the operands allow it.
        #[inline(always)]
        pub(crate) fn $add(
            a: $bits,
            b: $bits,
            subtract: bool,
            s: &mut FloatStatus,
        ) -> Option<$bits> {
            if !($zon(a) && $zon(b)) {
                return None;
            }
            let (x, y) = ($float::from_bits(a), $float::from_bits(b));
            $finish(if subtract { x - y } else { x + y }, s)
        }

        /// `a * b` on the host, if the operands allow it.
        #[inline(always)]
        pub(crate) fn $mul(a: $bits, b: $bits, s: &mut FloatStatus) -> Option<$bits> {
            if !($zon(a) && $zon(b)) {
                return None;
            }
            $finish($float::from_bits(a) * $float::from_bits(b), s)
        }

        /// `a / b` on the host, if the operands allow it (divisor nonzero).
        #[inline(always)]
        pub(crate) fn $div(a: $bits, b: $bits, s: &mut FloatStatus) -> Option<$bits> {
            if !($zon(a) && $zon(b)) || b << 1 == 0 {
                return None;
            }
            $finish($float::from_bits(a) / $float::from_bits(b), s)
        }

        /// Square root on the host, if the operand allows it (not negative).
        #[inline(always)]
        pub(crate) fn $sqrt(a: $bits, s: &mut FloatStatus) -> Option<$bits> {
            if !$zon(a) || a >> (<$bits>::BITS - 1) != 0 {
                return None;
            }
            $finish($float::from_bits(a).sqrt(), s)
        }

        /// Fused multiply-add on the host, only with hardware FMA.
        #[inline(always)]
        pub(crate) fn $muladd(
            a: $bits,
            b: $bits,
            c: $bits,
            op: MulAddOp,
            s: &mut FloatStatus,
        ) -> Option<$bits> {
            if !($zon(a) && $zon(b) && $zon(c)) || !host_fma() {
                return None;
            }
            let sign = 1 << (<$bits>::BITS - 1);
            let x = $float::from_bits(if op.negate_product { a ^ sign } else { a });
            let z = $float::from_bits(if op.negate_addend { c ^ sign } else { c });
            $finish($fused(x, $float::from_bits(b), z), s)
        }
    };
}

host_ops!(
    f64, u64, 52, 0x7ff, f64_zon, f64_finish, f64_add, f64_mul, f64_div, f64_sqrt, f64_muladd,
    fma64
);
host_ops!(
    f32, u32, 23, 0xff, f32_zon, f32_finish, f32_add, f32_mul, f32_div, f32_sqrt, f32_muladd, fma32
);
