//! virtio-blk end to end: the transport brought up as Linux does, requests
//! laid out in guest memory as Linux's virtio_blk builds them (header, data,
//! status byte), a raw image file underneath.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use ferrite_aio::AioContext;
use ferrite_hw::irq::IrqProbe;
use ferrite_hw::mmio::MmioDevice;
use ferrite_hw::virtio::blk::*;
use ferrite_hw::virtio::mmio::*;
use ferrite_hw::virtio::queue::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use ferrite_hw::virtio::{GuestMemory, STATUS_NEEDS_RESET, VecMemory};

const BASE: u64 = 0x8000_0000;
const RAM: usize = 16 << 20;
const DESC: u64 = BASE;
const AVAIL: u64 = BASE + 0x4000;
const USED: u64 = BASE + 0x5000;
const HDR: u64 = BASE + 0x8000;
const STATUS_BYTE: u64 = BASE + 0x9000;
const DATA: u64 = BASE + 0x10_0000;
const QSIZE: u16 = 128;

/// The test thread's context: the device's requests run there, and the
/// test polls it until the device is idle.
fn test_ctx() -> Arc<AioContext> {
    thread_local! {
        static CTX: Arc<AioContext> = AioContext::new("virtio-blk-test").unwrap();
    }
    CTX.with(Arc::clone)
}

struct Rig {
    t: VirtioMmio,
    blk: BlkHandle,
    mem: Arc<VecMemory>,
    irq: IrqProbe,
    avail_idx: u16,
    next_desc: u16,
}

fn image(len: usize) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i / SECTOR_SIZE as usize) as u8).collect();
    f.write_all(&data).unwrap();
    f.flush().unwrap();
    f
}

impl Rig {
    fn new(path: &Path, read_only: bool, serial: &str) -> Self {
        let disk = Arc::new(RawFile::open(path, read_only).unwrap());
        Self::with_disk(disk, read_only, serial)
    }

    fn with_disk(disk: Arc<dyn BlockBackend>, read_only: bool, serial: &str) -> Self {
        let mem = Arc::new(VecMemory::new(BASE, RAM));
        let irq = IrqProbe::new();
        let dev = VirtioBlk::new(mem.clone(), disk, read_only, serial, test_ctx());
        let blk = dev.handle();
        let mut t = VirtioMmio::new(Some(Box::new(dev)), irq.line(), mem.clone());
        t.write(STATUS, 4, 0);
        t.write(STATUS, 4, 3);
        t.write(DEVICE_FEATURES_SEL, 4, 0);
        let offered = t.read(DEVICE_FEATURES, 4);
        for (off, v) in [
            (DRIVER_FEATURES_SEL, 1),
            (DRIVER_FEATURES, 1),
            (DRIVER_FEATURES_SEL, 0),
            (DRIVER_FEATURES, offered),
            (STATUS, 0xb),
            (QUEUE_SEL, 0),
            (QUEUE_NUM, u64::from(QSIZE)),
            (QUEUE_DESC_LOW, DESC),
            (QUEUE_AVAIL_LOW, AVAIL),
            (QUEUE_USED_LOW, USED),
            (QUEUE_READY, 1),
            (STATUS, 0xf),
        ] {
            t.write(off, 4, v);
        }
        assert_eq!(t.read(STATUS, 4), 0xf);
        Self {
            t,
            blk,
            mem,
            irq,
            avail_idx: 0,
            next_desc: 0,
        }
    }

    /// Submits a chain of (addr, len, device-writable) buffers, notifies,
    /// and lets the device finish.
    fn submit(&mut self, bufs: &[(u64, u32, bool)]) -> u16 {
        let head = self.post(bufs);
        // The notification only schedules the device's BH; requests run
        // when the context is polled.
        self.blk.wait_idle();
        head
    }

