//! Memory transactions and topology publication
//! (`memory_region_transaction_begin/commit`, `flatviews_reset`,
//! `address_space_set_flatview`, `address_space_update_topology_pass`,
//! `address_space_update_ioeventfds`, `memory_global_dirty_log_*`).
//!
//! Topology changes are batched: mutators set "pending" flags and the
//! outermost [`Transaction`] commit re-renders every distinct FlatView
//! once, diffs each AddressSpace against its listeners and publishes the
//! new views with one atomic store each. All of this runs under the BQL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;

use crate::address_space::{AddressSpace, AsInner, AsIoeventfd};
use crate::flatview::{FlatView, flatview_root};
use crate::listener::{MemoryListener, MemoryRegionSection, insert_by_priority};
use crate::region::MemoryRegion;
use crate::types::HwAddr;

static DEPTH: AtomicU32 = AtomicU32::new(0);
static UPDATE_PENDING: AtomicBool = AtomicBool::new(false);
static IOEVENTFD_UPDATE_PENDING: AtomicBool = AtomicBool::new(false);
static GLOBAL_DIRTY_TRACKING: AtomicU32 = AtomicU32::new(0);

/// AddressSpaces in creation order.
pub(crate) static ADDRESS_SPACES: Mutex<Vec<Weak<AsInner>>> = Mutex::new(Vec::new());
/// Every registered listener (QEMU's global `memory_listeners`), sorted by
/// priority, with the AS it was registered on (entries of dropped ASes are
/// pruned).
static LISTENERS: Mutex<Vec<ListenerEntry>> = Mutex::new(Vec::new());

type ListenerEntry = (Weak<AsInner>, Arc<dyn MemoryListener>);

/// The live global listener list in Forward order.
pub(crate) fn global_listeners() -> Vec<Arc<dyn MemoryListener>> {
    let mut l = LISTENERS.lock();
    l.retain(|(w, _)| w.strong_count() > 0);
    l.iter().map(|(_, x)| x.clone()).collect()
}

/// The FlatView shared by all ASes whose root renders nothing.
pub(crate) static EMPTY_VIEW: LazyLock<Arc<FlatView>> =
    LazyLock::new(|| Arc::new(FlatView::empty()));

pub(crate) fn set_update_pending() {
    UPDATE_PENDING.store(true, Ordering::Relaxed);
}
pub(crate) fn set_ioeventfd_update_pending() {
    IOEVENTFD_UPDATE_PENDING.store(true, Ordering::Relaxed);
}
/// Current `global_dirty_tracking` flags.
pub fn global_dirty_tracking() -> u32 {
    GLOBAL_DIRTY_TRACKING.load(Ordering::Relaxed)
}

/// RAII memory transaction: [`Transaction::begin`] is
/// `memory_region_transaction_begin`, dropping the guard is
/// `memory_region_transaction_commit`. Transactions nest; only the
/// outermost commit re-renders.
///
/// # Panics
/// If the BQL is not held (QEMU asserts the same).
#[must_use = "the transaction commits when the guard is dropped"]
pub struct Transaction(());

impl Transaction {
    /// Begins a (possibly nested) transaction.
    pub fn begin() -> Transaction {
        transaction_begin();
        Transaction(())
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        transaction_commit();
    }
}

/// `memory_region_transaction_begin`: flushes coalesced MMIO and nests.
pub fn transaction_begin() {
    assert!(
        ferrite_aio::bql::bql_locked(),
        "memory transaction without the BQL"
    );
    crate::coalesced::flush();
    DEPTH.fetch_add(1, Ordering::Relaxed);
}

/// `memory_region_transaction_commit`.
pub fn transaction_commit() {
    assert!(
        ferrite_aio::bql::bql_locked(),
        "memory transaction without the BQL"
    );
    let d = DEPTH.load(Ordering::Relaxed);
    assert!(d > 0, "memory transaction commit without begin");
    DEPTH.store(d - 1, Ordering::Relaxed);
    if d != 1 {
        return;
    }
    if UPDATE_PENDING.swap(false, Ordering::Relaxed) {
        IOEVENTFD_UPDATE_PENDING.store(false, Ordering::Relaxed);
        let spaces = live_address_spaces();
        let views = flatviews_reset(&spaces);
        let listeners = global_listeners();
        for l in &listeners {
            l.begin();
        }
        for a in &spaces {
            let fv = view_for(a, &views);
            set_flatview(a, fv);
            update_ioeventfds(a);
        }
        for l in &listeners {
            l.commit();
        }
    } else if IOEVENTFD_UPDATE_PENDING.swap(false, Ordering::Relaxed) {
        for a in live_address_spaces() {
            update_ioeventfds(&a);
        }
    }
}

