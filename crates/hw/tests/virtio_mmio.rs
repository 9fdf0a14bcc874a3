//! virtio-mmio v2 transport tests: register semantics (`spec/riscv-virt-tcg.md`
//! §2.6) and a replay of Linux's register sequence recorded from QEMU 7.2
//! (`spec/oracles/qemu72-virtio-mmio-trace.log`, copied to `tests/data/` so
//! the test does not depend on where the checkout sits), checking the interrupt line
//! against QEMU's `virtio_mmio_setting_irq` events.

use std::sync::Arc;

use ferrite_hw::irq::IrqProbe;
use ferrite_hw::mmio::MmioDevice;
use ferrite_hw::virtio::mmio::*;
use ferrite_hw::virtio::*;
use parking_lot::Mutex;

const RAM_BASE: u64 = 0x8000_0000;
const RAM_SIZE: usize = 512 << 20;

/// What the fake device saw.
#[derive(Default, Debug)]
struct Log {
    activated: Option<(u64, Vec<VirtQueueConfig>)>,
    notifies: Vec<u16>,
    resets: usize,
    config_writes: Vec<(usize, Vec<u8>)>,
    /// Requests notified but not completed yet (deferred mode).
    in_flight: usize,
    interrupt: Option<VirtioInterrupt>,
}

impl Log {
    /// Completes the in-flight requests, as the device's event loop would.
    fn complete(&mut self) {
        if self.in_flight > 0 {
            self.in_flight = 0;
            self.interrupt.as_ref().expect("active").notify_queue();
        }
    }
}

/// A device that completes requests either at once (like a very fast disk)
/// or when the test says so (`deferred`, like a device working in its event loop).
struct FakeDevice {
    id: u32,
    features: u64,
    queues: Vec<u16>,
    config: Vec<u8>,
    deferred: bool,
    log: Arc<Mutex<Log>>,
}

impl FakeDevice {
    fn new(id: u32, features: u64, queues: Vec<u16>, config: Vec<u8>) -> (Self, Arc<Mutex<Log>>) {
        let log = Arc::new(Mutex::new(Log::default()));
        let d = Self {
            id,
            features,
            queues,
            config,
            deferred: false,
            log: log.clone(),
        };
        (d, log)
    }
}

impl VirtioDevice for FakeDevice {
    fn device_id(&self) -> u32 {
        self.id
    }
    fn device_features(&self) -> u64 {
        self.features
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &self.queues
    }
    fn config_len(&self) -> usize {
        self.config.len()
    }
    fn read_config(&mut self, offset: usize, data: &mut [u8]) {
        data.copy_from_slice(&self.config[offset..offset + data.len()]);
    }
    fn write_config(&mut self, offset: usize, data: &[u8]) {
        self.log.lock().config_writes.push((offset, data.to_vec()));
    }
    fn activate(&mut self, features: u64, queues: &[VirtQueueConfig], interrupt: VirtioInterrupt) {
        let mut log = self.log.lock();
        log.activated = Some((features, queues.to_vec()));
        log.interrupt = Some(interrupt);
    }
    fn queue_notify(&mut self, queue: u16) {
        let mut log = self.log.lock();
        log.notifies.push(queue);
        log.in_flight += 1;
        if !self.deferred {
            log.complete();
        }
    }
    fn reset(&mut self) {
        let mut log = self.log.lock();
        log.resets += 1;
        log.in_flight = 0;
        log.interrupt = None;
    }
}

const VERSION_1: u64 = 1 << 32;

fn transport(dev: Option<FakeDevice>) -> (VirtioMmio, IrqProbe) {
    let irq = IrqProbe::new();
    let mem: Arc<dyn GuestMemory> = Arc::new(VecMemory::new(RAM_BASE, RAM_SIZE));
    let t = VirtioMmio::new(
        dev.map(|d| Box::new(d) as Box<dyn VirtioDevice>),
        irq.line(),
        mem,
    );
    (t, irq)
}

fn blk() -> (FakeDevice, Arc<Mutex<Log>>) {
    // capacity = 0x2000 sectors, then the rest of virtio_blk_config zeroed.
    let mut config = vec![0u8; 0x3c];
    config[..8].copy_from_slice(&0x2000u64.to_le_bytes());
    FakeDevice::new(2, VERSION_1 | 0x3000_6e54, vec![1024], config)
}

fn w(t: &mut VirtioMmio, off: u64, v: u64) {
    t.write(off, 4, v)
}
fn r(t: &mut VirtioMmio, off: u64) -> u64 {
    t.read(off, 4)
}

