//! The NS16550A UART (QEMU: `hw/char/serial.c` and `serial_mm_*`).
//!
//! Byte registers at `offset >> regshift`; the region is `8 << regshift`
//! bytes ([`Serial::region_size`]; on `virt` the rest of the 0x100-byte slot
//! is unassigned, as QEMU 7.2 shows). Any access size reaches exactly one
//! byte register (QEMU's `serial_mm_ops` take 1..8-byte accesses and handle
//! each as a single byte access). 16-byte receive and
//! transmit FIFOs; transmission is synchronous (each byte goes to the
//! [`CharBackend`] as soon as it is written), so THRE comes back at once and a
//! THR-empty interrupt becomes pending after every byte, as on QEMU.
//!
//! Interrupt identification follows the 16550 priority order: receiver line
//! status, character timeout, received data (with the FIFO trigger level),
//! THR empty, modem status. The behaviour Linux's 8250 driver depends on:
//! enabling IER.THRI while THRE is set makes THR-empty pending at once (the
//! `UART_BUG_THRE` probe), reading IIR while it reports THR-empty clears that
//! condition, IER reads back its low nibble, FCR's FIFO enable shows as 0xC0
//! in IIR, and loopback mirrors MCR into MSR.
//!
//! Input: the board's main-loop fd handler asks [`Serial::can_receive`] and
//! passes bytes to [`Serial::receive`], as QEMU's chardev frontend does. The
//! character-timeout interrupt uses a [`Timer`] on the VIRTUAL clock; the
//! board routes its expiry to [`Serial::fifo_timeout_cb`].

use std::collections::VecDeque;
use std::sync::Arc;

use crate::chardev::CharBackend;
use crate::clock::{Clock, Timer};
use crate::irq::IrqLine;
use crate::mmio::{AccessRules, MmioDevice};

/// Depth of each FIFO (`UART_FIFO_LENGTH`).
pub const FIFO_LENGTH: usize = 16;

/// IER: received data available interrupt enable.
pub const IER_RDI: u8 = 0x01;
/// IER: THR empty interrupt enable.
pub const IER_THRI: u8 = 0x02;
/// IER: receiver line status interrupt enable.
pub const IER_RLSI: u8 = 0x04;
/// IER: modem status interrupt enable.
pub const IER_MSI: u8 = 0x08;

/// IIR: no interrupt pending.
pub const IIR_NO_INT: u8 = 0x01;
/// IIR mask of the interrupt id bits.
pub const IIR_ID: u8 = 0x06;
/// IIR id: modem status.
pub const IIR_MSI: u8 = 0x00;
/// IIR id: THR empty.
pub const IIR_THRI: u8 = 0x02;
/// IIR id: received data available.
pub const IIR_RDI: u8 = 0x04;
/// IIR id: receiver line status.
pub const IIR_RLSI: u8 = 0x06;
/// IIR id: character timeout.
pub const IIR_CTI: u8 = 0x0c;
/// IIR bits 7:6, set while the FIFOs are enabled.
pub const IIR_FE: u8 = 0xc0;

/// FCR: FIFO enable.
pub const FCR_FE: u8 = 0x01;
/// FCR: receive FIFO reset.
pub const FCR_RFR: u8 = 0x02;
/// FCR: transmit FIFO reset.
pub const FCR_XFR: u8 = 0x04;

/// LCR: divisor latch access bit.
pub const LCR_DLAB: u8 = 0x80;

/// MCR: loopback.
pub const MCR_LOOP: u8 = 0x10;
/// MCR: OUT2.
pub const MCR_OUT2: u8 = 0x08;

/// LSR: data ready.
pub const LSR_DR: u8 = 0x01;
/// LSR: overrun error.
pub const LSR_OE: u8 = 0x02;
/// LSR: break interrupt.
pub const LSR_BI: u8 = 0x10;
/// LSR: THR empty.
pub const LSR_THRE: u8 = 0x20;
/// LSR: transmitter empty.
pub const LSR_TEMT: u8 = 0x40;
/// LSR bits that raise a receiver-line-status interrupt (OE, PE, FE, BI).
pub const LSR_INT_ANY: u8 = 0x1e;

