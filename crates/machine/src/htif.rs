//! The RISC-V Host-Target Interface of the `spike` board
//! (QEMU: `hw/char/riscv_htif.c`).
//!
//! Bare-metal test programs talk to the host through two 64-bit words,
//! `tohost` and `fromhost`, found by their ELF symbols. A write to `tohost`
//! is a command: bits 63:56 select the device, 55:48 the command, 47:0 are
//! the payload.
//!
//! - device 0, command 0, payload bit 0 set: the program ends with exit
//!   status `payload >> 1` (riscv-tests: 1 means pass);
//! - device 1, command 1: write the low byte of the payload to the console;
//! - device 1, command 0: read a console byte (the answer arrives in
//!   `fromhost` as `0x100 | byte`).
//!
//! As in QEMU the region has no access-size rules, so the memory core splits
//! a 64-bit store into two 32-bit ones, low half first; the command runs when
//! the high half of `tohost` is written. `fromhost` gets the device and
//! command back with the response, and `tohost` is cleared to acknowledge.

use std::collections::VecDeque;
use std::sync::Arc;

use ferrite_hw::chardev::CharBackend;
use ferrite_memory::MemoryRegionOps;
use parking_lot::Mutex;

/// What the HTIF asks of the board when a program ends.
pub trait HtifExit: Send + Sync {
    /// The guest wrote an exit command with this status.
    fn exit(&self, code: u32);
}

#[derive(Default)]
struct HtifState {
    tohost: u64,
    fromhost: u64,
    allow_tohost: bool,
    pending_read: Option<u64>,
    input: VecDeque<u8>,
}

/// The HTIF device: its registers and where output and exits go.
pub struct Htif {
    tohost_offset: u64,
    fromhost_offset: u64,
    state: Mutex<HtifState>,
    console: Arc<dyn CharBackend>,
    on_exit: Arc<dyn HtifExit>,
}

const DEV_SYSTEM: u8 = 0;
const DEV_CONSOLE: u8 = 1;
const CMD_SYSCALL: u8 = 0;
const CMD_GETC: u8 = 0;
const CMD_PUTC: u8 = 1;

impl Htif {
    /// An HTIF whose `tohost` and `fromhost` words are at the given offsets
    /// inside its region.
    pub fn new(
        tohost_offset: u64,
        fromhost_offset: u64,
        console: Arc<dyn CharBackend>,
        on_exit: Arc<dyn HtifExit>,
    ) -> Self {
        Htif {
            tohost_offset,
            fromhost_offset,
            state: Mutex::new(HtifState::default()),
            console,
            on_exit,
        }
    }

    /// Console input from the host (QEMU's `htif_recv`): answers a pending
    /// read command, or is queued until the guest asks.
    pub fn receive(&self, bytes: &[u8]) {
        let mut s = self.state.lock();
        s.input.extend(bytes);
        Self::answer_read(&mut s);
    }

    fn answer_read(s: &mut HtifState) {
        if let Some(cmd) = s.pending_read
            && let Some(b) = s.input.pop_front()
        {
            s.fromhost = (cmd >> 48 << 48) | 0x100 | u64::from(b);
            s.pending_read = None;
        }
    }

    fn handle_tohost(&self, s: &mut HtifState, val: u64) {
        let device = (val >> 56) as u8;
        let cmd = (val >> 48) as u8;
        let payload = val & 0xffff_ffff_ffff;
        let mut resp = 0u64;
        match (device, cmd) {
            (DEV_SYSTEM, CMD_SYSCALL) => {
                if payload & 1 != 0 {
                    let code = (payload >> 1) as u32;
                    s.tohost = 0;
                    self.on_exit.exit(code);
                    return;
                }
                ferrite_aio::qemu_log_mask!(
                    ferrite_aio::log::LogMask::UNIMP,
                    "pk syscall proxy not supported\n"
                );
            }
            (DEV_CONSOLE, CMD_GETC) => {
                s.pending_read = Some(val);
                s.tohost = 0;
                Self::answer_read(s);
                return;
            }
            (DEV_CONSOLE, CMD_PUTC) => {
                self.console.write(&[payload as u8]);
                resp = 0x100 | (payload & 0xff);
            }
            _ => {
                ferrite_aio::qemu_log_mask!(
                    ferrite_aio::log::LogMask::GUEST_ERROR,
                    "HTIF device {device}: unknown command {cmd}\n"
                );
            }
        }
        s.fromhost = (val >> 48 << 48) | (resp & 0xffff_ffff_ffff);
        s.tohost = 0;
    }
}

