//! Differential test of the virtio-mmio transport, the split virtqueue and
//! virtio-blk against Debian's QEMU 7.2: the same driver sequence (Linux's
//! bring-up, then block requests laid out in guest RAM) runs on QEMU's `virt`
//! with `-device virtio-blk-device` through qtest and on Ferrite's models;
//! every register value, status byte, used-ring entry, interrupt status and
//! byte read back must agree, and the two image files must end up identical.
//! virtio-rng gets the same treatment, comparing everything but the random
//! bytes themselves.
//!
//! QEMU runs (not `-S`: its block layer completes requests in the main
//! loop), with `-bios none`, so its hart only traps on the zeros at the reset
//! address and never touches the memory used here. Skipped with a notice if
//! QEMU is not installed, unless `FERRITE_REQUIRE_QEMU=1`.

mod common;

use std::io::Write;
use std::sync::Arc;

use common::{Qemu, qemu_available};
use ferrite_hw::irq::IrqProbe;
use ferrite_hw::mmio::MmioDevice;
use ferrite_hw::virtio::blk::{BlkHandle, RawFile, VirtioBlk};
use ferrite_hw::virtio::mmio::*;
use ferrite_hw::virtio::{GuestMemory, VecMemory, VirtioDevice};

/// The first `-device` sits in the highest slot.
const SLOT: u64 = 0x1000_8000;
const DESC: u64 = 0x8010_0000;
const AVAIL: u64 = 0x8010_4000;
const USED: u64 = 0x8010_5000;
const HDR: u64 = 0x8011_0000;
const STATUS_BYTE: u64 = 0x8011_1000;
const DATA: u64 = 0x8012_0000;
const QSIZE: u16 = 16;
const SERIAL: &str = "ferrite-blk";

/// What the driver sees; implemented on QEMU and on the models.
trait Guest {
    fn reg_read(&mut self, off: u64, size: u32) -> u64;
    fn reg_write(&mut self, off: u64, value: u64);
    fn mem_write(&mut self, addr: u64, data: &[u8]);
    fn mem_read(&mut self, addr: u64, len: usize) -> Vec<u8>;
    /// Waits until the device has published used index `idx`.
    fn wait_used(&mut self, idx: u16);
}

