//! The RISC-V target for Ferrite's translator (QEMU's `target/riscv`).
//!
//! An RV64IMAFDC hart (plus Zicsr, Zifencei, Zicntr, Zihintpause, Sstc,
//! Zba/Zbb/Zbs) with the privileged architecture 1.12: M, S and U modes,
//! traps and interrupts with delegation, Sv39/Sv48 paging with hardware A/D
//! updates, and PMP.
//!
//! * [`cpu`] — the hart state ([`RiscvCpu`]), trap/interrupt delivery, the
//!   platform interface ([`Platform`], [`IrqLines`]) and [`Hart`], the unit a
//!   vCPU thread runs.
//! * [`translate`] — the decoder/front end that turns guest code into
//!   `ferrite-tcg` IR.
//! * [`helpers`] — runtime helpers for CSRs, xRET, `wfi`, `sfence.vma` and
//!   atomics.
//! * [`csr`] — CSR storage and access rules.
//! * [`mmu`] — page walks and PMP.
//! * [`fp`] — F/D instruction semantics (NaN-boxing, min/max, moves, classify).
//! * [`fpu`] — interim IEEE arithmetic with the soft-float crate's interface
//!   (host FPU plus fix-ups; not yet bit-exact, see its docs).
//! * [`disas`] — `-d in_asm` output.

pub mod cpu;
pub mod csr;
pub mod disas;
pub mod fp;
pub mod fpu;
pub mod helpers;
pub mod mmu;
pub mod translate;

pub use cpu::{Hart, IrqLines, ManualTime, Platform, RiscvCpu};