    /// Makes a chain available and notifies, without running the device.
    fn post(&mut self, bufs: &[(u64, u32, bool)]) -> u16 {
        let head = self.next_desc;
        for (k, &(addr, len, w)) in bufs.iter().enumerate() {
            let i = (head + k as u16) % QSIZE;
            let mut flags = if w { VRING_DESC_F_WRITE } else { 0 };
            if k + 1 < bufs.len() {
                flags |= VRING_DESC_F_NEXT;
            }
            let mut b = [0u8; 16];
            b[0..8].copy_from_slice(&addr.to_le_bytes());
            b[8..12].copy_from_slice(&len.to_le_bytes());
            b[12..14].copy_from_slice(&flags.to_le_bytes());
            b[14..16].copy_from_slice(&((i + 1) % QSIZE).to_le_bytes());
            self.mem.write(DESC + 16 * u64::from(i), &b).unwrap();
        }
        self.next_desc = (head + bufs.len() as u16) % QSIZE;
        let slot = u64::from(self.avail_idx % QSIZE);
        self.mem
            .write(AVAIL + 4 + 2 * slot, &head.to_le_bytes())
            .unwrap();
        self.avail_idx += 1;
        self.mem
            .write(AVAIL + 2, &self.avail_idx.to_le_bytes())
            .unwrap();
        self.t.write(QUEUE_NOTIFY, 4, 0);
        head
    }

    fn header(&self, kind: u32, sector: u64) {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&kind.to_le_bytes());
        h[8..16].copy_from_slice(&sector.to_le_bytes());
        self.mem.write(HDR, &h).unwrap();
        self.mem.write(STATUS_BYTE, &[0xff]).unwrap();
    }

    /// A request with one data buffer; returns (status, used len).
    fn request(&mut self, kind: u32, sector: u64, data_len: u32) -> (u8, u32) {
        self.header(kind, sector);
        let device_writes = kind != VIRTIO_BLK_T_OUT;
        let mut bufs = vec![(HDR, 16, false)];
        if data_len > 0 {
            bufs.push((DATA, data_len, device_writes));
        }
        bufs.push((STATUS_BYTE, 1, true));
        self.submit(&bufs);
        (self.status(), self.last_used_len())
    }

    fn status(&self) -> u8 {
        let mut s = [0u8];
        self.mem.read(STATUS_BYTE, &mut s).unwrap();
        s[0]
    }

    fn last_used_len(&self) -> u32 {
        let mut idx = [0u8; 2];
        self.mem.read(USED + 2, &mut idx).unwrap();
        let n = u16::from_le_bytes(idx).wrapping_sub(1);
        let mut e = [0u8; 4];
        self.mem
            .read(USED + 8 + 8 * u64::from(n % QSIZE), &mut e)
            .unwrap();
        u32::from_le_bytes(e)
    }

    fn data(&self, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.mem.read(DATA, &mut v).unwrap();
        v
    }

    fn needs_reset(&mut self) -> bool {
        self.t.read(STATUS, 4) & u64::from(STATUS_NEEDS_RESET) != 0
    }
}

#[test]
fn config_space_and_features() {
    let img = image(1 << 20);
    let mut r = Rig::new(img.path(), false, "");
    assert_eq!(r.t.read(DEVICE_ID, 4), 2);
    assert_eq!(
        r.t.read(CONFIG, 4) | (r.t.read(CONFIG + 4, 4) << 32),
        2048,
        "capacity in sectors"
    );
    assert_eq!(r.t.read(CONFIG + 12, 4), 254, "seg_max");
    assert_eq!(r.t.read(CONFIG + 20, 4), 512, "blk_size");
    assert_eq!(
        r.t.read(CONFIG + 0x24, 4),
        0xffff_ffff,
        "past the config space"
    );
    r.t.write(DEVICE_FEATURES_SEL, 4, 0);
    let f = r.t.read(DEVICE_FEATURES, 4);
    assert_eq!(f & (1 << VIRTIO_BLK_F_FLUSH), 1 << VIRTIO_BLK_F_FLUSH);
    assert_eq!(f & (1 << VIRTIO_BLK_F_RO), 0);
    let ro = Rig::new(img.path(), true, "");
    let mut ro = ro;
    ro.t.write(DEVICE_FEATURES_SEL, 4, 0);
    assert_ne!(ro.t.read(DEVICE_FEATURES, 4) & (1 << VIRTIO_BLK_F_RO), 0);
    // A size that is not a whole number of sectors rounds up, as QEMU's raw driver.
    let odd = image(1000);
    let mut r = Rig::new(odd.path(), false, "");
    assert_eq!(r.t.read(CONFIG, 4), 2);
}