/// Current nesting depth of memory transactions.
pub fn transaction_depth() -> u32 {
    DEPTH.load(Ordering::Relaxed)
}

pub(crate) fn live_address_spaces() -> Vec<Arc<AsInner>> {
    let mut list = ADDRESS_SPACES.lock();
    list.retain(|w| w.strong_count() > 0);
    list.iter().filter_map(Weak::upgrade).collect()
}

/// `flatviews_reset` + `generate_memory_topology`: one fresh rendering per
/// distinct physical root.
fn flatviews_reset(spaces: &[Arc<AsInner>]) -> HashMap<u64, Arc<FlatView>> {
    let mut views = HashMap::new();
    for a in spaces {
        let Some(root) = a.root.lock().clone() else {
            continue;
        };
        if let Some(phys) = flatview_root(&root) {
            views
                .entry(phys.0.id)
                .or_insert_with(|| Arc::new(FlatView::render(&phys)));
        }
    }
    views
}

fn view_for(a: &AsInner, views: &HashMap<u64, Arc<FlatView>>) -> Arc<FlatView> {
    let root = a.root.lock().clone();
    match root.and_then(|r| flatview_root(&r)) {
        Some(phys) => views
            .get(&phys.0.id)
            .cloned()
            .unwrap_or_else(|| Arc::new(FlatView::render(&phys))),
        None => EMPTY_VIEW.clone(),
    }
}

/// Renders (or reuses a sibling AS's) FlatView for a new AS
/// (`address_space_update_topology` outside a transaction).
pub(crate) fn initial_view(root: &MemoryRegion) -> Arc<FlatView> {
    let Some(phys) = flatview_root(root) else {
        return EMPTY_VIEW.clone();
    };
    for a in live_address_spaces() {
        let cur = a.current_map.load_full();
        if cur.root() == Some(&phys) {
            return cur;
        }
    }
    Arc::new(FlatView::render(&phys))
}

/// `address_space_set_flatview`: diff old vs new for the AS's listeners,
/// then publish.
pub(crate) fn set_flatview(a: &AsInner, new: Arc<FlatView>) {
    let old = a.current_map.load_full();
    let listeners = a.listeners.lock().clone();
    if !listeners.is_empty() {
        update_topology_pass(&listeners, &old, &new, false);
        update_topology_pass(&listeners, &old, &new, true);
    }
    a.current_map.store(new);
    // `old` (and the regions it references) is dropped here, or later by
    // readers still holding it: the RCU grace period of QEMU.
}

fn coalesced_sections(fr: &crate::flatview::FlatRange) -> Vec<(HwAddr, u64)> {
    let ranges = fr.mr.lock().coalesced.clone();
    let mut out = Vec::new();
    for (off, len) in ranges {
        // Range inside the region → intersect with the FR's window.
        let rs = u128::from(off).max(u128::from(fr.offset_in_region));
        let re = (u128::from(off) + u128::from(len)).min(u128::from(fr.offset_in_region) + fr.size);
        if rs < re {
            let abs = u128::from(fr.start) + (rs - u128::from(fr.offset_in_region));
            out.push((abs as u64, (re - rs) as u64));
        }
    }
    out
}

/// `address_space_update_topology_pass`.
fn update_topology_pass(
    listeners: &[Arc<dyn MemoryListener>],
    old: &FlatView,
    new: &FlatView,
    adding: bool,
) {
    let (o, n) = (old.ranges(), new.ranges());
    let (mut io, mut inn) = (0, 0);
    while io < o.len() || inn < n.len() {
        let fold = o.get(io);
        let fnew = n.get(inn);
        if let Some(fo) = fold
            && (fnew.is_none_or(|fnw| {
                fo.start < fnw.start || (fo.start == fnw.start && !fo.equal(fnw))
            }))
        {
            if !adding {
                let s = MemoryRegionSection::from_fr(fo);
                for (a, l) in coalesced_sections(fo) {
                    for li in listeners.iter().rev() {
                        li.coalesced_io_del(&s, a, l);
                    }
                }
                for li in listeners.iter().rev() {
                    li.region_del(&s);
                }
            }
            io += 1;
        } else if let (Some(fo), Some(fnw)) = (fold, fnew)
            && fo.equal(fnw)
        {
            if adding {
                let s = MemoryRegionSection::from_fr(fnw);
                for li in listeners {
                    li.region_nop(&s);
                }
                let (om, nm) = (fo.dirty_log_mask, fnw.dirty_log_mask);
                if nm & !om != 0 {
                    for li in listeners {
                        li.log_start(&s, om, nm);
                    }
                }
                if om & !nm != 0 {
                    for li in listeners.iter().rev() {
                        li.log_stop(&s, om, nm);
                    }
                }
            }
            io += 1;
            inn += 1;
        } else {
            let fnw = fnew.expect("new range present");
            if adding {
                let s = MemoryRegionSection::from_fr(fnw);
                for li in listeners {
                    li.region_add(&s);
                }
                for (a, l) in coalesced_sections(fnw) {
                    for li in listeners {
                        li.coalesced_io_add(&s, a, l);
                    }
                }
            }
            inn += 1;
        }
    }
}

