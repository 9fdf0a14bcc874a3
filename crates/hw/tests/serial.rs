//! NS16550A register-level tests: the behaviour Linux's 8250 driver and
//! OpenSBI rely on (`spec/riscv-virt-tcg.md` §2.3), driven through MMIO.

use std::sync::Arc;

use ferrite_hw::char::serial::*;
use ferrite_hw::chardev::BufferBackend;
use ferrite_hw::clock::{Clock, FakeClock, FakeTimer};
use ferrite_hw::irq::IrqProbe;
use ferrite_hw::mmio::MmioDevice;
use proptest::prelude::*;

const RBR: u64 = 0;
const THR: u64 = 0;
const IER: u64 = 1;
const IIR: u64 = 2;
const FCR: u64 = 2;
const LCR: u64 = 3;
const MCR: u64 = 4;
const LSR: u64 = 5;
const MSR: u64 = 6;
const SCR: u64 = 7;

struct Rig {
    uart: Serial,
    irq: IrqProbe,
    out: BufferBackend,
    clock: FakeClock,
    timer: FakeTimer,
}

impl Rig {
    fn new() -> Self {
        let irq = IrqProbe::new();
        let out = BufferBackend::new();
        let clock = FakeClock::new(1_000_000);
        let timer = FakeTimer::new();
        let uart = Serial::new(
            irq.line(),
            Arc::new(out.clone()),
            Arc::new(clock.clone()),
            Box::new(timer.clone()),
            VIRT_BAUDBASE,
            0,
        );
        Self {
            uart,
            irq,
            out,
            clock,
            timer,
        }
    }

    fn r(&mut self, reg: u64) -> u8 {
        self.uart.read(reg, 1) as u8
    }

    fn w(&mut self, reg: u64, val: u8) {
        self.uart.write(reg, 1, u64::from(val))
    }

    /// Lets the virtual clock run `ns` and fires the timer if due, as the
    /// event loop would.
    fn run(&mut self, ns: i64) {
        self.clock.advance(ns);
        if self.timer.expire(self.clock.get_ns()) {
            self.uart.fifo_timeout_cb();
        }
    }
}

#[test]
fn reset_state() {
    let mut t = Rig::new();
    assert_eq!(t.r(IER), 0);
    assert_eq!(t.r(IIR), IIR_NO_INT);
    assert_eq!(t.r(LCR), 0);
    assert_eq!(t.r(MCR), MCR_OUT2);
    assert_eq!(t.r(LSR), LSR_THRE | LSR_TEMT);
    assert_eq!(t.r(MSR), MSR_DCD | MSR_DSR | MSR_CTS);
    assert_eq!(t.r(SCR), 0);
    assert!(!t.irq.level());
}