/// Negotiates `features` and programs queue 0 at valid addresses, leaving
/// the status at FEATURES_OK (not yet DRIVER_OK).
fn bring_up(t: &mut VirtioMmio, features: u64) {
    w(t, STATUS, 0);
    w(t, STATUS, 1);
    w(t, STATUS, 3);
    w(t, DRIVER_FEATURES_SEL, 1);
    w(t, DRIVER_FEATURES, features >> 32);
    w(t, DRIVER_FEATURES_SEL, 0);
    w(t, DRIVER_FEATURES, features & 0xffff_ffff);
    w(t, STATUS, 0xb);
    w(t, QUEUE_SEL, 0);
    w(t, QUEUE_NUM, 256);
    w(t, QUEUE_DESC_LOW, 0x8100_0000);
    w(t, QUEUE_AVAIL_LOW, 0x8100_1000);
    w(t, QUEUE_USED_LOW, 0x8100_2000);
    w(t, QUEUE_READY, 1);
}

#[test]
fn empty_slot_shows_identity_and_ignores_writes() {
    let (mut t, irq) = transport(None);
    assert_eq!(r(&mut t, MAGIC_VALUE), 0x7472_6976);
    assert_eq!(r(&mut t, VERSION), 2);
    assert_eq!(r(&mut t, DEVICE_ID), 0);
    assert_eq!(r(&mut t, VENDOR_ID), 0x554d_4551);
    w(&mut t, STATUS, 0xf);
    assert_eq!(r(&mut t, STATUS), 0);
    assert_eq!(r(&mut t, QUEUE_NUM_MAX), 0);
    assert_eq!(t.read(CONFIG, 4), 0);
    assert!(!irq.level());
}

#[test]
fn identity_and_features_of_a_device() {
    let (d, _) = blk();
    let (mut t, _) = transport(Some(d));
    assert_eq!(r(&mut t, DEVICE_ID), 2);
    assert_eq!(r(&mut t, DEVICE_FEATURES), 0x3000_6e54);
    w(&mut t, DEVICE_FEATURES_SEL, 1);
    assert_eq!(r(&mut t, DEVICE_FEATURES), 1);
    w(&mut t, DEVICE_FEATURES_SEL, 2);
    assert_eq!(r(&mut t, DEVICE_FEATURES), 0);
    assert_eq!(r(&mut t, QUEUE_NUM_MAX), 1024);
    w(&mut t, QUEUE_SEL, 1);
    assert_eq!(r(&mut t, QUEUE_NUM_MAX), 0, "queue 1 does not exist");
    assert_eq!(r(&mut t, QUEUE_READY), 0);
    assert_eq!(r(&mut t, SHM_LEN_LOW), 0xffff_ffff);
    assert_eq!(r(&mut t, SHM_LEN_HIGH), 0xffff_ffff);
}

#[test]
fn config_space_reads_any_size_and_all_ones_past_the_end() {
    let (d, log) = blk();
    let (mut t, _) = transport(Some(d));
    assert_eq!(t.read(CONFIG, 4), 0x2000);
    assert_eq!(t.read(CONFIG + 1, 1), 0x20);
    assert_eq!(t.read(CONFIG, 2), 0x2000);
    assert_eq!(t.read(CONFIG + 0x3c, 4), 0xffff_ffff);
    assert_eq!(t.read(CONFIG + 0x3b, 2), 0xffff);
    assert_eq!(t.read(CONFIG + 0xf00, 1), 0xff);
    t.write(CONFIG + 0x20, 1, 1);
    t.write(CONFIG + 0x3c, 4, 1);
    assert_eq!(log.lock().config_writes, vec![(0x20, vec![1])]);
}

#[test]
fn registers_need_32_bit_accesses() {
    let (d, _) = blk();
    let (mut t, _) = transport(Some(d));
    assert_eq!(t.read(MAGIC_VALUE, 2), 0);
    t.write(STATUS, 1, 1);
    assert_eq!(r(&mut t, STATUS), 0);
    assert_eq!(r(&mut t, QUEUE_SEL), 0, "write-only registers read 0");
}