#[test]
fn read_write_flush_reach_the_file() {
    let img = image(64 * 512);
    let mut r = Rig::new(img.path(), false, "");
    let (status, len) = r.request(VIRTIO_BLK_T_IN, 3, 1024);
    assert_eq!(status, VIRTIO_BLK_S_OK);
    assert_eq!(len, 1025, "used length: all writable bytes");
    assert_eq!(r.data(1024), [vec![3u8; 512], vec![4u8; 512]].concat());
    assert!(r.irq.level());
    r.t.write(INTERRUPT_ACK, 4, 1);

    let pattern: Vec<u8> = (0..2048).map(|i| (i * 7 % 251) as u8).collect();
    r.mem.write(DATA, &pattern).unwrap();
    let (status, len) = r.request(VIRTIO_BLK_T_OUT, 10, 2048);
    assert_eq!((status, len), (VIRTIO_BLK_S_OK, 1));
    assert_eq!(r.request(VIRTIO_BLK_T_FLUSH, 0, 0), (VIRTIO_BLK_S_OK, 1));
    let file = std::fs::read(img.path()).unwrap();
    assert_eq!(&file[10 * 512..14 * 512], &pattern[..]);
    assert_eq!(file[9 * 512], 9, "neighbours untouched");
    assert_eq!(file[14 * 512], 14);
}

#[test]
fn large_multi_buffer_transfers_use_the_bounce_buffer() {
    let img = image(8 << 20);
    let mut r = Rig::new(img.path(), false, "");
    // 3 MiB in three descriptors, more than one bounce buffer each.
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 253) as u8).collect();
    r.mem.write(DATA, &big).unwrap();
    r.header(VIRTIO_BLK_T_OUT, 100);
    r.submit(&[
        (HDR, 16, false),
        (DATA, 1 << 20, false),
        (DATA + (1 << 20), 3 << 19, false),
        (DATA + (5 << 19), 1 << 19, false),
        (STATUS_BYTE, 1, true),
    ]);
    assert_eq!(r.status(), VIRTIO_BLK_S_OK);
    let file = std::fs::read(img.path()).unwrap();
    assert!(file[100 * 512..100 * 512 + (3 << 20)] == big[..]);
    // And back, into a zeroed region.
    r.mem.write(DATA, &vec![0u8; 3 << 20]).unwrap();
    r.header(VIRTIO_BLK_T_IN, 100);
    r.submit(&[
        (HDR, 16, false),
        (DATA, 3 << 19, true),
        (DATA + (3 << 19), 3 << 19, true),
        (STATUS_BYTE, 1, true),
    ]);
    assert_eq!(r.status(), VIRTIO_BLK_S_OK);
    assert!(r.data(3 << 20) == big);
}

#[test]
fn header_split_across_buffers_and_status_sharing_a_buffer() {
    let img = image(16 * 512);
    let mut r = Rig::new(img.path(), false, "");
    r.header(VIRTIO_BLK_T_IN, 5);
    // Header in two 8-byte pieces; data and status in one writable buffer.
    r.submit(&[(HDR, 8, false), (HDR + 8, 8, false), (DATA, 513, true)]);
    let mut st = [0u8];
    r.mem.read(DATA + 512, &mut st).unwrap();
    assert_eq!(st[0], VIRTIO_BLK_S_OK);
    assert_eq!(r.data(512), vec![5u8; 512]);
    assert_eq!(r.last_used_len(), 513);
}

