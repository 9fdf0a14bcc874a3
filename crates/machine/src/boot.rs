//! Where QEMU 7.2's RISC-V boards put firmware, kernel, initrd and device
//! tree, and the reset ROM that hands over to the firmware
//! (`hw/riscv/boot.c`).
//!
//! The rules, for a 64-bit hart:
//! - the firmware goes to the start of DRAM;
//! - the kernel starts at the first 2 MiB boundary after the firmware;
//! - the initrd starts `min(ram_size / 2, 128 MiB)` after the kernel start;
//! - the device tree goes below `min(DRAM end, 3 GiB)`, aligned down to 2 MiB,
//!   with its whole 1 MiB buffer so the firmware can grow it in place;
//! - the reset ROM at 0x1000 loads `a0 = mhartid`, `a1 = fdt address`,
//!   `a2 = &fw_dynamic_info` and jumps to the firmware, and `fw_dynamic_info`
//!   tells OpenSBI where the kernel is and that it runs in S-mode.

/// 2 MiB: the kernel and device tree alignment on RV64.
pub const ALIGN_2M: u64 = 2 << 20;
/// The size of the device tree buffer QEMU creates and copies to the guest.
pub const FDT_BUFFER_SIZE: usize = 1 << 20;
/// Address of the reset vector (and of the mask ROM) on `virt` and `spike`.
pub const RESET_VECTOR: u64 = 0x1000;
/// OpenSBI's `FW_DYNAMIC_INFO_MAGIC_VALUE` ("OSBI").
pub const FW_DYNAMIC_INFO_MAGIC: u64 = 0x4942_534f;
/// `fw_dynamic_info` version 2 (adds `boot_hart`).
pub const FW_DYNAMIC_INFO_VERSION: u64 = 2;
/// `next_mode` value for S-mode.
pub const FW_DYNAMIC_INFO_NEXT_MODE_S: u64 = 1;

/// Rounds `v` up to a multiple of the power of two `align`.
pub fn align_up(v: u64, align: u64) -> u64 {
    debug_assert!(align.is_power_of_two());
    v.checked_add(align - 1)
        .map_or(!(align - 1), |x| x & !(align - 1))
}

/// Rounds `v` down to a multiple of the power of two `align`.
pub fn align_down(v: u64, align: u64) -> u64 {
    debug_assert!(align.is_power_of_two());
    v & !(align - 1)
}

/// Where the kernel goes, given the end of the firmware
/// (`riscv_calc_kernel_start_addr`): the next 2 MiB boundary.
pub fn kernel_start(firmware_end: u64) -> u64 {
    align_up(firmware_end, ALIGN_2M)
}

/// Where the initrd goes (`riscv_load_initrd`): half the RAM, at most
/// 128 MiB, after the kernel start.
pub fn initrd_start(kernel_start: u64, ram_size: u64) -> u64 {
    kernel_start + (ram_size / 2).min(128 << 20)
}

/// Where the device tree goes (`riscv_load_fdt` in QEMU 7.2): below the end
/// of DRAM or 3 GiB, whichever is lower (when DRAM starts below 3 GiB),
/// aligned down to 2 MiB.
pub fn fdt_address(dram_base: u64, ram_size: u64, fdt_size: u64) -> u64 {
    let dram_end = dram_base + ram_size;
    let top = if dram_base < 3 << 30 {
        dram_end.min(3 << 30)
    } else {
        dram_end
    };
    align_down(top - fdt_size, ALIGN_2M)
}

/// The reset ROM contents for a 64-bit hart: six instructions, the firmware
/// start and device tree addresses, then `fw_dynamic_info`
/// (`riscv_setup_rom_reset_vec`). `kernel_entry` is 0 without a kernel.
pub fn reset_rom(fw_start: u64, fdt_addr: u64, kernel_entry: u64) -> Vec<u8> {
    let words: [u32; 10] = [
        0x0000_0297, // 1:  auipc  t0, %pcrel_hi(fw_dyn)
        0x0282_8613, //     addi   a2, t0, %pcrel_lo(1b)
        0xf140_2573, //     csrr   a0, mhartid
        0x0202_b583, //     ld     a1, 32(t0)
        0x0182_b283, //     ld     t0, 24(t0)
        0x0002_8067, //     jr     t0
        fw_start as u32,
        (fw_start >> 32) as u32,
        fdt_addr as u32,
        (fdt_addr >> 32) as u32,
    ];
    let mut rom: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    for v in [
        FW_DYNAMIC_INFO_MAGIC,
        FW_DYNAMIC_INFO_VERSION,
        kernel_entry,
        FW_DYNAMIC_INFO_NEXT_MODE_S,
        0, // options
        0, // boot_hart
    ] {
        rom.extend_from_slice(&v.to_le_bytes());
    }
    rom
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The addresses QEMU 7.2 chose for the reference guest (spec §1.5).
    #[test]
    fn qemu_placements() {
        let fw_end = 0x8000_0000 + 115_328;
        let k = kernel_start(fw_end);
        assert_eq!(k, 0x8020_0000);
        assert_eq!(initrd_start(k, 512 << 20), 0x8820_0000);
        assert_eq!(initrd_start(k, 256 << 20), 0x8820_0000);
        assert_eq!(initrd_start(k, 128 << 20), 0x8420_0000);
        let sz = FDT_BUFFER_SIZE as u64;
        assert_eq!(fdt_address(0x8000_0000, 128 << 20, sz), 0x87e0_0000);
        assert_eq!(fdt_address(0x8000_0000, 512 << 20, sz), 0x9fe0_0000);
        assert_eq!(fdt_address(0x8000_0000, 1 << 30, sz), 0xbfe0_0000);
        assert_eq!(fdt_address(0x8000_0000, 4 << 30, sz), 0xbfe0_0000);
    }

    /// The reset ROM words observed in QEMU 7.2 with `-m 512` (spec §1.4).
    #[test]
    fn reset_rom_matches_qemu() {
        let rom = reset_rom(0x8000_0000, 0x9fe0_0000, 0x8020_0000);
        let w = |i: usize| u32::from_le_bytes(rom[i * 4..i * 4 + 4].try_into().unwrap());
        let expect = [
            0x0000_0297u32,
            0x0282_8613,
            0xf140_2573,
            0x0202_b583,
            0x0182_b283,
            0x0002_8067,
            0x8000_0000,
            0,
            0x9fe0_0000,
            0,
        ];
        for (i, e) in expect.iter().enumerate() {
            assert_eq!(w(i), *e, "word {i}");
        }
        let q = |o: usize| u64::from_le_bytes(rom[0x28 + o..0x30 + o].try_into().unwrap());
        assert_eq!(q(0), 0x4942_534f);
        assert_eq!(q(8), 2);
        assert_eq!(q(16), 0x8020_0000);
        assert_eq!(q(24), 1);
        assert_eq!(q(32), 0);
        assert_eq!(q(40), 0);
        assert_eq!(rom.len(), 0x28 + 48);
    }

    #[test]
    fn alignment_helpers() {
        assert_eq!(align_up(0, ALIGN_2M), 0);
        assert_eq!(align_up(1, ALIGN_2M), ALIGN_2M);
        assert_eq!(align_up(u64::MAX, ALIGN_2M), !(ALIGN_2M - 1));
        assert_eq!(align_down(ALIGN_2M + 5, ALIGN_2M), ALIGN_2M);
    }
}