#[test]
fn full_bring_up_activates_with_negotiated_layout() {
    let (d, log) = blk();
    let (mut t, irq) = transport(Some(d));
    bring_up(&mut t, VERSION_1 | 0x3000_6e54);
    assert_eq!(r(&mut t, STATUS), 0xb);
    assert_eq!(r(&mut t, QUEUE_READY), 1);
    assert!(log.lock().activated.is_none(), "not before DRIVER_OK");
    w(&mut t, STATUS, 0xf);
    let (features, queues) = log.lock().activated.clone().unwrap();
    assert_eq!(features, VERSION_1 | 0x3000_6e54);
    assert_eq!(
        queues,
        vec![VirtQueueConfig {
            size: 256,
            ready: true,
            desc: 0x8100_0000,
            avail: 0x8100_1000,
            used: 0x8100_2000
        }]
    );
    w(&mut t, QUEUE_NOTIFY, 0);
    assert_eq!(log.lock().notifies, vec![0]);
    assert!(irq.level());
    assert_eq!(r(&mut t, INTERRUPT_STATUS), 1);
    w(&mut t, INTERRUPT_ACK, 1);
    assert!(!irq.level());
    // Notifying a queue that does not exist is ignored.
    w(&mut t, QUEUE_NOTIFY, 5);
    assert_eq!(log.lock().notifies, vec![0]);
}

#[test]
fn unoffered_features_or_missing_version_1_are_refused() {
    let (d, log) = blk();
    let (mut t, _) = transport(Some(d));
    bring_up(&mut t, VERSION_1 | 0x3000_6e54 | 1);
    assert_eq!(
        r(&mut t, STATUS),
        0x3 | u64::from(STATUS_NEEDS_RESET),
        "FEATURES_OK did not stick; the device needs a reset"
    );
    assert_eq!(t.negotiated_features(), 0);
    let (d, _) = blk();
    let (mut t2, _) = transport(Some(d));
    bring_up(&mut t2, 0x3000_6e54);
    assert_eq!(r(&mut t2, STATUS), 0x3 | u64::from(STATUS_NEEDS_RESET));
    // A reset and a correct negotiation recover.
    bring_up(&mut t2, VERSION_1 | 0x3000_6e54);
    assert_eq!(r(&mut t2, STATUS), 0xb);
    // DRIVER_OK without FEATURES_OK: needs reset, never activated.
    w(&mut t, STATUS, 0x7);
    assert_ne!(r(&mut t, STATUS) & u64::from(STATUS_NEEDS_RESET), 0);
    assert!(log.lock().activated.is_none());
}

#[test]
fn bad_queue_size_sets_needs_reset_until_reset() {
    let (d, log) = blk();
    let (mut t, irq) = transport(Some(d));
    bring_up(&mut t, VERSION_1);
    w(&mut t, STATUS, 0xf);
    assert!(log.lock().activated.is_some());
    // A second queue layout with a size that is not a power of two.
    w(&mut t, QUEUE_READY, 0);
    w(&mut t, QUEUE_NUM, 100);
    w(&mut t, QUEUE_READY, 1);
    assert_eq!(r(&mut t, QUEUE_READY), 0);
    assert_eq!(r(&mut t, STATUS), 0xf | u64::from(STATUS_NEEDS_RESET));
    assert_eq!(r(&mut t, INTERRUPT_STATUS), u64::from(INT_CONFIG));
    assert_eq!(r(&mut t, CONFIG_GENERATION), 1);
    assert!(irq.level());
    // The driver writing status keeps NEEDS_RESET; notifications are dropped.
    w(&mut t, STATUS, 0xf);
    assert_ne!(r(&mut t, STATUS) & u64::from(STATUS_NEEDS_RESET), 0);
    w(&mut t, QUEUE_NOTIFY, 0);
    assert!(log.lock().notifies.is_empty());
    // Reset clears it all.
    w(&mut t, STATUS, 0);
    assert_eq!(r(&mut t, STATUS), 0);
    assert_eq!(r(&mut t, INTERRUPT_STATUS), 0);
    assert!(!irq.level());
    assert!(log.lock().resets >= 2);
    assert_eq!(t.queue(0).unwrap().size, 1024, "queue size back to max");
    bring_up(&mut t, VERSION_1);
    assert_eq!(r(&mut t, STATUS), 0xb);
}