struct QemuGuest(Qemu);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Guest for QemuGuest {
    fn reg_read(&mut self, off: u64, size: u32) -> u64 {
        let op = match size {
            1 => "readb",
            2 => "readw",
            _ => "readl",
        };
        let r = self.0.cmd(&format!("{op} {:#x}", SLOT + off));
        u64::from_str_radix(r.strip_prefix("OK 0x").expect("read reply"), 16).unwrap()
    }
    fn reg_write(&mut self, off: u64, value: u64) {
        assert_eq!(
            self.0.cmd(&format!("writel {:#x} {value:#x}", SLOT + off)),
            "OK"
        );
    }
    fn mem_write(&mut self, addr: u64, data: &[u8]) {
        for (i, chunk) in data.chunks(4096).enumerate() {
            let a = addr + 4096 * i as u64;
            assert_eq!(
                self.0
                    .cmd(&format!("write {a:#x} {} 0x{}", chunk.len(), hex(chunk))),
                "OK"
            );
        }
    }
    fn mem_read(&mut self, addr: u64, len: usize) -> Vec<u8> {
        let r = self.0.cmd(&format!("read {addr:#x} {len}"));
        let h = r.strip_prefix("OK 0x").expect("read reply");
        (0..len)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }
    fn wait_used(&mut self, idx: u16) {
        // QEMU completes block requests in its main loop. This bound only
        // guards against a hang; it is not a timing assertion.
        for _ in 0..1000 {
            let b = self.mem_read(USED + 2, 2);
            if u16::from_le_bytes([b[0], b[1]]) == idx {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("QEMU never published used index {idx}");
    }
}

struct ModelGuest {
    t: VirtioMmio,
    mem: Arc<VecMemory>,
    /// The block device's handle, to run its requests (they run in an
    /// AioContext, polled here).
    blk: Option<BlkHandle>,
}

impl Guest for ModelGuest {
    fn reg_read(&mut self, off: u64, size: u32) -> u64 {
        self.t.read(off, size)
    }
    fn reg_write(&mut self, off: u64, value: u64) {
        self.t.write(off, 4, value)
    }
    fn mem_write(&mut self, addr: u64, data: &[u8]) {
        self.mem.write(addr, data).unwrap()
    }
    fn mem_read(&mut self, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.mem.read(addr, &mut v).unwrap();
        v
    }
    fn wait_used(&mut self, _idx: u16) {
        if let Some(b) = &self.blk {
            b.wait_idle();
        }
    }
}

/// One request: type, sector, readable data (for OUT) or writable length.
struct Req {
    kind: u32,
    sector: u64,
    out: Vec<u8>,
    in_len: u32,
    split_header: bool,
}

fn req(kind: u32, sector: u64, in_len: u32) -> Req {
    Req {
        kind,
        sector,
        out: Vec::new(),
        in_len,
        split_header: false,
    }
}

/// Runs the driver and returns everything it observed, one line each.
fn drive(g: &mut dyn Guest) -> Vec<String> {
    let mut log = Vec::new();
    for off in [MAGIC_VALUE, VERSION, DEVICE_ID, VENDOR_ID] {
        log.push(format!("reg {off:#x} = {:#x}", g.reg_read(off, 4)));
    }
    g.reg_write(STATUS, 0);
    g.reg_write(STATUS, 1);
    g.reg_write(STATUS, 3);
    // SEG_MAX, BLK_SIZE, FLUSH, INDIRECT_DESC, EVENT_IDX; VERSION_1.
    g.reg_write(DRIVER_FEATURES_SEL, 1);
    g.reg_write(DRIVER_FEATURES, 1);
    g.reg_write(DRIVER_FEATURES_SEL, 0);
    g.reg_write(DRIVER_FEATURES, 0x3000_0244);
    g.reg_write(STATUS, 0xb);
    log.push(format!(
        "status after FEATURES_OK = {:#x}",
        g.reg_read(STATUS, 4)
    ));
    for (off, size, what) in [
        (0x100, 4, "capacity lo"),
        (0x104, 4, "capacity hi"),
        (0x10c, 4, "seg_max"),
        (0x114, 4, "blk_size"),
        (0x122, 2, "num_queues"),
    ] {
        log.push(format!("config {what} = {:#x}", g.reg_read(off, size)));
    }
    g.reg_write(QUEUE_SEL, 0);
    log.push(format!(
        "queue ready before = {}",
        g.reg_read(QUEUE_READY, 4)
    ));
    log.push(format!("queue num max = {}", g.reg_read(QUEUE_NUM_MAX, 4)));
    g.mem_write(DESC, &vec![0; 0x6000]);
    for (off, v) in [
        (QUEUE_NUM, u64::from(QSIZE)),
        (QUEUE_DESC_LOW, DESC),
        (QUEUE_DESC_HIGH, 0),
        (QUEUE_AVAIL_LOW, AVAIL),
        (QUEUE_AVAIL_HIGH, 0),
        (QUEUE_USED_LOW, USED),
        (QUEUE_USED_HIGH, 0),
        (QUEUE_READY, 1),
        (STATUS, 0xf),
    ] {
        g.reg_write(off, v);
    }
    log.push(format!("queue ready = {}", g.reg_read(QUEUE_READY, 4)));
    log.push(format!("status = {:#x}", g.reg_read(STATUS, 4)));

    let pattern: Vec<u8> = (0..1024u32).map(|i| (i * 13 % 256) as u8).collect();
    let requests = vec![
        req(0, 0, 1024),
        Req {
            kind: 1,
            sector: 4,
            out: pattern.clone(),
            in_len: 0,
            split_header: false,
        },
        req(0, 4, 1024),
        req(4, 0, 0),
        req(8, 0, 20),
        req(0, 127, 1024),
        req(0, 0, 100),
        req(2, 0, 512),
        req(0x10, 0, 512),
        req(0x8000_0000, 1, 512),
        Req {
            kind: 1,
            sector: 100,
            out: pattern[..512].to_vec(),
            in_len: 0,
            split_header: true,
        },
        req(0, 128, 512),
        req(0, 126, 1024),
    ];
    let mut avail_idx = 0u16;
    for (n, r) in requests.iter().enumerate() {
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&r.kind.to_le_bytes());
        hdr[8..16].copy_from_slice(&r.sector.to_le_bytes());
        g.mem_write(HDR, &hdr);
        g.mem_write(STATUS_BYTE, &[0xff]);
        g.mem_write(DATA, &vec![0xaa; 1024]);
        let mut bufs: Vec<(u64, u32, bool)> = if r.split_header {
            vec![(HDR, 8, false), (HDR + 8, 8, false)]
        } else {
            vec![(HDR, 16, false)]
        };
        if !r.out.is_empty() {
            g.mem_write(DATA, &r.out);
            bufs.push((DATA, r.out.len() as u32, false));
        }
        if r.in_len > 0 {
            bufs.push((DATA, r.in_len, true));
        }
        bufs.push((STATUS_BYTE, 1, true));
        // Each request reuses descriptors 0.., as its predecessor completed.
        for (k, &(addr, len, w)) in bufs.iter().enumerate() {
            let mut d = [0u8; 16];
            d[0..8].copy_from_slice(&addr.to_le_bytes());
            d[8..12].copy_from_slice(&len.to_le_bytes());
            let mut flags: u16 = if w { 2 } else { 0 };
            if k + 1 < bufs.len() {
                flags |= 1;
            }
            d[12..14].copy_from_slice(&flags.to_le_bytes());
            d[14..16].copy_from_slice(&(k as u16 + 1).to_le_bytes());
            g.mem_write(DESC + 16 * k as u64, &d);
        }
        let slot = u64::from(avail_idx % QSIZE);
        g.mem_write(AVAIL + 4 + 2 * slot, &0u16.to_le_bytes());
        // Like Linux's virtqueue_enable_cb: interrupt me at the next used entry.
        g.mem_write(AVAIL + 4 + 2 * u64::from(QSIZE), &avail_idx.to_le_bytes());
        avail_idx += 1;
        g.mem_write(AVAIL + 2, &avail_idx.to_le_bytes());
        g.reg_write(QUEUE_NOTIFY, 0);
        g.wait_used(avail_idx);
        let used = g.mem_read(USED + 4 + 8 * slot, 8);
        let status = g.mem_read(STATUS_BYTE, 1)[0];
        let isr = g.reg_read(INTERRUPT_STATUS, 4);
        log.push(format!(
            "request {n}: status {status} used id {} len {} isr {isr}",
            u32::from_le_bytes(used[0..4].try_into().unwrap()),
            u32::from_le_bytes(used[4..8].try_into().unwrap())
        ));
        if r.in_len > 0 {
            log.push(format!(
                "request {n}: data {}",
                hex(&g.mem_read(DATA, r.in_len as usize))
            ));
        }
        g.reg_write(INTERRUPT_ACK, isr);
        log.push(format!(
            "request {n}: isr after ack {}",
            g.reg_read(INTERRUPT_STATUS, 4)
        ));
        let avail_event = g.mem_read(USED + 4 + 8 * u64::from(QSIZE), 2);
        log.push(format!(
            "request {n}: avail_event {}",
            u16::from_le_bytes([avail_event[0], avail_event[1]])
        ));
    }
    g.reg_write(STATUS, 0);
    log.push(format!(
        "after reset: status {} isr {} ready {}",
        g.reg_read(STATUS, 4),
        g.reg_read(INTERRUPT_STATUS, 4),
        g.reg_read(QUEUE_READY, 4)
    ));
    log
}

fn make_image() -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let data: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i / 512) as u8 ^ (i % 7) as u8)
        .collect();
    f.write_all(&data).unwrap();
    f.flush().unwrap();
    f
}

