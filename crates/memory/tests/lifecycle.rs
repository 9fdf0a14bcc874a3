//! AddressSpace/listener lifecycle, `memory_region_find`, global dirty
//! logging with a vetoing listener, and log_sync before snapshots.

mod common;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use ferrite_memory::*;
use parking_lot::Mutex;

#[test]
fn destroy_and_unregister_report_deletions() {
    let _bql = ferrite_aio::bql::bql_lock();
    let root = MemoryRegion::new_container("lcroot", 0x10000);
    root.add_subregion(0x100, &io("lcdev", 0x10));
    let as_ = AddressSpace::new(&root, "lc");
    let log = Arc::new(Mutex::new(Vec::new()));
    let l: Arc<dyn MemoryListener> = Arc::new(LogListener {
        name: "L",
        prio: 0,
        log: log.clone(),
    });
    as_.register_listener(l.clone());
    assert_eq!(
        log.lock().clone(),
        ["L begin", "L add 0x100+0x10 lcdev", "L commit"]
    );
    log.lock().clear();
    as_.unregister_listener(&l);
    assert_eq!(
        log.lock().clone(),
        ["L begin", "L del 0x100+0x10 lcdev", "L commit"]
    );
    log.lock().clear();
    root.add_subregion(0x200, &io("lcdev2", 0x10));
    assert!(log.lock().is_empty(), "unregistered listeners hear nothing");
    as_.register_listener(l.clone());
    log.lock().clear();
    as_.destroy();
    let got = log.lock().clone();
    assert!(
        got.contains(&"L del 0x100+0x10 lcdev".to_owned()),
        "{got:?}"
    );
    assert!(
        got.contains(&"L del 0x200+0x10 lcdev2".to_owned()),
        "{got:?}"
    );
    assert!(as_.root().is_none());
    assert!(as_.flatview().ranges().is_empty());
}

#[test]
fn find_and_present() {
    let root = MemoryRegion::new_container("findroot", 0x100000);
    let bus = MemoryRegion::new_container("findbus", 0x10000);
    root.add_subregion(0x40000, &bus);
    let dev = io("finddev", 0x100);
    bus.add_subregion(0x1000, &dev);
    let _as = AddressSpace::new(&root, "find");
    let s = bus.find(0x1080, 0x1000).unwrap();
    assert_eq!(s.mr.as_ref(), Some(&dev));
    assert_eq!(s.offset_within_address_space, 0x41080);
    assert_eq!(s.offset_within_region, 0x80);
    assert_eq!(s.size, 0x80);
    assert!(bus.present(0x1000));
    assert!(!bus.present(0x3000));
    assert!(bus.find(0x5000, 0x10).is_none());
}