#[test]
fn reads_past_end_of_file_in_the_last_sector_are_zero() {
    let img = image(1000);
    let mut r = Rig::new(img.path(), false, "");
    r.mem.write(DATA, &[0xaa; 1024]).unwrap();
    assert_eq!(r.request(VIRTIO_BLK_T_IN, 0, 1024).0, VIRTIO_BLK_S_OK);
    let d = r.data(1024);
    assert_eq!(d[999], 1);
    assert!(d[1000..].iter().all(|&b| b == 0));
}

#[test]
fn get_id_follows_qemu_serial_convention() {
    let img = image(512);
    for (serial, want) in [
        ("", vec![0u8]),
        ("ferrite-disk", b"ferrite-disk\0".to_vec()),
        ("0123456789abcdefghijKLMN", b"0123456789abcdefghij".to_vec()),
    ] {
        let mut r = Rig::new(img.path(), false, serial);
        r.mem.write(DATA, &[0x55; 20]).unwrap();
        assert_eq!(r.request(VIRTIO_BLK_T_GET_ID, 0, 20), (VIRTIO_BLK_S_OK, 21));
        assert_eq!(&r.data(want.len()), &want, "{serial}");
        assert!(r.data(20)[want.len()..].iter().all(|&b| b == 0x55));
    }
}

#[test]
fn bad_requests_complete_with_errors() {
    let img = image(16 * 512);
    let mut r = Rig::new(img.path(), false, "");
    assert_eq!(
        r.request(VIRTIO_BLK_T_IN, 16, 512).0,
        VIRTIO_BLK_S_IOERR,
        "past the end"
    );
    assert_eq!(
        r.request(VIRTIO_BLK_T_IN, 15, 1024).0,
        VIRTIO_BLK_S_IOERR,
        "runs past the end"
    );
    assert_eq!(
        r.request(VIRTIO_BLK_T_IN, u64::MAX, 512).0,
        VIRTIO_BLK_S_IOERR,
        "sector overflow"
    );
    assert_eq!(
        r.request(VIRTIO_BLK_T_IN, 0, 100).0,
        VIRTIO_BLK_S_IOERR,
        "not whole sectors"
    );
    assert_eq!(
        r.request(VIRTIO_BLK_T_IN, 15, 512).0,
        VIRTIO_BLK_S_OK,
        "last sector is fine"
    );
    assert_eq!(
        r.request(11, 0, 512).0,
        VIRTIO_BLK_S_UNSUPP,
        "discard not offered"
    );
    // SCSI passthrough: QEMU 7.2 answers IOERR when the request is too short
    // to be one (fewer than 2 readable or 3 writable buffers), else UNSUPP.
    assert_eq!(
        r.request(VIRTIO_BLK_T_SCSI_CMD, 0, 512).0,
        VIRTIO_BLK_S_IOERR,
        "short SCSI command"
    );
    r.header(VIRTIO_BLK_T_SCSI_CMD, 0);
    r.submit(&[
        (HDR, 16, false),
        (DATA, 16, false),
        (DATA + 0x100, 96, true),
        (DATA + 0x200, 16, true),
        (STATUS_BYTE, 1, true),
    ]);
    assert_eq!(r.status(), VIRTIO_BLK_S_UNSUPP, "SCSI commands");
    assert_eq!(
        r.request(0x10, 0, 512).0,
        VIRTIO_BLK_S_UNSUPP,
        "unknown type"
    );
    assert_eq!(
        r.request(VIRTIO_BLK_T_IN | VIRTIO_BLK_T_BARRIER, 2, 512).0,
        VIRTIO_BLK_S_OK,
        "barrier bit ignored"
    );
    assert!(!r.needs_reset());
}

