//! The boards' device trees for `info qtree` (QEMU: the qdev devices that
//! `hw/riscv/virt.c` and `hw/riscv/spike.c` create, with the properties
//! they set).
//!
//! Each function lists the devices ferrite's board models, in QEMU's
//! creation order, with the property values ferrite's devices actually
//! use (the same constants the boards are built from). Devices QEMU has
//! and ferrite does not (flash, fw_cfg, PCIe, the platform bus) are
//! absent; docs/divergences.md lists them.

use ferrite_hw::intc::aclint::{MTIME, MTIMECMP, MTIMER_SIZE, SWI_SIZE, TIMEBASE_FREQ};
use ferrite_hw::intc::plic;
use ferrite_hw::misc::sifive_test;
use ferrite_hw::rtc::goldfish;
use ferrite_hw::virtio::mmio as vmmio;
use ferrite_monitor::qtree::{QtreeBus, QtreeDevice, QtreeProp};

use crate::boot::RESET_VECTOR;
use crate::virt_fdt::{VIRT_CLINT, VIRT_PLIC, VIRT_RTC, VIRT_TEST, VIRT_VIRTIO, VIRTIO_COUNT};

fn uint(v: u64) -> QtreeProp {
    QtreeProp::Uint(v)
}

/// `riscv_hart_array` plus the ACLINT's SWI and MTIMER of one socket
/// (`riscv_aclint_swi_create`, `riscv_aclint_mtimer_create`), in that
/// creation order, at `clint`.
fn harts_and_aclint(root: &mut QtreeBus, harts: u32, clint: u64) {
    let n = u64::from(harts);
    root.plug(
        QtreeDevice::new("riscv.hart_array")
            .prop("num-harts", uint(n))
            .prop("hartid-base", uint(0))
            .prop("cpu-type", QtreeProp::Str("rv64-riscv-cpu".into()))
            .prop("resetvec", uint(RESET_VECTOR)),
    );
    root.plug(
        QtreeDevice::new("riscv.aclint.swi")
            .gpio("", 0, harts)
            .prop("hartid-base", uint(0))
            .prop("num-harts", uint(n))
            .prop("sswi", uint(0))
            .mmio(Some(clint), SWI_SIZE),
    );
    root.plug(
        QtreeDevice::new("riscv.aclint.mtimer")
            .gpio("", 0, harts)
            .prop("hartid-base", uint(0))
            .prop("num-harts", uint(n))
            .prop("timecmp-base", uint(MTIMECMP))
            .prop("time-base", uint(MTIME))
            .prop("aperture-size", uint(MTIMER_SIZE))
            .prop("timebase-freq", uint(TIMEBASE_FREQ))
            .mmio(Some(clint + SWI_SIZE), MTIMER_SIZE),
    );
}

/// The `virt` board's devices. `virtio` holds, per virtio-mmio transport
/// (index 0 at the lowest address), the device plugged into its bus, if
/// any.
pub fn virt_qtree(harts: u32, virtio: &[Option<QtreeDevice>]) -> QtreeBus {
    let mut root = QtreeBus::main_system_bus();
    harts_and_aclint(&mut root, harts, VIRT_CLINT.base);
    // One M and one S context per hart, each an output line.
    let hart_config = vec!["MS"; harts as usize].join(",");
    root.plug(
        QtreeDevice::new("riscv.sifive.plic")
            .gpio("", plic::VIRT_NUM_SOURCES, 2 * harts)
            .prop("hart-config", QtreeProp::Str(hart_config))
            .prop("hartid-base", uint(0))
            .prop("num-sources", uint(u64::from(plic::VIRT_NUM_SOURCES)))
            .prop("num-priorities", uint(u64::from(plic::VIRT_NUM_PRIORITIES)))
            // QEMU's property is the address of source 1's register.
            .prop("priority-base", uint(plic::PRIORITY_BASE + 4))
            .prop("pending-base", uint(plic::PENDING_BASE))
            .prop("enable-base", uint(plic::ENABLE_BASE))
            .prop("enable-stride", uint(plic::ENABLE_STRIDE))
            .prop("context-base", uint(plic::CONTEXT_BASE))
            .prop("context-stride", uint(plic::CONTEXT_STRIDE))
            .prop("aperture-size", uint(VIRT_PLIC.size))
            .mmio(Some(VIRT_PLIC.base), VIRT_PLIC.size),
    );
    root.plug(
        QtreeDevice::new("riscv.sifive.test").mmio(Some(VIRT_TEST.base), sifive_test::REGION_SIZE),
    );
    for i in 0..VIRTIO_COUNT {
        let mut bus = QtreeBus::new(&format!("virtio-mmio-bus.{i}"), "virtio-mmio-bus");
        if let Some(Some(d)) = virtio.get(i as usize) {
            bus.plug(d.clone());
        }
        root.plug(
            QtreeDevice::new("virtio-mmio")
                .gpio("sysbus-irq", 0, 1)
                .prop("format_transport_address", QtreeProp::Bool(true))
                // Ferrite's transports are always version 2 (QEMU 7.2's
                // default is the legacy version 1).
                .prop("force-legacy", QtreeProp::Bool(false))
                .prop("ioeventfd", QtreeProp::Bool(false))
                .mmio(
                    Some(VIRT_VIRTIO.base + i * VIRT_VIRTIO.size),
                    vmmio::REGION_SIZE,
                )
                .bus(bus),
        );
    }
    // serial_mm_init() maps the UART with memory_region_add_subregion(),
    // not sysbus_mmio_map(), so QEMU shows no address.
    root.plug(
        QtreeDevice::new("serial-mm")
            .gpio("sysbus-irq", 0, 1)
            .prop("regshift", uint(0))
            .prop("endianness", uint(2))
            .mmio(None, 8),
    );
    root.plug(
        QtreeDevice::new("goldfish_rtc")
            .gpio("sysbus-irq", 0, 1)
            .prop("big-endian", QtreeProp::Bool(false))
            .mmio(Some(VIRT_RTC.base), goldfish::REGION_SIZE),
    );
    root
}

/// The `spike` board's devices (its HTIF is not a qdev device in QEMU).
pub fn spike_qtree(harts: u32) -> QtreeBus {
    let mut root = QtreeBus::main_system_bus();
    harts_and_aclint(&mut root, harts, crate::spike::SPIKE_CLINT.0);
    root
}
