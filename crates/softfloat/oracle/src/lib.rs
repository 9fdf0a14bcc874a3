//! Glue for checking `ferrite-softfloat` against Berkeley SoftFloat 3 with
//! its RISC-V specialisation (`softfloat-wrapper`, feature `riscv`).
//!
//! Berkeley keeps its rounding mode and exception flags in C globals;
//! `softfloat-sys` compiles them `_Thread_local`, so parallel test threads
//! do not disturb one another as long as each call clears the flags, runs
//! and reads them back on one thread, which [`oracle`] does.

pub use softfloat_wrapper::{ExceptionFlags, F32, F64, Float, RoundingMode as Brm};

use ferrite_softfloat::RoundingMode;

/// Berkeley's name for one of our rounding modes.
pub fn brm(rm: RoundingMode) -> Brm {
    match rm {
        RoundingMode::NearestEven => Brm::TiesToEven,
        RoundingMode::ToZero => Brm::TowardZero,
        RoundingMode::Down => Brm::TowardNegative,
        RoundingMode::Up => Brm::TowardPositive,
        RoundingMode::TiesAway => Brm::TiesToAway,
    }
}

/// Runs one Berkeley operation with cleared flags and returns its result
/// and the flags it raised. Berkeley's flag bits (inexact 1, underflow 2,
/// overflow 4, infinite 8, invalid 16) are RISC-V's `fflags` bits.
pub fn oracle<R>(f: impl FnOnce() -> R) -> (R, u8) {
    ExceptionFlags::from_bits(0).set();
    let r = f();
    let mut flags = ExceptionFlags::default();
    flags.get();
    (r, flags.to_bits())
}