#[test]
fn read_only_disk_refuses_writes() {
    let img = image(16 * 512);
    let mut r = Rig::new(img.path(), true, "");
    r.mem.write(DATA, &[0xee; 512]).unwrap();
    assert_eq!(r.request(VIRTIO_BLK_T_OUT, 0, 512).0, VIRTIO_BLK_S_IOERR);
    assert_eq!(r.request(VIRTIO_BLK_T_IN, 1, 512).0, VIRTIO_BLK_S_OK);
    assert_eq!(r.request(VIRTIO_BLK_T_FLUSH, 0, 0).0, VIRTIO_BLK_S_OK);
    assert_eq!(std::fs::read(img.path()).unwrap()[0], 0, "file unchanged");
}

#[test]
fn malformed_chains_need_reset() {
    let img = image(16 * 512);
    // No status byte (no writable buffer at all).
    let mut r = Rig::new(img.path(), false, "");
    r.header(VIRTIO_BLK_T_OUT, 0);
    r.submit(&[(HDR, 16, false), (DATA, 512, false)]);
    assert!(r.needs_reset());
    assert_eq!(r.t.read(INTERRUPT_STATUS, 4), 2);
    // Header shorter than 16 bytes.
    let mut r = Rig::new(img.path(), false, "");
    r.header(VIRTIO_BLK_T_IN, 0);
    r.submit(&[(HDR, 8, false), (STATUS_BYTE, 1, true)]);
    assert!(r.needs_reset());
    // Data buffer outside guest RAM.
    let mut r = Rig::new(img.path(), false, "");
    r.header(VIRTIO_BLK_T_IN, 0);
    r.submit(&[
        (HDR, 16, false),
        (0x1000, 512, true),
        (STATUS_BYTE, 1, true),
    ]);
    assert!(r.needs_reset());
    // Notifications are then ignored until the driver resets the device.
    r.request(VIRTIO_BLK_T_IN, 0, 512);
    assert_eq!(r.status(), 0xff, "not processed");
}

/// A disk whose I/O waits until the test opens the gate: a slow disk.
struct GatedDisk {
    data: parking_lot::Mutex<Vec<u8>>,
    open: parking_lot::Mutex<bool>,
    cond: parking_lot::Condvar,
    started: std::sync::atomic::AtomicUsize,
}

