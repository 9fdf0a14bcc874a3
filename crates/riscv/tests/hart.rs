//! Hand-assembled programs run on a hart with simple physical memory:
//! instruction classes, traps, CSR rules, interrupts, paging, PMP, atomics,
//! misaligned accesses and self-modifying code.

mod support;

use ferrite_riscv::cpu::{PRV_M, PRV_S, PRV_U, irq};
use support::*;

const HANDLER: u64 = RAM_BASE + 0x3000;
const TRAP_EXIT: i64 = 0x7777;

// CSR numbers.
const MSTATUS: u32 = 0x300;
const MEDELEG: u32 = 0x302;
const MIDELEG: u32 = 0x303;
const MIE: u32 = 0x304;
const MTVEC: u32 = 0x305;
const MCOUNTEREN: u32 = 0x306;
const MEPC: u32 = 0x341;
const SATP: u32 = 0x180;
const STVEC: u32 = 0x105;

/// A machine whose M-mode trap handler at HANDLER ends the test.
fn machine(a: &mut Asm) -> Machine {
    let m = Machine::with_program(a);
    let mut h = Asm::new(HANDLER);
    h.exit(TRAP_EXIT);
    m.load(HANDLER, &h.finish());
    m
}

/// Emits code that sets mtvec to HANDLER.
fn set_handler(a: &mut Asm) {
    a.la(T0, HANDLER).csrw(MTVEC, T0);
}

/// Emits code that drops to privilege `p` at label `l`.
fn enter_mode(a: &mut Asm, p: u8, target: u64) {
    a.li(T0, 3 << 11).csrrc(ZERO, MSTATUS, T0);
    a.li(T0, (p as i64) << 11).csrrs(ZERO, MSTATUS, T0);
    a.la(T0, target).csrw(MEPC, T0).mret();
}

#[test]
fn alu_and_loop() {
    let mut a = Asm::new(RAM_BASE);
    a.li(A0, 0).li(A1, 1000).li(A2, 0);
    a.label("loop")
        .add(A0, A0, A1)
        .addi(A1, A1, -1)
        .addi(A2, A2, 1);
    a.bne(A1, ZERO, "loop");
    a.li(A3, -5).srli(A4, A3, 60).li(A5, 0x1234_5678_9abc_def0);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(100_000), Some(1));
    assert_eq!(m.x(A0), 500_500);
    assert_eq!(m.x(A2), 1000);
    assert_eq!(m.x(A3), -5i64 as u64);
    assert_eq!(m.x(A4), 0xf);
    assert_eq!(m.x(A5), 0x1234_5678_9abc_def0);
    // Chaining happened for the loop's back edge.
    assert!(m.hart.exec.stats.chains > 0);
}

#[test]
fn x0_is_hardwired() {
    let mut a = Asm::new(RAM_BASE);
    a.addi(ZERO, ZERO, 5).li(T0, 0x1000_0000).ld(ZERO, ZERO, 0);
    a.add(A0, ZERO, ZERO).exit(1);
    // The load from address 0 faults (unassigned): x0 load still accesses.
    let mut m = machine(&mut a);
    set_handler_prog(&mut m);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 5);
    assert_eq!(m.x(ZERO), 0);
}

/// Installs "mtvec = HANDLER" by poking the CSR directly.
fn set_handler_prog(m: &mut Machine) {
    m.hart.cpu.csr.mtvec = HANDLER;
}

#[test]
fn loads_stores_all_widths() {
    let data = RAM_BASE + 0x2000;
    let mut a = Asm::new(RAM_BASE);
    a.la(A0, data).li(T0, -2); // 0xffff...fe
    a.sd(T0, A0, 0).sw(ZERO, A0, 8).sb(T0, A0, 8).sh(T0, A0, 10);
    a.i(0, A0, 0, A1, 0x03); // lb
    a.i(8, A0, 4, A2, 0x03); // lbu
    a.i(10, A0, 1, A3, 0x03); // lh
    a.i(10, A0, 5, A4, 0x03); // lhu
    a.i(8, A0, 6, A5, 0x03); // lwu
    a.i(8, A0, 2, T1, 0x03); // lw
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A1), -2i64 as u64);
    assert_eq!(m.x(A2), 0xfe);
    assert_eq!(m.x(A3), -2i64 as u64);
    assert_eq!(m.x(A4), 0xfffe);
    assert_eq!(m.x(A5), 0xfffe_00fe);
    assert_eq!(m.x(T1), 0xffff_ffff_fffe_00fe);
    assert_eq!(m.read_u64(data), u64::MAX - 1);
}

#[test]
fn misaligned_accesses_in_hardware() {
    let data = RAM_BASE + 0x1ffd; // crosses the page at 0x2000
    let mut a = Asm::new(RAM_BASE);
    a.la(A0, data).li(T0, 0x1122_3344_5566_7788);
    a.sd(T0, A0, 0).ld(A1, A0, 0).lw(A2, A0, 1);
    a.la(A3, RAM_BASE + 0x2101).sd(T0, A3, 0).ld(A4, A3, 0);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A1), 0x1122_3344_5566_7788);
    assert_eq!(m.x(A2), 0x4455_6677);
    assert_eq!(m.x(A4), 0x1122_3344_5566_7788);
    let mut b = [0u8; 8];
    m.mem.read_bytes(data, &mut b).unwrap();
    assert_eq!(u64::from_le_bytes(b), 0x1122_3344_5566_7788);
}

#[test]
fn mmio_access_goes_to_device() {
    let mut a = Asm::new(RAM_BASE);
    a.la(A0, MMIO_SCRATCH)
        .li(T0, 0xabcd)
        .sd(T0, A0, 8)
        .ld(A1, A0, 8);
    a.lw(A2, A0, 8).exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.scratch.regs.lock()[1], 0xabcd);
    assert_eq!(m.x(A1), 0xabcd);
    assert_eq!(m.x(A2), 0xabcd);
}

#[test]
fn ecall_from_m_traps_with_exact_epc() {
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(A0, 1).li(A1, 2);
    let epc = a.pc();
    a.ecall().li(A0, 99).exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    let c = &m.hart.cpu.csr;
    assert_eq!(c.mcause, 11);
    assert_eq!(c.mepc, epc);
    assert_eq!(c.mtval, 0);
    assert_eq!(m.hart.cpu.priv_, PRV_M);
    // MPP = M, MIE = 0.
    assert_eq!((c.mstatus >> 11) & 3, 3);
    // The instructions before the ecall retired; the ecall did not.
    assert_eq!(m.x(A1), 2);
}

#[test]
fn ebreak_leaves_tval_zero() {
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    let epc = a.pc();
    a.ebreak();
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 3);
    assert_eq!(m.hart.cpu.csr.mepc, epc);
    // QEMU 7.2 leaves mtval = 0 for ebreak (the spec allows 0 or the PC).
    assert_eq!(m.hart.cpu.csr.mtval, 0);
}