struct Veto(bool, Arc<Mutex<Vec<String>>>, &'static str);
impl MemoryListener for Veto {
    fn priority(&self) -> u32 {
        if self.0 { 20 } else { 5 }
    }
    fn log_global_start(&self) -> Result<(), String> {
        self.1.lock().push(format!("{} start", self.2));
        if self.0 { Err("no".into()) } else { Ok(()) }
    }
    fn log_global_stop(&self) {
        self.1.lock().push(format!("{} stop", self.2));
    }
}

#[test]
fn global_dirty_log_start_rolls_back_on_veto() {
    let _bql = ferrite_aio::bql::bql_lock();
    let root = MemoryRegion::new_container("vetoroot", 0x1000);
    let as_ = AddressSpace::new(&root, "veto");
    let log = Arc::new(Mutex::new(Vec::new()));
    as_.register_listener(Arc::new(Veto(false, log.clone(), "ok")));
    as_.register_listener(Arc::new(Veto(true, log.clone(), "veto")));
    assert_eq!(
        global_dirty_log_start(GLOBAL_DIRTY_MIGRATION),
        Err("no".to_owned())
    );
    assert_eq!(global_dirty_tracking(), 0);
    let got: Vec<String> = log
        .lock()
        .iter()
        .filter(|l| l.starts_with("ok") || l.starts_with("veto"))
        .cloned()
        .collect();
    assert_eq!(got, ["ok start", "veto start", "ok stop"]);
    drop(as_);
}

struct Syncer(Arc<AtomicUsize>, u64);
impl MemoryListener for Syncer {
    fn log_sync(&self, s: &MemoryRegionSection) {
        // An accelerator pushing its own dirty bits, as KVM does.
        if let Some(mr) = &s.mr {
            ram::set_dirty_range(mr.ram_addr().unwrap() + self.1, 1, DirtyClient::Vga.mask());
        }
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn snapshot_syncs_listeners_first() {
    let root = MemoryRegion::new_container("syncroot", 0x100000);
    let vram = MemoryRegion::new_ram("syncvram", 0x10000).unwrap();
    root.add_subregion(0, &vram);
    let as_ = AddressSpace::new(&root, "sync");
    let n = Arc::new(AtomicUsize::new(0));
    as_.register_listener(Arc::new(Syncer(n.clone(), 0x3000)));
    vram.set_log(true, DirtyClient::Vga);
    let _ = vram.snapshot_and_clear_dirty(0, 0x10000, DirtyClient::Vga);
    let snap = vram.snapshot_and_clear_dirty(0, 0x10000, DirtyClient::Vga);
    assert!(n.load(Ordering::Relaxed) >= 2);
    assert!(
        vram.snapshot_get_dirty(&snap, 0x3000, 1),
        "bit pushed by log_sync is in the snapshot"
    );
    assert!(!vram.snapshot_get_dirty(&snap, 0x4000, 0x1000));
    vram.set_log(false, DirtyClient::Vga);
}

#[test]
fn memory_region_cache_set_and_iotlb() {
    let a = MEMTXATTRS_UNSPECIFIED;
    let root = MemoryRegion::new_container("cacheroot", 0x100000);
    let ram = MemoryRegion::new_ram("cacheram", 0x2000).unwrap();
    root.add_subregion(0x1000, &ram);
    let r = Recorder::with_answers(&[0x1234]);
    root.add_subregion(
        0x8000,
        &MemoryRegion::new_io("cachedev", 0x100, r.clone(), OpsDesc::new().little_endian()),
    );
    let as_ = AddressSpace::new(&root, "cache");
    let c = MemoryRegionCache::new(&as_, 0x1800, 0x10000, true);
    assert!(c.is_direct());
    assert_eq!(c.len(), 0x1800, "clamped to the section");
    assert!(c.st(0x10, 0xdead_beef, 4, Endian::Little).is_ok());
    assert_eq!(as_.ldl_le(0x1810, a).0, 0xdead_beef);
    assert_eq!(c.ld(0x10, 2, Endian::Big).0, 0xefbe);
    // Topology changes do not affect an existing cache (it pins its view).
    root.del_subregion(&ram);
    assert_eq!(c.ld(0x10, 4, Endian::Little).0, 0xdead_beef);
    let m = MemoryRegionCache::new(&as_, 0x8004, 4, false);
    assert!(!m.is_direct());
    assert_eq!(m.ld(0, 4, Endian::Little).0, 0x1234);
    assert_eq!(r.take(), [Call::R(4, 4)]);
    assert!(MemoryRegionCache::new(&as_, 0x50000, 4, false).is_empty());
    // address_space_set
    root.add_subregion(0x1000, &ram);
    assert!(as_.set(0x1000, 0xab, 0x300, a).is_ok());
    assert_eq!(as_.ldl_le(0x12fc, a).0, 0xabab_abab);
    assert_eq!(as_.ldub(0x1300, a).0, 0);
    // get_iotlb_entry without an IOMMU: identity, 4 KiB mask.
    let e = as_.get_iotlb_entry(0x1234, true, a).unwrap();
    assert_eq!(
        (e.iova, e.translated_addr, e.addr_mask),
        (0x1000, 0x1000, 0xfff)
    );
    assert!(as_.get_iotlb_entry(0x50000, false, a).is_none());
}

#[test]
#[should_panic(expected = "outside cached length")]
fn cache_bounds_are_checked() {
    let root = MemoryRegion::new_container("cacheroot2", 0x100000);
    root.add_subregion(0, &MemoryRegion::new_ram("cacheram2", 0x1000).unwrap());
    let as_ = AddressSpace::new(&root, "cache2");
    let c = MemoryRegionCache::new(&as_, 0xff0, 0x100, false);
    let _ = c.ld(0xe, 4, Endian::Little);
}
