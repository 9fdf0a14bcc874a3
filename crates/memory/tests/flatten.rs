//! Rendering vectors V1–V7 of spec/memory-api.md (QEMU's worked examples),
//! plus FlatView sharing and bad-input checks.

mod common;
use common::*;
use ferrite_memory::*;

#[test]
fn v1_pure_container_overlap() {
    let a = MemoryRegion::new_container("A", 0x8000);
    let b = MemoryRegion::new_container("B", 0x4000);
    let c = io("C", 0x6000);
    a.add_subregion_overlap(0x2000, &b, 2);
    a.add_subregion_overlap(0, &c, 1);
    b.add_subregion(0, &io("D", 0x1000));
    b.add_subregion(0x2000, &io("E", 0x1000));
    assert_eq!(
        flat(&a),
        block(
            "0000000000000000-0000000000001fff (prio 1, i/o): C
             0000000000002000-0000000000002fff (prio 0, i/o): D
             0000000000003000-0000000000003fff (prio 1, i/o): C @0000000000003000
             0000000000004000-0000000000004fff (prio 0, i/o): E
             0000000000005000-0000000000005fff (prio 1, i/o): C @0000000000005000"
        )
    );
}

#[test]
fn v2_container_with_own_ops() {
    let a = MemoryRegion::new_container("A", 0x8000);
    let b = io("B", 0x4000);
    let c = io("C", 0x6000);
    a.add_subregion_overlap(0x2000, &b, 2);
    a.add_subregion_overlap(0, &c, 1);
    b.add_subregion(0, &io("D", 0x1000));
    b.add_subregion(0x2000, &io("E", 0x1000));
    assert_eq!(
        flat(&a),
        block(
            "0000000000000000-0000000000001fff (prio 1, i/o): C
             0000000000002000-0000000000002fff (prio 0, i/o): D
             0000000000003000-0000000000003fff (prio 2, i/o): B @0000000000001000
             0000000000004000-0000000000004fff (prio 0, i/o): E
             0000000000005000-0000000000005fff (prio 2, i/o): B @0000000000003000"
        )
    );
}

/// The memory.rst PC example; returns (system, vga-window).
fn v3_tree() -> (MemoryRegion, MemoryRegion) {
    let system = MemoryRegion::new_container("system", 1 << 48);
    let ram = MemoryRegion::new_ram("ram", 1 << 32).unwrap();
    let pci = MemoryRegion::new_container("pci", 1 << 32);
    let vga_area = MemoryRegion::new_container("vga-area", 0x20000);
    let vram = MemoryRegion::new_ram("vram", 0x100_0000).unwrap();
    pci.add_subregion(0xa0000, &vga_area);
    pci.add_subregion(0xe100_0000, &vram);
    pci.add_subregion(0xe200_0000, &io("vga-mmio", 0x10000));
    vga_area.add_subregion(0, &MemoryRegion::new_alias("bank0", &vram, 0x10000, 0x8000));
    vga_area.add_subregion(
        0x8000,
        &MemoryRegion::new_alias("bank1", &vram, 0x20000, 0x8000),
    );
    system.add_subregion(0, &MemoryRegion::new_alias("lomem", &ram, 0, 0xe000_0000));
    system.add_subregion(
        0x1_0000_0000,
        &MemoryRegion::new_alias("himem", &ram, 0xe000_0000, 0x2000_0000),
    );
    let vga_window = MemoryRegion::new_alias("vga-window", &pci, 0xa0000, 0x20000);
    system.add_subregion_overlap(0xa0000, &vga_window, 1);
    system.add_subregion(
        0xe000_0000,
        &MemoryRegion::new_alias("pci-hole", &pci, 0xe000_0000, 0x2000_0000),
    );
    (system, vga_window)
}

