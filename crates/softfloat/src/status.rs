//! The per-vCPU floating-point environment: QEMU's `float_status`.
//!
//! QEMU keeps the rounding mode and the accrued exception flags in a
//! `float_status` that every softfloat helper takes by pointer; Ferrite does
//! the same with [`FloatStatus`]. There is no global state, so several vCPU
//! threads can run floating-point code at once without sharing flags.
//!
//! The encodings are RISC-V's: [`RoundingMode`] discriminants are the `frm`
//! values and the flag bits are the `fflags` bit positions, so the CPU can
//! move them into and out of its CSRs without translation.

/// IEEE 754 rounding direction, numbered as RISC-V's `frm` field.
///
/// The names follow QEMU's `FloatRoundMode` (`float_round_nearest_even`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum RoundingMode {
    /// Round to nearest, ties to even (RNE, `frm` 0).
    #[default]
    NearestEven = 0,
    /// Round towards zero (RTZ, `frm` 1).
    ToZero = 1,
    /// Round down, towards negative infinity (RDN, `frm` 2).
    Down = 2,
    /// Round up, towards positive infinity (RUP, `frm` 3).
    Up = 3,
    /// Round to nearest, ties away from zero (RMM, `frm` 4).
    TiesAway = 4,
}

impl RoundingMode {
    /// All five modes, in `frm` order.
    pub const ALL: [RoundingMode; 5] = [
        RoundingMode::NearestEven,
        RoundingMode::ToZero,
        RoundingMode::Down,
        RoundingMode::Up,
        RoundingMode::TiesAway,
    ];

    /// Decodes a RISC-V `frm` value or instruction `rm` field.
    ///
    /// Returns `None` for the reserved encodings 5 and 6 and for 7 (DYN),
    /// which the CPU must resolve to the `frm` CSR itself (and raise an
    /// illegal-instruction exception if that is reserved too).
    pub const fn from_frm(frm: u32) -> Option<RoundingMode> {
        match frm {
            0 => Some(RoundingMode::NearestEven),
            1 => Some(RoundingMode::ToZero),
            2 => Some(RoundingMode::Down),
            3 => Some(RoundingMode::Up),
            4 => Some(RoundingMode::TiesAway),
            _ => None,
        }
    }

    /// The RISC-V `frm` encoding of this mode.
    pub const fn to_frm(self) -> u32 {
        self as u32
    }
}

/// Invalid operation (`fflags.NV`, bit 4).
pub const FLAG_INVALID: u8 = 1 << 4;
/// Division by zero (`fflags.DZ`, bit 3).
pub const FLAG_DIVBYZERO: u8 = 1 << 3;
/// Overflow (`fflags.OF`, bit 2).
pub const FLAG_OVERFLOW: u8 = 1 << 2;
/// Underflow (`fflags.UF`, bit 1): tiny after rounding and inexact.
pub const FLAG_UNDERFLOW: u8 = 1 << 1;
/// Inexact (`fflags.NX`, bit 0).
pub const FLAG_INEXACT: u8 = 1 << 0;

/// Rounding mode and accrued exception flags of one vCPU.
///
/// Every operation reads [`FloatStatus::rounding_mode`] and ORs the
/// exceptions it raises into [`FloatStatus::float_exception_flags`]; nothing
/// ever clears flags except the owner (for RISC-V: a write to `fflags`/`fcsr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FloatStatus {
    /// The rounding direction the next operations use. For RISC-V the CPU
    /// stores the instruction's static `rm` here, or `frm` for DYN.
    pub rounding_mode: RoundingMode,
    /// Accrued exception flags, in `fflags` bit positions (`FLAG_*`).
    pub float_exception_flags: u8,
}

impl FloatStatus {
    /// A status with the given rounding mode and no flags raised.
    pub const fn new(rounding_mode: RoundingMode) -> FloatStatus {
        FloatStatus {
            rounding_mode,
            float_exception_flags: 0,
        }
    }

    /// ORs `flags` into the accrued flags (QEMU's `float_raise`).
    #[inline]
    pub fn raise(&mut self, flags: u8) {
        self.float_exception_flags |= flags;
    }

    /// Returns the accrued flags and clears them.
    pub fn take_flags(&mut self) -> u8 {
        std::mem::take(&mut self.float_exception_flags)
    }
}
