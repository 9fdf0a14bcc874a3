//! The public operations, one function per RISC-V F/D instruction (bit
//! patterns in, bit pattern out), named after Berkeley SoftFloat's
//! (`f64_add`, `f32_to_i64`, ...). Every function rounds with
//! `s.rounding_mode` where rounding applies and ORs the exceptions it raises
//! into `s.float_exception_flags`. The arithmetic first tries the host-FPU
//! fast path (see the `hardfloat` module), which gives the same result and
//! flags when it applies.

use crate::arith::{self, MulAddOp};
use crate::compare;
use crate::convert;
use crate::hardfloat;
use crate::parts::{Float32, Float64};
use crate::status::FloatStatus;

/// `fadd.S`: binary32 (single) `a + b`.
#[inline]
pub fn f32_add(a: u32, b: u32, s: &mut FloatStatus) -> u32 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f32_add(a, b, false, s)
    {
        return r;
    }
    arith::add::<Float32>(a as u64, b as u64, false, s) as u32
}

/// `fsub.S`: binary32 (single) `a - b`.
#[inline]
pub fn f32_sub(a: u32, b: u32, s: &mut FloatStatus) -> u32 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f32_add(a, b, true, s)
    {
        return r;
    }
    arith::add::<Float32>(a as u64, b as u64, true, s) as u32
}

/// `fmul.S`: binary32 (single) `a * b`.
#[inline]
pub fn f32_mul(a: u32, b: u32, s: &mut FloatStatus) -> u32 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f32_mul(a, b, s)
    {
        return r;
    }
    arith::mul::<Float32>(a as u64, b as u64, s) as u32
}

/// `fdiv.S`: binary32 (single) `a / b`.
#[inline]
pub fn f32_div(a: u32, b: u32, s: &mut FloatStatus) -> u32 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f32_div(a, b, s)
    {
        return r;
    }
    arith::div::<Float32>(a as u64, b as u64, s) as u32
}

/// `fsqrt.S`: binary32 (single) square root.
#[inline]
pub fn f32_sqrt(a: u32, s: &mut FloatStatus) -> u32 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f32_sqrt(a, s)
    {
        return r;
    }
    arith::sqrt::<Float32>(a as u64, s) as u32
}

/// `fmadd.S`, `fmsub.S`, `fnmsub.S`, `fnmadd.S` (chosen by `op`): binary32 (single)
/// `(±a * b) ± c` rounded once.
#[inline]
pub fn f32_muladd(a: u32, b: u32, c: u32, op: MulAddOp, s: &mut FloatStatus) -> u32 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f32_muladd(a, b, c, op, s)
    {
        return r;
    }
    arith::muladd::<Float32>(a as u64, b as u64, c as u64, op, s) as u32
}

/// `fmin.S`: RISC-V minimum (minimumNumber, -0 < +0).
#[inline]
pub fn f32_min(a: u32, b: u32, s: &mut FloatStatus) -> u32 {
    compare::minmax::<Float32>(a as u64, b as u64, false, s) as u32
}

/// `fmax.S`: RISC-V maximum (maximumNumber, -0 < +0).
#[inline]
pub fn f32_max(a: u32, b: u32, s: &mut FloatStatus) -> u32 {
    compare::minmax::<Float32>(a as u64, b as u64, true, s) as u32
}

/// `feq.S`: quiet `a == b` (invalid only for signalling NaNs).
#[inline]
pub fn f32_eq(a: u32, b: u32, s: &mut FloatStatus) -> bool {
    compare::eq::<Float32>(a as u64, b as u64, s)
}

/// `flt.S`: signalling `a < b` (invalid for any NaN).
#[inline]
pub fn f32_lt(a: u32, b: u32, s: &mut FloatStatus) -> bool {
    compare::lt_le::<Float32>(a as u64, b as u64, false, s)
}

/// `fle.S`: signalling `a <= b` (invalid for any NaN).
#[inline]
pub fn f32_le(a: u32, b: u32, s: &mut FloatStatus) -> bool {
    compare::lt_le::<Float32>(a as u64, b as u64, true, s)
}

/// `fclass.S`: the 10-bit class mask (see [`fclass`](crate::fclass)).
#[inline]
pub fn f32_classify(a: u32) -> u32 {
    compare::classify::<Float32>(a as u64)
}

