//! Bit-exact IEEE 754 binary32/binary64 arithmetic for Ferrite's RISC-V F and
//! D extensions, written in the style of QEMU's `fpu/softfloat.c`.
//!
//! # Design
//!
//! * **Explicit status, no globals.** Every operation takes a
//!   [`FloatStatus`] (QEMU's `float_status`): the rounding mode to use and
//!   the accrued exception flags, which operations only ever OR into. Each
//!   vCPU owns one, so MTTCG-style threads never share flags. Rounding modes
//!   and flag bits use RISC-V's `frm`/`fflags` encodings.
//! * **`FloatParts`.** Operands are unpacked into a class (zero, normal,
//!   infinity, quiet or signalling NaN), a sign, an unbiased exponent and a
//!   64-bit significand normalised to bit 63 (subnormals included). The
//!   special classes are dealt with up front; finite operands are computed
//!   exactly, or exactly up to a sticky bit, in 64 or 128-bit integers and
//!   rounded once by a single routine shared by every operation and format.
//!   Formats are compile-time descriptions (`FloatFmt` in QEMU), so each
//!   operation is monomorphised for binary32 and binary64.
//! * **RISC-V specialisation.** Any NaN result is the canonical NaN
//!   (`0x7fc00000`, `0x7ff8000000000000`); payloads never propagate.
//!   Signalling NaN operands raise invalid. Tininess is detected after
//!   rounding, and underflow is raised only for inexact tiny results. Fused
//!   multiply-add raises invalid for `inf * 0` even when the addend is a
//!   quiet NaN. `fmin`/`fmax` follow F 2.2 (minimumNumber/maximumNumber, -0 <
//!   +0, signalling NaNs raise invalid). Float-to-integer conversions
//!   saturate, return the largest positive integer for NaN, and raise only
//!   invalid when out of range.
//! * **Host-FPU fast path** (QEMU's "hardfloat"). When inexact is already
//!   raised and the mode is round-to-nearest-even, add, subtract, multiply,
//!   divide and square root of zeros and normal numbers run on the host FPU,
//!   whose IEEE 754 results are the same; the only flag still to detect is
//!   overflow (an infinite result), and results at or below the smallest
//!   normal go back to the soft path for underflow. FMA joins only in
//!   builds with hardware FMA. The oracle tests run every arithmetic case
//!   both with flags clear (soft path) and with inexact preset (fast path).
//!
//! Sign injection and NaN-boxing are plain bit operations; the CPU does them
//! itself ([`nanbox_f32`] and [`unbox_f32`] are provided as helpers).
//!
//! # Using it from a RISC-V CPU
//!
//! The hart keeps one [`FloatStatus`], whose
//! [`float_exception_flags`](FloatStatus::float_exception_flags) can simply
//! *be* `fflags` (as QEMU's `fp_status` backs RISC-V's `fflags`): operations
//! only ever OR into it, CSR reads return it, CSR writes replace it. For each
//! FP instruction the CPU resolves the `rm` field (7 = DYN means `frm`;
//! reserved values are an illegal-instruction exception, see
//! [`RoundingMode::from_frm`]), stores it in
//! [`rounding_mode`](FloatStatus::rounding_mode) and calls the operation
//! (and marks `mstatus.FS` dirty). The flag constants ([`FLAG_INVALID`] ...)
//! are the `fflags` bits. Single-precision operands are unboxed from and
//! results NaN-boxed into the 64-bit registers by the CPU; 32-bit integer
//! results are sign-extended into `x` registers by the CPU (also for
//! `fcvt.wu`).
//!
//! ```
//! use ferrite_softfloat::*;
//!
//! let mut fs = FloatStatus::default(); // fflags = 0, frm = RNE
//! // fnmadd.s f1, f2, f3, f4, rtz  with NaN-boxed 64-bit registers
//! let (f2, f3, f4) = (nanbox_f32(3.0f32.to_bits()), nanbox_f32(2.0f32.to_bits()), nanbox_f32(1.0f32.to_bits()));
//! fs.rounding_mode = RoundingMode::from_frm(1).unwrap();
//! let r = f32_muladd(unbox_f32(f2), unbox_f32(f3), unbox_f32(f4), MulAddOp::NMADD, &mut fs);
//! let f1 = nanbox_f32(r);
//! assert_eq!(f32::from_bits(unbox_f32(f1)), -7.0);
//! assert_eq!(fs.float_exception_flags, 0);
//!
//! // fcvt.w.d a0, f5 with a NaN in f5: saturates to i32::MAX and raises NV.
//! fs.rounding_mode = RoundingMode::NearestEven;
//! let a0 = f64_to_i32(F64_DEFAULT_NAN, &mut fs) as i64 as u64;
//! assert_eq!(a0, 0x7fff_ffff);
//! assert_eq!(fs.float_exception_flags, FLAG_INVALID); // csrr fflags
//! fs.float_exception_flags = 0; // csrw fflags, zero
//! ```
//!
//! # Modules
//!
//! `status` holds [`FloatStatus`] and [`RoundingMode`]; `parts` the
//! decomposed form, format descriptions and the rounding routine; `arith`
//! the arithmetic; `compare` comparisons, min/max and classification;
//! `convert` the conversions; `hardfloat` the host-FPU fast path; `api` the
//! public per-instruction functions.
//!
//! # Verification
//!
//! `crates/softfloat/oracle` (its own workspace, because the Berkeley
//! bindings need CMake to build; `scripts/test.d/softfloat.sh` runs it)
//! compares every operation in every rounding mode, result and flags,
//! against Berkeley SoftFloat 3 with its RISC-V specialisation on inputs
//! biased towards zeros, subnormals, infinities, quiet and signalling NaNs,
//! the edges of the overflow and underflow ranges and rounding ties;
//! `fmin`/`fmax` and `fclass`, which Berkeley lacks, are checked against
//! small models built on Berkeley's comparisons and predicates. Its opt-in
//! `tests/exhaustive.rs` compares all 2^32 binary32 inputs of sqrt and the
//! 32-bit and f64 conversions. In this crate, `tests/vectors.rs` holds
//! hand-written cases for the RISC-V rules, `tests/host_model.rs` checks
//! round-to-nearest results against the host's IEEE 754 arithmetic,
//! `tests/no_panic.rs` runs every operation in every mode on arbitrary bits,
//! and `tests/qemu_diff.rs` runs all 48 F/D computational instructions in
//! every rounding mode on edge-biased operands under Debian's
//! `qemu-system-riscv64` and compares result and `fflags` with this crate.
//!
//! On the soft path, binary64 division and square root take a first guess
//! from the host's f64 division or square root and correct it with exact
//! integer arithmetic, so the result never depends on the guess. For
//! binary32 the host's correctly rounded f64 quotient or root of scaled
//! 24-bit integers is provably close enough that truncating it gives the
//! exact integer floor (the bounds are in `arith`), and an integer multiply
//! decides inexactness; like the fast path, this relies on the host's IEEE
//! 754 f64 division and square root being correctly rounded.
//!
//! ```
//! use ferrite_softfloat::{f64_add, FloatStatus, RoundingMode, FLAG_INEXACT};
//!
//! let mut s = FloatStatus::new(RoundingMode::NearestEven);
//! let r = f64_add(0.1f64.to_bits(), 0.2f64.to_bits(), &mut s);
//! assert_eq!(f64::from_bits(r), 0.30000000000000004);
//! assert_eq!(s.float_exception_flags, FLAG_INEXACT);
//! ```

mod api;
mod arith;
mod compare;
mod convert;
mod hardfloat;
mod parts;
mod status;

pub use api::*;
pub use arith::MulAddOp;
pub use compare::fclass;
pub use status::{
    FLAG_DIVBYZERO, FLAG_INEXACT, FLAG_INVALID, FLAG_OVERFLOW, FLAG_UNDERFLOW, FloatStatus,
    RoundingMode,
};

/// The canonical binary32 NaN RISC-V produces.
pub const F32_DEFAULT_NAN: u32 = 0x7fc0_0000;
/// The canonical binary64 NaN RISC-V produces.
pub const F64_DEFAULT_NAN: u64 = 0x7ff8_0000_0000_0000;

/// NaN-boxes a binary32 value into a 64-bit FP register (upper 32 bits set).
#[inline]
pub const fn nanbox_f32(a: u32) -> u64 {
    0xffff_ffff_0000_0000 | a as u64
}

/// Reads a binary32 operand from a 64-bit FP register: a value that is not
/// properly NaN-boxed reads as the canonical NaN.
#[inline]
pub const fn unbox_f32(reg: u64) -> u32 {
    if reg >> 32 == 0xffff_ffff {
        reg as u32
    } else {
        F32_DEFAULT_NAN
    }
}