#[test]
fn illegal_instruction_reports_bits() {
    for (insn, is16) in [
        (0xffff_ffffu32, false),
        (0x7c00_2573, false),             // csrr a0, 0x7c0 (no such CSR)
        (0x0000, true),                   // c.unimp
        (0x3020_0073 | (1 << 15), false), // mret with rs1 != 0
    ] {
        let mut a = Asm::new(RAM_BASE);
        set_handler(&mut a);
        let epc = a.pc();
        if is16 {
            a.h(insn as u16);
        } else {
            a.w(insn);
        }
        let mut m = machine(&mut a);
        assert_eq!(m.run(1000), Some(TRAP_EXIT as u64), "{insn:#x}");
        assert_eq!(m.hart.cpu.csr.mcause, 2, "{insn:#x}");
        assert_eq!(m.hart.cpu.csr.mepc, epc);
        assert_eq!(m.hart.cpu.csr.mtval, insn as u64);
    }
}

#[test]
fn csr_rules() {
    // Writing a read-only CSR is illegal; reading it with csrrs x0 is fine.
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.csrr(A0, 0xF14); // mhartid
    a.csrrs(A1, 0xF14, ZERO);
    let epc = a.pc();
    a.csrw(0xF14, A0);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 2);
    assert_eq!(m.hart.cpu.csr.mepc, epc);

    // From S-mode: mstatus is illegal, sstatus fine, cycle needs mcounteren.
    let s_code = RAM_BASE + 0x800;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, 1).csrw(MCOUNTEREN, T0); // CY only
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    s.csrr(A0, 0x100).csrr(A1, 0xC00);
    let epc = s.pc();
    s.csrr(A2, 0xC02); // instret: not enabled
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 2);
    assert_eq!(m.hart.cpu.csr.mepc, epc);
    assert_eq!((m.hart.cpu.csr.mstatus >> 11) & 3, PRV_S as u64);

    // satp with an unsupported mode is ignored; tselect reads 0.
    let mut a = Asm::new(RAM_BASE);
    a.li(T0, (10i64 << 60) | 0x1234)
        .csrw(SATP, T0)
        .csrr(A0, SATP);
    a.li(T0, 5).csrw(0x7A0, T0).csrr(A1, 0x7A0);
    a.li(T0, 2 << 11).csrs(MSTATUS, T0).csrr(A2, MSTATUS); // MPP := 2 is WARL
    a.csrr(A3, 0x301);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 0);
    assert_eq!(m.x(A1), 0);
    assert_ne!((m.x(A2) >> 11) & 3, 2);
    assert_eq!(m.x(A3) >> 62, 2);
}

#[test]
fn instret_counts_exactly() {
    let mut a = Asm::new(RAM_BASE);
    a.csrr(A0, 0xB02)
        .addi(T0, T0, 1)
        .addi(T0, T0, 1)
        .csrr(A1, 0xB02);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A1) - m.x(A0), 3);
}

#[test]
fn delegated_ecall_from_u_goes_to_s() {
    let s_handler = RAM_BASE + 0x1000;
    let u_code = RAM_BASE + 0x1800;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, 1 << 8).csrw(MEDELEG, T0);
    a.la(T0, s_handler).csrw(STVEC, T0);
    enter_mode(&mut a, PRV_U, u_code);
    let mut s = Asm::new(s_handler);
    s.csrr(A0, 0x142).csrr(A1, 0x141).ecall(); // S ecall is not delegated
    let mut u = Asm::new(u_code);
    u.ecall();
    let mut m = machine(&mut a);
    m.load(s_handler, &s.finish());
    m.load(u_code, &u.finish());
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.x(A0), 8);
    assert_eq!(m.x(A1), u_code);
    assert_eq!(m.hart.cpu.csr.mcause, 9);
    // SPP was U (0) when the S handler ran; the M trap came from S.
    assert_eq!((m.hart.cpu.csr.mstatus >> 11) & 3, PRV_S as u64);
}

#[test]
fn sret_tsr_and_wfi_tw_rules() {
    let s_code = RAM_BASE + 0x1000;
    // TSR: sret in S is illegal.
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, 1 << 22).csrs(MSTATUS, T0);
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    s.sret();
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 2);
    assert_eq!(m.hart.cpu.csr.mtval, 0x1020_0073);
    // TW: wfi in S is illegal.
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, 1 << 21).csrs(MSTATUS, T0);
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    s.wfi();
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 2);
    // wfi in U is always illegal.
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    enter_mode(&mut a, PRV_U, s_code);
    let mut s = Asm::new(s_code);
    s.wfi();
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 2);
}

#[test]
fn interrupts_priority_and_vectoring() {
    let mut a = Asm::new(RAM_BASE);
    // Vectored mtvec at HANDLER - 4*11... use a table: base + 4*cause.
    let base = RAM_BASE + 0x2000;
    a.la(T0, base | 1).csrw(MTVEC, T0);
    a.li(T0, (irq::MTIP | irq::MEIP | irq::MSIP) as i64)
        .csrw(MIE, T0);
    a.li(T0, 1 << 3).csrs(MSTATUS, T0); // MIE
    a.label("spin").j("spin");
    let mut v = Asm::new(base);
    for cause in 0..12 {
        v.j(&format!("h{cause}"));
    }
    for cause in 0..12 {
        v.label(&format!("h{cause}")).exit(100 + cause);
    }
    let mut m = machine(&mut a);
    m.load(base, &v.finish());
    assert_eq!(m.run(200), None); // spinning, nothing pending
    let lines = m.hart.irq_lines();
    lines.set(irq::MTIP | irq::MEIP, true);
    // QEMU 7.2 without AIA: the lowest-numbered pending interrupt first
    // (MTI = 7 before MEI = 11; the spec orders MEI first).
    assert_eq!(m.run(1000), Some(107));
    assert_eq!(m.hart.cpu.csr.mcause, (1 << 63) | 7);
    assert_eq!(m.hart.cpu.csr.mepc, m.hart.cpu.csr.mepc & !1);
    // MPIE holds the old MIE.
    assert_ne!(m.hart.cpu.csr.mstatus & (1 << 7), 0);
}

#[test]
fn delegated_interrupt_to_s_and_masking() {
    let s_code = RAM_BASE + 0x1000;
    let s_handler = RAM_BASE + 0x1800;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, irq::SSIP as i64).csrw(MIDELEG, T0).csrw(MIE, T0);
    a.la(T0, s_handler).csrw(STVEC, T0);
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    // SIE is clear: the SSIP we raise must not be taken in S...
    s.li(T0, 2).csrrs(ZERO, 0x144, T0); // sip.SSIP = 1
    s.addi(A0, ZERO, 1);
    // ...until SIE is set.
    s.csrrs(ZERO, 0x100, T0); // sstatus.SIE
    s.addi(A0, ZERO, 2).label("spin").j("spin");
    let mut h = Asm::new(s_handler);
    h.csrr(A1, 0x142).exit(5);
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    m.load(s_handler, &h.finish());
    assert_eq!(m.run(1000), Some(5));
    assert_eq!(m.x(A0), 1);
    assert_eq!(m.x(A1), (1 << 63) | 1);
}

