//! Region names and sizes the board maps, checked against QEMU 7.2's
//! `info mtree` for `virt` (`spec/oracles/mtree-riscv-virt.txt`, copied to
//! `tests/data/`), so Ferrite's `info mtree` can show the same tree.

use ferrite_hw::char::serial;
use ferrite_hw::intc::{aclint, plic};
use ferrite_hw::misc::sifive_test;
use ferrite_hw::rtc::goldfish;
use ferrite_hw::virtio::mmio as virtio_mmio;

/// (start, size) of every region with this name in the oracle's system tree.
fn oracle(name: &str) -> Vec<(u64, u64)> {
    include_str!("data/mtree-riscv-virt.txt")
        .lines()
        .skip_while(|l| *l != "address-space: memory")
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let (range, rest) = l.trim().split_once(' ')?;
            let (_, region) = rest.split_once("): ")?;
            if region != name {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            let a = u64::from_str_radix(a, 16).ok()?;
            let b = u64::from_str_radix(b, 16).ok()?;
            Some((a, b - a + 1))
        })
        .collect()
}

#[test]
fn names_and_sizes_match_qemu() {
    assert_eq!(
        oracle(sifive_test::REGION_NAME),
        vec![(0x10_0000, sifive_test::REGION_SIZE)]
    );
    assert_eq!(
        oracle(goldfish::REGION_NAME),
        vec![(0x10_1000, goldfish::REGION_SIZE)]
    );
    assert_eq!(
        oracle(aclint::SWI_REGION_NAME),
        vec![(0x200_0000, aclint::SWI_SIZE)]
    );
    assert_eq!(
        oracle(aclint::MTIMER_REGION_NAME),
        vec![(0x200_4000, aclint::MTIMER_SIZE)]
    );
    // virt's PLIC has room for 512 harts x 2 contexts whatever -smp says.
    assert_eq!(
        oracle(plic::REGION_NAME),
        vec![(0xc00_0000, plic::region_size(1024))]
    );
    // 8 << regshift with regshift 0.
    assert_eq!(oracle(serial::REGION_NAME), vec![(0x1000_0000, 8)]);
    let slots: Vec<(u64, u64)> = (0..8)
        .map(|n| {
            (
                0x1000_1000 + n * virtio_mmio::SLOT_STRIDE,
                virtio_mmio::REGION_SIZE,
            )
        })
        .collect();
    assert_eq!(oracle(virtio_mmio::REGION_NAME), slots);
}