#[test]
fn transmit_reaches_backend_and_thre_stays_set() {
    let mut t = Rig::new();
    for b in b"hello\n" {
        assert_eq!(t.r(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
        t.w(THR, *b);
    }
    assert_eq!(t.out.take(), b"hello\n");
    // Interrupts were off throughout: the line never rose.
    assert_eq!(t.irq.raises(), 0);
}

#[test]
fn linux_thre_probe_and_iir_read_clears_thri() {
    // serial8250_do_startup: IER = THRI, read IIR, expect an interrupt
    // pending; read IIR again, expect it gone (UART_BUG_THRE otherwise).
    let mut t = Rig::new();
    t.w(FCR, 0x07); // FIFO enable + reset both
    t.w(IER, IER_THRI);
    assert!(t.irq.level());
    let iir = t.r(IIR);
    assert_eq!(iir & 0x0f, IIR_THRI);
    assert_eq!(iir & 0xc0, 0xc0);
    assert!(!t.irq.level(), "reading IIR=THRI clears the condition");
    assert_eq!(t.r(IIR) & 0x0f, IIR_NO_INT);
    // Toggling THRI off and on re-samples THRE.
    t.w(IER, 0);
    t.w(IER, IER_THRI);
    assert!(t.irq.level());
    assert_eq!(t.r(IIR) & 0x0f, IIR_THRI);
    // Rewriting the same IER value is not an edge: nothing new pending.
    t.w(IER, IER_THRI);
    assert!(!t.irq.level());
}

#[test]
fn thr_write_with_thri_enabled_interrupts_after_each_byte() {
    let mut t = Rig::new();
    t.w(IER, IER_THRI);
    assert_eq!(t.r(IIR) & 0x0f, IIR_THRI);
    let before = t.irq.raises();
    t.w(THR, b'x');
    assert!(t.irq.level(), "byte sent, THR empty again");
    assert_eq!(t.irq.raises(), before + 1);
    assert_eq!(t.out.take(), b"x");
    // Linux's stop_tx clears IER.THRI: the line drops.
    t.w(IER, 0);
    assert!(!t.irq.level());
}

#[test]
fn linux_console_write_restores_ier_and_retriggers_thri() {
    let mut t = Rig::new();
    t.w(IER, IER_RDI | IER_THRI);
    let _ = t.r(IIR);
    assert!(!t.irq.level());
    let saved = t.r(IER);
    t.w(IER, 0);
    for b in b"console" {
        while t.r(LSR) & (LSR_THRE | LSR_TEMT) != (LSR_THRE | LSR_TEMT) {}
        t.w(THR, *b);
    }
    t.w(IER, saved);
    assert_eq!(t.r(IER), IER_RDI | IER_THRI);
    assert!(t.irq.level());
    assert_eq!(t.out.take(), b"console");
}

#[test]
fn ier_reads_back_low_nibble() {
    let mut t = Rig::new();
    t.w(IER, 0x0f);
    assert_eq!(t.r(IER), 0x0f);
    t.w(IER, 0);
    assert_eq!(t.r(IER), 0);
    t.w(IER, 0xff);
    assert_eq!(t.r(IER), 0x0f);
}

#[test]
fn fcr_fifo_enable_shows_in_iir() {
    let mut t = Rig::new();
    t.w(FCR, 0xc7);
    assert_eq!(t.r(IIR), 0xc0 | IIR_NO_INT);
    t.w(FCR, 0);
    assert_eq!(t.r(IIR), IIR_NO_INT);
}

#[test]
fn loopback_mirrors_mcr_and_feeds_receiver() {
    let mut t = Rig::new();
    // Linux autoconfig: MCR = LOOP|OUT2|RTS, expects MSR status = DCD|CTS.
    t.w(MCR, MCR_LOOP | MCR_OUT2 | 0x02);
    assert_eq!(t.r(MSR) & 0xf0, 0x90);
    t.w(MCR, MCR_LOOP | 0x0f);
    assert_eq!(t.r(MSR) & 0xf0, 0xf0);
    t.w(MCR, MCR_LOOP | 0x01);
    assert_eq!(t.r(MSR) & 0xf0, MSR_DSR);
    t.w(THR, b'L');
    assert!(
        t.out.contents().is_empty(),
        "loopback keeps bytes off the line"
    );
    assert_ne!(t.r(LSR) & LSR_DR, 0);
    assert_eq!(t.r(RBR), b'L');
    t.w(MCR, MCR_OUT2);
    assert_eq!(t.r(MSR), MSR_DCD | MSR_DSR | MSR_CTS);
}

#[test]
fn divisor_latch() {
    let mut t = Rig::new();
    t.w(IER, 0x05);
    // OpenSBI: DLAB, divisor 2, then 8N1.
    t.w(LCR, LCR_DLAB);
    t.w(0, 2);
    t.w(1, 0);
    assert_eq!(t.r(0), 2);
    assert_eq!(t.r(1), 0);
    t.w(1, 0x12);
    assert_eq!(t.r(1), 0x12);
    t.w(1, 0);
    t.w(LCR, 0x03);
    assert_eq!(t.r(LCR), 0x03);
    assert_eq!(t.r(IER), 0x05, "divisor writes did not touch IER");
    assert!(
        t.out.contents().is_empty(),
        "divisor writes did not transmit"
    );
    // 399193 / 2 baud, 10-bit frames: 1e9 / 199596.5 * 10 = 50101.1 ns.
    assert_eq!(t.uart.char_transmit_time(), 50101);
    t.w(THR, b'!');
    assert_eq!(t.out.take(), b"!");
}

#[test]
fn receive_without_fifo_and_overrun() {
    let mut t = Rig::new();
    t.w(IER, IER_RDI | IER_RLSI);
    assert_eq!(t.uart.can_receive(), 1);
    t.uart.receive(b"a");
    assert_eq!(t.uart.can_receive(), 0);
    assert!(t.irq.level());
    assert_eq!(t.r(IIR), IIR_RDI);
    assert_eq!(t.r(RBR), b'a');
    assert!(!t.irq.level());
    assert_eq!(t.r(LSR) & LSR_DR, 0);

    t.uart.receive(b"b");
    t.uart.receive(b"c");
    // Line status outranks received data.
    assert_eq!(t.r(IIR), IIR_RLSI);
    let lsr = t.r(LSR);
    assert_eq!(lsr & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
    assert_eq!(t.r(LSR) & LSR_OE, 0, "LSR read clears OE");
    assert_eq!(t.r(IIR), IIR_RDI);
    assert_eq!(t.r(RBR), b'c');
    assert_eq!(t.r(IIR), IIR_NO_INT);
}

#[test]
fn fifo_trigger_level_and_character_timeout() {
    let mut t = Rig::new();
    t.w(FCR, 0x81); // FIFO on, trigger 8 (what Linux uses for a 16550A)
    t.w(IER, IER_RDI);
    assert_eq!(t.uart.can_receive(), 8);
    t.uart.receive(b"abc");
    assert_eq!(t.uart.can_receive(), 5);
    assert!(!t.irq.level(), "below the trigger level");
    let char_time = t.uart.char_transmit_time();
    assert_eq!(t.timer.deadline(), Some(t.clock.get_ns() + 4 * char_time));
    t.run(4 * char_time - 1);
    assert!(!t.irq.level());
    t.run(1);
    assert!(t.irq.level(), "character timeout");
    assert_eq!(t.r(IIR), 0xc0 | IIR_CTI);
    assert_eq!(t.r(RBR), b'a');
    assert!(!t.irq.level(), "reading RBR clears the timeout");
    // Data remains, so the timeout is re-armed.
    assert!(t.timer.deadline().is_some());
    t.run(4 * char_time);
    assert_eq!(t.r(IIR), 0xc0 | IIR_CTI);
    assert_eq!(t.r(RBR), b'b');
    assert_eq!(t.r(RBR), b'c');
    assert_eq!(t.r(LSR) & LSR_DR, 0);
    assert!(!t.irq.level());
    // Reaching the trigger level raises RDI without waiting.
    t.uart.receive(b"12345678");
    assert_eq!(t.uart.can_receive(), 0, "exactly at the trigger level");
    assert_eq!(t.r(IIR), 0xc0 | IIR_RDI);
}

#[test]
fn fifo_overrun_keeps_first_sixteen() {
    let mut t = Rig::new();
    t.w(FCR, 0x01);
    let data: Vec<u8> = (0..20).collect();
    t.uart.receive(&data);
    assert_eq!(t.uart.can_receive(), 0);
    assert_ne!(t.r(LSR) & LSR_OE, 0);
    let got: Vec<u8> = (0..16).map(|_| t.r(RBR)).collect();
    assert_eq!(got, (0..16).collect::<Vec<u8>>());
    assert_eq!(t.r(LSR) & (LSR_DR | LSR_OE), 0);
}

#[test]
fn fifo_reset_drops_received_data() {
    let mut t = Rig::new();
    t.w(FCR, 0x01);
    t.uart.receive(b"xyz");
    t.w(FCR, 0x03);
    assert_eq!(t.r(LSR) & LSR_DR, 0);
    assert_eq!(t.timer.deadline(), None);
}

#[test]
fn interrupt_priority_order() {
    let mut t = Rig::new();
    t.w(IER, 0x0f);
    assert_eq!(t.r(IIR), IIR_THRI);
    t.w(IER, 0);
    t.w(IER, 0x0f);
    t.uart.receive(b"a");
    assert_eq!(t.r(IIR), IIR_RDI, "received data outranks THR empty");
    t.uart.receive(b"b");
    assert_eq!(t.r(IIR), IIR_RLSI, "line status outranks everything");
    let _ = t.r(LSR);
    assert_eq!(t.r(IIR), IIR_RDI);
    let _ = t.r(RBR);
    assert_eq!(t.r(IIR), IIR_THRI);
    assert_eq!(t.r(IIR), IIR_NO_INT);
}

#[test]
fn any_access_size_reaches_one_byte_register() {
    let mut t = Rig::new();
    assert_eq!(t.uart.region_size(), 8);
    t.w(SCR, 0x5a);
    assert_eq!(t.uart.read(7, 1), 0x5a);
    assert_eq!(t.uart.read(4, 4), u64::from(MCR_OUT2));
    assert_eq!(t.uart.read(0, 8), 0, "RBR, zero-extended");
    t.uart.write(7, 4, 0xdead_beef);
    assert_eq!(t.r(SCR), 0xef);
}

#[test]
fn break_sets_bi_and_delivers_nul() {
    let mut t = Rig::new();
    t.w(FCR, 0x01);
    t.w(IER, IER_RLSI);
    t.uart.receive_break();
    assert_eq!(t.r(IIR) & 0x0f, IIR_RLSI);
    assert_eq!(t.r(LSR) & (LSR_BI | LSR_DR), LSR_BI | LSR_DR);
    assert_eq!(t.r(RBR), 0);
}

#[test]
fn accept_input_hook_runs_on_rbr_read() {
    let mut t = Rig::new();
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    t.uart.set_accept_input(Box::new(move || {
        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }));
    t.uart.receive(b"q");
    assert_eq!(t.r(RBR), b'q');
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn reset_restores_power_on_state() {
    let mut t = Rig::new();
    t.w(FCR, 0x01);
    t.w(IER, 0x0f);
    t.w(LCR, 0x1b);
    t.uart.receive(b"data");
    t.uart.reset();
    assert!(!t.irq.level());
    assert_eq!(t.r(IIR), IIR_NO_INT);
    assert_eq!(t.r(LSR), LSR_THRE | LSR_TEMT);
    assert_eq!(t.r(LCR), 0);
    assert_eq!(t.timer.deadline(), None);
}

proptest! {
    /// Feeding the UART no more than `can_receive` allows, interleaved with
    /// guest reads while LSR.DR is set, delivers every byte once, in order,
    /// with no overrun (the reference model is a plain queue).
    #[test]
    fn rx_path_is_lossless_when_flow_controlled(
        fifo in any::<bool>(),
        trigger in 0u8..4,
        input in proptest::collection::vec(any::<u8>(), 0..200),
        reads in proptest::collection::vec(0usize..20, 1..60),
    ) {
        let mut t = Rig::new();
        if fifo {
            t.w(FCR, 0x01 | (trigger << 6));
        }
        t.w(IER, IER_RDI | IER_RLSI);
        let mut sent = 0;
        let mut got = Vec::new();
        let mut step = 0;
        while got.len() < input.len() {
            let room = t.uart.can_receive().min(input.len() - sent);
            t.uart.receive(&input[sent..sent + room]);
            sent += room;
            let n = reads[step % reads.len()].max(usize::from(room == 0));
            step += 1;
            for _ in 0..n {
                if t.r(LSR) & LSR_DR == 0 {
                    break;
                }
                got.push(t.r(RBR));
            }
            prop_assert_eq!(t.r(LSR) & LSR_OE, 0);
        }
        prop_assert_eq!(got, input);
        prop_assert!(!t.irq.level());
    }
}

/// Linux's `autoconfig()` and `autoconfig_16550a()` in
/// `drivers/tty/serial/8250/8250_port.c`, step by step: the UART must come
/// out as a plain 16550A (the boot log says "is a 16550A"), not as an EFR
/// part, a SuperIO chip, a 16750 or an XScale UART.
#[test]
fn linux_autoconfig_identifies_a_16550a() {
    let mut t = Rig::new();
    // Scratch test on IER.
    t.w(IER, 0);
    assert_eq!(t.r(IER) & 0x0f, 0);
    t.w(IER, 0x0f);
    assert_eq!(t.r(IER) & 0x0f, 0x0f);
    t.w(IER, 0);
    // Loopback check: MSR status must follow MCR.
    t.w(MCR, MCR_LOOP | 0x0a);
    assert_eq!(t.r(MSR) & 0xf0, 0x90);
    t.w(MCR, MCR_OUT2);
    // EFR probe in configuration mode B, then the FIFO type from IIR.
    t.w(LCR, 0xbf);
    t.w(2, 0);
    t.w(LCR, 0);
    t.w(FCR, FCR_FE);
    assert_eq!(t.r(IIR) >> 6, 3, "FIFO bits say 16550A family");
    // autoconfig_16550a: no EFR in either configuration mode...
    t.w(LCR, 0x80);
    assert_ne!(t.r(2), 0, "EFR absent (mode A)");
    t.w(LCR, 0xbf);
    assert_ne!(t.r(2), 0, "EFR absent (mode B)");
    // ...not a National SuperIO (EXCR1 does not track MCR.LOOP)...
    t.w(LCR, 0);
    let status1 = t.r(MCR);
    t.w(LCR, 0xe0);
    let status2 = t.r(2);
    if (status2 ^ status1) & MCR_LOOP == 0 {
        t.w(LCR, 0);
        t.w(MCR, status1 ^ MCR_LOOP);
        t.w(LCR, 0xe0);
        let status2 = t.r(2);
        t.w(LCR, 0);
        t.w(MCR, status1);
        assert_eq!((status2 ^ status1) & MCR_LOOP, 0, "not a SuperIO");
    }
    // ...not a TI16750 (no 64-byte FIFO bit)...
    t.w(LCR, 0);
    t.w(FCR, FCR_FE | 0x20);
    let s1 = t.r(IIR) >> 5;
    t.w(FCR, FCR_FE);
    t.w(LCR, 0x80);
    t.w(FCR, FCR_FE | 0x20);
    let s2 = t.r(IIR) >> 5;
    t.w(FCR, FCR_FE);
    t.w(LCR, 0);
    assert!(!(s1 == 6 && s2 == 7), "not a 16750");
    // ...and not an XScale UART (IER bit 6 does not stick).
    t.w(IER, 0x40);
    assert_eq!(t.r(IER) & 0x40, 0, "not XScale");
    t.w(IER, 0);
    // Nothing was transmitted and no interrupt is left pending.
    assert!(t.out.contents().is_empty());
    assert!(!t.irq.level());
}
