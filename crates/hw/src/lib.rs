//! Ferrite's device models (QEMU: `hw/`, `chardev/`).
//!
//! Every device here is a *register model*: it owns its guest-visible state and
//! is driven through the [`mmio::MmioDevice`] trait, one access at a time, the
//! way QEMU's `MemoryRegionOps` callbacks drive a device. The devices do not
//! know about the memory API, the event loop or the CPU; they meet the rest of
//! the emulator at small seams that the board adapts:
//!
//! | seam | QEMU concept | module |
//! | --- | --- | --- |
//! | [`mmio::MmioDevice`] + [`mmio::AccessRules`] | `MemoryRegionOps` (`valid`/`impl`) | [`mmio`] |
//! | [`irq::IrqLine`], [`irq::HartIrq`] | `qemu_irq`, `riscv_cpu_update_mip` | [`irq`] |
//! | [`clock::Clock`], [`clock::Timer`] | `qemu_clock_get_ns`, `QEMUTimer` | [`clock`] |
//! | [`chardev::CharBackend`] | `CharBackend` / `Chardev` | [`chardev`] |
//! | [`misc::sifive_test::ShutdownSink`] | `qemu_system_shutdown_request` | [`misc`] |
//! | [`virtio::GuestMemory`] | `address_space_rw` on guest RAM | [`virtio`] |
//! | [`virtio::VirtioDevice`], [`virtio::VirtioInterrupt`] | `VirtioDeviceClass`, `virtio_notify`, `virtio_error` | [`virtio`] |
//!
//! [`adapt`] implements those seams on Ferrite's memory API and event loop
//! (`mmio_region`, `AioClock`, `AioTimer`, `AddressSpaceMemory`); `HartIrq`
//! and `ShutdownSink` are left to the board, which owns the harts and the run
//! state.
//!
//! Devices (each module names the QEMU source file whose behaviour it follows):
//!
//! * [`char::serial`] — NS16550A UART (`hw/char/serial.c`)
//! * [`intc::plic`] — SiFive PLIC (`hw/intc/sifive_plic.c`)
//! * [`intc::aclint`] — ACLINT MSWI + MTIMER (`hw/intc/riscv_aclint.c`)
//! * [`misc::sifive_test`] — the test finisher (`hw/misc/sifive_test.c`)
//! * [`rtc::goldfish`] — goldfish RTC (`hw/rtc/goldfish_rtc.c`)
//! * [`virtio::mmio`] — virtio-mmio version 2 transport (`hw/virtio/virtio-mmio.c`)
//! * [`virtio::queue`] — the split virtqueue (`hw/virtio/virtio.c`)
//! * [`virtio::blk`] — virtio-blk on a raw image (`hw/block/virtio-blk.c`)
//! * [`virtio::rng`] — virtio-rng (`hw/virtio/virtio-rng.c`)
//! * [`chardev::mux`], [`chardev::terminal`] — console escape keys and raw
//!   terminal mode (`chardev/char-mux.c`, `chardev/char-stdio.c`)
//!
//! How QEMU 7.2's `virt` maps them (checked against its `info mtree` in
//! `tests/regions.rs`; gaps inside a device's slot are unassigned and read 0):
//!
//! | base | size | `info mtree` name | device |
//! | --- | --- | --- | --- |
//! | `0x0010_0000` | `0x1000` | `riscv.sifive.test` | [`misc::sifive_test::SifiveTest`] |
//! | `0x0010_1000` | `0x24` | `goldfish_rtc` | [`rtc::goldfish::GoldfishRtc`] (PLIC source 11) |
//! | `0x0200_0000` | `0x4000` | `riscv.aclint.swi` | [`intc::aclint::AclintSwi`] |
//! | `0x0200_4000` | `0x8000` | `riscv.aclint.mtimer` | [`intc::aclint::AclintMtimer`] |
//! | `0x0c00_0000` | `0x60_0000` | `riscv.sifive.plic` | [`intc::plic::Plic`] |
//! | `0x1000_0000` | `8` | `serial` | [`char::serial::Serial`] (PLIC source 10) |
//! | `0x1000_1000 + n·0x1000` | `0x200` | `virtio-mmio` | [`virtio::mmio::VirtioMmio`] (PLIC source 1 + n) |
//!
//! Locking: devices are plain `&mut self` state machines. The board puts each
//! one behind the BQL (or a mutex) and wires timer expiries to the device's
//! `*_cb` methods. A device calls out only through [`irq::IrqLine`]s,
//! [`chardev::CharBackend`]s, [`clock::Timer`]s, [`virtio::GuestMemory`] and
//! [`virtio::VirtioInterrupt`]; none of those call back into the calling
//! device, so the only lock order is device → interrupt state → PLIC → hart.
//!
//! Tests: unit tests beside the code; register-level suites, property tests
//! and fuzzing in `tests/`; and differential suites (`tests/qemu_diff.rs`,
//! `tests/qemu_virtio_diff.rs`) that run the same accesses on Debian's QEMU
//! 7.2 through qtest and compare.

pub mod adapt;
pub mod char;
pub mod chardev;
pub mod clock;
pub mod intc;
pub mod irq;
pub mod misc;
pub mod mmio;
pub mod rtc;
pub mod virtio;