#[test]
fn v3_pc_example_and_v3b_listener_trace() {
    let (system, vga_window) = v3_tree();
    assert_eq!(
        flat(&system),
        block(
            "0000000000000000-000000000009ffff (prio 0, ram): ram
             00000000000a0000-00000000000a7fff (prio 0, ram): vram @0000000000010000
             00000000000a8000-00000000000affff (prio 0, ram): vram @0000000000020000
             00000000000b0000-00000000dfffffff (prio 0, ram): ram @00000000000b0000
             00000000e1000000-00000000e1ffffff (prio 0, ram): vram
             00000000e2000000-00000000e200ffff (prio 0, i/o): vga-mmio
             0000000100000000-000000011fffffff (prio 0, ram): ram @00000000e0000000"
        )
    );
    // V3b with a listener: hold the BQL so no other test commits meanwhile.
    let _bql = ferrite_aio::bql::bql_lock();
    let as_ = AddressSpace::new(&system, "v3");
    let log = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    as_.register_listener(std::sync::Arc::new(LogListener {
        name: "L",
        prio: 0,
        log: log.clone(),
    }));
    log.lock().clear();
    vga_window.set_enabled(false);
    assert_eq!(
        as_.with_flatview(|fv| ferrite_memory::mtree::flatview_lines(fv, Default::default())),
        block(
            "0000000000000000-00000000dfffffff (prio 0, ram): ram
             00000000e1000000-00000000e1ffffff (prio 0, ram): vram
             00000000e2000000-00000000e200ffff (prio 0, i/o): vga-mmio
             0000000100000000-000000011fffffff (prio 0, ram): ram @00000000e0000000"
        )
    );
    let l = log.lock().clone();
    let mine: Vec<&str> = l.iter().map(String::as_str).collect();
    assert_eq!(
        mine,
        [
            "L begin",
            "L del 0x0+0xa0000 ram",
            "L del 0xa0000+0x8000 vram",
            "L del 0xa8000+0x8000 vram",
            "L del 0xb0000+0xdff50000 ram",
            "L add 0x0+0xe0000000 ram",
            "L nop 0xe1000000+0x1000000 vram",
            "L nop 0xe2000000+0x10000 vga-mmio",
            "L nop 0x100000000+0x20000000 ram",
            "L commit",
        ]
    );
}

#[test]
fn v4_equal_priority_newest_wins() {
    let root = MemoryRegion::new_container("root", 0x10000);
    let x = io("X", 0x3000);
    let y = io("Y", 0x1000);
    root.add_subregion(0, &x);
    root.add_subregion(0x1000, &y);
    let expect = block(
        "0000000000000000-0000000000000fff (prio 0, i/o): X
         0000000000001000-0000000000001fff (prio 0, i/o): Y
         0000000000002000-0000000000002fff (prio 0, i/o): X @0000000000002000",
    );
    assert_eq!(flat(&root), expect);
    // set_address to the same address is a no-op: Y stays on top.
    x.set_address(0);
    assert_eq!(flat(&root), expect);
    // A real move re-inserts X in front of its equal-priority group.
    x.set_address(0x10);
    assert_eq!(
        flat(&root),
        block("0000000000000010-000000000000300f (prio 0, i/o): X")
    );

    let root2 = MemoryRegion::new_container("root", 0x10000);
    root2.add_subregion(0x1000, &io("Y", 0x1000));
    root2.add_subregion(0, &io("X", 0x3000));
    assert_eq!(
        flat(&root2),
        block("0000000000000000-0000000000002fff (prio 0, i/o): X")
    );
}

#[test]
fn v5_merge_and_readonly_alias() {
    let root = MemoryRegion::new_container("root", 0x10000);
    let mem = MemoryRegion::new_ram("mem", 0x4000).unwrap();
    root.add_subregion(0, &MemoryRegion::new_alias("a0", &mem, 0, 0x1000));
    let a1 = MemoryRegion::new_alias("a1", &mem, 0x1000, 0x1000);
    root.add_subregion(0x1000, &a1);
    let a2 = MemoryRegion::new_alias("a2", &mem, 0x2000, 0x1000);
    a2.set_readonly(true);
    root.add_subregion(0x2000, &a2);
    assert_eq!(
        flat(&root),
        block(
            "0000000000000000-0000000000001fff (prio 0, ram): mem
             0000000000002000-0000000000002fff (prio 0, rom): mem @0000000000002000"
        )
    );
    a1.set_unmergeable(true);
    assert_eq!(FlatView::render(&root).ranges().len(), 3);
}

