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

/// Deterministic operands for the benchmarks, shared so that both harnesses
/// (criterion's `ops` and the interleaved `ratio`) time the same inputs.
pub mod bench_inputs {
    /// Operand sets per batch.
    pub const N: usize = 1024;

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// An ordinary binary64: random sign and significand, exponent
        /// within ±30 of the bias.
        fn f64(&mut self) -> u64 {
            let r = self.next();
            let exp = 1023 - 30 + (r >> 58) % 61;
            (r & (1 << 63)) | (exp << 52) | (self.next() & ((1 << 52) - 1))
        }
        /// The binary32 counterpart of [`Rng::f64`].
        fn f32(&mut self) -> u32 {
            let r = self.next();
            let exp = 127 - 30 + (r >> 58) % 61;
            ((r >> 32) as u32 & (1 << 31)) | ((exp as u32) << 23) | (r as u32 & ((1 << 23) - 1))
        }
    }

    /// `N` triples of ordinary binary64 operands.
    pub fn inputs64() -> Vec<(u64, u64, u64)> {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        (0..N).map(|_| (r.f64(), r.f64(), r.f64())).collect()
    }

    /// `N` triples of ordinary binary32 operands.
    pub fn inputs32() -> Vec<(u32, u32, u32)> {
        let mut r = Rng(0x51_7cc1_b727_220a);
        (0..N).map(|_| (r.f32(), r.f32(), r.f32())).collect()
    }
}
