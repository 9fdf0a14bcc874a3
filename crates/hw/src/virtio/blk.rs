//! virtio-blk (QEMU: `hw/block/virtio-blk.c`; virtio v1.2 §5.2) over a raw
//! image ([`BlockBackend`], QEMU's `raw` format on `file-posix`).
//!
//! Requests: a 16-byte header (type, reserved, sector) in the device-readable
//! part, data buffers, and a 1-byte status in the last device-writable byte.
//! Handled types: IN (read), OUT (write), FLUSH, GET_ID; anything else
//! completes with UNSUPP. As on QEMU: a chain without a readable header or a
//! writable status byte is a device error (needs reset); a request whose
//! length is not a multiple of 512, starts or ends past the end of the disk,
//! or is over `BDRV_REQUEST_MAX_SECTORS` completes with IOERR; a write to a
//! read-only disk completes with IOERR; the used length is the chain's whole
//! writable size; the BARRIER bit of the type is ignored.
//!
//! ## Where requests run
//!
//! As on QEMU with `aio=threads`: the driver's queue notification (a vCPU's
//! MMIO write) only schedules a bottom half in the device's [`AioContext`]
//! (the main loop's, or an IOThread's with `iothread=`), the way QEMU's
//! ioeventfd only signals an event notifier. That bottom half pops the
//! available requests and starts one [`Coroutine`] per request in the same
//! context; each coroutine hands its file I/O to the context's thread pool
//! and, when the pool reports back (in the context's thread), writes the
//! status byte, fills the used ring and raises the interrupt. A slow disk
//! therefore stalls neither the vCPU nor the context's loop.
//!
//! Data moves through a bounded bounce buffer ([`BOUNCE_SIZE`] per request,
//! at most [`MAX_INFLIGHT`] requests in flight), so a guest naming huge
//! buffers cannot make the host allocate without limit. Requests left in the
//! ring at the limit are popped when earlier ones complete.
//!
//! A device reset (or a new activation) does not wait for requests in
//! flight: it moves the device to a new generation, and a request of an
//! older generation touches neither guest memory nor the rings when its I/O
//! comes back (QEMU drains instead; see `docs/divergences.md`).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Weak};

use ferrite_aio::{AioContext, Coroutine, QemuBh};
use parking_lot::Mutex;

use super::queue::{Buffer, DescChain, QueueError, SplitQueue};
use super::{
    GuestMemory, VIRTIO_F_RING_EVENT_IDX, VIRTIO_F_RING_INDIRECT_DESC, VIRTIO_F_VERSION_1,
    VirtQueueConfig, VirtioDevice, VirtioInterrupt,
};

/// The virtio device ID of a block device.
pub const VIRTIO_ID_BLOCK: u32 = 2;
/// Feature: `seg_max` is valid.
pub const VIRTIO_BLK_F_SEG_MAX: u32 = 2;
/// Feature: the device is read-only.
pub const VIRTIO_BLK_F_RO: u32 = 5;
/// Feature: `blk_size` is valid.
pub const VIRTIO_BLK_F_BLK_SIZE: u32 = 6;
/// Feature: the FLUSH command is supported.
pub const VIRTIO_BLK_F_FLUSH: u32 = 9;

/// Request type: read.
pub const VIRTIO_BLK_T_IN: u32 = 0;
/// Request type: write.
pub const VIRTIO_BLK_T_OUT: u32 = 1;
/// Request type: legacy SCSI passthrough (never supported).
pub const VIRTIO_BLK_T_SCSI_CMD: u32 = 2;
/// Request type: flush.
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
/// Request type: get the device ID string.
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;
/// Legacy barrier flag in the request type, ignored.
pub const VIRTIO_BLK_T_BARRIER: u32 = 0x8000_0000;

/// Status: success.
pub const VIRTIO_BLK_S_OK: u8 = 0;
/// Status: I/O error.
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
/// Status: unsupported request.
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;

