//! Differential tests against Debian's QEMU 7.2 (`qemu-system-riscv64`,
//! package `qemu-system-misc`): the same register accesses go to QEMU's `virt`
//! machine through its qtest protocol and to Ferrite's device models wired the
//! way the board wires them; every read value and every change of hart 0's
//! MSIP/MTIP/SEIP/MEIP must agree.
//!
//! QEMU runs with `-S` (the virtual clock stands still, so `mtime` is frozen,
//! and no firmware runs) and `virtio-mmio.force-legacy=false`. Hart 0's
//! interrupt inputs are intercepted with `irq_intercept_in`, which reports
//! each level change and still forwards it to the CPU.
//!
//! If QEMU is not installed the tests print a notice and pass, unless
//! `FERRITE_REQUIRE_QEMU=1` is set (CI sets it), in which case they fail.

mod common;

use common::{Qemu, qemu_available};
use std::sync::Arc;

use ferrite_hw::char::serial::{Serial, VIRT_BAUDBASE};
use ferrite_hw::chardev::NullBackend;
use ferrite_hw::clock::{FakeClock, FakeTimer, HostClock, Timer};
use ferrite_hw::intc::aclint::{AclintMtimer, AclintSwi, MtimeSource, TIMEBASE_FREQ};
use ferrite_hw::intc::plic::{Plic, SharedPlic};
use ferrite_hw::irq::{HartIrq, MipProbe, hart_irq_line, mip};
use ferrite_hw::misc::sifive_test::{RecordingSink, ShutdownRequest, SifiveTest};
use ferrite_hw::mmio::MmioDevice;
use ferrite_hw::rtc::goldfish::GoldfishRtc;
use ferrite_hw::virtio::VecMemory;
use ferrite_hw::virtio::mmio::VirtioMmio;
use parking_lot::Mutex;

const QEMU_ARGS: &[&str] = &[
    "-M",
    "virt",
    "-m",
    "512",
    "-S",
    "-bios",
    "none",
    "-global",
    "virtio-mmio.force-legacy=false",
];
/// The hart interrupt bits compared after every access.
const BITS: [u32; 4] = [mip::MSIP, mip::MTIP, mip::SEIP, mip::MEIP];

/// Ferrite's devices at the `virt` addresses (one hart).
struct Model {
    harts: Arc<MipProbe>,
    sink: Arc<RecordingSink>,
    test: SifiveTest,
    rtc: GoldfishRtc,
    swi: AclintSwi,
    mtimer: AclintMtimer,
    plic: SharedPlic,
    uart: Serial,
    virtio: Vec<VirtioMmio>,
}

impl Model {
    fn new() -> Self {
        Self::with_harts(1)
    }

    fn with_harts(n: usize) -> Self {
        let harts = MipProbe::new(n);
        let h: Arc<dyn HartIrq> = harts.clone();
        let plic: SharedPlic = Arc::new(Mutex::new(Plic::new_virt(n, &h)));
        // The virtual clock stands still under -S.
        let vclock = Arc::new(FakeClock::new(0));
        let sink = RecordingSink::new();
        let mem = Arc::new(VecMemory::new(0x8000_0000, 1 << 20));
        Self {
            test: SifiveTest::new(sink.clone()),
            rtc: GoldfishRtc::new(
                Arc::new(HostClock),
                Box::new(FakeTimer::new()),
                Plic::input(&plic, 11),
            ),
            swi: AclintSwi::new_mswi((0..n).map(|i| hart_irq_line(&h, i, mip::MSIP)).collect()),
            mtimer: AclintMtimer::new(
                MtimeSource::new(vclock.clone(), TIMEBASE_FREQ),
                (0..n).map(|i| hart_irq_line(&h, i, mip::MTIP)).collect(),
                (0..n)
                    .map(|_| Box::new(FakeTimer::new()) as Box<dyn Timer>)
                    .collect(),
            ),
            uart: Serial::new(
                Plic::input(&plic, 10),
                Arc::new(NullBackend),
                vclock,
                Box::new(FakeTimer::new()),
                VIRT_BAUDBASE,
                0,
            ),
            virtio: (0..8)
                .map(|n| VirtioMmio::new(None, Plic::input(&plic, 1 + n), mem.clone()))
                .collect(),
            plic,
            harts,
            sink,
        }
    }