impl GatedDisk {
    fn new(len: usize) -> Arc<Self> {
        Arc::new(Self {
            data: parking_lot::Mutex::new(vec![0x11; len]),
            open: parking_lot::Mutex::new(false),
            cond: parking_lot::Condvar::new(),
            started: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn wait_gate(&self) {
        self.started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut open = self.open.lock();
        while !*open {
            self.cond.wait(&mut open);
        }
    }

    fn open_gate(&self) {
        *self.open.lock() = true;
        self.cond.notify_all();
    }

    fn started(&self) -> usize {
        self.started.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl BlockBackend for GatedDisk {
    fn size(&self) -> u64 {
        self.data.lock().len() as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.wait_gate();
        let d = self.data.lock();
        buf.copy_from_slice(&d[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.wait_gate();
        self.data.lock()[offset as usize..offset as usize + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        self.wait_gate();
        Ok(())
    }
}

/// Polls `ctx` without blocking until `cond` holds: for conditions that
/// change in another thread without waking the context (a pool worker
/// reaching the disk).
fn poll_until(ctx: &AioContext, cond: impl Fn() -> bool) {
    while !cond() {
        ctx.poll(false);
        std::thread::yield_now();
    }
}

fn used_idx(r: &Rig) -> u16 {
    let mut idx = [0u8; 2];
    r.mem.read(USED + 2, &mut idx).unwrap();
    u16::from_le_bytes(idx)
}

/// The notification (the vCPU's MMIO write) returns at once; the request
/// runs when the device's context runs its bottom half.
#[test]
fn a_notification_only_kicks_the_context() {
    let img = image(1 << 20);
    let mut r = Rig::new(img.path(), false, "");
    r.header(VIRTIO_BLK_T_IN, 3);
    r.post(&[(HDR, 16, false), (DATA, 512, true), (STATUS_BYTE, 1, true)]);
    assert!(r.blk.kick_pending(), "the queue BH is scheduled");
    assert_eq!(used_idx(&r), 0, "nothing done inside the MMIO write");
    assert_eq!(r.status(), 0xff);
    r.blk.wait_idle();
    assert_eq!(used_idx(&r), 1);
    assert_eq!(r.status(), VIRTIO_BLK_S_OK);
    assert_eq!(r.data(512), vec![3u8; 512]);
    assert!(r.irq.level());
}

/// While the disk is stuck, the context keeps running other work and
/// the request stays in flight; when the disk answers, the request
/// completes with its data in guest memory and the interrupt raised.
#[test]
fn a_slow_disk_stalls_neither_the_notifier_nor_the_context() {
    let disk = GatedDisk::new(64 * 1024);
    let mut r = Rig::with_disk(disk.clone(), false, "");
    r.header(VIRTIO_BLK_T_IN, 1);
    r.post(&[(HDR, 16, false), (DATA, 1024, true), (STATUS_BYTE, 1, true)]);
    let ctx = r.blk.aio_context().clone();
    poll_until(&ctx, || disk.started() > 0);
    assert_eq!(r.blk.inflight(), 1);
    // Other work in the same context still runs.
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ran2 = ran.clone();
    ctx.bh_schedule_oneshot(move || ran2.store(true, std::sync::atomic::Ordering::SeqCst));
    ctx.poll_while(|| !ran.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(used_idx(&r), 0);
    assert!(!r.irq.level());
    disk.open_gate();
    r.blk.wait_idle();
    assert_eq!(used_idx(&r), 1);
    assert_eq!(r.status(), VIRTIO_BLK_S_OK);
    assert_eq!(r.data(1024), vec![0x11u8; 1024]);
    assert!(r.irq.level());
}

/// A reset while a request is in flight: when the disk answers, neither
/// guest memory nor the rings are touched (the request belonged to the
/// device before the reset).
#[test]
fn a_reset_forgets_requests_in_flight() {
    let disk = GatedDisk::new(64 * 1024);
    let mut r = Rig::with_disk(disk.clone(), false, "");
    r.mem.write(DATA, &[0xee; 512]).unwrap();
    r.header(VIRTIO_BLK_T_IN, 0);
    r.post(&[(HDR, 16, false), (DATA, 512, true), (STATUS_BYTE, 1, true)]);
    let ctx = r.blk.aio_context().clone();
    poll_until(&ctx, || disk.started() > 0);
    r.t.write(STATUS, 4, 0);
    assert_eq!(r.blk.inflight(), 0);
    disk.open_gate();
    // Let the pool's completion run.
    for _ in 0..100 {
        ctx.poll(false);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(used_idx(&r), 0);
    assert_eq!(r.status(), 0xff);
    assert_eq!(r.data(512), vec![0xee; 512]);
    assert!(!r.irq.level());
}

/// More requests than MAX_INFLIGHT at once: the rest wait in the ring and
/// all complete.
#[test]
fn requests_beyond_the_in_flight_limit_wait_their_turn() {
    let disk = GatedDisk::new(64 * 1024);
    let mut r = Rig::with_disk(disk.clone(), false, "");
    let n = MAX_INFLIGHT + 8;
    assert!(2 * n <= usize::from(QSIZE));
    r.header(VIRTIO_BLK_T_FLUSH, 0);
    for _ in 0..n {
        r.post(&[(HDR, 16, false), (STATUS_BYTE, 1, true)]);
    }
    let ctx = r.blk.aio_context().clone();
    ctx.poll_while(|| r.blk.kick_pending());
    assert_eq!(r.blk.inflight(), MAX_INFLIGHT);
    disk.open_gate();
    r.blk.wait_idle();
    assert_eq!(usize::from(used_idx(&r)), n);
}