/// Length of the ID string returned by GET_ID.
pub const VIRTIO_BLK_ID_BYTES: usize = 20;
/// Sector size of the virtio-blk protocol.
pub const SECTOR_SIZE: u64 = 512;
/// Largest request in sectors (QEMU: `BDRV_REQUEST_MAX_SECTORS`).
pub const REQUEST_MAX_SECTORS: u64 = (i32::MAX as u64) >> 9;
/// QueueNumMax the transport reports (QEMU's virtio-mmio reports
/// `VIRTQUEUE_MAX_SIZE`).
pub const QUEUE_MAX: u16 = 1024;
/// `seg_max` in the configuration (QEMU 7.2: queue-size 256 minus 2).
pub const SEG_MAX: u32 = 254;
/// Largest chunk of guest data held in host memory at once.
pub const BOUNCE_SIZE: usize = 1 << 20;
/// Size of the configuration space QEMU exposes for these features
/// (`offsetof(struct virtio_blk_config, max_discard_sectors)`).
pub const CONFIG_LEN: usize = 0x24;

/// A disk image (QEMU: a `BlockBackend` with the raw format).
pub trait BlockBackend: Send + Sync {
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Reads `buf.len()` bytes at `offset`; bytes past the end read as zero.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes `buf` at `offset`.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes every completed write durable (QEMU: `bdrv_co_flush`, `fdatasync`).
    fn flush(&self) -> io::Result<()>;
}

/// A raw image file (QEMU: `-drive file=PATH,format=raw`).
#[derive(Debug)]
pub struct RawFile {
    file: File,
    size: u64,
}

impl RawFile {
    /// Opens `path`, read-only if `read_only` (QEMU: `readonly=on`).
    pub fn open(path: &Path, read_only: bool) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(!read_only).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self { file, size })
    }

    /// Bytes the host file system has allocated for the image (QEMU's
    /// `actual-size`: `st_blocks` × 512).
    pub fn allocated_bytes(&self) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(self.file.metadata()?.blocks() * 512)
    }
}