#[test]
fn rings_outside_ram_or_misaligned_are_rejected() {
    let cases = [
        (QUEUE_DESC_LOW, 0x1000u64),    // below RAM
        (QUEUE_USED_HIGH, 0x1),         // above 4 GiB: outside 512 MiB of RAM
        (QUEUE_DESC_LOW, 0x8100_0008),  // descriptor table not 16-aligned
        (QUEUE_AVAIL_LOW, 0x8100_1001), // avail not 2-aligned
        (QUEUE_USED_LOW, 0x8100_2002),  // used not 4-aligned
        (QUEUE_USED_LOW, 0x9fff_fffc),  // used ring runs past the end of RAM
    ];
    for (reg, value) in cases {
        let (d, _) = blk();
        let (mut t, _) = transport(Some(d));
        bring_up(&mut t, VERSION_1);
        w(&mut t, QUEUE_READY, 0);
        w(&mut t, reg, value);
        w(&mut t, QUEUE_READY, 1);
        assert_eq!(r(&mut t, QUEUE_READY), 0, "{reg:#x}={value:#x}");
        assert_ne!(
            r(&mut t, STATUS) & u64::from(STATUS_NEEDS_RESET),
            0,
            "{reg:#x}={value:#x}"
        );
    }
}

#[test]
fn config_generation_counts_changes_while_driver_runs() {
    let (d, _) = blk();
    let (mut t, irq) = transport(Some(d));
    t.config_changed();
    assert_eq!(
        r(&mut t, CONFIG_GENERATION),
        0,
        "not before DRIVER_OK (as QEMU)"
    );
    assert!(!irq.level());
    bring_up(&mut t, VERSION_1);
    w(&mut t, STATUS, 0xf);
    t.config_changed();
    assert_eq!(r(&mut t, CONFIG_GENERATION), 1);
    assert_eq!(r(&mut t, INTERRUPT_STATUS), u64::from(INT_CONFIG));
    assert!(irq.level());
    w(&mut t, INTERRUPT_ACK, u64::from(INT_CONFIG));
    assert!(!irq.level());
}

#[test]
fn interrupt_ack_clears_only_written_bits() {
    let (d, _) = blk();
    let (mut t, irq) = transport(Some(d));
    bring_up(&mut t, VERSION_1);
    w(&mut t, STATUS, 0xf);
    w(&mut t, QUEUE_NOTIFY, 0);
    t.config_changed();
    assert_eq!(r(&mut t, INTERRUPT_STATUS), 3);
    w(&mut t, INTERRUPT_ACK, 1);
    assert!(irq.level());
    assert_eq!(r(&mut t, INTERRUPT_STATUS), 2);
    w(&mut t, INTERRUPT_ACK, 2);
    assert!(!irq.level());
}

#[test]
fn racing_notify_and_ack_never_leave_the_line_high_without_status() {
    let (d, _) = blk();
    let (mut t, irq) = transport(Some(d));
    bring_up(&mut t, VERSION_1);
    w(&mut t, STATUS, 0xf);
    let int = t.interrupt().clone();
    let notifier = std::thread::spawn(move || {
        for _ in 0..20_000 {
            int.notify_queue();
        }
    });
    for _ in 0..20_000 {
        w(&mut t, INTERRUPT_ACK, 1);
    }
    notifier.join().unwrap();
    let isr = r(&mut t, INTERRUPT_STATUS);
    assert_eq!(irq.level(), isr != 0);
}

/// One operation of the oracle trace.
enum TraceOp {
    Read(u64),
    Write(u64, u64),
}

/// Parses lines `first..=last` (1-based) of the QEMU trace into operations,
/// each paired with the IRQ level QEMU set right after it, if it did.
fn trace_segment(first: usize, last: usize) -> Vec<(TraceOp, Option<bool>)> {
    let text = include_str!("data/qemu72-virtio-mmio-trace.log");
    let lines: Vec<&str> = text.lines().collect();
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    let mut ops: Vec<(TraceOp, Option<bool>)> = Vec::new();
    for line in &lines[first - 1..last] {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "virtio_mmio_read" => ops.push((TraceOp::Read(hex(f[3])), None)),
            "virtio_mmio_write_offset" => ops.push((TraceOp::Write(hex(f[3]), hex(f[5])), None)),
            "virtio_mmio_setting_irq" => {
                let op = ops.last_mut().expect("IRQ event follows an access");
                op.1 = Some(f[4] == "1");
            }
            "virtio_mmio_queue_write" => {}
            other => panic!("unknown trace event {other}"),
        }
    }
    ops
}

