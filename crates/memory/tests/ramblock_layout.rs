//! ram_addr allocation (`find_ram_offset` best fit on 64-page boundaries)
//! and the `info ramblock` listing, against QEMU 7.2 for the riscv `virt`
//! and x86 `pc` machines. One test in its own binary, so the process-wide
//! ram_addr space starts empty.

use std::sync::Arc;

use ferrite_memory::ram::info_ramblock;
use ferrite_memory::*;

fn oracle(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracles")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn ramblock_layout_matches_qemu_72() {
    {
        // Allocation order of hw/riscv/virt.c.
        let ram = MemoryRegion::new_ram("riscv_virt_board.ram", 512 << 20).unwrap();
        let mrom = MemoryRegion::new_rom("riscv_virt_board.mrom", 0xf000).unwrap();
        let f0 = MemoryRegion::new_rom_device(
            "virt.flash0",
            32 << 20,
            Arc::new(UnassignedIoOps),
            OpsDesc::new(),
        )
        .unwrap();
        let f1 = MemoryRegion::new_rom_device(
            "virt.flash1",
            32 << 20,
            Arc::new(UnassignedIoOps),
            OpsDesc::new(),
        )
        .unwrap();
        assert_eq!(info_ramblock(), oracle("ramblock-riscv-virt.txt"));
        assert_eq!(f0.ram_addr(), Some(0x2004_0000));
        drop((ram, mrom, f0, f1));
    }
    assert!(
        ram::ram_blocks().is_empty(),
        "dropping the regions frees their blocks"
    );
    let _pc = [
        MemoryRegion::new_ram("pc.ram", 256 << 20).unwrap(),
        MemoryRegion::new_rom("pc.bios", 0x40000).unwrap(),
        MemoryRegion::new_rom("pc.rom", 0x20000).unwrap(),
        MemoryRegion::new_ram("0000:00:02.0/vga.vram", 16 << 20).unwrap(),
        MemoryRegion::new_rom("0000:00:02.0/vga.rom", 0x10000).unwrap(),
        MemoryRegion::new_rom("0000:00:03.0/e1000.rom", 0x40000).unwrap(),
        MemoryRegion::new_resizeable_ram("/rom@etc/acpi/tables", 0x20000, 0x200000, None).unwrap(),
        MemoryRegion::new_resizeable_ram("/rom@etc/table-loader", 0x1000, 0x10000, None).unwrap(),
        MemoryRegion::new_resizeable_ram("/rom@etc/acpi/rsdp", 0x1000, 0x1000, None).unwrap(),
    ];
    assert_eq!(info_ramblock(), oracle("ramblock-x86-pc.txt"));
}