/// `fcvt.w.S`: to `i32`, rounding with `s.rounding_mode`, saturating.
#[inline]
pub fn f32_to_i32(a: u32, s: &mut FloatStatus) -> i32 {
    convert::float_to_sint::<Float32>(a as u64, i32::MAX as i64, s) as i32
}

/// `fcvt.wu.S`: to `u32`, rounding with `s.rounding_mode`, saturating.
/// (RV64 sign-extends the result into the register; that is the CPU's job.)
#[inline]
pub fn f32_to_u32(a: u32, s: &mut FloatStatus) -> u32 {
    convert::float_to_uint::<Float32>(a as u64, u32::MAX as u64, s) as u32
}

/// `fcvt.l.S`: to `i64`, rounding with `s.rounding_mode`, saturating.
#[inline]
pub fn f32_to_i64(a: u32, s: &mut FloatStatus) -> i64 {
    convert::float_to_sint::<Float32>(a as u64, i64::MAX, s)
}

/// `fcvt.lu.S`: to `u64`, rounding with `s.rounding_mode`, saturating.
#[inline]
pub fn f32_to_u64(a: u32, s: &mut FloatStatus) -> u64 {
    convert::float_to_uint::<Float32>(a as u64, u64::MAX, s)
}

/// `fcvt.S.w`: from `i32`.
#[inline]
pub fn i32_to_f32(a: i32, s: &mut FloatStatus) -> u32 {
    convert::int_to_float::<Float32>(a < 0, a.unsigned_abs() as u64, s) as u32
}

/// `fcvt.S.wu`: from `u32`.
#[inline]
pub fn u32_to_f32(a: u32, s: &mut FloatStatus) -> u32 {
    convert::int_to_float::<Float32>(false, a as u64, s) as u32
}

/// `fcvt.S.l`: from `i64`.
#[inline]
pub fn i64_to_f32(a: i64, s: &mut FloatStatus) -> u32 {
    convert::int_to_float::<Float32>(a < 0, a.unsigned_abs(), s) as u32
}

/// `fcvt.S.lu`: from `u64`.
#[inline]
pub fn u64_to_f32(a: u64, s: &mut FloatStatus) -> u32 {
    convert::int_to_float::<Float32>(false, a, s) as u32
}

/// `fadd.D`: binary64 (double) `a + b`.
#[inline]
pub fn f64_add(a: u64, b: u64, s: &mut FloatStatus) -> u64 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f64_add(a, b, false, s)
    {
        return r;
    }
    arith::add::<Float64>(a, b, false, s)
}

/// `fsub.D`: binary64 (double) `a - b`.
#[inline]
pub fn f64_sub(a: u64, b: u64, s: &mut FloatStatus) -> u64 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f64_add(a, b, true, s)
    {
        return r;
    }
    arith::add::<Float64>(a, b, true, s)
}

/// `fmul.D`: binary64 (double) `a * b`.
#[inline]
pub fn f64_mul(a: u64, b: u64, s: &mut FloatStatus) -> u64 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f64_mul(a, b, s)
    {
        return r;
    }
    arith::mul::<Float64>(a, b, s)
}

/// `fdiv.D`: binary64 (double) `a / b`.
#[inline]
pub fn f64_div(a: u64, b: u64, s: &mut FloatStatus) -> u64 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f64_div(a, b, s)
    {
        return r;
    }
    arith::div::<Float64>(a, b, s)
}

/// `fsqrt.D`: binary64 (double) square root.
#[inline]
pub fn f64_sqrt(a: u64, s: &mut FloatStatus) -> u64 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f64_sqrt(a, s)
    {
        return r;
    }
    arith::sqrt::<Float64>(a, s)
}

/// `fmadd.D`, `fmsub.D`, `fnmsub.D`, `fnmadd.D` (chosen by `op`): binary64 (double)
/// `(±a * b) ± c` rounded once.
#[inline]
pub fn f64_muladd(a: u64, b: u64, c: u64, op: MulAddOp, s: &mut FloatStatus) -> u64 {
    if hardfloat::enabled(s)
        && let Some(r) = hardfloat::f64_muladd(a, b, c, op, s)
    {
        return r;
    }
    arith::muladd::<Float64>(a, b, c, op, s)
}