/// Replays a trace segment and checks the interrupt line after every access.
///
/// The devices in QEMU's trace complete requests in the main loop, so an
/// "IRQ 1" event may come after a later, unrelated access. The fake device
/// runs deferred and the replay completes its in-flight requests exactly
/// where QEMU's trace shows the interrupt being raised; every other level
/// change (resets, acknowledgements, and the absence of changes) is the
/// transport's own and must match the trace.
fn replay(t: &mut VirtioMmio, irq: &IrqProbe, log: &Mutex<Log>, ops: &[(TraceOp, Option<bool>)]) {
    let mut expected = irq.level();
    for (i, (op, irq_after)) in ops.iter().enumerate() {
        match *op {
            // Config-space reads in the trace have unknown sizes; one byte is always valid.
            TraceOp::Read(off) if off >= CONFIG => {
                t.read(off, 1);
            }
            TraceOp::Read(off) => {
                t.read(off, 4);
            }
            TraceOp::Write(off, v) => t.write(off, 4, v),
        }
        if let Some(level) = irq_after {
            if *level {
                assert!(
                    log.lock().in_flight > 0,
                    "trace op {i}: QEMU raised the IRQ with nothing in flight"
                );
                log.lock().complete();
            }
            expected = *level;
        }
        assert_eq!(irq.level(), expected, "IRQ level after trace op {i}");
    }
}

#[test]
fn linux_probe_of_a_device_slot_matches_qemu_trace() {
    // Lines 4..11: Linux's virtio_mmio_probe of the first slot (blk):
    // identity reads, reset (QEMU lowers the IRQ), ACKNOWLEDGE.
    let (d, log) = blk();
    let (mut t, irq) = transport(Some(d));
    replay(&mut t, &irq, &log, &trace_segment(4, 11));
    assert_eq!(r(&mut t, STATUS), 1);
}

#[test]
fn linux_virtio_blk_bring_up_matches_qemu_trace() {
    // Lines 43..89: virtio_blk binds to the device probed first: features,
    // FEATURES_OK, one 1024-entry queue, config reads, DRIVER_OK, then the
    // first request: notify -> IRQ 1, InterruptStatus, ACK -> IRQ 0.
    let (mut d, log) = blk();
    d.deferred = true;
    let (mut t, irq) = transport(Some(d));
    replay(&mut t, &irq, &log, &trace_segment(4, 11));
    replay(&mut t, &irq, &log, &trace_segment(43, 89));
    assert_eq!(r(&mut t, STATUS), 0xf);
    assert_eq!(t.negotiated_features(), VERSION_1 | 0x3000_6e54);
    assert_eq!(
        *t.queue(0).unwrap(),
        VirtQueueConfig {
            size: 1024,
            ready: true,
            desc: 0x82df_0000,
            avail: 0x82df_4000,
            used: 0x82df_5000
        }
    );
    assert_eq!(log.lock().notifies, vec![0]);
    assert_eq!(irq.raises(), 1);
}

#[test]
fn linux_virtio_rng_bring_up_matches_qemu_trace() {
    // Lines 151..193: virtio-rng (ID 4, no device features besides the ring
    // ones): one queue, DRIVER_OK, then three requests each raising and
    // acknowledging the interrupt.
    // Lines 12..19 are its probe (the second slot in DT order, 0x10007000).
    let (mut d, log) = FakeDevice::new(4, VERSION_1 | 0x3000_0000, vec![1024], Vec::new());
    d.deferred = true;
    let (mut t, irq) = transport(Some(d));
    replay(&mut t, &irq, &log, &trace_segment(12, 19));
    replay(&mut t, &irq, &log, &trace_segment(151, 193));
    assert_eq!(r(&mut t, STATUS), 0xf);
    assert_eq!(t.negotiated_features(), VERSION_1 | 0x3000_0000);
    assert!(log.lock().notifies.len() >= 3);
    assert_eq!(irq.raises() as usize, log.lock().notifies.len());
    assert!(!irq.level());
}

#[test]
fn rewriting_a_ready_queue_does_not_reach_the_device() {
    // The driver changes QueueNum to an invalid size after QueueReady: the
    // device must keep the layout it was given (no panic on a bad size).
    let (d, log) = blk();
    let (mut t, _) = transport(Some(d));
    bring_up(&mut t, VERSION_1);
    w(&mut t, QUEUE_NUM, 3);
    w(&mut t, QUEUE_DESC_LOW, 0x10);
    w(&mut t, STATUS, 0xf);
    let (_, queues) = log.lock().activated.clone().unwrap();
    assert_eq!(queues[0].size, 256);
    assert_eq!(queues[0].desc, 0x8100_0000);
    assert_eq!(t.queue(0).unwrap().size, 256);
    // Re-enabling applies (and checks) what the registers now hold.
    w(&mut t, QUEUE_READY, 0);
    w(&mut t, QUEUE_READY, 1);
    assert_eq!(r(&mut t, QUEUE_READY), 0);
    assert_ne!(r(&mut t, STATUS) & u64::from(STATUS_NEEDS_RESET), 0);
}