impl BlockBackend for RawFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => {
                    // End of file: the rest of the last sector reads as zeros.
                    buf[done..].fill(0);
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }

    fn flush(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Buffers with a prefix or suffix cut off, without copying.
fn trim(buffers: &[Buffer], mut skip_front: u64, mut skip_back: u64) -> Vec<Buffer> {
    let mut out: Vec<Buffer> = Vec::new();
    for b in buffers {
        let len = u64::from(b.len);
        if skip_front >= len {
            skip_front -= len;
            continue;
        }
        out.push(Buffer {
            addr: b.addr + skip_front,
            len: (len - skip_front) as u32,
        });
        skip_front = 0;
    }
    while skip_back > 0 {
        let Some(last) = out.last_mut() else { break };
        let len = u64::from(last.len);
        if skip_back >= len {
            skip_back -= len;
            out.pop();
        } else {
            last.len = (len - skip_back) as u32;
            skip_back = 0;
        }
    }
    out
}

fn total(buffers: &[Buffer]) -> u64 {
    buffers.iter().map(|b| u64::from(b.len)).sum()
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlkRequest {
    /// Request type with the BARRIER bit cleared.
    pub kind: u32,
    /// First sector.
    pub sector: u64,
    /// Data to write (OUT): the readable buffers after the header.
    pub out_data: Vec<Buffer>,
    /// Room for data read (IN, GET_ID): the writable buffers before the status byte.
    pub in_data: Vec<Buffer>,
    /// Guest address of the status byte.
    pub status_addr: u64,
    /// Length reported in the used ring: the chain's whole writable size.
    pub used_len: u32,
    /// Number of device-readable and device-writable descriptors.
    pub segments: (usize, usize),
}

impl BlkRequest {
    /// Parses a chain (QEMU: the checks at the top of
    /// `virtio_blk_handle_request`); `Err` means the device needs a reset.
    pub fn parse(chain: &DescChain, mem: &dyn GuestMemory) -> Result<Self, QueueError> {
        if chain.readable.is_empty() || chain.writable.is_empty() {
            return Err(QueueError::Protocol("virtio-blk missing headers".into()));
        }
        if chain.readable_len() < 16 {
            return Err(QueueError::Protocol(
                "virtio-blk request outhdr too short".into(),
            ));
        }
        if chain.writable.last().is_some_and(|b| b.len == 0) {
            return Err(QueueError::Protocol(
                "virtio-blk request inhdr too short".into(),
            ));
        }
        let mut hdr = [0u8; 16];
        let mut at = 0;
        for b in &chain.readable {
            let n = (b.len as usize).min(16 - at);
            mem.read(b.addr, &mut hdr[at..at + n])?;
            at += n;
            if at == 16 {
                break;
            }
        }
        let kind = u32::from_le_bytes(hdr[0..4].try_into().unwrap()) & !VIRTIO_BLK_T_BARRIER;
        let sector = u64::from_le_bytes(hdr[8..16].try_into().unwrap());
        let last = chain.writable[chain.writable.len() - 1];
        Ok(Self {
            kind,
            sector,
            out_data: trim(&chain.readable, 16, 0),
            in_data: trim(&chain.writable, 0, 1),
            status_addr: last.addr + u64::from(last.len) - 1,
            used_len: u32::try_from(chain.writable_len()).unwrap_or(u32::MAX),
            segments: (chain.readable.len(), chain.writable.len()),
        })
    }

    /// Whether `len` bytes at the request's sector are a valid range of a
    /// `capacity`-sector disk (QEMU: `virtio_blk_sect_range_ok`).
    fn range_ok(&self, len: u64, capacity: u64) -> bool {
        let sectors = len / SECTOR_SIZE;
        len.is_multiple_of(SECTOR_SIZE)
            && sectors <= REQUEST_MAX_SECTORS
            && self.sector <= capacity
            && sectors <= capacity - self.sector
    }
}

/// Most requests one device has in flight (each holds at most
/// [`BOUNCE_SIZE`] bytes of bounce buffer).
pub const MAX_INFLIGHT: usize = 32;

/// What the guest-facing side of the device holds, under one lock.
struct BlkState {
    queue: Option<SplitQueue>,
    interrupt: Option<VirtioInterrupt>,
    /// Bumped by every activation and reset: a request remembers the
    /// generation it was popped in and is dropped if that has passed.
    generation: u64,
    inflight: usize,
    /// The queue BH stopped at [`MAX_INFLIGHT`] with requests left.
    throttled: bool,
}

/// The device's state shared with its bottom half and its request
/// coroutines.
struct BlkShared {
    mem: Arc<dyn GuestMemory>,
    disk: Arc<dyn BlockBackend>,
    read_only: bool,
    serial: String,
    ctx: Arc<AioContext>,
    state: Mutex<BlkState>,
    /// The queue-processing BH (QEMU: the ioeventfd handler,
    /// `virtio_blk_handle_output`), in `ctx`.
    kick: QemuBh,
}

impl BlkShared {
    /// Puts the device in the needs-reset state and stops the queue.
    fn fail(st: &mut BlkState, e: &QueueError) {
        if let Some(i) = &st.interrupt {
            i.set_needs_reset(&format!("virtio-blk: {e}"));
        }
        st.queue = None;
    }

    /// The BH: pops every available request (up to the in-flight limit)
    /// and starts a coroutine for each.
    fn handle_queue(self: &Arc<Self>) {
        let mem = &*self.mem;
        let mut started = Vec::new();
        {
            let mut st = self.state.lock();
            let generation = st.generation;
            loop {
                if st.inflight >= MAX_INFLIGHT {
                    st.throttled = true;
                    break;
                }
                let Some(q) = st.queue.as_mut() else { break };
                let popped = q.pop(mem).and_then(|c| {
                    c.map(|c| BlkRequest::parse(&c, mem).map(|r| (c.head, r)))
                        .transpose()
                });
                match popped {
                    Ok(Some((head, req))) => {
                        st.inflight += 1;
                        let me = Arc::clone(self);
                        started.push(Coroutine::new(async move {
                            me.run_request(head, req, generation).await;
                        }));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        Self::fail(&mut st, &e);
                        break;
                    }
                }
            }
        }
        // Entered outside the lock: a request that needs no I/O completes
        // before `enter_in` returns.
        for co in started {
            co.enter_in(&self.ctx);
        }
    }

    /// One request, from execution to the used ring (QEMU:
    /// `virtio_blk_handle_request` + `virtio_blk_req_complete`).
    async fn run_request(self: Arc<Self>, head: u16, req: BlkRequest, generation: u64) {
        let result = self.execute(&req, generation).await;
        let mut st = self.state.lock();
        if st.generation != generation {
            return;
        }
        st.inflight -= 1;
        let mem = &*self.mem;
        let done = result.and_then(|status| {
            let Some(q) = st.queue.as_mut() else {
                return Ok(false);
            };
            mem.write(req.status_addr, &[status])?;
            q.push(mem, head, req.used_len)?;
            q.should_notify(mem)
        });
        match done {
            Ok(true) => {
                if let Some(i) = &st.interrupt {
                    i.notify_queue();
                }
            }
            Ok(false) => {}
            Err(e) => Self::fail(&mut st, &e),
        }
        if st.throttled {
            st.throttled = false;
            self.kick.schedule();
        }
    }

    /// Writes guest memory for a request of `generation`, unless the
    /// device has been reset since (then the write is dropped).
    fn guest_write(&self, generation: u64, addr: u64, data: &[u8]) -> Result<(), QueueError> {
        let st = self.state.lock();
        if st.generation == generation {
            self.mem.write(addr, data)?;
        }
        Ok(())
    }

    /// Runs `f` on the context's thread pool (QEMU's `aio=threads`).
    async fn in_pool<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        match self.ctx.thread_pool().submit_co(f).await {
            Ok(r) => Some(r),
            Err(e) => {
                log::error!("virtio-blk: {e}");
                None
            }
        }
    }

    /// Executes `req`; returns the status byte. Guest-memory failures are
    /// device errors (`Err`).
    async fn execute(&self, req: &BlkRequest, generation: u64) -> Result<u8, QueueError> {
        let capacity = self.disk.size().div_ceil(SECTOR_SIZE);
        match req.kind {
            VIRTIO_BLK_T_IN | VIRTIO_BLK_T_OUT => {
                let write = req.kind == VIRTIO_BLK_T_OUT;
                let bufs = if write { &req.out_data } else { &req.in_data };
                if !req.range_ok(total(bufs), capacity) {
                    return Ok(VIRTIO_BLK_S_IOERR);
                }
                if write && self.read_only {
                    return Ok(VIRTIO_BLK_S_IOERR);
                }
                let mut bounce = vec![0u8; (total(bufs) as usize).min(BOUNCE_SIZE)];
                let mut offset = req.sector * SECTOR_SIZE;
                for b in bufs {
                    let mut done = 0u64;
                    while done < u64::from(b.len) {
                        let n = (u64::from(b.len) - done).min(bounce.len() as u64) as usize;
                        if write {
                            self.mem.read(b.addr + done, &mut bounce[..n])?;
                        }
                        let disk = Arc::clone(&self.disk);
                        let at = offset;
                        let Some((back, io)) = self
                            .in_pool(move || {
                                let r = if write {
                                    disk.write_at(&bounce[..n], at)
                                } else {
                                    disk.read_at(&mut bounce[..n], at)
                                };
                                (bounce, r)
                            })
                            .await
                        else {
                            return Ok(VIRTIO_BLK_S_IOERR);
                        };
                        bounce = back;
                        if let Err(e) = io {
                            let what = if write { "write" } else { "read" };
                            log::error!("virtio-blk: {what} at {offset:#x}: {e}");
                            return Ok(VIRTIO_BLK_S_IOERR);
                        }
                        if !write {
                            self.guest_write(generation, b.addr + done, &bounce[..n])?;
                        }
                        done += n as u64;
                        offset += n as u64;
                    }
                }
                Ok(VIRTIO_BLK_S_OK)
            }
            VIRTIO_BLK_T_FLUSH => {
                let disk = Arc::clone(&self.disk);
                match self.in_pool(move || disk.flush()).await {
                    Some(Ok(())) => Ok(VIRTIO_BLK_S_OK),
                    Some(Err(e)) => {
                        log::error!("virtio-blk: flush: {e}");
                        Ok(VIRTIO_BLK_S_IOERR)
                    }
                    None => Ok(VIRTIO_BLK_S_IOERR),
                }
            }
            VIRTIO_BLK_T_GET_ID => {
                // NUL-terminated only when shorter than the 20-byte field.
                let mut id = self.serial.as_bytes().to_vec();
                id.push(0);
                id.truncate(VIRTIO_BLK_ID_BYTES.min(total(&req.in_data) as usize));
                let mut at = 0;
                for b in &req.in_data {
                    let n = (b.len as usize).min(id.len() - at);
                    self.guest_write(generation, b.addr, &id[at..at + n])?;
                    at += n;
                    if at == id.len() {
                        break;
                    }
                }
                Ok(VIRTIO_BLK_S_OK)
            }
            // QEMU checks the SCSI request's shape before refusing it.
            VIRTIO_BLK_T_SCSI_CMD if req.segments.0 < 2 || req.segments.1 < 3 => {
                Ok(VIRTIO_BLK_S_IOERR)
            }
            _ => Ok(VIRTIO_BLK_S_UNSUPP),
        }
    }
}

/// A handle on a virtio-blk device that stays valid after the device is
/// boxed into its transport: requests in flight, for tests and for waiting
/// until the device is idle.
#[derive(Clone)]
pub struct BlkHandle(Arc<BlkShared>);

impl std::fmt::Debug for BlkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlkHandle")
            .field("inflight", &self.inflight())
            .finish()
    }
}

