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
//! * [`fp`] — F/D instruction semantics (NaN-boxing, rounding modes, moves),
//!   with bit-exact arithmetic from `ferrite-softfloat`.
//! * [`disas`] — `-d in_asm` output.

//! # Running a hart
//!
//! A board creates the hart over its physical memory and time source, sets
//! the reset PC and registers, and calls [`Hart::run`] from its vCPU thread;
//! on [`ferrite_tcg::CpuExit::Halted`] it sleeps in
//! [`Hart::wait_for_interrupt`] until a device raises a line through
//! [`IrqLines`] or the Sstc deadline passes.
//!
//! ```
//! use std::sync::Arc;
//! use ferrite_riscv::{Hart, ManualTime};
//! use ferrite_tcg::{CpuExit, SimplePhysMemory};
//!
//! let mut mem = SimplePhysMemory::new();
//! mem.add_ram(0x8000_0000, 0x1000, true);
//! // addi a0, zero, 42; wfi
//! mem.write_bytes(0x8000_0000, &[0x13, 0x05, 0xa0, 0x02, 0x73, 0x00, 0x50, 0x10])
//!     .unwrap();
//! let mut hart = Hart::new(Arc::new(mem), Arc::new(ManualTime::default()), 0);
//! hart.cpu.common.pc = 0x8000_0000;
//! assert_eq!(hart.run(1000), CpuExit::Halted);
//! assert_eq!(hart.cpu.x(10), 42);
//! assert_eq!(hart.cpu.common.icount, 2);
//! ```

pub mod cpu;
pub mod csr;
pub mod disas;
pub mod fp;
pub mod helpers;
pub mod mmu;
pub mod translate;

pub use cpu::{Hart, IrqLines, ManualTime, Platform, RiscvCpu};