    fn access(&mut self, addr: u64, size: u32, write: Option<u64>) -> u64 {
        // QEMU's serial_mm region is 8 bytes (8 << regshift); the rest of the
        // UART's 0x100-byte slot is unassigned: reads 0, writes ignored.
        if (0x1000_0008..=0x1000_00ff).contains(&addr) {
            return 0;
        }
        let mut plic_guard;
        let (dev, base): (&mut dyn MmioDevice, u64) = match addr {
            0x10_0000..=0x10_0fff => (&mut self.test, 0x10_0000),
            0x10_1000..=0x10_1fff => (&mut self.rtc, 0x10_1000),
            0x200_0000..=0x200_3fff => (&mut self.swi, 0x200_0000),
            0x200_4000..=0x200_bfff => (&mut self.mtimer, 0x200_4000),
            0xc00_0000..=0xc5f_ffff => {
                plic_guard = self.plic.lock();
                (&mut *plic_guard, 0xc00_0000)
            }
            0x1000_0000..=0x1000_0007 => (&mut self.uart, 0x1000_0000),
            0x1000_1000..=0x1000_8fff => {
                let n = ((addr - 0x1000_1000) >> 12) as usize;
                (&mut self.virtio[n], 0x1000_1000 + ((n as u64) << 12))
            }
            _ => panic!("scenario touches unmodelled address {addr:#x}"),
        };
        let off = addr - base;
        let rules = dev.access_rules();
        assert!(
            rules.is_valid(off, size),
            "scenario makes an invalid access {addr:#x}/{size}"
        );
        assert!(
            size >= rules.impl_sizes.min,
            "widening not needed by these scenarios"
        );
        // Split accesses wider than the device implements, little-endian
        // (QEMU: access_with_adjusted_size).
        let chunk = size.min(rules.impl_sizes.max);
        let mut result = 0;
        for i in (0..size).step_by(chunk as usize) {
            let shift = 8 * i;
            let mask = if chunk == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * chunk)) - 1
            };
            match write {
                Some(v) => dev.write(off + u64::from(i), chunk, (v >> shift) & mask),
                None => result |= (dev.read(off + u64::from(i), chunk) & mask) << shift,
            }
        }
        result
    }

    /// Executes one qtest command and returns the reply QEMU would give.
    fn cmd(&mut self, line: &str) -> String {
        let f: Vec<&str> = line.split_whitespace().collect();
        // qtest parses numbers like strtoull(s, NULL, 0): hex with 0x, else decimal.
        let num = |s: &str| match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
            None => s.parse().unwrap(),
        };
        let size = match &f[0][f[0].len() - 1..] {
            "b" => 1,
            "w" => 2,
            "l" => 4,
            "q" => 8,
            _ => panic!("bad command {line}"),
        };
        if f[0].starts_with("read") {
            format!("OK 0x{:016x}", self.access(num(f[1]), size, None))
        } else {
            self.access(num(f[1]), size, Some(num(f[2])));
            "OK".to_string()
        }
    }
}

/// Runs `script` on both and compares. A command prefixed with `?` is run on
/// both but its value is not compared (host-time-dependent registers).
fn differential(script: &[&str]) {
    differential_smp(1, 0, script);
}

/// [`differential`] on a machine with `harts` harts, watching hart `watch`
/// (qtest can intercept one device's interrupt inputs).
fn differential_smp(harts: usize, watch: usize, script: &[&str]) {
    if !qemu_available() {
        return;
    }
    let smp = harts.to_string();
    let mut args = QEMU_ARGS.to_vec();
    args.extend(["-smp", &smp]);
    let mut qemu = Qemu::spawn(&args);
    let mut model = Model::with_harts(harts);
    assert_eq!(
        qemu.cmd(&format!("irq_intercept_in /machine/soc0/harts[{watch}]")),
        "OK"
    );
    // QEMU raised MTIP at reset, before the intercept could see it; park the
    // comparator in the far future so both sides start with every line low.
    for h in 0..harts {
        let park = format!("writeq {:#x} 0xffffffffffffffff", 0x200_4000 + 8 * h);
        assert_eq!(qemu.cmd(&park), model.cmd(&park));
    }
    for (i, raw) in script.iter().enumerate() {
        let (compare, line) = match raw.strip_prefix('?') {
            Some(l) => (false, l),
            None => (true, *raw),
        };
        let want = qemu.cmd(line);
        let got = model.cmd(line);
        if compare {
            assert_eq!(got, want, "step {i}: `{line}`");
        } else {
            assert!(
                want.starts_with("OK") && got.starts_with("OK"),
                "step {i}: `{line}`"
            );
        }
        for bit in BITS {
            assert_eq!(
                model.harts.bit(watch, bit),
                qemu.levels[bit as usize],
                "step {i}: `{line}`: mip bit {bit}"
            );
        }
    }
}