/// `fmin.D`: RISC-V minimum (minimumNumber, -0 < +0).
#[inline]
pub fn f64_min(a: u64, b: u64, s: &mut FloatStatus) -> u64 {
    compare::minmax::<Float64>(a, b, false, s)
}

/// `fmax.D`: RISC-V maximum (maximumNumber, -0 < +0).
#[inline]
pub fn f64_max(a: u64, b: u64, s: &mut FloatStatus) -> u64 {
    compare::minmax::<Float64>(a, b, true, s)
}

/// `feq.D`: quiet `a == b` (invalid only for signalling NaNs).
#[inline]
pub fn f64_eq(a: u64, b: u64, s: &mut FloatStatus) -> bool {
    compare::eq::<Float64>(a, b, s)
}

/// `flt.D`: signalling `a < b` (invalid for any NaN).
#[inline]
pub fn f64_lt(a: u64, b: u64, s: &mut FloatStatus) -> bool {
    compare::lt_le::<Float64>(a, b, false, s)
}

/// `fle.D`: signalling `a <= b` (invalid for any NaN).
#[inline]
pub fn f64_le(a: u64, b: u64, s: &mut FloatStatus) -> bool {
    compare::lt_le::<Float64>(a, b, true, s)
}

/// `fclass.D`: the 10-bit class mask (see [`fclass`](crate::fclass)).
#[inline]
pub fn f64_classify(a: u64) -> u32 {
    compare::classify::<Float64>(a)
}

/// `fcvt.w.D`: to `i32`, rounding with `s.rounding_mode`, saturating.
#[inline]
pub fn f64_to_i32(a: u64, s: &mut FloatStatus) -> i32 {
    convert::float_to_sint::<Float64>(a, i32::MAX as i64, s) as i32
}

/// `fcvt.wu.D`: to `u32`, rounding with `s.rounding_mode`, saturating.
/// (RV64 sign-extends the result into the register; that is the CPU's job.)
#[inline]
pub fn f64_to_u32(a: u64, s: &mut FloatStatus) -> u32 {
    convert::float_to_uint::<Float64>(a, u32::MAX as u64, s) as u32
}

/// `fcvt.l.D`: to `i64`, rounding with `s.rounding_mode`, saturating.
#[inline]
pub fn f64_to_i64(a: u64, s: &mut FloatStatus) -> i64 {
    convert::float_to_sint::<Float64>(a, i64::MAX, s)
}

/// `fcvt.lu.D`: to `u64`, rounding with `s.rounding_mode`, saturating.
#[inline]
pub fn f64_to_u64(a: u64, s: &mut FloatStatus) -> u64 {
    convert::float_to_uint::<Float64>(a, u64::MAX, s)
}

/// `fcvt.D.w`: from `i32`.
#[inline]
pub fn i32_to_f64(a: i32, s: &mut FloatStatus) -> u64 {
    convert::int_to_float::<Float64>(a < 0, a.unsigned_abs() as u64, s)
}

/// `fcvt.D.wu`: from `u32`.
#[inline]
pub fn u32_to_f64(a: u32, s: &mut FloatStatus) -> u64 {
    convert::int_to_float::<Float64>(false, a as u64, s)
}

/// `fcvt.D.l`: from `i64`.
#[inline]
pub fn i64_to_f64(a: i64, s: &mut FloatStatus) -> u64 {
    convert::int_to_float::<Float64>(a < 0, a.unsigned_abs(), s)
}

/// `fcvt.D.lu`: from `u64`.
#[inline]
pub fn u64_to_f64(a: u64, s: &mut FloatStatus) -> u64 {
    convert::int_to_float::<Float64>(false, a, s)
}

/// `fcvt.d.s`: widen binary32 to binary64 (exact; NaNs become canonical).
#[inline]
pub fn f32_to_f64(a: u32, s: &mut FloatStatus) -> u64 {
    convert::float_to_float::<Float32, Float64>(a as u64, s)
}

/// `fcvt.s.d`: narrow binary64 to binary32, rounding with `s.rounding_mode`.
#[inline]
pub fn f64_to_f32(a: u64, s: &mut FloatStatus) -> u32 {
    convert::float_to_float::<Float64, Float32>(a, s) as u32
}