#[test]
fn wfi_halts_until_interrupt() {
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, irq::MSIP as i64).csrw(MIE, T0); // MIE global stays off
    a.wfi().li(A0, 7).exit(1);
    let mut m = machine(&mut a);
    // Halted, no work.
    assert_eq!(m.hart.run(1000), ferrite_tcg::CpuExit::Halted);
    assert!(
        !m.hart
            .wait_for_interrupt(Some(std::time::Duration::from_millis(1)))
    );
    let lines = m.hart.irq_lines();
    let t = std::thread::spawn(move || lines.set(irq::MSIP, true));
    assert!(m.hart.wait_for_interrupt(None));
    t.join().unwrap();
    // Globally disabled: wfi completes and execution continues.
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 7);
}

#[test]
fn sstc_timer_interrupt() {
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, (1i64 << 63) | 1).csrw(0x30A, T0); // menvcfg.STCE
    a.li(T0, 2).csrw(MCOUNTEREN, T0);
    a.li(T0, 1000).csrw(0x14D, T0); // stimecmp
    a.li(T0, irq::STIP as i64).csrw(MIE, T0);
    a.li(T0, 1 << 3).csrs(MSTATUS, T0);
    a.csrr(A0, 0x344);
    a.label("spin").j("spin");
    let mut m = machine(&mut a);
    assert_eq!(m.run(500), None);
    assert_eq!(m.x(A0) & irq::STIP, 0);
    m.time.now.store(1000, std::sync::atomic::Ordering::Relaxed);
    m.hart.irq_lines().kick();
    assert_eq!(m.run(500), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, (1 << 63) | 5);
}

// ---- Paging ----

const PT_ROOT: u64 = RAM_BASE + 0x10_0000;
const V: u64 = 1;
const R: u64 = 2;
const W: u64 = 4;
const X: u64 = 8;
const U: u64 = 16;
const A: u64 = 64;
const D: u64 = 128;

fn pte(pa: u64, flags: u64) -> u64 {
    ((pa >> 12) << 10) | flags
}

fn poke(m: &Machine, addr: u64, v: u64) {
    m.mem.write_bytes(addr, &v.to_le_bytes()).unwrap();
}

/// Sv39 tables: gigapage identity map of RAM (1 GiB at 0x8000_0000, kernel
/// RWX), plus VA 0x4000_0000.. mapped through a second and third level to
/// DATA with `leaf_flags`.
fn sv39_tables(m: &Machine, leaf_flags: u64, data: u64) {
    let l1 = PT_ROOT + 0x1000;
    let l0 = PT_ROOT + 0x2000;
    poke(m, PT_ROOT + 2 * 8, pte(RAM_BASE, V | R | W | X | A | D));
    // Identity gigapage for the first GiB (the test finisher).
    poke(m, PT_ROOT, pte(0, V | R | W | A | D));
    poke(m, PT_ROOT + 8, pte(l1, V)); // VA 0x4000_0000
    poke(m, l1, pte(l0, V));
    poke(m, l0, pte(data, leaf_flags));
}

fn satp_sv39() -> i64 {
    ((8u64 << 60) | (PT_ROOT >> 12)) as i64
}

fn paging_machine(s: &mut Asm, leaf_flags: u64, extra_mstatus: i64) -> Machine {
    let s_code = s.base;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, satp_sv39()).csrw(SATP, T0);
    if extra_mstatus != 0 {
        a.li(T0, extra_mstatus).csrs(MSTATUS, T0);
    }
    enter_mode(&mut a, PRV_S, s_code);
    let m = machine(&mut a);
    m.load(s_code, &s.finish());
    sv39_tables(&m, leaf_flags, RAM_BASE + 0x20_0000);
    m
}

#[test]
fn sv39_translation_and_hardware_ad() {
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0008)
        .li(T0, 0x55)
        .sd(T0, A0, 0)
        .ld(A1, A0, 0)
        .exit(1);
    let mut m = paging_machine(&mut s, V | R | W, 0);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A1), 0x55);
    assert_eq!(m.read_u64(RAM_BASE + 0x20_0008), 0x55);
    // A and D were set in the leaf PTE.
    assert_eq!(m.read_u64(PT_ROOT + 0x2000) & (A | D), A | D);
}

#[test]
fn sv39_page_faults() {
    // Unmapped VA: load page fault with stval = VA.
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_1010).ld(A1, A0, 0).exit(1);
    let mut m = paging_machine(&mut s, V | R | W, 0);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 13);
    assert_eq!(m.hart.cpu.csr.mtval, 0x4000_1010);
    // Read-only page: store page fault, and D stays clear.
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0000).ld(A1, A0, 0).sd(A1, A0, 0).exit(1);
    let mut m = paging_machine(&mut s, V | R, 0);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 15);
    assert_eq!(m.read_u64(PT_ROOT + 0x2000) & (A | D), A);
    // Non-canonical address.
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x0000_0080_0000_0000).ld(A1, A0, 0).exit(1);
    let mut m = paging_machine(&mut s, V | R | W, 0);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 13);
    // Execute-only page is not readable without MXR, readable with it.
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0000).ld(A1, A0, 0).exit(1);
    let mut m = paging_machine(&mut s, V | X, 0);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 13);
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0000).ld(A1, A0, 0).exit(1);
    let mut m = paging_machine(&mut s, V | X, 1 << 19);
    assert_eq!(m.run(1000), Some(1));
}

#[test]
fn sv39_user_pages_and_sum() {
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0000).ld(A1, A0, 0).exit(1);
    let mut m = paging_machine(&mut s, V | R | W | U, 0);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 13);
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0000).ld(A1, A0, 0).exit(1);
    let mut m = paging_machine(&mut s, V | R | W | U, 1 << 18);
    assert_eq!(m.run(1000), Some(1));
    // S may never execute a U page, even with SUM.
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0000).jalr(ZERO, A0, 0);
    let mut m = paging_machine(&mut s, V | R | X | U, 1 << 18);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 12);
    assert_eq!(m.hart.cpu.csr.mtval, 0x4000_0000);
    assert_eq!(m.hart.cpu.csr.mepc, 0x4000_0000);
}

#[test]
fn sv39_misaligned_superpage_faults() {
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0000).ld(A1, A0, 0).exit(1);
    let mut m = paging_machine(&mut s, V | R | W, 0);
    // Replace the level-1 pointer by a 2 MiB leaf whose PPN is not 2 MiB
    // aligned.
    poke(
        &m,
        PT_ROOT + 0x1000,
        pte(RAM_BASE + 0x1000, V | R | W | A | D),
    );
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 13);
}