// PLIC addresses used below: priority of source s at 0xc000000 + 4s,
// pending at 0xc001000, context 0 (M) enables at 0xc002000, context 1 (S)
// enables at 0xc002080, thresholds at 0xc200000 / 0xc201000, claims +4.

#[test]
fn uart_registers_and_interrupts_match_qemu() {
    differential(&[
        // Reset values.
        "readb 0x10000000",
        "readb 0x10000001",
        "readb 0x10000002",
        "readb 0x10000003",
        "readb 0x10000004",
        "readb 0x10000005",
        "readb 0x10000006",
        "readb 0x10000007",
        // Route source 10 to hart 0's S context first (QEMU re-evaluates
        // outputs on threshold writes, not on enable writes).
        "writel 0xc000028 1",
        "writel 0xc002080 0x400",
        "writel 0xc201000 0",
        // Linux's THRE probe: IER=THRI, IIR shows THRI and clears it.
        "writeb 0x10000002 0x07",
        "readb 0x10000002",
        "writeb 0x10000001 0x02",
        "readl 0xc001000",
        "readb 0x10000002",
        "readb 0x10000002",
        "readl 0xc201004",
        "writel 0xc201004 10",
        "readl 0xc001000",
        // Toggling THRI re-arms it; a transmitted byte re-arms it too.
        "writeb 0x10000001 0x00",
        "writeb 0x10000001 0x02",
        "readb 0x10000002",
        "writeb 0x10000000 0x41",
        "readb 0x10000005",
        "readb 0x10000002",
        "readl 0xc201004",
        "readb 0x10000002",
        "writel 0xc201004 10",
        // IER readback, FIFO bits, LCR/DLAB, divisor, SCR, aliasing.
        "writeb 0x10000001 0xff",
        "readb 0x10000001",
        "readb 0x10000002",
        "writeb 0x10000001 0x00",
        "readb 0x10000002",
        "writeb 0x10000003 0x80",
        "writeb 0x10000000 0x02",
        "writeb 0x10000001 0x00",
        "readb 0x10000000",
        "readb 0x10000001",
        "writeb 0x10000003 0x03",
        "readb 0x10000003",
        // Wide accesses reach one byte register; past offset 7 is unassigned.
        "writeb 0x10000007 0x5a",
        "readb 0x10000007",
        "readb 0x1000000f",
        "readb 0x100000ff",
        "readl 0x10000004",
        "readq 0x10000000",
        "writel 0x10000004 0x12345608",
        "readb 0x10000004",
        "writeb 0x1000000f 0x77",
        "readb 0x10000007",
        // Loopback: MSR mirrors MCR; a byte sent comes back in RBR.
        "writeb 0x10000004 0x1a",
        "readb 0x10000006",
        "writeb 0x10000004 0x1f",
        "readb 0x10000006",
        "writeb 0x10000001 0x01",
        "writeb 0x10000000 0x55",
        "readb 0x10000005",
        "readb 0x10000002",
        "readl 0xc201004",
        "readb 0x10000000",
        "readb 0x10000005",
        "readb 0x10000002",
        "writel 0xc201004 10",
        "readl 0xc001000",
        // Overrun in loopback with FIFOs off, and the line-status interrupt.
        "writeb 0x10000002 0x00",
        "writeb 0x10000001 0x05",
        "writeb 0x10000000 0x01",
        "writeb 0x10000000 0x02",
        "readb 0x10000002",
        "readb 0x10000005",
        "readb 0x10000005",
        "readb 0x10000002",
        "readb 0x10000000",
        "readb 0x10000002",
        "writeb 0x10000004 0x08",
        "readb 0x10000006",
        "writeb 0x10000001 0x00",
        "readl 0xc201004",
        "writel 0xc201004 10",
    ]);
}

