//! The SiFive test finisher (QEMU: `hw/misc/sifive_test.c`).
//!
//! One write-only 32-bit register at offset 0: the low 16 bits are a status,
//! the high 16 bits a code. `0x5555` asks for power-off, `0x3333` for a failure
//! exit with the code, `0x7777` for a system reset. Reads return 0. QEMU 7.2
//! calls `exit()` directly for pass and fail; Ferrite reports a
//! [`ShutdownRequest`] to the board instead, which ends the process (status 0
//! or the code) or resets the machine (or exits, with `-no-reboot`).

use crate::mmio::{AccessRules, GUEST_ERROR, MmioDevice, SizeRange};
use std::sync::Arc;

/// The region's name in `info mtree`.
pub const REGION_NAME: &str = "riscv.sifive.test";
/// Size of the region.
pub const REGION_SIZE: u64 = 0x1000;

/// Status value asking for a failure exit (`FINISHER_FAIL`).
pub const FINISHER_FAIL: u64 = 0x3333;
/// Status value asking for power-off (`FINISHER_PASS`).
pub const FINISHER_PASS: u64 = 0x5555;
/// Status value asking for a system reset (`FINISHER_RESET`).
pub const FINISHER_RESET: u64 = 0x7777;

/// What the guest asked the machine to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownRequest {
    /// Power off; the process exits with status 0.
    Poweroff,
    /// Failure; the process exits with this status code (0..=0xffff).
    Fail(u16),
    /// Reset the machine (QEMU: `SHUTDOWN_CAUSE_GUEST_RESET`).
    Reset,
}

/// Receives run-state requests (QEMU: `qemu_system_shutdown_request` and
/// `qemu_system_reset_request`). The board implements it; the request is acted
/// on by the main loop, not inside the MMIO access.
pub trait ShutdownSink: Send + Sync {
    /// Records `req`.
    fn request(&self, req: ShutdownRequest);
}

/// The finisher device.
pub struct SifiveTest {
    sink: Arc<dyn ShutdownSink>,
}

impl SifiveTest {
    /// A finisher that reports to `sink`.
    pub fn new(sink: Arc<dyn ShutdownSink>) -> Self {
        Self { sink }
    }
}

impl std::fmt::Debug for SifiveTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SifiveTest")
    }
}

impl MmioDevice for SifiveTest {
    fn access_rules(&self) -> AccessRules {
        // QEMU: .valid 2..4; no .impl, so the callbacks take 1..4.
        AccessRules {
            valid: SizeRange { min: 2, max: 4 },
            unaligned: false,
            impl_sizes: SizeRange { min: 1, max: 4 },
        }
    }

    fn read(&mut self, _offset: u64, _size: u32) -> u64 {
        0
    }

    fn write(&mut self, offset: u64, _size: u32, value: u64) {
        if offset == 0 {
            let status = value & 0xffff;
            let code = ((value >> 16) & 0xffff) as u16;
            match status {
                FINISHER_FAIL => return self.sink.request(ShutdownRequest::Fail(code)),
                FINISHER_PASS => return self.sink.request(ShutdownRequest::Poweroff),
                FINISHER_RESET => return self.sink.request(ShutdownRequest::Reset),
                _ => {}
            }
        }
        log::warn!(target: GUEST_ERROR, "sifive_test: write: addr={offset:#x} val={value:#018x}");
    }
}

/// A [`ShutdownSink`] that records requests (for tests).
#[derive(Debug, Default)]
pub struct RecordingSink {
    requests: parking_lot::Mutex<Vec<ShutdownRequest>>,
}

impl RecordingSink {
    /// An empty recorder.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Takes the requests recorded so far.
    pub fn take(&self) -> Vec<ShutdownRequest> {
        std::mem::take(&mut *self.requests.lock())
    }
}

impl ShutdownSink for RecordingSink {
    fn request(&self, req: ShutdownRequest) {
        self.requests.lock().push(req);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> (SifiveTest, Arc<RecordingSink>) {
        let sink = RecordingSink::new();
        (SifiveTest::new(sink.clone()), sink)
    }

    #[test]
    fn pass_fail_reset() {
        let (mut d, sink) = dev();
        d.write(0, 4, 0x5555);
        d.write(0, 4, 0x0003_3333);
        d.write(0, 4, 0x7777);
        d.write(0, 2, 0x5555);
        assert_eq!(
            sink.take(),
            vec![
                ShutdownRequest::Poweroff,
                ShutdownRequest::Fail(3),
                ShutdownRequest::Reset,
                ShutdownRequest::Poweroff
            ]
        );
    }

    #[test]
    fn other_values_and_offsets_are_ignored() {
        let (mut d, sink) = dev();
        d.write(0, 4, 0x1234);
        d.write(4, 4, 0x5555);
        d.write(0, 4, 0x5556);
        assert!(sink.take().is_empty());
        assert_eq!(d.read(0, 4), 0);
    }

    #[test]
    fn pass_ignores_code_bits() {
        // QEMU ignores the code for PASS: 0x0001_5555 is still exit(0).
        let (mut d, sink) = dev();
        d.write(0, 4, 0x0001_5555);
        assert_eq!(sink.take(), vec![ShutdownRequest::Poweroff]);
    }

    #[test]
    fn access_rules_match_qemu() {
        let (d, _) = dev();
        let r = d.access_rules();
        assert!(!r.is_valid(0, 1));
        assert!(r.is_valid(0, 2));
        assert!(r.is_valid(0, 4));
        assert!(!r.is_valid(0, 8));
    }
}