impl BlkHandle {
    /// Requests popped from the ring and not completed yet.
    pub fn inflight(&self) -> usize {
        self.0.state.lock().inflight
    }

    /// Whether the queue BH is scheduled (a notification not yet handled).
    pub fn kick_pending(&self) -> bool {
        self.0.kick.scheduled()
    }

    /// Whether nothing is pending: no request in flight and no notification
    /// waiting to be handled.
    pub fn idle(&self) -> bool {
        self.inflight() == 0 && !self.kick_pending()
    }

    /// Polls the device's context until [`idle`](Self::idle). Only from
    /// the context's home thread (or a thread that may become it: tests).
    pub fn wait_idle(&self) {
        self.0.ctx.poll_while(|| !self.idle());
    }

    /// The context the device's requests run in.
    pub fn aio_context(&self) -> &Arc<AioContext> {
        &self.0.ctx
    }
}

/// The virtio-blk device.
pub struct VirtioBlk {
    shared: Arc<BlkShared>,
    config: [u8; CONFIG_LEN],
    max_sizes: [u16; 1],
}

impl std::fmt::Debug for VirtioBlk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioBlk")
            .field("read_only", &self.shared.read_only)
            .field("serial", &self.shared.serial)
            .field("context", &self.shared.ctx.name())
            .finish_non_exhaustive()
    }
}