#[test]
fn uart_fifo_loopback_matches_qemu() {
    differential(&[
        "writel 0xc000028 1",
        "writel 0xc002080 0x400",
        "writel 0xc201000 0",
        // FIFOs on with trigger 4; loopback; 3 bytes stay below the trigger.
        "writeb 0x10000002 0x41",
        "readb 0x10000002",
        "writeb 0x10000004 0x10",
        "writeb 0x10000001 0x01",
        "writeb 0x10000000 0x31",
        "writeb 0x10000000 0x32",
        "writeb 0x10000000 0x33",
        "readb 0x10000002",
        "readb 0x10000005",
        "writeb 0x10000000 0x34",
        "readb 0x10000002",
        "readl 0xc201004",
        "readb 0x10000000",
        "readb 0x10000002",
        "writel 0xc201004 10",
        "readb 0x10000000",
        "readb 0x10000000",
        "readb 0x10000000",
        "readb 0x10000005",
        "readb 0x10000002",
        // 17 bytes into a 16-byte FIFO: overrun, first 16 kept.
        "writeb 0x10000000 0x00",
        "writeb 0x10000000 0x01",
        "writeb 0x10000000 0x02",
        "writeb 0x10000000 0x03",
        "writeb 0x10000000 0x04",
        "writeb 0x10000000 0x05",
        "writeb 0x10000000 0x06",
        "writeb 0x10000000 0x07",
        "writeb 0x10000000 0x08",
        "writeb 0x10000000 0x09",
        "writeb 0x10000000 0x0a",
        "writeb 0x10000000 0x0b",
        "writeb 0x10000000 0x0c",
        "writeb 0x10000000 0x0d",
        "writeb 0x10000000 0x0e",
        "writeb 0x10000000 0x0f",
        "writeb 0x10000000 0x10",
        "readb 0x10000005",
        "readb 0x10000005",
        "readb 0x10000000",
        "readb 0x10000000",
        // Receive FIFO reset drops the rest.
        "writeb 0x10000002 0x43",
        "readb 0x10000005",
        "readb 0x10000002",
        "writeb 0x10000002 0x00",
        "readb 0x10000002",
    ]);
}

#[test]
fn plic_registers_match_qemu() {
    differential(&[
        // Priorities are 3-bit WARL; source 0 is reserved; id 96 exists.
        "writel 0xc000004 9",
        "readl 0xc000004",
        "writel 0xc00017c 7",
        "readl 0xc00017c",
        "writel 0xc000000 5",
        "readl 0xc000000",
        "writel 0xc000180 3",
        "readl 0xc000180",
        // Thresholds are WARL too; pending is read-only.
        "writel 0xc200000 0xf",
        "readl 0xc200000",
        "writel 0xc201000 2",
        "readl 0xc201000",
        "writel 0xc001000 0xffffffff",
        "readl 0xc001000",
        "readl 0xc001004",
        "readl 0xc001008",
        // Enables of the S context (words 0 to 2, bit 0 of word 0 is
        // stored), and the word after the last.
        "writel 0xc002080 0xffffffff",
        "readl 0xc002080",
        "writel 0xc002084 0xffffffff",
        "readl 0xc002084",
        "writel 0xc002088 0x80000001",
        "readl 0xc002088",
        "writel 0xc00208c 0xffffffff",
        "readl 0xc00208c",
        // Claim with nothing pending; complete of a bad id.
        "readl 0xc201004",
        "readl 0xc200004",
        "writel 0xc201004 200",
        "readl 0xc201004",
        // Reserved context words.
        "readl 0xc201008",
        "readl 0xc20100c",
    ]);
}