/// Computes an AS's ioeventfd list from its FlatView.
pub(crate) fn compute_ioeventfds(fv: &FlatView) -> Vec<AsIoeventfd> {
    let mut out = Vec::new();
    for fr in fv.ranges() {
        let list = fr.mr.0.ioeventfds.load();
        for fd in list.iter() {
            let start =
                i128::from(fd.addr) + i128::from(fr.start) - i128::from(fr.offset_in_region);
            let size = i128::from(fd.size);
            let (fs, fe) = (i128::from(fr.start), fr.end() as i128);
            // Included if it intersects the range (QEMU: addrrange_intersects).
            let intersects = if size == 0 {
                start >= fs && start < fe
            } else {
                start < fe && start + size > fs
            };
            if intersects && start >= 0 {
                out.push(AsIoeventfd {
                    addr: start as u64,
                    size: fd.size,
                    match_data: fd.match_data,
                    data: fd.data,
                    e: fd.e.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.cmp_key(b));
    out
}

/// `address_space_update_ioeventfds` + `address_space_add_del_ioeventfds`.
pub(crate) fn update_ioeventfds(a: &AsInner) {
    if crate::ioeventfd::IOEVENTFD_COUNT.load(Ordering::Relaxed) == 0
        && a.ioeventfds.lock().is_empty()
    {
        return;
    }
    let fv = a.current_map.load_full();
    let new = compute_ioeventfds(&fv);
    let old = std::mem::replace(&mut *a.ioeventfds.lock(), new.clone());
    let listeners = a.listeners.lock().clone();
    if listeners.is_empty() {
        return;
    }
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && (j == new.len() || old[i].cmp_key(&new[j]).is_lt()) {
            let f = &old[i];
            // QEMU quirk: eventfd_del runs Forward.
            for l in &listeners {
                l.eventfd_del(&f.section(), f.match_data, f.data, &f.e);
            }
            i += 1;
        } else if j < new.len() && (i == old.len() || new[j].cmp_key(&old[i]).is_lt()) {
            let f = &new[j];
            // QEMU quirk: eventfd_add runs Reverse.
            for l in listeners.iter().rev() {
                l.eventfd_add(&f.section(), f.match_data, f.data, &f.e);
            }
            j += 1;
        } else {
            i += 1;
            j += 1;
        }
    }
}

/// Sends `coalesced_io_add/del` for `[offset, offset+size)` of `mr` to the
/// listeners of every AS where `mr` is mapped, clipped to each range.
pub(crate) fn notify_coalesced(mr: &MemoryRegion, offset: HwAddr, size: u64, add: bool) {
    for a in live_address_spaces() {
        let listeners = a.listeners.lock().clone();
        if listeners.is_empty() {
            continue;
        }
        let fv = a.current_map.load_full();
        for fr in fv.ranges() {
            if fr.mr != *mr {
                continue;
            }
            let rs = u128::from(offset).max(u128::from(fr.offset_in_region));
            let re = (u128::from(offset) + u128::from(size))
                .min(u128::from(fr.offset_in_region) + fr.size);
            if rs >= re {
                continue;
            }
            let abs = (u128::from(fr.start) + rs - u128::from(fr.offset_in_region)) as u64;
            let s = MemoryRegionSection::from_fr(fr);
            if add {
                for l in &listeners {
                    l.coalesced_io_add(&s, abs, (re - rs) as u64);
                }
            } else {
                for l in listeners.iter().rev() {
                    l.coalesced_io_del(&s, abs, (re - rs) as u64);
                }
            }
        }
    }
}

/// Registers `l` on `as_` and replays the current state to it
/// (`memory_listener_register` + `listener_add_address_space`).
pub(crate) fn register_listener(as_: &AddressSpace, l: Arc<dyn MemoryListener>) {
    ferrite_aio::bql::with_bql(|| {
        {
            let mut g = LISTENERS.lock();
            let p = l.priority();
            let pos = g
                .iter()
                .position(|(_, o)| o.priority() > p)
                .unwrap_or(g.len());
            g.insert(pos, (Arc::downgrade(&as_.0), l.clone()));
        }
        insert_by_priority(&mut as_.0.listeners.lock(), l.clone());
        l.begin();
        if global_dirty_tracking() != 0 {
            let _ = l.log_global_start();
        }
        let fv = as_.0.current_map.load_full();
        for fr in fv.ranges() {
            let s = MemoryRegionSection::from_fr(fr);
            l.region_add(&s);
            for (a, len) in coalesced_sections(fr) {
                l.coalesced_io_add(&s, a, len);
            }
            if fr.dirty_log_mask != 0 {
                l.log_start(&s, 0, fr.dirty_log_mask);
            }
        }
        let fds = as_.0.ioeventfds.lock().clone();
        for f in &fds {
            l.eventfd_add(&f.section(), f.match_data, f.data, &f.e);
        }
        l.commit();
    });
}

/// `memory_listener_unregister` + `listener_del_address_space`.
pub(crate) fn unregister_listener(as_: &AddressSpace, l: &Arc<dyn MemoryListener>) {
    ferrite_aio::bql::with_bql(|| {
        l.begin();
        let fv = as_.0.current_map.load_full();
        for fr in fv.ranges() {
            let s = MemoryRegionSection::from_fr(fr);
            if fr.dirty_log_mask != 0 {
                l.log_stop(&s, fr.dirty_log_mask, 0);
            }
            for (a, len) in coalesced_sections(fr) {
                l.coalesced_io_del(&s, a, len);
            }
            l.region_del(&s);
        }
        let fds = as_.0.ioeventfds.lock().clone();
        for f in &fds {
            l.eventfd_del(&f.section(), f.match_data, f.data, &f.e);
        }
        l.commit();
        LISTENERS.lock().retain(|(_, o)| !Arc::ptr_eq(o, l));
        as_.0.listeners.lock().retain(|o| !Arc::ptr_eq(o, l));
    });
}

/// `GLOBAL_DIRTY_MIGRATION`.
pub const GLOBAL_DIRTY_MIGRATION: u32 = 1;
/// `GLOBAL_DIRTY_DIRTY_RATE`.
pub const GLOBAL_DIRTY_DIRTY_RATE: u32 = 2;
/// `GLOBAL_DIRTY_LIMIT`.
pub const GLOBAL_DIRTY_LIMIT: u32 = 4;

/// `memory_global_dirty_log_start`: on the first flag, tells every
/// listener (`log_global_start`, Forward; rolled back on error) and
/// re-renders so ranges gain the MIGRATION bit (→ `log_start`).
pub fn global_dirty_log_start(flags: u32) -> Result<(), String> {
    ferrite_aio::bql::with_bql(|| {
        let old = global_dirty_tracking();
        let new_flags = flags & !old;
        if new_flags == 0 {
            return Ok(());
        }
        if old == 0 {
            let listeners = global_listeners();
            for (i, l) in listeners.iter().enumerate() {
                if let Err(e) = l.log_global_start() {
                    for p in listeners[..i].iter().rev() {
                        p.log_global_stop();
                    }
                    return Err(e);
                }
            }
        }
        GLOBAL_DIRTY_TRACKING.fetch_or(new_flags, Ordering::Relaxed);
        if old == 0 {
            let _t = crate::Transaction::begin();
            set_update_pending();
        }
        Ok(())
    })
}

/// `memory_global_dirty_log_stop` (immediately: Ferrite has no postponed
/// stop while the VM is paused).
pub fn global_dirty_log_stop(flags: u32) {
    ferrite_aio::bql::with_bql(|| {
        let old = global_dirty_tracking();
        let now = old & !flags;
        GLOBAL_DIRTY_TRACKING.store(now, Ordering::Relaxed);
        if old != 0 && now == 0 {
            {
                let _t = crate::Transaction::begin();
                set_update_pending();
            }
            for l in global_listeners().iter().rev() {
                l.log_global_stop();
            }
        }
    })
}

/// `memory_global_dirty_log_sync`: every listener's `log_sync` for every
/// logged range, `log_sync_global` once each, then `log_global_after_sync`.
pub fn global_dirty_log_sync() {
    let listeners = global_listeners();
    for l in &listeners {
        l.log_sync_global();
    }
    for a in live_address_spaces() {
        let al = a.listeners.lock().clone();
        let fv = a.current_map.load_full();
        for fr in fv.ranges() {
            if fr.dirty_log_mask != 0 {
                let s = MemoryRegionSection::from_fr(fr);
                for l in &al {
                    l.log_sync(&s);
                }
            }
        }
    }
    for l in &listeners {
        l.log_global_after_sync();
    }
}