impl VirtioBlk {
    /// A block device on `disk` whose requests run in `ctx` (the main
    /// loop's context, or an IOThread's); `serial` is what GET_ID returns
    /// (QEMU's `serial` property, empty by default).
    pub fn new(
        mem: Arc<dyn GuestMemory>,
        disk: Arc<dyn BlockBackend>,
        read_only: bool,
        serial: &str,
        ctx: Arc<AioContext>,
    ) -> Self {
        let mut config = [0u8; CONFIG_LEN];
        let capacity = disk.size().div_ceil(SECTOR_SIZE);
        config[0..8].copy_from_slice(&capacity.to_le_bytes());
        config[12..16].copy_from_slice(&SEG_MAX.to_le_bytes());
        config[20..24].copy_from_slice(&(SECTOR_SIZE as u32).to_le_bytes());
        // num_queues: QEMU fills it even without VIRTIO_BLK_F_MQ.
        config[34..36].copy_from_slice(&1u16.to_le_bytes());
        let shared = Arc::new_cyclic(|me: &Weak<BlkShared>| {
            let me = me.clone();
            let kick = ctx.bh_new("virtio-blk-queue", move || {
                if let Some(s) = me.upgrade() {
                    s.handle_queue();
                }
            });
            BlkShared {
                mem,
                disk,
                read_only,
                serial: serial.to_string(),
                ctx: Arc::clone(&ctx),
                state: Mutex::new(BlkState {
                    queue: None,
                    interrupt: None,
                    generation: 0,
                    inflight: 0,
                    throttled: false,
                }),
                kick,
            }
        });
        Self {
            shared,
            config,
            max_sizes: [QUEUE_MAX],
        }
    }