#[test]
fn plic_claim_order_with_uart_and_rtc_matches_qemu() {
    differential(&[
        // Source 10 (UART) priority 2, source 11 (RTC) priority 5, both to M.
        "writel 0xc000028 2",
        "writel 0xc00002c 5",
        "writel 0xc002000 0xc00",
        "writel 0xc200000 1",
        // UART raises THRI; RTC alarm in the past with interrupts enabled.
        "writeb 0x10000001 0x02",
        "writel 0x101010 1",
        "writel 0x10100c 0",
        "writel 0x101008 1",
        "readl 0xc001000",
        // Highest priority first, then the UART, then nothing.
        "readl 0xc200004",
        "readl 0xc200004",
        "readl 0xc200004",
        "readl 0xc001000",
        // Linux's order: service the device (IIR read drops the line), then complete.
        "readb 0x10000002",
        "writel 0xc200004 10",
        "readl 0xc001000",
        "writel 0x10101c 1",
        "writel 0xc200004 11",
        "readl 0xc001000",
        // A threshold at the UART's priority masks it; lowering it unmasks.
        "writel 0xc200000 2",
        "writeb 0x10000001 0x00",
        "writeb 0x10000001 0x02",
        "readl 0xc001000",
        "readl 0xc200004",
        "writel 0xc200000 0",
        "readl 0xc200004",
        "readb 0x10000002",
        "writel 0xc200004 10",
        // Masking by priority 0, as Linux does.
        "writeb 0x10000001 0x00",
        "writeb 0x10000001 0x02",
        "writel 0xc000028 0",
        "readl 0xc200004",
        "writel 0xc000028 1",
        "readl 0xc200004",
        "readb 0x10000002",
        "writel 0xc200004 10",
        "readl 0xc001000",
        // A line that drops before the claim stays pending (both latch).
        "writeb 0x10000001 0x00",
        "writeb 0x10000001 0x02",
        "readb 0x10000002",
        "readl 0xc001000",
        "readl 0xc200004",
        "writel 0xc200004 10",
        "readl 0xc001000",
    ]);
}

/// Completing a source whose device still holds its line high: as on QEMU
/// 7.2, it is not pending again until the device next sets its line.
#[test]
fn plic_completion_with_line_still_high_matches_qemu() {
    differential(&[
        "writel 0xc000028 1",
        "writel 0xc002000 0x400",
        "writel 0xc200000 0",
        "writeb 0x10000001 0x02",
        "readl 0xc200004",
        "writel 0xc200004 10",
        // THRI is still pending in the UART: its line is high.
        "readl 0xc001000",
        // The next time the UART updates its line (any FCR write does), it
        // is forwarded again.
        "writeb 0x10000002 0x00",
        "readl 0xc001000",
    ]);
}

#[test]
fn aclint_matches_qemu() {
    differential(&[
        // mtime is frozen at 0 (virtual clock stopped); writes move it.
        "readq 0x200bff8",
        "readl 0x200bff8",
        "readl 0x200bffc",
        "writeq 0x200bff8 1000",
        "readq 0x200bff8",
        // A comparator at or below mtime raises MTIP; above lowers it.
        "writeq 0x2004000 999",
        "readq 0x2004000",
        "writeq 0x2004000 1001",
        "writel 0x2004000 1000",
        "readl 0x2004000",
        "readl 0x2004004",
        "writel 0x2004004 1",
        "readq 0x2004000",
        // mtime halves; writing mtime re-evaluates the comparator.
        "writel 0x200bffc 1",
        "readq 0x200bff8",
        "writel 0x200bff8 0x3e8",
        "readq 0x200bff8",
        "writel 0x200bffc 0",
        "readq 0x200bff8",
        "writeq 0x200bff8 0xffffffffffffff00",
        "writeq 0x2004000 0xffffffffffffffff",
        // msip: bit 0 only; reads reflect the hart's MSIP.
        "writel 0x2000000 1",
        "readl 0x2000000",
        "writel 0x2000000 0xfffffffe",
        "readl 0x2000000",
        "writel 0x2000000 3",
        "readl 0x2000000",
        "writel 0x2000000 0",
        // No hart 1.
        "readl 0x2000004",
        "readq 0x2004008",
    ]);
}

#[test]
fn goldfish_rtc_matches_qemu() {
    differential(&[
        "readl 0x101010",
        "readl 0x101018",
        "readl 0x101008",
        "readl 0x10100c",
        // Time follows the host: compare only the latched high half after
        // setting it (the low half moves between the two reads).
        "writel 0x101004 5",
        "writel 0x101000 0",
        "?readl 0x101000",
        "readl 0x101004",
        // An alarm in the future (guest time is now about 21 s; this is about
        // 68 s) is armed; CLEAR_ALARM disarms it. (Much later alarms overflow
        // QEMU's int64 timer deadline and fire at once; Ferrite saturates.)
        "writel 0x10100c 0x10",
        "writel 0x101008 0",
        "readl 0x101018",
        "readl 0x10100c",
        "readl 0x101008",
        "writel 0x101014 1",
        "readl 0x101018",
        // An alarm in the past fires at once; the line follows IRQ_ENABLED.
        "writel 0xc00002c 1",
        "writel 0xc002080 0x800",
        "writel 0xc201000 0",
        "writel 0x10100c 0",
        "writel 0x101008 1",
        "readl 0x101018",
        "readl 0xc001000",
        "writel 0x101010 1",
        "readl 0x101010",
        "readl 0xc201004",
        "writel 0x10101c 1",
        "writel 0xc201004 11",
        "readl 0xc001000",
        "writel 0x101010 0",
        "readl 0x101020",
    ]);
}