#[test]
fn sfence_vma_by_address_is_needed_and_precise() {
    // Map VA 0x4000_0000 to page P1, read it, remap to P2 in memory; without
    // sfence the old translation may remain, after sfence.vma va it must
    // be the new one.
    let p1 = RAM_BASE + 0x20_0000;
    let p2 = RAM_BASE + 0x21_0000;
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0000).ld(A1, A0, 0);
    s.li(T0, pte(p2, V | R | W | A | D) as i64)
        .la(T1, PT_ROOT + 0x2000)
        .sd(T0, T1, 0);
    s.sfence_vma(A0, ZERO).ld(A2, A0, 0).exit(1);
    let mut m = paging_machine(&mut s, V | R | W, 0);
    poke(&m, p1, 111);
    poke(&m, p2, 222);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A1), 111);
    assert_eq!(m.x(A2), 222);
    assert!(m.hart.cpu.common.tlb.page_flushes > 0);
}

#[test]
fn sv48_walk() {
    let root = PT_ROOT + 0x8000;
    let l2 = root + 0x1000;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, ((9u64 << 60) | (root >> 12)) as i64)
        .csrw(SATP, T0);
    a.csrr(A3, SATP);
    let s_code = RAM_BASE + 0x1000;
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    // VA 0x0000_8000_8000_0000 (bit 47 clear; VPN3 = 1).
    s.li(A0, 0x0000_0080_8030_0010).ld(A1, A0, 0).exit(1);
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    // VPN3 = 0: identity for code via a gigapage at level 2.
    let l2b = root + 0x2000;
    poke(&m, root, pte(l2b, V));
    poke(&m, l2b + 2 * 8, pte(RAM_BASE, V | R | W | X | A | D));
    poke(&m, l2b, pte(0, V | R | W | A | D));
    // VPN3 = 1 -> l2; VPN2 = 2 -> gigapage at RAM_BASE.
    poke(&m, root + 8, pte(l2, V));
    poke(&m, l2 + 2 * 8, pte(RAM_BASE, V | R | A));
    poke(&m, RAM_BASE + 0x30_0010, 0xfeed);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A3) >> 60, 9);
    assert_eq!(m.x(A1), 0xfeed);
}

// ---- PMP ----

#[test]
fn pmp_napot_and_lock() {
    let s_code = RAM_BASE + 0x1000;
    let ro = RAM_BASE + 0x10_0000;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    // Entry 0: NAPOT 4 KiB at `ro`, R only. Entry 1: NAPOT everything, RWX.
    a.li(T0, ((ro >> 2) | 0x1ff) as i64).csrw(0x3B0, T0);
    a.li(T0, -1i64 >> 10).csrw(0x3B1, T0);
    a.li(T0, (0x1f << 8) | 0x19).csrw(0x3A0, T0);
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    s.la(A0, ro).ld(A1, A0, 0).sd(A1, A0, 0).exit(1);
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 7);
    assert_eq!(m.hart.cpu.csr.mtval, ro);

    // M-mode ignores unlocked entries but obeys locked ones.
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, ((ro >> 2) | 0x1ff) as i64).csrw(0x3B0, T0);
    a.li(T0, 0x19).csrw(0x3A0, T0);
    a.la(A0, ro).sd(A0, A0, 0); // allowed: not locked
    a.li(T0, 0x99).csrw(0x3A0, T0); // lock it, R only
    a.li(T0, 0).csrw(0x3A0, T0); // ignored: locked
    a.csrr(A2, 0x3A0);
    a.ld(A1, A0, 0).sd(A1, A0, 0).exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.x(A2) & 0xff, 0x99);
    assert_eq!(m.hart.cpu.csr.mcause, 7);
}

#[test]
fn pmp_tor_region() {
    let s_code = RAM_BASE + 0x1000;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    // Entry 0 TOR [0, RAM_BASE + 0x8000) RWX; nothing else: S access above fails.
    a.li(T0, ((RAM_BASE + 0x8000) >> 2) as i64).csrw(0x3B0, T0);
    a.li(T0, 0x0f).csrw(0x3A0, T0);
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    s.la(A0, RAM_BASE + 0x7ff8)
        .ld(A1, A0, 0)
        .ld(A2, A0, 8)
        .exit(1);
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 5);
    assert_eq!(m.hart.cpu.csr.mtval, RAM_BASE + 0x8000);
}

// ---- Atomics ----

#[test]
fn amos_and_lr_sc() {
    let data = RAM_BASE + 0x2000;
    let mut a = Asm::new(RAM_BASE);
    a.la(A0, data).li(T0, 10).sd(T0, A0, 0).li(T1, -3);
    a.amo(0x00, 3, A1, A0, T1); // amoadd.d: a1 = 10, mem = 7
    a.amo(0x10, 2, A2, A0, T1); // amomin.w: a2 = 7, mem.w = -3
    a.lw(A3, A0, 0);
    a.amo(0x18, 2, A4, A0, T0); // amominu.w(-3 as u32, 10) -> 10
    a.lw(A5, A0, 0);
    // LR/SC: success then failure without reservation.
    a.lr(3, T0, A0).addi(T0, T0, 1).sc(3, T1, A0, T0);
    a.sc(3, T2, A0, T0);
    a.ld(RA, A0, 0);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A1), 10);
    assert_eq!(m.x(A2), 7);
    assert_eq!(m.x(A3), -3i64 as u64);
    assert_eq!(m.x(A4), -3i64 as u64);
    assert_eq!(m.x(A5), 10);
    assert_eq!(m.x(T1), 0, "sc after lr succeeds");
    assert_eq!(m.x(T2), 1, "sc without reservation fails");
    assert_eq!(m.x(RA), 11);
}

#[test]
fn misaligned_atomics_trap() {
    let data = RAM_BASE + 0x2004;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.la(A0, data).amo(0x01, 3, A1, A0, T0);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    // QEMU 7.2: load address-misaligned (4), not store/AMO (6).
    assert_eq!(m.hart.cpu.csr.mcause, 4);
    assert_eq!(m.hart.cpu.csr.mtval, data);
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.la(A0, data + 1).lr(2, A1, A0);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 4);
}

#[test]
fn amo_to_read_only_page_is_store_fault() {
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0000).amo(0x00, 3, A1, A0, ZERO).exit(1);
    let mut m = paging_machine(&mut s, V | R, 0);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 15);
}

// ---- Self-modifying code ----

#[test]
fn self_modifying_code_is_seen_without_fence() {
    // Execute a function returning 1, overwrite its first instruction with
    // "li a0, 2", call again.
    let func = RAM_BASE + 0x800;
    let mut a = Asm::new(RAM_BASE);
    a.la(S0, func).jalr(RA, S0, 0).mv(A1, A0);
    a.li(T0, support::i(2, 0, 0, A0, 0x13) as i64).sw(T0, S0, 0);
    a.jalr(RA, S0, 0).mv(A2, A0).exit(1);
    let mut f = Asm::new(func);
    f.addi(A0, ZERO, 1).jalr(ZERO, RA, 0);
    let mut m = machine(&mut a);
    m.load(func, &f.finish());
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A1), 1);
    assert_eq!(m.x(A2), 2);
    assert!(m.hart.exec.stats.invalidations > 0);
}