/// MSR: clear to send.
pub const MSR_CTS: u8 = 0x10;
/// MSR: data set ready.
pub const MSR_DSR: u8 = 0x20;
/// MSR: data carrier detect.
pub const MSR_DCD: u8 = 0x80;
/// MSR: the four delta bits.
pub const MSR_ANY_DELTA: u8 = 0x0f;

/// The region's name in `info mtree`.
pub const REGION_NAME: &str = "serial";

/// The `baudbase` QEMU's `virt` board gives its UART (`serial_mm_init(..., 399193, ...)`);
/// it only affects the character time used for the receive timeout.
pub const VIRT_BAUDBASE: u32 = 399_193;

const NANOSECONDS_PER_SECOND: i64 = 1_000_000_000;

/// Receive FIFO trigger levels selected by FCR bits 7:6.
const RX_TRIGGER_LEVELS: [usize; 4] = [1, 4, 8, 14];

/// The UART.
pub struct Serial {
    divider: u16,
    rbr: u8,
    thr: u8,
    tsr: u8,
    ier: u8,
    iir: u8,
    lcr: u8,
    mcr: u8,
    lsr: u8,
    msr: u8,
    scr: u8,
    fcr: u8,
    thr_ipending: bool,
    timeout_ipending: bool,
    recv_fifo: VecDeque<u8>,
    xmit_fifo: VecDeque<u8>,
    recv_fifo_itl: usize,
    char_transmit_time: i64,
    baudbase: u32,
    regshift: u32,
    irq: IrqLine,
    chr: Arc<dyn CharBackend>,
    clock: Arc<dyn Clock>,
    fifo_timeout_timer: Box<dyn Timer>,
    accept_input: Option<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serial")
            .field("ier", &self.ier)
            .field("iir", &self.iir)
            .field("lcr", &self.lcr)
            .field("lsr", &self.lsr)
            .field("mcr", &self.mcr)
            .field("fcr", &self.fcr)
            .field("rx", &self.recv_fifo.len())
            .finish_non_exhaustive()
    }
}

impl Serial {
    /// A UART in its reset state.
    ///
    /// `irq` is its interrupt output (PLIC source 10 on `virt`), `chr` its
    /// output backend, `clock` the VIRTUAL clock and `fifo_timeout_timer` a
    /// timer on it whose expiry the board routes to [`Self::fifo_timeout_cb`].
    /// `baudbase` is QEMU's property of that name ([`VIRT_BAUDBASE`] on `virt`)
    /// and `regshift` the register stride (0 on `virt`).
    pub fn new(
        irq: IrqLine,
        chr: Arc<dyn CharBackend>,
        clock: Arc<dyn Clock>,
        fifo_timeout_timer: Box<dyn Timer>,
        baudbase: u32,
        regshift: u32,
    ) -> Self {
        assert!(regshift < 8, "serial: regshift {regshift} out of range");
        let mut s = Self {
            divider: 0,
            rbr: 0,
            thr: 0,
            tsr: 0,
            ier: 0,
            iir: IIR_NO_INT,
            lcr: 0,
            mcr: 0,
            lsr: 0,
            msr: 0,
            scr: 0,
            fcr: 0,
            thr_ipending: false,
            timeout_ipending: false,
            recv_fifo: VecDeque::with_capacity(FIFO_LENGTH),
            xmit_fifo: VecDeque::with_capacity(FIFO_LENGTH),
            recv_fifo_itl: 1,
            char_transmit_time: 0,
            baudbase,
            regshift,
            irq,
            chr,
            clock,
            fifo_timeout_timer,
            accept_input: None,
        };
        s.reset();
        s
    }

    /// Size of the register region to map: 8 registers of `1 << regshift` bytes.
    pub fn region_size(&self) -> u64 {
        8 << self.regshift
    }

    /// Installs a hook called when the receive path frees space after the
    /// guest reads RBR (QEMU: `qemu_chr_fe_accept_input`). It runs inside the
    /// MMIO access, so it must only wake the main loop, never call back into
    /// the UART.
    pub fn set_accept_input(&mut self, hook: Box<dyn Fn() + Send + Sync>) {
        self.accept_input = Some(hook);
    }