#[test]
fn v6_clipping_and_terminating_container() {
    let root = MemoryRegion::new_container("root", 1 << 16);
    let bus = io("bus", 0x2000);
    root.add_subregion(0x4000, &bus);
    bus.add_subregion(0x1800, &io("dev", 0x1000));
    assert_eq!(
        flat(&root),
        block(
            "0000000000004000-00000000000057ff (prio 0, i/o): bus
             0000000000005800-0000000000005fff (prio 0, i/o): dev"
        )
    );
}

#[test]
fn v7_port_io_overlap() {
    let ioroot = MemoryRegion::new_io(
        "io",
        0x10000,
        std::sync::Arc::new(UnassignedIoOps),
        UNASSIGNED_IO_DESC,
    );
    ioroot.add_subregion(0xcf8, &io("pci-conf-idx", 4));
    ioroot.add_subregion_overlap(0xcf9, &io("piix3-reset-control", 1), 1);
    ioroot.add_subregion(0xcfc, &io("pci-conf-data", 4));
    let rtc = io("rtc", 2);
    ioroot.add_subregion(0x70, &rtc);
    rtc.add_subregion(0, &io("rtc-index", 1));
    assert_eq!(
        flat(&ioroot),
        block(
            "0000000000000000-000000000000006f (prio 0, i/o): io
             0000000000000070-0000000000000070 (prio 0, i/o): rtc-index
             0000000000000071-0000000000000071 (prio 0, i/o): rtc @0000000000000001
             0000000000000072-0000000000000cf7 (prio 0, i/o): io @0000000000000072
             0000000000000cf8-0000000000000cf8 (prio 0, i/o): pci-conf-idx
             0000000000000cf9-0000000000000cf9 (prio 1, i/o): piix3-reset-control
             0000000000000cfa-0000000000000cfb (prio 0, i/o): pci-conf-idx @0000000000000002
             0000000000000cfc-0000000000000cff (prio 0, i/o): pci-conf-data
             0000000000000d00-000000000000ffff (prio 0, i/o): io @0000000000000d00"
        )
    );
}

#[test]
fn alias_chain_and_offset_inside_target() {
    // alias of an alias of a RAM that is itself mapped elsewhere: offsets
    // add up inside the final target, whatever the target's own address.
    let root = MemoryRegion::new_container("root", 0x100000);
    let ram = MemoryRegion::new_ram("chainram", 0x10000).unwrap();
    root.add_subregion(0x80000, &ram);
    let a1 = MemoryRegion::new_alias("a1", &ram, 0x4000, 0x8000);
    let a2 = MemoryRegion::new_alias("a2", &a1, 0x1000, 0x2000);
    root.add_subregion(0x1000, &a2);
    assert_eq!(
        flat(&root),
        block(
            "0000000000001000-0000000000002fff (prio 0, ram): chainram @0000000000005000
             0000000000080000-000000000008ffff (prio 0, ram): chainram"
        )
    );
    assert!(ram.is_mapped());
    assert!(a1.is_mapped());
}

#[test]
fn readonly_inherited_through_container() {
    let root = MemoryRegion::new_container("root", 0x100000);
    let sub = MemoryRegion::new_container("sub", 0x10000);
    sub.set_readonly(true);
    root.add_subregion(0x10000, &sub);
    sub.add_subregion(0, &MemoryRegion::new_ram("roram", 0x1000).unwrap());
    assert_eq!(
        flat(&root),
        block("0000000000010000-0000000000010fff (prio 0, rom): roram")
    );
}

