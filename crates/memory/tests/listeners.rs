//! Listener ordering (vector V12), coalesced MMIO, dirty logging
//! (vector V13) and IOMMU translation/notifiers.

mod common;
use std::sync::Arc;

use common::*;
use ferrite_aio::EventNotifier;
use ferrite_memory::iommu::*;
use ferrite_memory::ram::*;
use ferrite_memory::*;
use parking_lot::Mutex;

const A: MemTxAttrs = MEMTXATTRS_UNSPECIFIED;

fn names(log: &[String], suffix: &str) -> Vec<String> {
    log.iter()
        .filter(|l| {
            l.split_once(' ')
                .is_some_and(|(_, rest)| rest.starts_with(suffix))
        })
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

#[test]
fn v12_listener_ordering() {
    let _bql = ferrite_aio::bql::bql_lock();
    let root = MemoryRegion::new_container("v12root", 0x100000);
    let as_ = AddressSpace::new(&root, "v12");
    let log = Arc::new(Mutex::new(Vec::new()));
    for (name, prio) in [("L1", 10), ("L2", 0), ("L3", 10)] {
        as_.register_listener(Arc::new(LogListener {
            name,
            prio,
            log: log.clone(),
        }));
    }
    log.lock().clear();
    let ram = MemoryRegion::new_ram("v12ram", 0x1000).unwrap();
    root.add_subregion(0x1000, &ram);
    let l = log.lock().clone();
    assert_eq!(names(&l, "begin"), ["L2", "L1", "L3"]);
    assert_eq!(names(&l, "add"), ["L2", "L1", "L3"]);
    assert_eq!(names(&l, "commit"), ["L2", "L1", "L3"]);
    log.lock().clear();
    ram.set_log(true, DirtyClient::Vga);
    let l = log.lock().clone();
    assert_eq!(names(&l, "nop"), ["L2", "L1", "L3"]);
    assert_eq!(names(&l, "log_start"), ["L2", "L1", "L3"]);
    // VGA (bit 0) is new; CODE may be set too if another test in this
    // process enabled TCG mode.
    let ls = l
        .iter()
        .find(|x| x.starts_with("L2 log_start 0x1000+0x1000 v12ram"))
        .unwrap();
    let (old, new) = ls.rsplit_once(' ').unwrap().1.split_once("->").unwrap();
    let (old, new): (u8, u8) = (old.parse().unwrap(), new.parse().unwrap());
    assert_eq!(new & !old, DirtyClient::Vga.mask(), "{l:?}");
    log.lock().clear();
    ram.set_log(false, DirtyClient::Vga);
    assert_eq!(names(&log.lock(), "log_stop"), ["L3", "L1", "L2"]);
    log.lock().clear();
    ram.add_coalescing(0, 0x100);
    assert_eq!(names(&log.lock(), "coalesced_add"), ["L2", "L1", "L3"]);
    log.lock().clear();
    ram.clear_coalescing();
    assert_eq!(names(&log.lock(), "coalesced_del"), ["L3", "L1", "L2"]);
    let e = Arc::new(EventNotifier::new(false).unwrap());
    let dev = io("v12dev", 0x100);
    root.add_subregion(0x8000, &dev);
    log.lock().clear();
    dev.add_eventfd(0, 4, false, 0, &e);
    assert_eq!(names(&log.lock(), "eventfd_add"), ["L3", "L1", "L2"]);
    log.lock().clear();
    dev.del_eventfd(0, 4, false, 0, &e);
    assert_eq!(names(&log.lock(), "eventfd_del"), ["L2", "L1", "L3"]);
    log.lock().clear();
    root.del_subregion(&ram);
    assert_eq!(names(&log.lock(), "del"), ["L3", "L1", "L2"]);
    // A late listener gets a replay, and nobody else hears about it.
    log.lock().clear();
    as_.register_listener(Arc::new(LogListener {
        name: "L4",
        prio: 5,
        log: log.clone(),
    }));
    assert_eq!(
        log.lock().clone(),
        ["L4 begin", "L4 add 0x8000+0x100 v12dev", "L4 commit"]
    );
}

#[test]
fn coalesced_writes_are_buffered_in_order() {
    let root = MemoryRegion::new_container("coalroot", 0x10000);
    let r = Recorder::with_answers(&[0x77]);
    let dev = MemoryRegion::new_io("coaldev", 0x100, r.clone(), OpsDesc::new().little_endian());
    root.add_subregion(0, &dev);
    let as_ = AddressSpace::new(&root, "coal");
    dev.add_coalescing(0, 0x10);
    let _bql = ferrite_aio::bql::bql_lock();
    as_.stl_le(0, 1, A);
    as_.stl_le(4, 2, A);
    as_.stb(8, 3, A);
    assert!(
        r.take().is_empty(),
        "coalesced writes are not delivered yet"
    );
    assert!(ferrite_memory::coalesced::pending() >= 3);
    // A write outside the coalesced range, to the same device, flushes first.
    as_.stb(0x20, 4, A);
    assert_eq!(
        r.take(),
        [
            Call::W(0, 1, 4),
            Call::W(4, 2, 4),
            Call::W(8, 3, 1),
            Call::W(0x20, 4, 1)
        ]
    );
    as_.stb(1, 5, A);
    // A read flushes too.
    assert_eq!(as_.ldub(0x40, A).0, 0x77);
    assert_eq!(r.take(), [Call::W(1, 5, 1), Call::R(0x40, 1)]);
    as_.stb(2, 6, A);
    ferrite_memory::coalesced::flush();
    assert_eq!(r.take(), [Call::W(2, 6, 1)]);
}

#[test]
fn v13_dirty_snapshot_widening() {
    let flash0 = MemoryRegion::new_ram("v13flash0", 0x200_0000).unwrap();
    let base = flash0.ram_addr().unwrap();
    assert_eq!(base % 0x40000, 0, "blocks start on 64-page boundaries");
    // New blocks start out all dirty; clear VGA first.
    reset_dirty_range(base, 0x200_0000, DirtyClient::Vga.mask());
    set_dirty_range(base, 1, DirtyClient::Vga.mask());
    set_dirty_range(base + 0x1000, 1, DirtyClient::Vga.mask());
    set_dirty_range(base + 0x3f000, 1, DirtyClient::Vga.mask());
    set_dirty_range(base + 0x40000, 1, DirtyClient::Vga.mask());
    let snap = flash0.snapshot_and_clear_dirty(0x1000, 0x1000, DirtyClient::Vga);
    assert_eq!((snap.start, snap.end), (base, base + 0x40000));
    assert!(flash0.snapshot_get_dirty(&snap, 0x1000, 1));
    assert!(flash0.snapshot_get_dirty(&snap, 0x3f000, 1));
    assert!(!flash0.snapshot_get_dirty(&snap, 0x2000, 0x1000));
    // Neighbouring pages inside the 64-page window were consumed too...
    assert!(!get_dirty(base, 0x40000, DirtyClient::Vga));
    // ...but not the page after it.
    assert!(get_dirty(base + 0x40000, 1, DirtyClient::Vga));
    // A byte range touching two pages sets both.
    flash0.set_log(true, DirtyClient::Vga);
    flash0.set_dirty(0x10fff, 2);
    assert!(flash0.get_dirty(0x10000, 1, DirtyClient::Vga));
    assert!(flash0.get_dirty(0x11000, 1, DirtyClient::Vga));
    assert!(!flash0.get_dirty(0x12000, 1, DirtyClient::Vga));
    flash0.reset_dirty(0x10000, 0x2000, DirtyClient::Vga);
    assert!(!flash0.get_dirty(0x10000, 0x2000, DirtyClient::Vga));
}

#[test]
fn dirty_tracking_across_clients_and_code_hook() {
    let _bql = ferrite_aio::bql::bql_lock();
    set_tcg_enabled(true);
    let root = MemoryRegion::new_container("dirtyroot", 0x1000_0000);
    let ram = MemoryRegion::new_ram("dirtyram", 0x10000).unwrap();
    root.add_subregion(0, &ram);
    let as_ = AddressSpace::new(&root, "dirty");
    let base = ram.ram_addr().unwrap();
    assert!(ram.dirty_log_mask() & DirtyClient::Code.mask() != 0);
    let hits = Arc::new(Mutex::new(Vec::new()));
    let h = hits.clone();
    set_code_write_hook(Some(Arc::new(move |a, l| {
        if (base..base + 0x10000).contains(&a) {
            h.lock().push((a - base, l));
        }
    })));
    // The CPU translated code from page 2: it clears CODE there.
    reset_dirty_range(base + 0x2000, 0x1000, DirtyClient::Code.mask());
    reset_dirty_range(
        base,
        0x10000,
        DirtyClient::Vga.mask() | DirtyClient::Migration.mask(),
    );
    as_.stl_le(0x1000, 1, A); // no code there
    assert!(hits.lock().is_empty());
    as_.stl_le(0x2010, 1, A); // code page: hook fires
    assert_eq!(hits.lock().clone(), [(0x2010, 4)]);
    let mut m = as_.map(0x2100, 0x10, true, A).unwrap();
    m.write(0, &[1; 0x10]);
    as_.unmap(m, 0x10);
    assert_eq!(
        hits.lock().len(),
        2,
        "DMA through map/unmap also invalidates"
    );
    as_.write(0x2200, A, &[1, 2]);
    assert_eq!(hits.lock().len(), 3);
    // VGA is not logging this region: no VGA bits; MIGRATION is off too.
    assert!(!get_dirty(base, 0x10000, DirtyClient::Vga));
    assert!(!get_dirty(base, 0x10000, DirtyClient::Migration));
    // Global dirty logging adds MIGRATION.
    global_dirty_log_start(GLOBAL_DIRTY_MIGRATION).unwrap();
    as_.stb(0x5000, 1, A);
    assert!(get_dirty(base + 0x5000, 1, DirtyClient::Migration));
    global_dirty_log_stop(GLOBAL_DIRTY_MIGRATION);
    reset_dirty_range(base, 0x10000, DirtyClient::Migration.mask());
    as_.stb(0x6000, 1, A);
    assert!(!get_dirty(base + 0x6000, 1, DirtyClient::Migration));
    // VGA logging on a region.
    ram.set_log(true, DirtyClient::Vga);
    as_.stb(0x7000, 1, A);
    assert!(test_and_clear_dirty(base + 0x7000, 1, DirtyClient::Vga));
    assert!(!test_and_clear_dirty(base + 0x7000, 1, DirtyClient::Vga));
    ram.set_log(false, DirtyClient::Vga);
    set_code_write_hook(None);
}

#[test]
fn ram_backends_and_resize() {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let f = MemoryRegion::new_ram_from_file("fileram", 0x3000, tmp.path(), true).unwrap();
    let root = MemoryRegion::new_container("ramroot", 0x100000);
    root.add_subregion(0, &f);
    let mfd = MemoryRegion::new_ram_memfd("memfdram", 0x2000).unwrap();
    root.add_subregion(0x10000, &mfd);
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let s2 = sizes.clone();
    let rz = MemoryRegion::new_resizeable_ram(
        "rzram",
        0x1000,
        0x4000,
        Some(Box::new(move |id, sz| s2.lock().push((id.to_owned(), sz)))),
    )
    .unwrap();
    root.add_subregion(0x20000, &rz);
    let as_ = AddressSpace::new(&root, "ramtest");
    as_.stl_le(0x10, 0xfeed_f00d, A);
    as_.stl_le(0x10010, 0xcafe, A);
    drop(as_);
    root.del_subregion(&f);
    drop(f);
    let data = std::fs::read(tmp.path()).unwrap();
    assert_eq!(
        &data[0x10..0x14],
        &0xfeed_f00du32.to_le_bytes(),
        "MAP_SHARED file backing"
    );
    let as_ = AddressSpace::new(&root, "ramtest2");
    assert_eq!(as_.ldl_le(0x10010, A).0, 0xcafe);
    assert_eq!(as_.ldl_le(0x21000, A).1, MemTxResult::DECODE_ERROR);
    rz.ram_resize(0x3000).unwrap();
    assert_eq!(rz.size(), 0x3000);
    assert_eq!(sizes.lock().clone(), [("rzram".to_owned(), 0x3000)]);
    assert!(as_.stl_le(0x22ffc, 7, A).is_ok());
    assert!(
        rz.ram_resize(0x5000)
            .unwrap_err()
            .contains("Size too large")
    );
    assert!(
        mfd.ram_resize(0x1000)
            .unwrap_err()
            .contains("Size mismatch")
    );
    // RAMBlock notifiers: replay on registration, then resize and removal.
    struct Rn(Arc<Mutex<Vec<String>>>, usize);
    impl RamBlockNotifier for Rn {
        fn ram_block_added(&self, host: *mut u8, size: u64, _max: u64) {
            if host as usize == self.1 {
                self.0.lock().push(format!("add {size:#x}"));
            }
        }
        fn ram_block_removed(&self, host: *mut u8, _size: u64, _max: u64) {
            if host as usize == self.1 {
                self.0.lock().push("del".into());
            }
        }
        fn ram_block_resized(&self, host: *mut u8, old: u64, new: u64) {
            if host as usize == self.1 {
                self.0.lock().push(format!("resize {old:#x}->{new:#x}"));
            }
        }
    }
    let events = Arc::new(Mutex::new(Vec::new()));
    let rn: Arc<dyn RamBlockNotifier> =
        Arc::new(Rn(events.clone(), rz.ram_ptr().unwrap() as usize));
    ram_block_notifier_add(rn.clone());
    rz.ram_resize(0x2000).unwrap();
    assert_eq!(
        events.lock().clone(),
        ["add 0x3000", "resize 0x3000->0x2000"]
    );
    let p = rz.ram_ptr().unwrap();
    assert_eq!(ram_addr_from_host(p), rz.ram_addr());
    assert_eq!(ram_ptr(rz.ram_addr().unwrap()), Some(p));
    drop(as_);
    root.del_subregion(&rz);
    drop(rz);
    assert_eq!(events.lock().last().map(String::as_str), Some("del"));
    ram_block_notifier_remove(&rn);
}

struct TestIommu {
    target: Mutex<Option<AddressSpace>>,
    flag_changes: Mutex<Vec<(u32, u32)>>,
}

impl IommuMemoryRegionOps for TestIommu {
    fn translate(&self, addr: HwAddr, _flag: IommuAccessFlags, _idx: u32) -> IommuTlbEntry {
        // Page 0 → 0x5000 read/write; page 1 → 0x6000 read-only; others unmapped.
        let page = addr & !0xfff;
        let (out, perm) = match page {
            0 => (0x5000, IommuAccessFlags::RW),
            0x1000 => (0x6000, IommuAccessFlags::RO),
            _ => (0, IommuAccessFlags::NONE),
        };
        IommuTlbEntry {
            target_as: self.target.lock().clone(),
            iova: page,
            translated_addr: out,
            addr_mask: 0xfff,
            perm,
        }
    }
    fn notify_flag_changed(&self, old: u32, new: u32) -> Result<(), String> {
        self.flag_changes.lock().push((old, new));
        Ok(())
    }
}

#[test]
fn iommu_translation_and_notifiers() {
    let sysroot = MemoryRegion::new_container("iommu-sys", 0x100000);
    let ram = MemoryRegion::new_ram("iommu-ram", 0x10000).unwrap();
    sysroot.add_subregion(0, &ram);
    let sys = AddressSpace::new(&sysroot, "iommu-sys");
    let ops = Arc::new(TestIommu {
        target: Mutex::new(Some(sys.clone())),
        flag_changes: Mutex::new(Vec::new()),
    });
    let iommu = MemoryRegion::new_iommu("test-iommu", 0x10000, ops.clone());
    let dmaroot = MemoryRegion::new_container("dma-root", 0x100000);
    dmaroot.add_subregion(0, &iommu);
    let dma = AddressSpace::new(&dmaroot, "dma");
    sys.stl_le(0x5010, 0xabcd, A);
    assert_eq!(dma.ldl_le(0x10, A).0, 0xabcd);
    assert!(dma.stl_le(0x20, 1, A).is_ok());
    assert_eq!(sys.ldl_le(0x5020, A).0, 1);
    sys.stl_le(0x6008, 0x77, A);
    assert_eq!(dma.ldl_le(0x1008, A).0, 0x77);
    assert_eq!(
        dma.stl_le(0x1008, 1, A),
        MemTxResult::DECODE_ERROR,
        "read-only page"
    );
    assert_eq!(
        dma.ldl_le(0x2000, A),
        (0, MemTxResult::DECODE_ERROR),
        "unmapped page"
    );
    assert!(matches!(
        dma.flatview().translate(0x10),
        PhysTarget::Iommu { offset: 0x10, .. }
    ));
    // Translation length is clamped at the IOMMU page boundary.
    let t = dma.translate(0xff0, 0x100, false, A);
    assert_eq!(t.len, 0x10);
    assert_eq!(t.xlat, 0x5ff0);

    let e = dma.get_iotlb_entry(0x1010, false, A).unwrap();
    assert_eq!(
        (e.iova, e.translated_addr, e.addr_mask),
        (0x1000, 0x6000, 0xfff)
    );
    assert_eq!(e.target_as.as_ref(), Some(&sys));
    assert!(
        dma.get_iotlb_entry(0x1010, true, A).is_none(),
        "read-only page"
    );
    // Notifiers: registered through an alias, cropped to their range.
    let alias = MemoryRegion::new_alias("iommu-alias", &iommu, 0, 0x10000);
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let id = alias
        .register_iommu_notifier(IommuNotifier {
            notify: Arc::new(move |ev: &IommuTlbEvent| {
                g.lock()
                    .push((ev.event_type, ev.entry.iova, ev.entry.addr_mask))
            }),
            flags: notifier_flags::UNMAP | notifier_flags::MAP,
            start: 0x800,
            end: 0x17ff,
            iommu_idx: 0,
        })
        .unwrap();
    assert_eq!(ops.flag_changes.lock().clone(), [(0, 3)]);
    let unmap = IommuTlbEvent {
        event_type: notifier_flags::UNMAP,
        entry: IommuTlbEntry {
            target_as: None,
            iova: 0,
            translated_addr: 0,
            addr_mask: 0xfff,
            perm: IommuAccessFlags::NONE,
        },
    };
    iommu.notify_iommu(0, &unmap);
    iommu.notify_iommu(1, &unmap); // other index: ignored
    let far = IommuTlbEvent {
        entry: IommuTlbEntry {
            iova: 0x4000,
            ..unmap.entry.clone()
        },
        ..unmap.clone()
    };
    iommu.notify_iommu(0, &far); // outside range: ignored
    assert_eq!(got.lock().clone(), [(notifier_flags::UNMAP, 0x800, 0x7ff)]);
    got.lock().clear();
    let n = IommuNotifier {
        notify: {
            let g = got.clone();
            Arc::new(move |ev: &IommuTlbEvent| {
                g.lock()
                    .push((ev.event_type, ev.entry.iova, ev.entry.addr_mask))
            })
        },
        flags: notifier_flags::MAP,
        start: 0,
        end: u64::MAX,
        iommu_idx: 0,
    };
    iommu.iommu_replay(&n);
    assert_eq!(
        got.lock().clone(),
        [
            (notifier_flags::MAP, 0, 0xfff),
            (notifier_flags::MAP, 0x1000, 0xfff)
        ]
    );
    iommu.unregister_iommu_notifier(id);
    assert_eq!(ops.flag_changes.lock().last(), Some(&(3, 0)));
}

#[test]
fn iommu_translation_loop_ends_unassigned() {
    // An IOMMU whose (guest-programmed) mapping points back into itself.
    let ops = Arc::new(TestIommu {
        target: Mutex::new(None),
        flag_changes: Mutex::new(Vec::new()),
    });
    let iommu = MemoryRegion::new_iommu("loop-iommu", 0x10000, ops.clone());
    let root = MemoryRegion::new_container("loop-root", 0x100000);
    root.add_subregion(0x5000, &iommu);
    let dma = AddressSpace::new(&root, "loop");
    *ops.target.lock() = Some(dma.clone());
    assert_eq!(dma.ldl_le(0x5000, A), (0, MemTxResult::DECODE_ERROR));
    assert_eq!(dma.stl_le(0x5000, 1, A), MemTxResult::DECODE_ERROR);
    assert!(dma.translate(0x5000, 4, false, A).range().is_none());
    assert!(dma.get_iotlb_entry(0x5000, false, A).is_none());
    *ops.target.lock() = None; // break the Arc cycle
}