    /// Device reset (QEMU: `serial_reset`): 9600 8N1, OUT2 set, FIFOs off and
    /// empty, no interrupt.
    pub fn reset(&mut self) {
        self.rbr = 0;
        self.ier = 0;
        self.iir = IIR_NO_INT;
        self.lcr = 0;
        self.lsr = LSR_TEMT | LSR_THRE;
        self.msr = MSR_DCD | MSR_DSR | MSR_CTS;
        self.divider = 0x0c;
        self.mcr = MCR_OUT2;
        self.scr = 0;
        self.fcr = 0;
        self.recv_fifo_itl = 1;
        self.char_transmit_time = (NANOSECONDS_PER_SECOND / 9600) * 10;
        self.timeout_ipending = false;
        self.fifo_timeout_timer.delete();
        self.recv_fifo.clear();
        self.xmit_fifo.clear();
        self.thr_ipending = false;
        self.irq.lower();
    }

    /// The current level of the interrupt output.
    pub fn irq_pending(&self) -> bool {
        self.iir & 0x0f != IIR_NO_INT
    }

    fn fifo_enabled(&self) -> bool {
        self.fcr & FCR_FE != 0
    }

    /// Recomputes IIR and the interrupt line (QEMU: `serial_update_irq`).
    fn update_irq(&mut self) {
        let id = if self.ier & IER_RLSI != 0 && self.lsr & LSR_INT_ANY != 0 {
            IIR_RLSI
        } else if self.ier & IER_RDI != 0 && self.timeout_ipending {
            // IER.RDI masks the timeout too: not in the datasheet, but real
            // parts do it and QEMU copies them.
            IIR_CTI
        } else if self.ier & IER_RDI != 0
            && self.lsr & LSR_DR != 0
            && (!self.fifo_enabled() || self.recv_fifo.len() >= self.recv_fifo_itl)
        {
            IIR_RDI
        } else if self.ier & IER_THRI != 0 && self.thr_ipending {
            IIR_THRI
        } else if self.ier & IER_MSI != 0 && self.msr & MSR_ANY_DELTA != 0 {
            IIR_MSI
        } else {
            IIR_NO_INT
        };
        self.iir = id | (self.iir & 0xf0);
        self.irq.set(id != IIR_NO_INT);
    }

    /// Recomputes the character time from the divisor and LCR
    /// (QEMU: `serial_update_parameters`, minus the host tty ioctl).
    fn update_parameters(&mut self) {
        if self.divider == 0 || u32::from(self.divider) > self.baudbase {
            return;
        }
        let parity = u32::from(self.lcr & 0x08 != 0);
        let stop_bits = if self.lcr & 0x04 != 0 { 2 } else { 1 };
        let data_bits = u32::from(self.lcr & 0x03) + 5;
        let frame_size = 1 + parity + data_bits + stop_bits;
        let speed = f64::from(self.baudbase) / f64::from(self.divider);
        // As QEMU: the per-bit time stays fractional until multiplied out.
        self.char_transmit_time =
            (NANOSECONDS_PER_SECOND as f64 / speed * f64::from(frame_size)) as i64;
    }

    /// The time one character takes on the line at the current settings, in ns.
    pub fn char_transmit_time(&self) -> i64 {
        self.char_transmit_time
    }

    fn arm_fifo_timeout(&mut self) {
        let deadline = self
            .clock
            .get_ns()
            .saturating_add(self.char_transmit_time * 4);
        self.fifo_timeout_timer.modify(deadline);
    }

    /// Sends what is in THR or the transmit FIFO (QEMU: `serial_xmit`).
    /// Backends take bytes synchronously, so this always empties the FIFO.
    fn xmit(&mut self) {
        loop {
            if self.fifo_enabled() {
                match self.xmit_fifo.pop_front() {
                    Some(b) => self.tsr = b,
                    // Nothing queued (the FIFO was reset under us): nothing to send.
                    None => {
                        self.lsr |= LSR_THRE;
                        break;
                    }
                }
                if self.xmit_fifo.is_empty() {
                    self.lsr |= LSR_THRE;
                }
            } else {
                self.tsr = self.thr;
                self.lsr |= LSR_THRE;
            }
            if self.lsr & LSR_THRE != 0 && !self.thr_ipending {
                self.thr_ipending = true;
                self.update_irq();
            }
            if self.mcr & MCR_LOOP != 0 {
                // In loopback the shift register feeds the receiver.
                let b = self.tsr;
                self.receive(&[b]);
            } else {
                self.chr.write(&[self.tsr]);
            }
            if self.lsr & LSR_THRE != 0 {
                break;
            }
        }
        self.lsr |= LSR_TEMT;
    }