#[test]
fn store_into_the_running_block() {
    // The store patches the very next instruction of the same block.
    let mut a = Asm::new(RAM_BASE);
    a.li(T0, support::i(42, 0, 0, A0, 0x13) as i64);
    a.auipc(T1, 0).sw(T0, T1, 8); // overwrite the instruction after the sw
    a.addi(A0, ZERO, 1);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 42);
}

#[test]
fn dma_write_to_code_invalidates() {
    let func = RAM_BASE + 0x800;
    let mut a = Asm::new(RAM_BASE);
    a.la(S0, func).jalr(RA, S0, 0).exit(1);
    let mut f = Asm::new(func);
    f.addi(A0, ZERO, 1).jalr(ZERO, RA, 0);
    let mut m = machine(&mut a);
    m.load(func, &f.finish());
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 1);
    // A "device" rewrites the function; rerun from the start.
    m.load(func, &support::i(3, 0, 0, A0, 0x13).to_le_bytes());
    m.finisher
        .value
        .store(0, std::sync::atomic::Ordering::SeqCst);
    m.hart.cpu.common.pc = RAM_BASE;
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 3);
}

// ---- Compressed and bit-manipulation ----

#[test]
fn compressed_instructions() {
    let mut a = Asm::new(RAM_BASE);
    a.h(0x4515); // c.li a0, 5
    a.h(0x0505); // c.addi a0, 1
    a.h(0x85aa); // c.mv a1, a0
    a.h(0x95aa); // c.add a1, a0
    a.h(0x0586); // c.slli a1, 1
    a.h(0x8d89); // c.sub a1, a0 (rd'=a1 rs2'=a0)
    a.h(0x6605); // c.lui a2, 1
    a.h(0x2605); // c.addiw a2, 1
    a.h(0xc119); // c.beqz a0, +6 (not taken)
    a.h(0x0001); // c.nop
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 6);
    assert_eq!(m.x(A1), 18);
    assert_eq!(m.x(A2), 0x1001);
}

#[test]
fn zba_zbb_zbs() {
    let mut a = Asm::new(RAM_BASE);
    a.li(A0, 0x00f0).li(A1, 3);
    a.r(0x10, A1, A0, 4, A2, 0x33); // sh2add a2 = a1 + (a0 << 2)
    a.i(0x600, A0, 1, A3, 0x13); // clz
    a.i(0x602, A0, 1, A4, 0x13); // cpop
    a.r(0x05, A1, A0, 4, A5, 0x33); // min
    a.i(0x480 | 4, A0, 5, T0, 0x13); // bexti t0 = bit 4 of a0
    a.i(0x6b8, A0, 5, T1, 0x13); // rev8
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A2), 3 + (0xf0 << 2));
    assert_eq!(m.x(A3), 56);
    assert_eq!(m.x(A4), 4);
    assert_eq!(m.x(A5), 3);
    assert_eq!(m.x(T0), 1);
    assert_eq!(m.x(T1), 0xf000_0000_0000_0000);
}

#[test]
fn fetch_from_unmapped_memory_is_access_fault() {
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, 0x4000).jalr(ZERO, T0, 0);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 1);
    assert_eq!(m.hart.cpu.csr.mepc, 0x4000);
}

#[test]
fn instruction_straddling_pages() {
    // A 32-bit instruction at the last 2 bytes of a page.
    let start = RAM_BASE + 0xffc;
    let mut a = Asm::new(RAM_BASE);
    a.la(T0, start).jalr(ZERO, T0, 0);
    let mut b = Asm::new(start);
    b.h(0x0001); // c.nop
    b.addi(A0, ZERO, 9); // straddles 0x...ffe
    b.exit(1);
    let mut m = machine(&mut a);
    m.load(start, &b.finish());
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 9);
}

#[test]
fn straddling_instruction_in_a_loop_is_translated_once() {
    // A loop whose body holds a 32-bit instruction across a page boundary:
    // its block spans two pages and must be cached like any other (it used
    // to be translated again on every iteration).
    let start = RAM_BASE + 0xff8;
    let mut a = Asm::new(RAM_BASE);
    a.li(A0, 0).li(A1, 1000);
    a.la(T0, start).jalr(ZERO, T0, 0);
    let mut b = Asm::new(start);
    b.label("loop").addi(A1, A1, -1); // 0x...ff8
    b.h(0x0001); // c.nop at 0x...ffc
    b.addi(A0, A0, 1); // straddles 0x...ffe
    b.bne(A1, ZERO, "loop");
    b.exit(1);
    let mut m = machine(&mut a);
    m.load(start, &b.finish());
    assert_eq!(m.run(100_000), Some(1));
    assert_eq!(m.x(A0), 1000);
    let t = m.hart.exec.stats.translations;
    assert!(t < 20, "{t} translations for a 3-block loop");
}

const S0: u32 = 8;

#[test]
fn priv_levels_are_reported() {
    assert_eq!(PRV_U, 0);
    assert_eq!(PRV_S, 1);
    assert_eq!(PRV_M, 3);
}

// ---- More privileged-architecture rules ----

#[test]
fn mprv_uses_mpp_translation_for_data() {
    // M-mode with MPRV=1, MPP=S: loads go through Sv39; fetches do not.
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, satp_sv39()).csrw(SATP, T0);
    a.li(T0, (1 << 17) | (1 << 11)).csrs(MSTATUS, T0); // MPRV, MPP = S
    a.li(A0, 0x4000_0000).ld(A1, A0, 0);
    // Clearing MPRV makes the same VA a physical (unassigned) address.
    a.li(T0, 1 << 17).csrrc(ZERO, MSTATUS, T0).ld(A2, A0, 0);
    let mut m = machine(&mut a);
    sv39_tables(&m, V | R | W | A | D, RAM_BASE + 0x20_0000);
    poke(&m, RAM_BASE + 0x20_0000, 0x1234);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.x(A1), 0x1234);
    assert_eq!(m.hart.cpu.csr.mcause, 5);
    assert_eq!(m.hart.cpu.csr.mtval, 0x4000_0000);
}