#[test]
fn virtio_blk_matches_qemu() {
    if !qemu_available() {
        return;
    }
    let qemu_img = make_image();
    let model_img = make_image();

    let drive_opt = format!(
        "file={},format=raw,if=none,id=d0",
        qemu_img.path().display()
    );
    let device = format!("virtio-blk-device,drive=d0,serial={SERIAL}");
    let mut q = QemuGuest(Qemu::spawn(&[
        "-M",
        "virt",
        "-m",
        "512",
        "-bios",
        "none",
        "-global",
        "virtio-mmio.force-legacy=false",
        "-drive",
        &drive_opt,
        "-device",
        &device,
    ]));

    let mem = Arc::new(VecMemory::new(0x8000_0000, 4 << 20));
    let disk = Arc::new(RawFile::open(model_img.path(), false).unwrap());
    let ctx = ferrite_aio::AioContext::new("virtio-blk-diff").unwrap();
    let blk = VirtioBlk::new(mem.clone(), disk, false, SERIAL, ctx);
    let handle = blk.handle();
    let our_features = blk.device_features();
    let mut m = ModelGuest {
        t: VirtioMmio::new(Some(Box::new(blk)), IrqProbe::new().line(), mem.clone()),
        mem,
        blk: Some(handle),
    };

    // Everything Ferrite offers, QEMU offers too.
    q.reg_write(DEVICE_FEATURES_SEL, 0);
    let lo = q.reg_read(DEVICE_FEATURES, 4);
    q.reg_write(DEVICE_FEATURES_SEL, 1);
    let qemu_features = lo | (q.reg_read(DEVICE_FEATURES, 4) << 32);
    assert_eq!(
        our_features & !qemu_features,
        0,
        "ours {our_features:#x}, QEMU's {qemu_features:#x}"
    );

    let theirs = drive(&mut q);
    let ours = drive(&mut m);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "observation {i}");
    }
    assert_eq!(ours.len(), theirs.len());
    drop(q);
    assert!(
        std::fs::read(model_img.path()).unwrap() == std::fs::read(qemu_img.path()).unwrap(),
        "image files differ"
    );
}