    /// Programs FCR (QEMU: `serial_write_fcr`).
    fn write_fcr(&mut self, val: u8) {
        self.fcr = val;
        if val & FCR_FE != 0 {
            self.iir |= IIR_FE;
            self.recv_fifo_itl = RX_TRIGGER_LEVELS[usize::from(val >> 6)];
        } else {
            self.iir &= !IIR_FE;
        }
    }

    fn recv_fifo_put(&mut self, b: u8) {
        // Receive overruns do not overwrite FIFO contents.
        if self.recv_fifo.len() < FIFO_LENGTH {
            self.recv_fifo.push_back(b);
        } else {
            self.lsr |= LSR_OE;
        }
    }

    /// How many bytes the UART can take now (QEMU: `serial_can_receive`).
    ///
    /// With FIFOs on it advertises up to the trigger level (and 1 above it),
    /// so that the receive interrupt fires at the trigger level rather than
    /// the FIFO filling silently; 0 when the FIFO is full or exactly at the
    /// trigger level. Without FIFOs, 1 while RBR is empty.
    pub fn can_receive(&self) -> usize {
        if self.fifo_enabled() {
            let n = self.recv_fifo.len();
            if n < FIFO_LENGTH {
                if n <= self.recv_fifo_itl {
                    self.recv_fifo_itl - n
                } else {
                    1
                }
            } else {
                0
            }
        } else {
            usize::from(self.lsr & LSR_DR == 0)
        }
    }

    /// Bytes arriving from the backend (QEMU: `serial_receive1`). Bytes beyond
    /// what the FIFO holds are dropped and set OE, as on the hardware.
    pub fn receive(&mut self, buf: &[u8]) {
        if buf.is_empty() {
            return;
        }
        if self.fifo_enabled() {
            for &b in buf {
                self.recv_fifo_put(b);
            }
            self.lsr |= LSR_DR;
            // The timeout interrupt comes 4 character times after the last byte.
            self.arm_fifo_timeout();
        } else {
            // Without a FIFO, RBR holds one byte: a byte arriving while DR is
            // still set overruns it.
            for &b in buf {
                if self.lsr & LSR_DR != 0 {
                    self.lsr |= LSR_OE;
                }
                self.rbr = b;
                self.lsr |= LSR_DR;
            }
        }
        self.update_irq();
    }

    /// A break condition from the backend (QEMU: `serial_receive_break`).
    pub fn receive_break(&mut self) {
        self.rbr = 0;
        // When the LSR is read, a 0 byte is in the FIFO to go with BI.
        self.recv_fifo_put(0);
        self.lsr |= LSR_BI | LSR_DR;
        self.update_irq();
    }

    /// Expiry of the receive-timeout timer (QEMU: `fifo_timeout_int`).
    pub fn fifo_timeout_cb(&mut self) {
        if !self.recv_fifo.is_empty() {
            self.timeout_ipending = true;
            self.update_irq();
        }
    }