#[test]
fn mret_to_u_clears_mprv_and_m_interrupts_preempt_lower_modes() {
    let u_code = RAM_BASE + 0x1000;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, 1 << 17).csrs(MSTATUS, T0);
    a.li(T0, irq::MSIP as i64).csrw(MIE, T0); // mstatus.MIE stays 0
    enter_mode(&mut a, PRV_U, u_code);
    let mut u = Asm::new(u_code);
    u.addi(A0, ZERO, 1).label("spin").j("spin");
    let mut m = machine(&mut a);
    m.load(u_code, &u.finish());
    assert_eq!(m.run(300), None);
    assert_eq!(m.hart.cpu.priv_, PRV_U);
    assert_eq!(m.hart.cpu.csr.mstatus & (1 << 17), 0, "MPRV cleared");
    m.hart.irq_lines().set(irq::MSIP, true);
    assert_eq!(m.run(300), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, (1 << 63) | 3);
    assert_eq!(m.x(A0), 1);
}

#[test]
fn warl_masks_of_delegation_and_interrupt_registers() {
    let mut a = Asm::new(RAM_BASE);
    a.li(T0, -1).csrw(MEDELEG, T0).csrr(A0, MEDELEG);
    a.csrw(MIDELEG, T0).csrr(A1, MIDELEG);
    a.csrw(MIE, T0).csrr(A2, MIE);
    a.csrr(A3, 0x104); // sie = mie & mideleg
    a.csrw(0x344, T0).csrr(A4, 0x344); // mip: SSIP/STIP/SEIP writable
    a.li(T1, 0x1001).csrw(MTVEC, T1).csrr(A5, MTVEC);
    a.li(T1, 0x1002).csrw(MTVEC, T1).csrr(S1, MTVEC); // mode 2 reserved: ignored
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(
        m.x(A0),
        0xBBFF,
        "QEMU 7.2: ecall-from-M reads back as written; 10 and 14 are reserved"
    );
    assert_eq!(m.x(A1), 0x222);
    assert_eq!(m.x(A2), 0xAAA);
    assert_eq!(m.x(A3), 0x222);
    assert_eq!(m.x(A4), 0x222);
    assert_eq!(m.x(A5), 0x1001);
    assert_eq!(m.x(S1), 0x1001);
}

const S1: u32 = 9;

#[test]
fn tvm_traps_satp_and_sfence_in_s() {
    let s_code = RAM_BASE + 0x1000;
    for insn in [
        support::i(0x180, 0, 2, A0, 0x73),  // csrr a0, satp
        support::r(0x09, 0, 0, 0, 0, 0x73), // sfence.vma
    ] {
        let mut a = Asm::new(RAM_BASE);
        set_handler(&mut a);
        a.li(T0, 1 << 20).csrs(MSTATUS, T0);
        enter_mode(&mut a, PRV_S, s_code);
        let mut s = Asm::new(s_code);
        s.w(insn);
        let mut m = machine(&mut a);
        m.load(s_code, &s.finish());
        assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
        assert_eq!(m.hart.cpu.csr.mcause, 2);
        assert_eq!(m.hart.cpu.csr.mtval, insn as u64);
    }
    // sfence.vma in U is illegal regardless of TVM.
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    enter_mode(&mut a, PRV_U, s_code);
    let mut s = Asm::new(s_code);
    s.sfence_vma(ZERO, ZERO);
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 2);
}

#[test]
fn counters_time_inhibit_and_stimecmp_enable() {
    let s_code = RAM_BASE + 0x1000;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, 4).csrw(0x320, T0); // inhibit IR
    a.csrr(A0, 0xB02).addi(T1, T1, 1).csrr(A1, 0xB02);
    a.csrw(0x320, ZERO);
    // QEMU 7.2 (-icount): the writing instruction still counts, so the
    // next read sees the written value + 1.
    a.li(T0, 100).csrw(0xB02, T0).csrr(A2, 0xB02);
    a.li(T0, 2).csrw(MCOUNTEREN, T0); // TM only
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    s.csrr(A3, 0xC01); // time: allowed
    s.csrr(A4, 0x14D); // stimecmp without menvcfg.STCE: illegal
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    m.time
        .now
        .store(424242, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.x(A1), m.x(A0), "instret inhibited");
    assert_eq!(m.x(A2), 101);
    assert_eq!(m.x(A3), 424242);
    assert_eq!(m.hart.cpu.csr.mcause, 2);
    assert_eq!(
        m.hart.cpu.csr.mtval,
        support::i(0x14D, 0, 2, A4, 0x73) as u64
    );
}

#[test]
fn sfence_by_asid_keeps_global_mappings() {
    // The leaf at 0x4000_0000 is global; after remapping it in memory, an
    // ASID-only sfence must keep the old (global) translation while a full
    // sfence picks up the new one.
    let p1 = RAM_BASE + 0x20_0000;
    let p2 = RAM_BASE + 0x21_0000;
    let mut s = Asm::new(RAM_BASE + 0x1000);
    s.li(A0, 0x4000_0000).ld(A1, A0, 0);
    s.li(T0, pte(p2, V | R | W | A | D | 32) as i64)
        .la(T1, PT_ROOT + 0x2000)
        .sd(T0, T1, 0);
    s.li(T2, 0).sfence_vma(ZERO, 28).ld(A2, A0, 0); // x28 = ASID 0
    s.sfence_vma(ZERO, ZERO).ld(A3, A0, 0).exit(1);
    let mut m = paging_machine(&mut s, V | R | W | 32, 0);
    poke(&m, p1, 111);
    poke(&m, p2, 222);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A1), 111);
    assert_eq!(m.x(A2), 111, "global entry survives an ASID fence");
    assert_eq!(m.x(A3), 222);
}

#[test]
fn pmp_na4_and_tor_lock_rule() {
    let s_code = RAM_BASE + 0x1000;
    let word = RAM_BASE + 0x10_0000;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    // Entry 0: NA4 on `word`, no permissions. Entry 1: NAPOT all, RWX.
    a.li(T0, (word >> 2) as i64).csrw(0x3B0, T0);
    a.li(T0, -1i64 >> 10).csrw(0x3B1, T0);
    a.li(T0, (0x1f << 8) | 0x10).csrw(0x3A0, T0);
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    s.la(A0, word).lw(A1, A0, 4).lw(A2, A0, 0).exit(1);
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    poke(&m, word, 0x1111_1111_2222_2222);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(
        m.x(A1),
        0x1111_1111,
        "the next word is outside the NA4 region"
    );
    assert_eq!(m.hart.cpu.csr.mcause, 5);
    assert_eq!(m.hart.cpu.csr.mtval, word);

    // A locked TOR entry also locks the pmpaddr below it.
    let mut a = Asm::new(RAM_BASE);
    a.li(T0, 0x100).csrw(0x3B0, T0);
    a.li(T0, 0x200).csrw(0x3B1, T0);
    a.li(T0, 0x8f << 8).csrw(0x3A0, T0); // entry 1: L, TOR, RWX
    a.li(T0, 0x300).csrw(0x3B0, T0).csrr(A0, 0x3B0);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 0x100);
}