    /// A handle that outlives boxing the device into its transport.
    pub fn handle(&self) -> BlkHandle {
        BlkHandle(Arc::clone(&self.shared))
    }

    /// Starts a new generation: requests in flight are forgotten.
    fn new_generation(&self, queue: Option<SplitQueue>, interrupt: Option<VirtioInterrupt>) {
        let mut st = self.shared.state.lock();
        st.generation += 1;
        st.queue = queue;
        st.interrupt = interrupt;
        st.inflight = 0;
        st.throttled = false;
    }
}

impl VirtioDevice for VirtioBlk {
    fn device_id(&self) -> u32 {
        VIRTIO_ID_BLOCK
    }

    fn device_features(&self) -> u64 {
        let mut f = (1u64 << VIRTIO_F_VERSION_1)
            | (1 << VIRTIO_F_RING_INDIRECT_DESC)
            | (1 << VIRTIO_F_RING_EVENT_IDX)
            | (1 << VIRTIO_BLK_F_SEG_MAX)
            | (1 << VIRTIO_BLK_F_BLK_SIZE)
            | (1 << VIRTIO_BLK_F_FLUSH);
        if self.shared.read_only {
            f |= 1 << VIRTIO_BLK_F_RO;
        }
        f
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.max_sizes
    }

    fn config_len(&self) -> usize {
        CONFIG_LEN
    }

    fn read_config(&mut self, offset: usize, data: &mut [u8]) {
        data.copy_from_slice(&self.config[offset..offset + data.len()]);
    }

    fn write_config(&mut self, _offset: usize, _data: &[u8]) {
        // Only `writeback` is writable, and only with CONFIG_WCE, not offered.
    }

    fn activate(&mut self, features: u64, queues: &[VirtQueueConfig], interrupt: VirtioInterrupt) {
        let queue = queues
            .first()
            .filter(|q| q.ready)
            .map(|q| SplitQueue::new(q, features));
        self.new_generation(queue, Some(interrupt));
        // Requests made available before DRIVER_OK are served too.
        self.shared.kick.schedule();
    }

    fn queue_notify(&mut self, queue: u16) {
        // Only wakes the device's context (QEMU: the ioeventfd): the
        // notifying vCPU never waits for the disk.
        if queue == 0 {
            self.shared.kick.schedule();
        }
    }

    fn reset(&mut self) {
        self.new_generation(None, None);
    }
}
