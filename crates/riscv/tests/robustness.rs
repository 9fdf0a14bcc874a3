//! Bad input: random instruction streams (32-bit and compressed, in every
//! privilege mode, with paging on or off) must never panic the emulator;
//! they may only trap, loop or stop.

mod support;

use proptest::prelude::*;
use support::*;

fn run_random(words: &[u32], regs: &[u64], mode: u8, satp: u64) {
    let mut m = Machine::new();
    let mut bytes = Vec::new();
    for w in words {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    m.load(RAM_BASE, &bytes);
    let cpu = &mut m.hart.cpu;
    for (i, &v) in regs.iter().enumerate() {
        // Point some registers into RAM so loads and stores hit memory.
        let v = if i % 3 == 0 {
            RAM_BASE + (v & 0x3f_fff8)
        } else {
            v
        };
        cpu.set_x(i + 1, v);
    }
    // Traps land back in the random code.
    cpu.csr.mtvec = RAM_BASE;
    cpu.csr.stvec = RAM_BASE + 4;
    cpu.csr.medeleg = 0xB3FF;
    cpu.csr.satp = satp;
    cpu.csr.mstatus |= 1 << 13;
    cpu.priv_ = mode;
    // Any outcome is fine except a panic.
    let _ = m.run(20_000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_code_never_panics(
        words in prop::collection::vec(any::<u32>(), 1..64),
        regs in prop::collection::vec(any::<u64>(), 31),
        mode in prop::sample::select(vec![0u8, 1, 3]),
        paging in any::<bool>(),
    ) {
        let satp = if paging { (8u64 << 60) | ((RAM_BASE + 0x10_0000) >> 12) } else { 0 };
        run_random(&words, &regs, mode, satp);
    }

    #[test]
    fn random_opcodes_with_valid_major_opcode_never_panic(
        words in prop::collection::vec(any::<u32>(), 1..64),
        majors in prop::collection::vec(prop::sample::select(vec![
            0x03u32, 0x07, 0x0f, 0x13, 0x17, 0x1b, 0x23, 0x27, 0x2f, 0x33, 0x37, 0x3b,
            0x43, 0x47, 0x4b, 0x4f, 0x53, 0x63, 0x67, 0x6f, 0x73,
        ]), 64),
        regs in prop::collection::vec(any::<u64>(), 31),
        mode in prop::sample::select(vec![0u8, 1, 3]),
    ) {
        let words: Vec<u32> = words
            .iter()
            .zip(&majors)
            .map(|(w, op)| (w & !0x7f) | op)
            .collect();
        run_random(&words, &regs, mode, 0);
    }
}

#[test]
fn hart_can_move_to_a_vcpu_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<ferrite_riscv::Hart>();
    let mut m = Machine::new();
    let mut a = Asm::new(RAM_BASE);
    a.li(A0, 41).addi(A0, A0, 1).exit(1);
    m.load(RAM_BASE, &a.finish());
    let t = std::thread::spawn(move || {
        let r = m.run(100);
        (r, m.x(A0))
    });
    assert_eq!(t.join().unwrap(), (Some(1), 42));
}
