//! The split virtqueue, device side (QEMU: `virtqueue_pop`, `virtqueue_push`,
//! `virtio_should_notify` in `hw/virtio/virtio.c`; layout from virtio v1.2
//! §2.7 "Split Virtqueues").
//!
//! Everything here reads guest-controlled memory, so every index, length and
//! address is checked: a head or `next` index beyond the ring, a chain longer
//! than the ring (a loop), a readable buffer after a writable one, a bad or
//! nested indirect table, an available index that moved by more than the ring
//! size, or a buffer outside guest RAM is a [`QueueError`]; the caller then
//! puts the device in the needs-reset state. Guest memory is only reached
//! through [`GuestMemory`], which refuses anything outside guest RAM.
//!
//! Ordering: the driver publishes descriptors, then the ring entry, then
//! `avail.idx`; the device reads `avail.idx` first and fences (acquire)
//! before reading what it covers. The device writes used elements, fences
//! (release), then publishes `used.idx`, and fences again (full) before
//! reading the driver's notification suppression fields.

use std::sync::atomic::{Ordering, fence};

use super::{
    GuestMemory, GuestMemoryError, VIRTIO_F_RING_EVENT_IDX, VIRTIO_F_RING_INDIRECT_DESC,
    VirtQueueConfig,
};

/// Descriptor flag: the chain continues at `next`.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the buffer is device-writable.
pub const VRING_DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer holds an indirect descriptor table.
pub const VRING_DESC_F_INDIRECT: u16 = 4;
/// Available ring flag: the driver does not want interrupts.
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;

const DESC_SIZE: u64 = 16;

/// Why a queue cannot be processed; the device should then need a reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// A ring or buffer lies outside guest RAM.
    Memory(GuestMemoryError),
    /// The driver broke the ring protocol; the text says how.
    Protocol(String),
}

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueError::Memory(e) => e.fmt(f),
            QueueError::Protocol(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for QueueError {}

impl From<GuestMemoryError> for QueueError {
    fn from(e: GuestMemoryError) -> Self {
        QueueError::Memory(e)
    }
}

fn protocol(msg: String) -> QueueError {
    QueueError::Protocol(msg)
}

/// One guest buffer of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Guest-physical address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
}

/// A descriptor chain popped from the available ring (QEMU: `VirtQueueElement`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DescChain {
    /// Index of the head descriptor, returned in the used ring.
    pub head: u16,
    /// Device-readable buffers, in order.
    pub readable: Vec<Buffer>,
    /// Device-writable buffers, in order (they follow the readable ones).
    pub writable: Vec<Buffer>,
}

impl DescChain {
    /// Total bytes the device may write.
    pub fn writable_len(&self) -> u64 {
        self.writable.iter().map(|b| u64::from(b.len)).sum()
    }

    /// Total bytes the device may read.
    pub fn readable_len(&self) -> u64 {
        self.readable.iter().map(|b| u64::from(b.len)).sum()
    }

    /// Copies all readable bytes out of guest memory. The guest chooses the
    /// total (a chain may name all of RAM many times over), so the caller
    /// gives the most it is prepared to buffer; a longer chain is an error.
    pub fn read_all(&self, mem: &dyn GuestMemory, limit: usize) -> Result<Vec<u8>, QueueError> {
        let total = self.readable_len();
        if total > limit as u64 {
            return Err(protocol(format!(
                "chain {} has {total} readable bytes, more than {limit}",
                self.head
            )));
        }
        let mut out = vec![0; total as usize];
        let mut at = 0;
        for b in &self.readable {
            let n = b.len as usize;
            mem.read(b.addr, &mut out[at..at + n])?;
            at += n;
        }
        Ok(out)
    }

    /// Writes `data` into the writable buffers in order; returns how many
    /// bytes fitted (the rest is dropped).
    pub fn write_all(&self, mem: &dyn GuestMemory, data: &[u8]) -> Result<usize, QueueError> {
        let mut at = 0;
        for b in &self.writable {
            if at == data.len() {
                break;
            }
            let n = (b.len as usize).min(data.len() - at);
            mem.write(b.addr, &data[at..at + n])?;
            at += n;
        }
        Ok(at)
    }
}