#[test]
fn lr_sc_fails_after_intervening_store_of_other_value() {
    let data = RAM_BASE + 0x2000;
    let mut a = Asm::new(RAM_BASE);
    a.la(A0, data).li(T0, 5).sd(T0, A0, 0);
    a.lr(3, T1, A0).li(T0, 6).sd(T0, A0, 0); // value changed under the reservation
    a.li(T0, 7).sc(3, A1, A0, T0).ld(A2, A0, 0);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A1), 1);
    assert_eq!(m.x(A2), 6);
}

#[test]
fn in_asm_logging_does_not_disturb_execution() {
    // Exercise the -d in_asm/int/exec/mmu paths end to end.
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(A0, 3)
        .label("l")
        .addi(A0, A0, -1)
        .bne(A0, ZERO, "l")
        .ecall();
    let mut m = machine(&mut a);
    let dir = std::env::temp_dir().join(format!("ferrite-cpu-log-{}", std::process::id()));
    ferrite_aio::log::set_log_filename(&dir).unwrap();
    ferrite_aio::log::set_log_mask(
        ferrite_aio::log::parse_log_items("in_asm,int,exec,mmu").unwrap(),
    );
    let r = m.run(1000);
    ferrite_aio::log::set_log_mask(ferrite_aio::log::LogMask(0));
    assert_eq!(r, Some(TRAP_EXIT as u64));
    let text = std::fs::read_to_string(&dir).unwrap();
    let _ = std::fs::remove_file(&dir);
    assert!(text.contains("IN: "), "{text}");
    assert!(text.contains("addi                    a0,a0,-1"), "{text}");
    assert!(text.contains("desc=machine_ecall"), "{text}");
    assert!(text.contains("Trace 0:"), "{text}");
}

#[test]
fn pmp_partial_match_fails_on_a_split_page() {
    // Entry 0: NA4 R-only at `word`; entry 1 all RWX. An 8-byte load that
    // straddles the NA4 region's end only partially matches entry 0: fault.
    let s_code = RAM_BASE + 0x1000;
    let word = RAM_BASE + 0x10_0000;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, (word >> 2) as i64).csrw(0x3B0, T0);
    a.li(T0, -1i64 >> 10).csrw(0x3B1, T0);
    a.li(T0, (0x1f << 8) | 0x11).csrw(0x3A0, T0);
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    s.la(A0, word).lw(A1, A0, 0).ld(A2, A0, 0).exit(1);
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    poke(&m, word, 0x1111_1111_2222_2222);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(
        m.x(A1),
        0x2222_2222,
        "the 4-byte load is inside the NA4 region"
    );
    assert_eq!(m.hart.cpu.csr.mcause, 5);
    assert_eq!(m.hart.cpu.csr.mtval, word);
}

// ---------------------------------------------------------------------
// QEMU 7.2 behaviours the ISA programs (tests/isa) pin; one test per
// defect fixed to match them.

/// A platform without an rdtime source (QEMU's spike board).
struct NoTime;

impl ferrite_riscv::Platform for NoTime {
    fn time(&self) -> u64 {
        panic!("time() read although has_time() is false")
    }
    fn has_time(&self) -> bool {
        false
    }
    fn set_stimecmp_deadline(&self, _hartid: u64, _deadline: Option<u64>) {}
}

/// Emits an M-mode handler at HANDLER that skips the trapping 4-byte
/// instruction and counts traps in T2.
fn skipping_handler(m: &Machine) {
    let mut h = Asm::new(HANDLER);
    h.csrr(T0, MEPC)
        .addi(T0, T0, 4)
        .csrw(MEPC, T0)
        .addi(T2, T2, 1)
        .mret();
    m.load(HANDLER, &h.finish());
}

#[test]
fn csrrs_with_rs1_holding_zero_reads_a_read_only_csr() {
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T1, 0).li(A0, 5).csrrs(A0, 0xF14, T1); // csrrs a0, mhartid, t1 (= 0)
    a.li(T1, 0).csrrc(A1, 0xC02, T1); // csrrc a1, instret, t1 (= 0)
    a.li(T1, 1).csrrs(A2, 0xF14, T1); // a real write: illegal
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.x(A0), 0, "mhartid read");
    assert_eq!(m.hart.cpu.csr.mcause, 2);
    assert_eq!(
        m.hart.cpu.csr.mtval,
        support::i(0xF14, T1, 2, A2, 0x73) as u64
    );
}

#[test]
fn time_is_illegal_without_a_time_source() {
    use ferrite_riscv::csr::{IllegalCsr, csr_read};
    let m = Machine::new();
    let mut cpu = ferrite_riscv::RiscvCpu::new(m.mem.clone(), std::sync::Arc::new(NoTime), 0);
    assert_eq!(csr_read(&mut cpu, 0xC01), Err(IllegalCsr));
    // The other counters still read.
    assert!(csr_read(&mut cpu, 0xC02).is_ok());
    // With a time source (the default) `time` reads it.
    let mut m = Machine::new();
    m.time.now.store(77, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(csr_read(&mut m.hart.cpu, 0xC01), Ok(77));
}

#[test]
fn a_trap_clears_the_reservation() {
    let data = RAM_BASE + 0x2000;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.la(A1, data).lr(3, A0, A1).ecall().sc(3, A3, A1, A0);
    // Without a trap in between the same pair succeeds.
    a.lr(3, A0, A1).sc(3, A4, A1, A0).exit(1);
    let mut m = machine(&mut a);
    skipping_handler(&m);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(T2), 1, "one trap (the ecall)");
    assert_eq!(m.x(A3), 1, "sc after a trap fails");
    assert_eq!(m.x(A4), 0, "sc without a trap succeeds");
}

#[test]
fn misaligned_sc_without_reservation_fails_without_trapping() {
    let data = RAM_BASE + 0x2001;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.la(A0, data)
        .li(A1, 5)
        .li(A2, 0x77)
        .sc(2, A1, A0, A2)
        .exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A1), 1);
    assert_eq!(m.read_u64(RAM_BASE + 0x2000), 0, "nothing stored");
}

#[test]
fn amo_access_fault_is_a_load_access_fault() {
    let nowhere: u64 = 0x4000_0000;
    for width in [2, 3] {
        let mut a = Asm::new(RAM_BASE);
        set_handler(&mut a);
        a.li(A0, nowhere as i64)
            .amo(0x00, width, A1, A0, T0)
            .exit(1);
        let mut m = machine(&mut a);
        assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
        assert_eq!(m.hart.cpu.csr.mcause, 5, "QEMU 7.2: 5, not 7");
        assert_eq!(m.hart.cpu.csr.mtval, nowhere);
    }
}

#[test]
fn pmpaddr_keeps_all_64_bits_and_reserved_cfg_is_stored() {
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, -1).csrw(0x3B1, T0).csrr(A0, 0x3B1);
    a.li(T0, 0x5).csrw(0x3B1, T0).csrr(A1, 0x3B1);
    // Entry 1: A = OFF, R = 0, W = 1 (reserved) is kept as written.
    a.li(T0, 0x0200).csrw(0x3A0, T0).csrr(A2, 0x3A0);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), u64::MAX);
    assert_eq!(m.x(A1), 5);
    assert_eq!(m.x(A2), 0x0200);
}