    /// A read of byte register `reg` (0..=7) (QEMU: `serial_ioport_read`).
    pub fn read_reg(&mut self, reg: u64) -> u8 {
        match reg & 7 {
            0 => {
                if self.lcr & LCR_DLAB != 0 {
                    return self.divider as u8;
                }
                let ret;
                if self.fifo_enabled() {
                    ret = self.recv_fifo.pop_front().unwrap_or(0);
                    if self.recv_fifo.is_empty() {
                        self.lsr &= !(LSR_DR | LSR_BI);
                    } else {
                        self.arm_fifo_timeout();
                    }
                    self.timeout_ipending = false;
                } else {
                    ret = self.rbr;
                    self.lsr &= !(LSR_DR | LSR_BI);
                }
                self.update_irq();
                if self.mcr & MCR_LOOP == 0
                    && let Some(hook) = &self.accept_input
                {
                    hook();
                }
                ret
            }
            1 => {
                if self.lcr & LCR_DLAB != 0 {
                    (self.divider >> 8) as u8
                } else {
                    self.ier
                }
            }
            2 => {
                let ret = self.iir;
                if ret & 0x0f == IIR_THRI {
                    self.thr_ipending = false;
                    self.update_irq();
                }
                ret
            }
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                let ret = self.lsr;
                // Reading LSR clears the overrun and break conditions.
                if self.lsr & (LSR_BI | LSR_OE) != 0 {
                    self.lsr &= !(LSR_BI | LSR_OE);
                    self.update_irq();
                }
                ret
            }
            6 => {
                if self.mcr & MCR_LOOP != 0 {
                    // MCR outputs loop back: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
                    ((self.mcr & 0x0c) << 4) | ((self.mcr & 0x02) << 3) | ((self.mcr & 0x01) << 5)
                } else {
                    let ret = self.msr;
                    // Reading MSR clears the delta bits.
                    if self.msr & MSR_ANY_DELTA != 0 {
                        self.msr &= 0xf0;
                        self.update_irq();
                    }
                    ret
                }
            }
            _ => self.scr,
        }
    }

    /// A write of `val` to byte register `reg` (0..=7) (QEMU: `serial_ioport_write`).
    pub fn write_reg(&mut self, reg: u64, val: u8) {
        match reg & 7 {
            0 => {
                if self.lcr & LCR_DLAB != 0 {
                    self.divider = (self.divider & 0xff00) | u16::from(val);
                    self.update_parameters();
                    return;
                }
                self.thr = val;
                if self.fifo_enabled() {
                    // Transmit overruns overwrite data: make room if needed.
                    if self.xmit_fifo.len() == FIFO_LENGTH {
                        self.xmit_fifo.pop_front();
                    }
                    self.xmit_fifo.push_back(val);
                }
                self.thr_ipending = false;
                self.lsr &= !(LSR_THRE | LSR_TEMT);
                self.update_irq();
                self.xmit();
            }
            1 => {
                if self.lcr & LCR_DLAB != 0 {
                    self.divider = (self.divider & 0x00ff) | (u16::from(val) << 8);
                    self.update_parameters();
                    return;
                }
                let changed = (self.ier ^ val) & 0x0f;
                self.ier = val & 0x0f;
                // Turning IER.THRI on while THRE is set makes THR-empty pending
                // even if an IIR read had cleared it (not in the datasheet;
                // Linux's THRE probe and Windows rely on it). Sampled on the
                // rising edge of THRI only, as QEMU and Bochs do.
                if changed & IER_THRI != 0 {
                    self.thr_ipending = self.ier & IER_THRI != 0 && self.lsr & LSR_THRE != 0;
                }
                if changed != 0 {
                    self.update_irq();
                }
            }
            2 => {
                let mut val = val;
                // Changing the FIFO enable flushes both FIFOs.
                if (val ^ self.fcr) & FCR_FE != 0 {
                    val |= FCR_XFR | FCR_RFR;
                }
                if val & FCR_RFR != 0 {
                    self.lsr &= !(LSR_DR | LSR_BI);
                    self.fifo_timeout_timer.delete();
                    self.timeout_ipending = false;
                    self.recv_fifo.clear();
                }
                if val & FCR_XFR != 0 {
                    self.lsr |= LSR_THRE;
                    self.thr_ipending = true;
                    self.xmit_fifo.clear();
                }
                // The reset bits are self-clearing; keep enable, DMA mode and trigger.
                self.write_fcr(val & 0xc9);
                self.update_irq();
            }
            3 => {
                self.lcr = val;
                self.update_parameters();
            }
            4 => self.mcr = val & 0x1f,
            5 | 6 => {}
            _ => self.scr = val,
        }
    }
}

impl MmioDevice for Serial {
    fn access_rules(&self) -> AccessRules {
        // QEMU's serial_mm_ops: .valid.max 8, .impl.max 8 (min defaults to 1),
        // and every access is one byte-register access.
        AccessRules::sizes(1, 8)
    }

    fn read(&mut self, offset: u64, _size: u32) -> u64 {
        u64::from(self.read_reg(offset >> self.regshift))
    }

    fn write(&mut self, offset: u64, _size: u32, value: u64) {
        self.write_reg(offset >> self.regshift, value as u8)
    }
}