/// A descriptor as laid out in guest memory.
#[derive(Clone, Copy, Debug)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

fn read_desc(mem: &dyn GuestMemory, table: u64, i: u16) -> Result<Desc, QueueError> {
    let mut b = [0u8; 16];
    mem.read(table + DESC_SIZE * u64::from(i), &mut b)?;
    Ok(Desc {
        addr: u64::from_le_bytes(b[0..8].try_into().unwrap()),
        len: u32::from_le_bytes(b[8..12].try_into().unwrap()),
        flags: u16::from_le_bytes(b[12..14].try_into().unwrap()),
        next: u16::from_le_bytes(b[14..16].try_into().unwrap()),
    })
}

fn read_u16(mem: &dyn GuestMemory, addr: u64) -> Result<u16, QueueError> {
    let mut b = [0u8; 2];
    mem.read(addr, &mut b)?;
    Ok(u16::from_le_bytes(b))
}

fn write_u16(mem: &dyn GuestMemory, addr: u64, v: u16) -> Result<(), QueueError> {
    Ok(mem.write(addr, &v.to_le_bytes())?)
}

/// The device's view of one split virtqueue.
#[derive(Clone, Debug)]
pub struct SplitQueue {
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
    indirect: bool,
    event_idx: bool,
    /// Next available-ring slot to consume (QEMU: `last_avail_idx`).
    last_avail_idx: u16,
    /// Next used-ring slot to fill (QEMU: `used_idx`).
    used_idx: u16,
    /// `used_idx` when the guest was last notified (QEMU: `signalled_used`).
    signalled_used: Option<u16>,
}

impl SplitQueue {
    /// The queue the driver programmed, with the negotiated `features`
    /// deciding indirect descriptors and event-index suppression. The layout
    /// must already have been checked by the transport (size a power of two,
    /// rings aligned and in RAM).
    pub fn new(cfg: &VirtQueueConfig, features: u64) -> Self {
        assert!(
            cfg.size.is_power_of_two(),
            "virtqueue: unchecked size {}",
            cfg.size
        );
        Self {
            size: cfg.size,
            desc: cfg.desc,
            avail: cfg.avail,
            used: cfg.used,
            indirect: features & (1 << VIRTIO_F_RING_INDIRECT_DESC) != 0,
            event_idx: features & (1 << VIRTIO_F_RING_EVENT_IDX) != 0,
            last_avail_idx: 0,
            used_idx: 0,
            signalled_used: None,
        }
    }

    /// The ring size.
    pub fn size(&self) -> u16 {
        self.size
    }

    fn avail_idx(&self, mem: &dyn GuestMemory) -> Result<u16, QueueError> {
        read_u16(mem, self.avail + 2)
    }

    /// Pops the next available chain, or `None` if the driver has not made
    /// any more available (QEMU: `virtqueue_pop`).
    pub fn pop(&mut self, mem: &dyn GuestMemory) -> Result<Option<DescChain>, QueueError> {
        let avail_idx = self.avail_idx(mem)?;
        let pending = avail_idx.wrapping_sub(self.last_avail_idx);
        if pending == 0 {
            return Ok(None);
        }
        if pending > self.size {
            return Err(protocol(format!(
                "available index moved from {} to {avail_idx}, more than the ring size {}",
                self.last_avail_idx, self.size
            )));
        }
        // Read the ring entry and descriptors only after seeing the index.
        fence(Ordering::Acquire);
        let slot = u64::from(self.last_avail_idx % self.size);
        let head = read_u16(mem, self.avail + 4 + 2 * slot)?;
        if head >= self.size {
            return Err(protocol(format!(
                "head descriptor {head} beyond ring size {}",
                self.size
            )));
        }
        let chain = self.walk(mem, head)?;
        self.last_avail_idx = self.last_avail_idx.wrapping_add(1);
        if self.event_idx {
            // avail_event: tell the driver which index we want a kick for next.
            write_u16(
                mem,
                self.used + 4 + 8 * u64::from(self.size),
                self.last_avail_idx,
            )?;
        }
        Ok(Some(chain))
    }