impl MemoryRegionOps for Htif {
    fn read(&self, addr: u64, _size: u32) -> u64 {
        let s = self.state.lock();
        if addr == self.tohost_offset {
            s.tohost & 0xffff_ffff
        } else if addr == self.tohost_offset + 4 {
            s.tohost >> 32
        } else if addr == self.fromhost_offset {
            s.fromhost & 0xffff_ffff
        } else if addr == self.fromhost_offset + 4 {
            s.fromhost >> 32
        } else {
            0
        }
    }

    fn write(&self, addr: u64, value: u64, _size: u32) {
        let mut s = self.state.lock();
        let value = value & 0xffff_ffff;
        if addr == self.tohost_offset {
            // A new command may start only once the last one was taken.
            if s.tohost == 0 {
                s.allow_tohost = true;
                s.tohost = value;
            } else {
                s.allow_tohost = false;
            }
        } else if addr == self.tohost_offset + 4 {
            if s.allow_tohost {
                let cmd = s.tohost | (value << 32);
                s.tohost = cmd;
                self.handle_tohost(&mut s, cmd);
            }
        } else if addr == self.fromhost_offset {
            s.fromhost = value;
        } else if addr == self.fromhost_offset + 4 {
            s.fromhost |= value << 32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Default)]
    struct Out(Mutex<Vec<u8>>);
    impl CharBackend for Out {
        fn write(&self, buf: &[u8]) {
            self.0.lock().extend_from_slice(buf);
        }
    }
    struct Exit(AtomicU32);
    impl HtifExit for Exit {
        fn exit(&self, code: u32) {
            self.0.store(code + 1, Ordering::SeqCst);
        }
    }

    fn store64(h: &Htif, off: u64, v: u64) {
        h.write(off, v & 0xffff_ffff, 4);
        h.write(off + 4, v >> 32, 4);
    }

    #[test]
    fn putchar_exit_and_getchar() {
        let out = Arc::new(Out::default());
        let exit = Arc::new(Exit(AtomicU32::new(0)));
        // fromhost at 0, tohost at 8, as with QEMU's custom base.
        let h = Htif::new(8, 0, out.clone(), exit.clone());
        store64(&h, 8, (1 << 56) | (1 << 48) | u64::from(b'A'));
        assert_eq!(&*out.0.lock(), b"A");
        assert_eq!(h.read(8, 4), 0, "tohost acknowledged");
        assert_eq!(h.read(4, 4), 0x0101_0000, "fromhost: device 1, cmd 1");
        assert_eq!(h.read(0, 4), 0x141);

        // getchar before input: answered when input arrives.
        h.write(0, 0, 4);
        h.write(4, 0, 4);
        store64(&h, 8, 1 << 56);
        assert_eq!(h.read(0, 4), 0);
        h.receive(b"z");
        assert_eq!(h.read(0, 4), 0x100 | u32::from(b'z') as u64);

        store64(&h, 8, (21 << 1) | 1);
        assert_eq!(exit.0.load(Ordering::SeqCst), 22, "exit status 21");
    }

    #[test]
    fn busy_tohost_ignores_new_commands() {
        let out = Arc::new(Out::default());
        let exit = Arc::new(Exit(AtomicU32::new(0)));
        let h = Htif::new(0, 8, out.clone(), exit);
        // Unknown device: tohost acknowledged, nothing printed.
        store64(&h, 0, 7 << 56);
        assert!(out.0.lock().is_empty());
        // Guest-controlled offsets outside the two words read 0.
        assert_eq!(h.read(16, 4), 0);
        h.write(20, 1, 4);
    }
}
