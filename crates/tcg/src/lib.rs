//! Ferrite's target-independent translator core, after QEMU's TCG
//! (`accel/tcg`, `tcg/`).
//!
//! Guest code is translated one *translation block* (TB) at a time into a
//! small register-based IR ([`ir`]), cached ([`exec`]), chained, and run by a
//! backend. The only backend so far is the interpreter ([`interp`]); the IR is
//! designed so that a JIT can lower the same ops without changes to the
//! front ends.
//!
//! * [`ir`] — the ops, [`IrBuilder`] and the helper-call convention.
//! * [`exec`] — TBs, the TB hash table and per-page lists, the jump cache,
//!   chaining, invalidation and the `cpu_exec` loop (see its docs for the TB
//!   lifecycle).
//! * [`tlb`] — the softmmu TLB: per-MMU-index direct-mapped tables with
//!   read/write/code comparators, a host-pointer fast path for RAM and flag
//!   bits that divert MMIO, ROM and code pages to the slow path.
//! * [`cpu`] — [`CpuCommon`] (register file, PC, TLB, request word), the
//!   [`CpuEnv`] trait targets implement, and the load/store/fetch paths.
//! * [`codesync`] — the code-page event log through which vCPUs with
//!   separate TB caches invalidate each other's blocks and write-protect
//!   each other's TLB entries for code pages (cross-vCPU self-modifying
//!   code).
//! * [`memory`] — the [`PhysMemory`] trait through which the TLB reaches
//!   guest physical memory (implemented by `ferrite-memory`'s address spaces
//!   later), and [`SimplePhysMemory`] for tests and simple boards.
//!
//! Exceptions are precise without host unwinding: every op that can fault
//! carries the index of its guest instruction; when a helper or memory access
//! fails, the interpreter returns that index, the loop recomputes the guest PC
//! from the block's instruction offsets and lets the target deliver the trap.

pub mod codesync;
pub mod cpu;
pub mod exec;
pub mod interp;
pub mod ir;
pub mod memory;
pub mod tlb;

pub use cpu::{Access, CpuCommon, CpuEnv, TlbFill};
pub use exec::{CpuExit, Executor};
pub use ir::{Cond, ExitKind, Fault, Helper, IrBuilder, MemOp, Op, Slot};
pub use memory::{
    MemTxError, MmioDevice, PAGE_BITS, PAGE_MASK, PAGE_SIZE, PhysMemory, Section, SimplePhysMemory,
};