#[test]
fn full_64bit_sizes() {
    let root = MemoryRegion::new_container("root", u64::MAX);
    assert_eq!(root.size128(), 1u128 << 64);
    assert_eq!(root.size(), u64::MAX);
    let bg = MemoryRegion::new_io(
        "bg",
        u64::MAX,
        std::sync::Arc::new(UnassignedIoOps),
        UNASSIGNED_IO_DESC,
    );
    root.add_subregion(0, &bg);
    let top = io("top", 0x1000);
    root.add_subregion_overlap(0xffff_ffff_ffff_f000, &top, 1);
    assert_eq!(
        flat(&root),
        block(
            "0000000000000000-ffffffffffffefff (prio 0, i/o): bg
             fffffffffffff000-ffffffffffffffff (prio 1, i/o): top"
        )
    );
    // A subregion larger than its container is clipped to it.
    let r2 = MemoryRegion::new_container("r2", 0x1_0000_0000);
    r2.add_subregion(0xffff_f800, &io("over", 0x1000));
    assert_eq!(
        flat(&r2),
        block("00000000fffff800-00000000ffffffff (prio 0, i/o): over")
    );
}

#[test]
#[should_panic(expected = "would extend past 2^64")]
fn subregion_past_2_64_panics() {
    let r = MemoryRegion::new_container("r64", u64::MAX);
    r.add_subregion(0xffff_ffff_ffff_f800, &io("over64", 0x1000));
}

#[test]
#[should_panic(expected = "overflows 2^64")]
fn alias_overflow_panics() {
    let t = MemoryRegion::new_container("t64", u64::MAX);
    let _ = MemoryRegion::new_alias("a64", &t, 0x1000, u64::MAX - 0x10);
}

#[test]
fn disabled_region_does_not_obscure() {
    let root = MemoryRegion::new_container("root", 0x10000);
    let low = io("low", 0x1000);
    let high = io("high", 0x1000);
    root.add_subregion(0, &low);
    root.add_subregion_overlap(0, &high, 5);
    high.set_enabled(false);
    assert_eq!(
        flat(&root),
        block("0000000000000000-0000000000000fff (prio 0, i/o): low")
    );
    high.set_enabled(true);
    assert_eq!(
        flat(&root),
        block("0000000000000000-0000000000000fff (prio 5, i/o): high")
    );
    root.del_subregion(&high);
    assert_eq!(
        flat(&root),
        block("0000000000000000-0000000000000fff (prio 0, i/o): low")
    );
    assert!(high.container().is_none());
}

#[test]
fn address_spaces_share_flatviews() {
    let system = MemoryRegion::new_container("sys-share", u64::MAX);
    system.add_subregion(0x1000, &io("dev", 0x100));
    let a = AddressSpace::new(&system, "a");
    let b = AddressSpace::new(&system, "b");
    assert!(std::sync::Arc::ptr_eq(&a.flatview(), &b.flatview()));
    // An AS rooted at a full alias of `system` shares it too.
    let wrap = MemoryRegion::new_container("wrap", u64::MAX);
    wrap.add_subregion(
        0,
        &MemoryRegion::new_alias("sysalias", &system, 0, u64::MAX),
    );
    let c = AddressSpace::new(&wrap, "c");
    assert!(std::sync::Arc::ptr_eq(&a.flatview(), &c.flatview()));
    assert_eq!(c.flatview().root(), Some(&system));
    // After a commit they still share one (new) view.
    let old_gen = a.flatview().generation();
    system.add_subregion(0x2000, &io("dev2", 0x100));
    assert!(std::sync::Arc::ptr_eq(&a.flatview(), &c.flatview()));
    assert_ne!(a.flatview().generation(), old_gen);
    // Empty root → the shared empty view with no root.
    let bm = MemoryRegion::new_container("bus master container", u64::MAX);
    let al = MemoryRegion::new_alias("bus master", &system, 0, u64::MAX);
    bm.add_subregion(0, &al);
    al.set_enabled(false);
    let d = AddressSpace::new(&bm, "d");
    assert!(d.flatview().root().is_none());
    assert!(d.flatview().ranges().is_empty());
    al.set_enabled(true);
    assert!(std::sync::Arc::ptr_eq(&a.flatview(), &d.flatview()));
}