#[test]
fn empty_virtio_transports_match_qemu() {
    let mut script = Vec::new();
    for n in 0..8u64 {
        let base = 0x1000_1000 + (n << 12);
        for off in [
            0x0u64, 0x4, 0x8, 0xc, 0x10, 0x34, 0x44, 0x60, 0x70, 0xfc, 0x100,
        ] {
            script.push(format!("readl {:#x}", base + off));
        }
        // 8-byte accesses are valid and split into two register accesses.
        script.push(format!("readq {base:#x}"));
        script.push(format!("readq {:#x}", base + 0x8));
        script.push(format!("writel {:#x} 0xf", base + 0x70));
        script.push(format!("readl {:#x}", base + 0x70));
    }
    let refs: Vec<&str> = script.iter().map(String::as_str).collect();
    differential(&refs);
}

#[test]
fn sifive_test_exit_codes_match_qemu() {
    if !qemu_available() {
        return;
    }
    for (value, code, req) in [
        (0x5555u64, 0, ShutdownRequest::Poweroff),
        (0x0003_3333, 3, ShutdownRequest::Fail(3)),
        (0x00ff_3333, 255, ShutdownRequest::Fail(255)),
    ] {
        let mut model = Model::new();
        let qemu = Qemu::spawn(QEMU_ARGS);
        let line = format!("writel 0x100000 {value:#x}");
        model.cmd(&line);
        assert_eq!(model.sink.take(), vec![req]);
        assert_eq!(qemu.exit_status_after(&line), Some(code), "{line}");
    }
    // Reads return 0 and other values do nothing.
    differential(&["readl 0x100000", "writel 0x100000 0x1234", "readl 0x100000"]);
}

#[test]
fn console_escape_keys_match_qemu() {
    use ferrite_hw::chardev::mux::{MuxEscape, MuxEvent, TERMINATED};
    if !qemu_available() {
        return;
    }
    let keys = b"\x01h\x01x";
    let mut child = std::process::Command::new(common::QEMU)
        .args(["-M", "virt", "-m", "128", "-nographic", "-bios", "none"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(keys).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "C-a x exits with status 0");

    let mut mux = MuxEscape::default();
    let mut ours = Vec::new();
    for event in mux.feed(keys) {
        match event {
            MuxEvent::Help => ours.extend(mux.help_text()),
            MuxEvent::Quit => ours.extend(TERMINATED.as_bytes()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&ours)
    );
}

#[test]
fn second_hart_contexts_and_timers_match_qemu() {
    differential_smp(
        2,
        1,
        &[
            // Source 10 to hart 1's M context (2) and S context (3).
            "writel 0xc000028 1",
            "writel 0xc002100 0x400",
            "writel 0xc202000 0",
            "writel 0xc002180 0x400",
            "writel 0xc203000 0",
            "writeb 0x10000001 0x02",
            "readl 0xc202004",
            "readl 0xc203004",
            "readb 0x10000002",
            "writel 0xc202004 10",
            "readl 0xc001000",
            // Hart 0's contexts see nothing.
            "readl 0xc200004",
            "readl 0xc201004",
            // Completion honoured even after the source is disabled in the context.
            "writeb 0x10000001 0x00",
            "writeb 0x10000001 0x02",
            "readl 0xc203004",
            "readb 0x10000002",
            "writel 0xc002180 0",
            "writel 0xc203004 10",
            "writel 0xc002180 0x400",
            "writeb 0x10000001 0x00",
            "writeb 0x10000001 0x02",
            "readl 0xc001000",
            "readl 0xc203004",
            "readb 0x10000002",
            "writel 0xc203004 10",
            // Hart 1's msip and mtimecmp.
            "writel 0x2000004 1",
            "readl 0x2000004",
            "readl 0x2000000",
            "writel 0x2000004 0",
            "writeq 0x2004008 0",
            "readq 0x2004008",
            "writel 0x200400c 1",
            "readq 0x2004008",
            "writeq 0x200bff8 0x100000001",
            "writeq 0x200bff8 0",
            "readl 0x2000008",
            "readq 0x2004010",
        ],
    );
}