/// Brings a device up with `features` and one 16-entry queue, logging what
/// the driver reads.
fn bring_up(g: &mut dyn Guest, features: u64, log: &mut Vec<String>) {
    for off in [MAGIC_VALUE, VERSION, DEVICE_ID, VENDOR_ID] {
        log.push(format!("reg {off:#x} = {:#x}", g.reg_read(off, 4)));
    }
    g.reg_write(STATUS, 0);
    g.reg_write(STATUS, 1);
    g.reg_write(STATUS, 3);
    g.reg_write(DRIVER_FEATURES_SEL, 1);
    g.reg_write(DRIVER_FEATURES, features >> 32);
    g.reg_write(DRIVER_FEATURES_SEL, 0);
    g.reg_write(DRIVER_FEATURES, features & 0xffff_ffff);
    g.reg_write(STATUS, 0xb);
    log.push(format!(
        "status after FEATURES_OK = {:#x}",
        g.reg_read(STATUS, 4)
    ));
    g.reg_write(QUEUE_SEL, 0);
    log.push(format!("queue num max = {}", g.reg_read(QUEUE_NUM_MAX, 4)));
    g.mem_write(DESC, &vec![0; 0x6000]);
    for (off, v) in [
        (QUEUE_NUM, u64::from(QSIZE)),
        (QUEUE_DESC_LOW, DESC),
        (QUEUE_AVAIL_LOW, AVAIL),
        (QUEUE_USED_LOW, USED),
        (QUEUE_READY, 1),
        (STATUS, 0xf),
    ] {
        g.reg_write(off, v);
    }
    log.push(format!("status = {:#x}", g.reg_read(STATUS, 4)));
}

/// Requests entropy in chains of the given writable buffer sizes; logs used
/// lengths and interrupt status (the bytes themselves are random).
fn drive_rng(g: &mut dyn Guest) -> Vec<String> {
    let mut log = Vec::new();
    bring_up(g, (1 << 32) | 0x3000_0000, &mut log);
    let chains: [&[u32]; 5] = [&[16], &[64], &[1], &[8, 24], &[4096]];
    let mut avail_idx = 0u16;
    for (n, sizes) in chains.iter().enumerate() {
        g.mem_write(DATA, &vec![0; 8192]);
        let mut addr = DATA;
        for (k, &len) in sizes.iter().enumerate() {
            let mut d = [0u8; 16];
            d[0..8].copy_from_slice(&addr.to_le_bytes());
            d[8..12].copy_from_slice(&len.to_le_bytes());
            let flags: u16 = if k + 1 < sizes.len() { 3 } else { 2 };
            d[12..14].copy_from_slice(&flags.to_le_bytes());
            d[14..16].copy_from_slice(&(k as u16 + 1).to_le_bytes());
            g.mem_write(DESC + 16 * k as u64, &d);
            addr += u64::from(len);
        }
        let slot = u64::from(avail_idx % QSIZE);
        g.mem_write(AVAIL + 4 + 2 * slot, &0u16.to_le_bytes());
        g.mem_write(AVAIL + 4 + 2 * u64::from(QSIZE), &avail_idx.to_le_bytes());
        avail_idx += 1;
        g.mem_write(AVAIL + 2, &avail_idx.to_le_bytes());
        g.reg_write(QUEUE_NOTIFY, 0);
        g.wait_used(avail_idx);
        let used = g.mem_read(USED + 4 + 8 * slot, 8);
        let isr = g.reg_read(INTERRUPT_STATUS, 4);
        let total: u32 = sizes.iter().sum();
        let filled = g.mem_read(DATA, total as usize);
        log.push(format!(
            "chain {n}: used id {} len {} isr {isr} some-nonzero {}",
            u32::from_le_bytes(used[0..4].try_into().unwrap()),
            u32::from_le_bytes(used[4..8].try_into().unwrap()),
            total < 16 || filled.iter().any(|&b| b != 0)
        ));
        g.reg_write(INTERRUPT_ACK, isr);
    }
    log
}

#[test]
fn virtio_rng_matches_qemu() {
    if !qemu_available() {
        return;
    }
    let mut q = QemuGuest(Qemu::spawn(&[
        "-M",
        "virt",
        "-m",
        "512",
        "-bios",
        "none",
        "-global",
        "virtio-mmio.force-legacy=false",
        "-device",
        "virtio-rng-device",
    ]));
    let mem = Arc::new(VecMemory::new(0x8000_0000, 4 << 20));
    let rng = ferrite_hw::virtio::rng::VirtioRng::new(
        mem.clone(),
        Box::new(ferrite_hw::virtio::rng::HostEntropy::open().unwrap()),
    );
    let mut m = ModelGuest {
        t: VirtioMmio::new(Some(Box::new(rng)), IrqProbe::new().line(), mem.clone()),
        mem,
        blk: None,
    };
    let theirs = drive_rng(&mut q);
    let ours = drive_rng(&mut m);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "observation {i}");
    }
    assert_eq!(ours.len(), theirs.len());
}