#[test]
fn transactions_batch_updates() {
    let root = MemoryRegion::new_container("txroot", 0x10000);
    let as_ = AddressSpace::new(&root, "tx");
    let g0 = as_.flatview().generation();
    {
        let _bql = ferrite_aio::bql::bql_lock();
        let _t = Transaction::begin();
        {
            let _inner = Transaction::begin();
            root.add_subregion(0, &io("t1", 0x100));
        }
        root.add_subregion(0x100, &io("t2", 0x100));
        // Nothing published before the outermost commit.
        assert_eq!(as_.flatview().generation(), g0);
        assert!(as_.flatview().ranges().is_empty());
    }
    assert_eq!(as_.flatview().ranges().len(), 2);
    // One outermost commit = one begin/commit round for listeners, however
    // many mutations it contains.
    let _bql = ferrite_aio::bql::bql_lock();
    let log = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    as_.register_listener(std::sync::Arc::new(LogListener {
        name: "T",
        prio: 0,
        log: log.clone(),
    }));
    log.lock().clear();
    {
        let _t = Transaction::begin();
        for i in 0..5u64 {
            root.add_subregion(0x1000 + 0x100 * i, &io("tn", 0x10));
        }
    }
    let l = log.lock().clone();
    assert_eq!(
        l.iter().filter(|x| x.ends_with("begin")).count(),
        1,
        "{l:?}"
    );
    assert_eq!(l.iter().filter(|x| x.contains(" add ")).count(), 5, "{l:?}");
}

#[test]
#[should_panic(expected = "already in a container")]
fn adding_twice_panics() {
    let a = MemoryRegion::new_container("a", 0x1000);
    let b = MemoryRegion::new_container("b", 0x1000);
    let c = io("c", 0x10);
    a.add_subregion(0, &c);
    b.add_subregion(0, &c);
}

#[test]
#[should_panic(expected = "would create a cycle")]
fn alias_cycle_panics() {
    let a = MemoryRegion::new_container("cyc", 0x1000);
    let al = MemoryRegion::new_alias("cyc-alias", &a, 0, 0x1000);
    a.add_subregion(0, &al);
}

#[test]
#[should_panic(expected = "size must not be zero")]
fn zero_size_ram_panics() {
    let _ = MemoryRegion::new_ram("zero", 0);
}

#[test]
#[should_panic(expected = "aliases cannot have subregions")]
fn subregion_of_alias_panics() {
    let t = MemoryRegion::new_container("t", 0x1000);
    let a = MemoryRegion::new_alias("al", &t, 0, 0x1000);
    a.add_subregion(0, &io("x", 1));
}

#[test]
fn owner_drop_unparents() {
    let root = MemoryRegion::new_container("ownroot", 0x10000);
    let owner = RegionOwner::new("dev0");
    let r = io("owned", 0x100).with_owner(&owner);
    root.add_subregion(0x100, &r);
    assert_eq!(FlatView::render(&root).ranges().len(), 1);
    assert_eq!(r.owner().as_deref(), Some("dev0"));
    drop(owner);
    assert!(FlatView::render(&root).ranges().is_empty());
    assert!(r.container().is_none());
}

