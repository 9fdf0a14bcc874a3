//! Coalesced MMIO (`memory_region_set_coalescing`, `add_coalescing`,
//! `clear_coalescing`, `flush_coalesced_mmio_buffer`).
//!
//! QEMU only buffers coalesced writes under KVM (the kernel fills a ring);
//! under TCG the flush is a no-op and writes go straight to the device.
//! Ferrite implements the ring in userspace: a write that falls entirely
//! inside a coalesced range of its region is queued in order and returns
//! `MEMTX_OK`; the queue is delivered to the devices, in order, before any
//! other access to a region marked "flush coalesced", at every transaction
//! begin, when the ring is full, and on [`flush`].

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use crate::region::MemoryRegion;
use crate::transaction::{self, Transaction};
use crate::types::*;

/// Ring capacity before a forced flush (KVM's ring holds about this many
/// entries in one page).
pub const COALESCED_RING_SIZE: usize = 170;

struct CoalescedWrite {
    mr: MemoryRegion,
    addr: HwAddr,
    data: u64,
    size: u32,
    attrs: MemTxAttrs,
}

static RING: Mutex<VecDeque<CoalescedWrite>> = Mutex::new(VecDeque::new());

/// Queues a write if it lies inside one of `mr`'s coalesced ranges.
pub(crate) fn try_queue(
    mr: &MemoryRegion,
    addr: HwAddr,
    data: u64,
    size: u32,
    attrs: MemTxAttrs,
) -> bool {
    if !mr.0.flush_coalesced.load(Ordering::Relaxed) {
        return false;
    }
    let inside = {
        let st = mr.lock();
        st.coalesced.iter().any(|&(s, l)| {
            u128::from(addr) >= u128::from(s)
                && u128::from(addr) + u128::from(size) <= u128::from(s) + u128::from(l)
        })
    };
    if !inside {
        return false;
    }
    let full = {
        let mut ring = RING.lock();
        ring.push_back(CoalescedWrite {
            mr: mr.clone(),
            addr,
            data,
            size,
            attrs,
        });
        ring.len() >= COALESCED_RING_SIZE
    };
    if full {
        flush();
    }
    true
}

/// Delivers every queued coalesced write, oldest first
/// (`qemu_flush_coalesced_mmio_buffer`).
pub fn flush() {
    loop {
        let Some(w) = RING.lock().pop_front() else {
            return;
        };
        let _ = crate::dispatch::deliver_write(&w.mr, w.addr, w.data, w.size, w.attrs);
    }
}

/// Number of writes waiting in the ring.
pub fn pending() -> usize {
    RING.lock().len()
}

impl MemoryRegion {
    /// `memory_region_set_coalescing`: the whole region becomes coalesced.
    pub fn set_coalescing(&self) {
        self.clear_coalescing();
        let size = self.size();
        self.add_coalescing(0, size);
    }

    /// `memory_region_add_coalescing`: writes to `[offset, offset+size)`
    /// are buffered; listeners get `coalesced_io_add` for every place the
    /// range is mapped.
    pub fn add_coalescing(&self, offset: HwAddr, size: u64) {
        ferrite_aio::bql::with_bql(|| {
            self.lock().coalesced.push((offset, size));
            self.0.flush_coalesced.store(true, Ordering::Relaxed);
            transaction::notify_coalesced(self, offset, size, true);
        });
    }

    /// `memory_region_clear_coalescing`: flushes, then removes all ranges.
    pub fn clear_coalescing(&self) {
        ferrite_aio::bql::with_bql(|| {
            flush();
            let _t = Transaction::begin();
            self.0.flush_coalesced.store(false, Ordering::Relaxed);
            let ranges = std::mem::take(&mut self.lock().coalesced);
            for (o, s) in ranges {
                transaction::notify_coalesced(self, o, s, false);
            }
        });
    }

    /// `memory_region_set_flush_coalesced`: accesses to this region flush
    /// the ring first.
    pub fn set_flush_coalesced(&self) {
        self.0.flush_coalesced.store(true, Ordering::Relaxed);
    }

    /// `memory_region_clear_flush_coalesced` (keeps the flag while the
    /// region itself has coalesced ranges).
    pub fn clear_flush_coalesced(&self) {
        if self.lock().coalesced.is_empty() {
            self.0.flush_coalesced.store(false, Ordering::Relaxed);
        }
    }
}
