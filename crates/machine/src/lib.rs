//! Boards and everything that puts a guest into them.
//!
//! This crate is QEMU's `hw/riscv/virt.c`, `hw/riscv/boot.c`,
//! `system/device_tree.c` and `hw/core/loader.c` rolled together: it knows
//! which device sits where, builds the flattened device tree the firmware and
//! kernel read, and loads firmware, kernel and initrd images into guest RAM at
//! the addresses QEMU 7.2 would use.
//!
//! The pieces that do not depend on a running machine are here first:
//!
//! - [`fdt`]: a flattened-device-tree builder with libfdt's insertion order
//!   (QEMU builds its tree with libfdt's read-write API, which *prepends* new
//!   properties and subnodes; `dtc` shows them in that order, so a tree that is
//!   meant to match QEMU's must be built the same way), a serialiser to DTB
//!   version 17 and a parser used by tests.
//! - [`loader`]: ELF64 (RISC-V) and Linux RISC-V `Image` header parsing, with
//!   every offset bounds-checked because image files are user input.
//! - [`control`]: the monitor's view of a running board (run state,
//!   reset, vCPU state, guest memory, `info` texts).
//! - [`boot`]: QEMU 7.2's placement rules for firmware, kernel, initrd and
//!   device tree, and the reset ROM with its `fw_dynamic_info` hand-over block.
//!
//! The boards: [`spike`] (bare-metal programs over HTIF) and [`virt`]
//! (QEMU 7.2's `virt`: OpenSBI, Linux), built on [`glue`] (devices and
//! guest memory on the memory API) and [`vcpu`] (one thread per hart).

pub mod boot;
pub mod control;
pub mod fdt;
pub mod glue;
pub mod htif;
pub mod loader;
pub mod qtree;
pub mod spike;
pub mod vcpu;
pub mod virt;
pub mod virt_fdt;

#[cfg(test)]
pub(crate) mod test_util;
