//! The RISC-V target for Ferrite's translator (QEMU: `target/riscv`).
//!
//! Placeholder library: the target itself is being written on another
//! branch. This branch carries the crate's bare-metal ISA test programs in
//! `tests/isa/` and the guest benchmark in `benches/guest/`, which do not
//! depend on any Rust code here.