#[test]
fn mepc_keeps_bit_0() {
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, 0x8000_1235).csrw(MEPC, T0).csrr(A0, MEPC);
    a.li(T0, 0x8000_1237).csrw(0x141, T0).csrr(A1, 0x141);
    a.exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0), 0x8000_1235);
    assert_eq!(m.x(A1), 0x8000_1237);
}

#[test]
fn walk_through_an_unmapped_pte_address_is_a_page_fault() {
    // satp's root table at a physical address with nothing behind it.
    let s_code = RAM_BASE + 0x1000;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, ((8u64 << 60) | (0x4000_0000 >> 12)) as i64)
        .csrw(SATP, T0);
    enter_mode(&mut a, PRV_S, s_code);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    // The S-mode fetch itself walks: instruction page fault (12), not 1.
    assert_eq!(m.hart.cpu.csr.mcause, 12);
    assert_eq!(m.hart.cpu.csr.mtval, s_code);
    // Same for a load with a valid fetch (M-mode with MPRV = S).
    let data = 0x4000_0010u64;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, ((8u64 << 60) | (0x4000_0000 >> 12)) as i64)
        .csrw(SATP, T0);
    a.li(T0, (1 << 17) | (1 << 11) as i64).csrs(MSTATUS, T0); // MPRV, MPP = S
    a.li(A0, data as i64).ld(A1, A0, 0).exit(1);
    let mut m = machine(&mut a);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 13);
    assert_eq!(m.hart.cpu.csr.mtval, data);
}

#[test]
fn page_crossing_access_is_pmp_checked_as_a_whole() {
    // Entry 0: NAPOT 4 KiB page P, R only. Entry 1: NAPOT 64 KiB over the
    // code, RWX. Page P + 1 matches nothing. An S-mode load straddling the
    // end of P fails as a whole, reporting its start (QEMU checks the whole
    // access when the first page is filled).
    let s_code = RAM_BASE + 0x1000;
    let page = RAM_BASE + 0x10_0000;
    let napot = |base: u64, size: u64| ((base >> 2) | ((size >> 3) - 1)) as i64;
    let mut a = Asm::new(RAM_BASE);
    set_handler(&mut a);
    a.li(T0, napot(page, 0x1000)).csrw(0x3B0, T0);
    a.li(T0, napot(RAM_BASE, 0x1_0000)).csrw(0x3B1, T0);
    a.li(T0, (0x1f << 8) | 0x19).csrw(0x3A0, T0);
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    // Only the straddling load touches P: its first page misses in the TLB.
    // (After a hit on P, QEMU, like ferrite, checks only the second page
    // and reports that page's start.)
    s.li(A0, (page + 0x1000 - 8) as i64)
        .ld(A2, A0, 4) // straddles P's end
        .exit(1);
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    poke(&m, page + 0x1000 - 8, 0x1234_5678_9abc_def0);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.hart.cpu.csr.mcause, 5);
    assert_eq!(m.hart.cpu.csr.mtval, page + 0x1000 - 4);
}

#[test]
fn mstatus_mpp_write_flushes_the_tlb() {
    // As page_crossing_access_is_pmp_checked_as_a_whole, but S first loads
    // from P (filling the TLB), traps to M, and M writes MPP to return to
    // S. QEMU 7.2's write_mstatus flushes the TLB on an MPP change, so the
    // straddling load misses on P again and is checked as a whole.
    let s_code = RAM_BASE + 0x1000;
    let s2_code = RAM_BASE + 0x1800;
    let m_resume = RAM_BASE + 0x2800;
    let page = RAM_BASE + 0x10_0000;
    let napot = |base: u64, size: u64| ((base >> 2) | ((size >> 3) - 1)) as i64;
    let mut a = Asm::new(RAM_BASE);
    a.la(T0, m_resume).csrw(MTVEC, T0);
    a.li(T0, napot(page, 0x1000)).csrw(0x3B0, T0);
    a.li(T0, napot(RAM_BASE, 0x1_0000)).csrw(0x3B1, T0);
    a.li(T0, (0x1f << 8) | 0x19).csrw(0x3A0, T0);
    enter_mode(&mut a, PRV_S, s_code);
    let mut s = Asm::new(s_code);
    s.li(A0, (page + 0x1000 - 8) as i64).ld(A1, A0, 0).ecall();
    let mut s2 = Asm::new(s2_code);
    s2.li(A0, (page + 0x1000 - 8) as i64).ld(A2, A0, 4).exit(1);
    // M, after the ecall: final handler, then back to S (MPP rewritten).
    let mut r = Asm::new(m_resume);
    r.la(T0, HANDLER).csrw(MTVEC, T0);
    enter_mode(&mut r, PRV_S, s2_code);
    let mut m = machine(&mut a);
    m.load(s_code, &s.finish());
    m.load(s2_code, &s2.finish());
    m.load(m_resume, &r.finish());
    poke(&m, page + 0x1000 - 8, 0x1234_5678_9abc_def0);
    assert_eq!(m.run(1000), Some(TRAP_EXIT as u64));
    assert_eq!(m.x(A1), 0x1234_5678_9abc_def0, "S loaded from P first");
    assert_eq!(m.hart.cpu.csr.mcause, 5);
    assert_eq!(m.hart.cpu.csr.mtval, page + 0x1000 - 4);
}

/// CSRRS/CSRRC on `mip` change only the software-writable bits: the SEIP
/// the PLIC drives at that moment is read (rd sees it) but not latched into
/// the software SEIP bit (priv spec; QEMU's rmw_mip writes only the mask).
/// Latching it left SEIP pending for good once the PLIC line dropped: an
/// OpenSBI IPI (`csrs mip, SSIP`) at the wrong moment caused an endless
/// external-interrupt storm in Linux with -smp 4.
#[test]
fn csrrs_on_mip_does_not_latch_the_external_seip() {
    let mut a = Asm::new(RAM_BASE);
    a.li(T0, irq::SSIP as i64).csrrs(A0, 0x344, T0); // csrs mip, SSIP
    a.li(T0, irq::STIP as i64).csrrc(A1, 0x344, T0); // csrc mip, STIP
    a.exit(1);
    let mut m = machine(&mut a);
    m.hart.irq_lines().set(irq::SEIP, true);
    assert_eq!(m.run(1000), Some(1));
    assert_eq!(m.x(A0) & irq::SEIP, irq::SEIP, "the read shows the line");
    m.hart.irq_lines().set(irq::SEIP, false);
    assert_eq!(m.hart.cpu.mip() & irq::SEIP, 0, "SEIP latched by csrs");
    assert_eq!(m.hart.cpu.mip() & irq::SSIP, irq::SSIP);
}
