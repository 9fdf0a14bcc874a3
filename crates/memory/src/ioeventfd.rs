//! ioeventfd (`memory_region_add_eventfd`, `memory_region_del_eventfd`,
//! `memory_region_dispatch_write_eventfds`,
//! `address_space_update_ioeventfds`).
//!
//! A registered `(addr, size, optional data)` turns a matching guest write
//! into an [`EventNotifier`] signal instead of a device call (the TCG
//! behaviour; under KVM the kernel does the matching from the
//! `eventfd_add` listener callbacks, which Ferrite also emits).

use std::cmp::Ordering;
use std::sync::Arc;

use ferrite_aio::EventNotifier;

use crate::region::MemoryRegion;
use crate::transaction::{self, Transaction};
use crate::types::*;

/// One ioeventfd of a region (QEMU `MemoryRegionIoeventfd`).
#[derive(Clone, Debug)]
pub struct MemoryRegionIoeventfd {
    /// Offset inside the region.
    pub addr: HwAddr,
    /// Access size to match; 0 matches any write at `addr`.
    pub size: u32,
    /// Whether `data` must match too.
    pub match_data: bool,
    /// Data to match, in the device's byte order.
    pub data: u64,
    /// Notifier to signal.
    pub e: Arc<EventNotifier>,
}

/// Number of ioeventfds registered on any region; lets topology commits
/// skip recomputing per-AS lists when there are none.
pub(crate) static IOEVENTFD_COUNT: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

fn notifier_key(e: &Arc<EventNotifier>) -> usize {
    Arc::as_ptr(e) as usize
}

/// `memory_region_ioeventfd_before`.
pub(crate) fn before(a: &MemoryRegionIoeventfd, b: &MemoryRegionIoeventfd) -> Ordering {
    a.addr
        .cmp(&b.addr)
        .then(a.size.cmp(&b.size))
        .then(a.match_data.cmp(&b.match_data))
        .then(if a.match_data {
            a.data.cmp(&b.data)
        } else {
            Ordering::Equal
        })
        .then(notifier_key(&a.e).cmp(&notifier_key(&b.e)))
}

/// `memory_region_ioeventfd_equal`.
pub(crate) fn equal(a: &MemoryRegionIoeventfd, b: &MemoryRegionIoeventfd) -> bool {
    a.addr == b.addr
        && (a.size == 0
            || b.size == 0
            || (a.size == b.size
                && a.match_data == b.match_data
                && (!a.match_data || a.data == b.data)
                && Arc::ptr_eq(&a.e, &b.e)))
}

/// Userspace matching of a write (already in device byte order); signals
/// the first matching notifier.
pub(crate) fn fire(mr: &MemoryRegion, addr: HwAddr, size: u32, data: u64) -> bool {
    // Plain load first: the arc-swap guard costs two atomic RMWs, too much
    // for every MMIO write when (as usual) no ioeventfd exists at all.
    if IOEVENTFD_COUNT.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        return false;
    }
    let list = mr.0.ioeventfds.load();
    if list.is_empty() {
        return false;
    }
    for fd in list.iter() {
        if fd.addr == addr
            && (fd.size == 0 || (fd.size == size && (!fd.match_data || fd.data == data)))
        {
            fd.e.set();
            return true;
        }
    }
    false
}

impl MemoryRegion {
    /// `memory_region_add_eventfd`: a write of `size` bytes at `addr`
    /// (with value `data`, given in target byte order, if `match_data`)
    /// signals `e` instead of reaching the device. `size == 0` matches any
    /// write at `addr`.
    pub fn add_eventfd(
        &self,
        addr: HwAddr,
        size: u32,
        match_data: bool,
        data: u64,
        e: &Arc<EventNotifier>,
    ) {
        let data = if size != 0 {
            let d = data & size_mask(size);
            if size > 1 && Endian::target() != self.0.desc.endianness.resolve() {
                bswap(d, size)
            } else {
                d
            }
        } else {
            data
        };
        let fd = MemoryRegionIoeventfd {
            addr,
            size,
            match_data,
            data,
            e: e.clone(),
        };
        ferrite_aio::bql::with_bql(|| {
            let _t = Transaction::begin();
            let mut v: Vec<_> = (**self.0.ioeventfds.load()).clone();
            let pos = v
                .iter()
                .position(|o| before(&fd, o) == Ordering::Less)
                .unwrap_or(v.len());
            v.insert(pos, fd);
            IOEVENTFD_COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.ioeventfds.store(Arc::new(v));
            if self.is_enabled() {
                transaction::set_ioeventfd_update_pending();
            }
        });
    }

    /// `memory_region_del_eventfd`.
    ///
    /// # Panics
    /// If no such ioeventfd is registered (a programming error).
    pub fn del_eventfd(
        &self,
        addr: HwAddr,
        size: u32,
        match_data: bool,
        data: u64,
        e: &Arc<EventNotifier>,
    ) {
        let data = if size != 0 {
            let d = data & size_mask(size);
            if size > 1 && Endian::target() != self.0.desc.endianness.resolve() {
                bswap(d, size)
            } else {
                d
            }
        } else {
            data
        };
        let probe = MemoryRegionIoeventfd {
            addr,
            size,
            match_data,
            data,
            e: e.clone(),
        };
        ferrite_aio::bql::with_bql(|| {
            let _t = Transaction::begin();
            let mut v: Vec<_> = (**self.0.ioeventfds.load()).clone();
            let pos = v
                .iter()
                .position(|o| equal(o, &probe) && Arc::ptr_eq(&o.e, &probe.e))
                .unwrap_or_else(|| {
                    panic!(
                        "del_eventfd: no such ioeventfd on {:?} at {addr:#x}",
                        self.name()
                    )
                });
            v.remove(pos);
            IOEVENTFD_COUNT.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            self.0.ioeventfds.store(Arc::new(v));
            if self.is_enabled() {
                transaction::set_ioeventfd_update_pending();
            }
        });
    }

    /// The region's ioeventfds, sorted.
    pub fn ioeventfds(&self) -> Vec<MemoryRegionIoeventfd> {
        (**self.0.ioeventfds.load()).clone()
    }
}