    fn walk(&self, mem: &dyn GuestMemory, head: u16) -> Result<DescChain, QueueError> {
        let mut chain = DescChain {
            head,
            ..Default::default()
        };
        let first = read_desc(mem, self.desc, head)?;
        // An indirect table may only be named by the head descriptor, as
        // Linux and QEMU use it.
        let (table, table_size, mut d) = if first.flags & VRING_DESC_F_INDIRECT != 0 {
            if !self.indirect {
                return Err(protocol(
                    "indirect descriptor without VIRTIO_F_INDIRECT_DESC".into(),
                ));
            }
            if first.flags & VRING_DESC_F_NEXT != 0 {
                return Err(protocol("indirect descriptor with NEXT set".into()));
            }
            let len = u64::from(first.len);
            if len == 0 || len % DESC_SIZE != 0 || len / DESC_SIZE > 0xffff {
                return Err(protocol(format!("invalid indirect table length {len}")));
            }
            if !mem.is_ram(first.addr, len) {
                return Err(GuestMemoryError {
                    addr: first.addr,
                    len,
                }
                .into());
            }
            (
                first.addr,
                (len / DESC_SIZE) as u16,
                read_desc(mem, first.addr, 0)?,
            )
        } else {
            (self.desc, self.size, first)
        };
        let mut seen = 0u32;
        loop {
            if d.flags & VRING_DESC_F_INDIRECT != 0 {
                return Err(protocol(format!("indirect descriptor inside chain {head}")));
            }
            seen += 1;
            if seen > u32::from(table_size) {
                return Err(protocol(format!("descriptor chain from head {head} loops")));
            }
            if d.len > 0 && !mem.is_ram(d.addr, u64::from(d.len)) {
                return Err(GuestMemoryError {
                    addr: d.addr,
                    len: u64::from(d.len),
                }
                .into());
            }
            let buf = Buffer {
                addr: d.addr,
                len: d.len,
            };
            if d.flags & VRING_DESC_F_WRITE != 0 {
                chain.writable.push(buf);
            } else if chain.writable.is_empty() {
                chain.readable.push(buf);
            } else {
                return Err(protocol(format!(
                    "readable descriptor after a writable one in chain {head}"
                )));
            }
            if d.flags & VRING_DESC_F_NEXT == 0 {
                return Ok(chain);
            }
            if d.next >= table_size {
                return Err(protocol(format!(
                    "next descriptor {} beyond table size {table_size}",
                    d.next
                )));
            }
            d = read_desc(mem, table, d.next)?;
        }
    }

    /// Returns chain `head` to the driver with `len` bytes written
    /// (QEMU: `virtqueue_push`: fill + flush).
    pub fn push(&mut self, mem: &dyn GuestMemory, head: u16, len: u32) -> Result<(), QueueError> {
        let slot = u64::from(self.used_idx % self.size);
        let mut elem = [0u8; 8];
        elem[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        elem[4..].copy_from_slice(&len.to_le_bytes());
        mem.write(self.used + 4 + 8 * slot, &elem)?;
        // The element must be visible before the index that publishes it.
        fence(Ordering::Release);
        self.used_idx = self.used_idx.wrapping_add(1);
        write_u16(mem, self.used + 2, self.used_idx)
    }

    /// Whether the driver wants an interrupt for what was pushed since the
    /// last time this returned true (QEMU: `virtio_should_notify`).
    pub fn should_notify(&mut self, mem: &dyn GuestMemory) -> Result<bool, QueueError> {
        // Our used.idx store must be ordered before reading the driver's flags.
        fence(Ordering::SeqCst);
        if !self.event_idx {
            let flags = read_u16(mem, self.avail)?;
            return Ok(flags & VRING_AVAIL_F_NO_INTERRUPT == 0);
        }
        let new = self.used_idx;
        let old = self.signalled_used.replace(new);
        let used_event = read_u16(mem, self.avail + 4 + 2 * u64::from(self.size))?;
        Ok(match old {
            None => true,
            // vring_need_event: did `new` pass `used_event` since `old`?
            Some(old) => new.wrapping_sub(used_event).wrapping_sub(1) < new.wrapping_sub(old),
        })
    }
}