#[test]
fn mutators_alias_offset_size_nonvolatile() {
    let root = MemoryRegion::new_container("mutroot", 0x100000);
    let vram = MemoryRegion::new_ram("mutvram", 0x40000).unwrap();
    let bank = MemoryRegion::new_alias("bank", &vram, 0, 0x8000);
    root.add_subregion(0xa0000, &bank);
    let as_ = AddressSpace::new(&root, "mut");
    assert_eq!(
        ferrite_memory::mtree::flatview_lines(&as_.flatview(), Default::default()),
        block("00000000000a0000-00000000000a7fff (prio 0, ram): mutvram")
    );
    // Bank switch: two mutators in one transaction → one new view.
    let g = as_.flatview().generation();
    {
        let _bql = ferrite_aio::bql::bql_lock();
        let _t = Transaction::begin();
        bank.set_alias_offset(0x10000);
        bank.set_size(0x4000);
    }
    let fv = as_.flatview();
    assert_ne!(fv.generation(), g);
    assert_eq!(
        ferrite_memory::mtree::flatview_lines(&fv, Default::default()),
        block("00000000000a0000-00000000000a3fff (prio 0, ram): mutvram @0000000000010000")
    );
    vram.set_nonvolatile(true);
    assert_eq!(
        ferrite_memory::mtree::flatview_lines(&as_.flatview(), Default::default()),
        block("00000000000a0000-00000000000a3fff (prio 0, nv-ram): mutvram @0000000000010000")
    );
    // A change that alters nothing visible still re-renders in QEMU only if
    // the region is enabled; a disabled region's readonly flip changes nothing.
    // Hold the BQL so no other test's commit re-renders meanwhile.
    let _bql = ferrite_aio::bql::bql_lock();
    bank.set_enabled(false);
    let g2 = as_.flatview().generation();
    bank.set_readonly(true);
    assert_eq!(
        as_.flatview().generation(),
        g2,
        "no re-render for a disabled region"
    );
}

#[test]
fn romd_switch_is_del_plus_add_for_listeners() {
    let _bql = ferrite_aio::bql::bql_lock();
    let root = MemoryRegion::new_container("romdlroot", 0x100000);
    let flash = MemoryRegion::new_rom_device(
        "romdl-flash",
        0x1000,
        std::sync::Arc::new(UnassignedIoOps),
        OpsDesc::new(),
    )
    .unwrap();
    root.add_subregion(0x1000, &flash);
    let as_ = AddressSpace::new(&root, "romdl");
    let log = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    as_.register_listener(std::sync::Arc::new(LogListener {
        name: "L",
        prio: 0,
        log: log.clone(),
    }));
    log.lock().clear();
    flash.rom_device_set_romd(false);
    let l = log.lock().clone();
    let mine: Vec<&str> = l
        .iter()
        .map(String::as_str)
        .filter(|s| !s.contains("log_"))
        .collect();
    assert_eq!(
        mine,
        [
            "L begin",
            "L del 0x1000+0x1000 romdl-flash",
            "L add 0x1000+0x1000 romdl-flash",
            "L commit"
        ]
    );
}

#[test]
fn large_view_lookup_matches_linear_scan() {
    // 3,000 regions of varying sizes with gaps, many sharing pages:
    // exercises the phys map's subpages against a plain scan of the ranges.
    let root = MemoryRegion::new_container("bigroot", u64::MAX);
    let mut addr = 0x1000u64;
    for i in 0..3000u64 {
        let size = 0x10 * (1 + (i * 7919) % 13);
        root.add_subregion(addr, &io(&format!("big{i}"), size));
        addr += size + 0x10 * ((i * 104_729) % 3);
    }
    let fv = FlatView::render(&root);
    assert_eq!(fv.ranges().len(), 3000);
    assert!(fv.has_phys_map());
    let mut probe = 0u64;
    while probe < addr + 0x100 {
        let want = fv.ranges().iter().position(|r| r.contains(probe));
        assert_eq!(fv.lookup_index(probe), want, "address {probe:#x}");
        probe += 0x8;
    }
    assert_eq!(fv.lookup_index(0), None);
    assert_eq!(fv.lookup_index(u64::MAX), None);
}

#[test]
#[should_panic(expected = "beyond its RAM block")]
fn growing_ram_past_its_block_panics() {
    let r = MemoryRegion::new_ram("growram", 0x1000).unwrap();
    r.set_size(0x2000);
}
