//! Access dispatch: vectors V8 (access_with_adjusted_size), V9
//! (memory_access_size), V10 (ioeventfd), V11 (QEMU 7.2 probes), plus
//! ld/st helpers, ROM/romd, map/unmap, lockless MMIO and BQL handling.

mod common;
use std::sync::Arc;

use common::*;
use ferrite_memory::*;

const A: MemTxAttrs = MEMTXATTRS_UNSPECIFIED;

fn dev(desc: OpsDesc, answers: &[u64]) -> (MemoryRegion, Arc<Recorder>) {
    let r = Recorder::with_answers(answers);
    (MemoryRegion::new_io("dev", 0x10000, r.clone(), desc), r)
}

#[test]
fn v8_access_splitting_table() {
    use Call::*;
    let le = OpsDesc::new().little_endian();
    let be = OpsDesc::new().big_endian();
    // read 8 @0x10 LE, impl 1..4
    let (m, r) = dev(le.impl_sizes(1, 4), &[0x1111_1111, 0x2222_2222]);
    assert_eq!(
        dispatch_read(&m, 0x10, 8, Endian::Little, A),
        (0x2222_2222_1111_1111, MemTxResult::OK)
    );
    assert_eq!(r.take(), [R(0x10, 4), R(0x14, 4)]);
    // read 8 @0x10 BE, impl 1..4: first call is the high half
    let (m, r) = dev(be.impl_sizes(1, 4), &[0x2222_2222, 0x1111_1111]);
    assert_eq!(
        dispatch_read(&m, 0x10, 8, Endian::Big, A).0,
        0x2222_2222_1111_1111
    );
    assert_eq!(r.take(), [R(0x10, 4), R(0x14, 4)]);
    // write 4 LE / BE, impl 1..1
    let (m, r) = dev(le.impl_sizes(1, 1), &[]);
    assert_eq!(
        dispatch_write(&m, 0, 0xAABB_CCDD, 4, Endian::Little, A),
        MemTxResult::OK
    );
    assert_eq!(
        r.take(),
        [W(0, 0xDD, 1), W(1, 0xCC, 1), W(2, 0xBB, 1), W(3, 0xAA, 1)]
    );
    let (m, r) = dev(be.impl_sizes(1, 1), &[]);
    dispatch_write(&m, 0, 0xAABB_CCDD, 4, Endian::Big, A);
    assert_eq!(
        r.take(),
        [W(0, 0xAA, 1), W(1, 0xBB, 1), W(2, 0xCC, 1), W(3, 0xDD, 1)]
    );
    // read 2 @2 BE impl 1..1
    let (m, r) = dev(be.impl_sizes(1, 1), &[0x12, 0x34]);
    assert_eq!(dispatch_read(&m, 2, 2, Endian::Big, A).0, 0x1234);
    assert_eq!(r.take(), [R(2, 1), R(3, 1)]);
    // read 1 @1 LE impl 4..4: one unaligned wide read, not truncated
    let (m, r) = dev(le.impl_sizes(4, 4), &[0xA1B2_C3D4]);
    assert_eq!(dispatch_read(&m, 1, 1, Endian::Little, A).0, 0xA1B2_C3D4);
    assert_eq!(r.take(), [R(1, 4)]);
    // read 1 @1 BE impl 4..4: top byte
    let (m, r) = dev(be.impl_sizes(4, 4), &[0xA1B2_C3D4]);
    assert_eq!(dispatch_read(&m, 1, 1, Endian::Big, A).0, 0xA1);
    assert_eq!(r.take(), [R(1, 4)]);
    // write 1 @3 LE impl 4..4: one wide write, no read-modify-write
    let (m, r) = dev(le.impl_sizes(4, 4), &[]);
    dispatch_write(&m, 3, 0x5A, 1, Endian::Little, A);
    assert_eq!(r.take(), [W(3, 0x5A, 4)]);
    // impl 0..0 defaults to 1..4
    let (m, r) = dev(le, &[1, 2]);
    assert_eq!(dispatch_read(&m, 0, 8, Endian::Little, A).0, 0x2_0000_0001);
    assert_eq!(r.take(), [R(0, 4), R(4, 4)]);
    // valid.max 4, size 8 → rejected before the device
    let (m, r) = dev(le.valid_sizes(1, 4), &[7]);
    assert_eq!(
        dispatch_read(&m, 0, 8, Endian::Little, A),
        (0, MemTxResult::DECODE_ERROR)
    );
    assert_eq!(
        dispatch_write(&m, 0, 1, 8, Endian::Little, A),
        MemTxResult::DECODE_ERROR
    );
    assert!(r.take().is_empty());
    // unaligned without valid.unaligned → rejected
    let (m, r) = dev(le, &[7]);
    assert_eq!(
        dispatch_read(&m, 2, 4, Endian::Little, A),
        (0, MemTxResult::DECODE_ERROR)
    );
    assert!(r.take().is_empty());
    // valid.max 0 + unaligned → accepted
    let (m, r) = dev(le.valid_unaligned().impl_sizes(4, 4), &[7]);
    assert_eq!(
        dispatch_read(&m, 2, 4, Endian::Little, A),
        (7, MemTxResult::OK)
    );
    assert_eq!(r.take(), [R(2, 4)]);
}

#[test]
fn v8_endianness_preserves_byte_order() {
    use Call::*;
    // Target LE: a 4-byte LE store of 0x11223344.
    let (m, r) = dev(OpsDesc::new().big_endian(), &[]);
    dispatch_write(&m, 0, 0x1122_3344, 4, Endian::Little, A);
    assert_eq!(r.take(), [W(0, 0x4433_2211, 4)]);
    let (m, r) = dev(OpsDesc::new().little_endian(), &[]);
    dispatch_write(&m, 0, 0x1122_3344, 4, Endian::Little, A);
    assert_eq!(r.take(), [W(0, 0x1122_3344, 4)]);
    let (m, r) = dev(OpsDesc::new().native_endian(), &[0x1122_3344]);
    dispatch_write(&m, 0, 0x1122_3344, 4, Endian::Little, A);
    assert_eq!(r.take(), [W(0, 0x1122_3344, 4)]);
    // Reads from a BE device are swapped back.
    let (m, _r) = dev(OpsDesc::new().big_endian(), &[0x4433_2211]);
    assert_eq!(dispatch_read(&m, 0, 4, Endian::Little, A).0, 0x1122_3344);
}

#[test]
fn v9_memory_access_size_table() {
    let mk = |max: u32, unaligned: bool| {
        let d = OpsDesc::new().valid_sizes(1, max);
        let d = if unaligned {
            d.valid_unaligned().impl_unaligned()
        } else {
            d
        };
        MemoryRegion::new_io("v9", 0x10000, Recorder::new(), d)
    };
    let m0 = MemoryRegion::new_io("v9", 0x10000, Recorder::new(), OpsDesc::new());
    assert_eq!(memory_access_size(&m0, 8, 0), 4);
    assert_eq!(memory_access_size(&mk(8, false), 8, 0x1002), 2);
    assert_eq!(memory_access_size(&mk(8, false), 3, 0x1000), 2);
    assert_eq!(memory_access_size(&mk(8, true), 8, 0x1001), 8);
    assert_eq!(memory_access_size(&mk(4, false), 4, 0x3), 1);

    // address_space_read of 8 bytes at base+0x1002 → 2 + 4 + 2.
    let root = MemoryRegion::new_container("v9root", 0x100000);
    let r = Recorder::with_answers(&[0xbbaa, 0xffee_ddcc, 0x2211]);
    let m = MemoryRegion::new_io(
        "v9dev",
        0x2000,
        r.clone(),
        OpsDesc::new()
            .little_endian()
            .valid_sizes(1, 8)
            .impl_sizes(1, 8),
    );
    root.add_subregion(0x10000, &m);
    let as_ = AddressSpace::new(&root, "v9");
    let mut buf = [0u8; 8];
    assert_eq!(as_.read(0x11002, A, &mut buf), MemTxResult::OK);
    assert_eq!(
        r.take(),
        [Call::R(0x1002, 2), Call::R(0x1004, 4), Call::R(0x1008, 2)]
    );
    assert_eq!(buf, [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11, 0x22]);
}

#[test]
fn v10_ioeventfd_matching() {
    use ferrite_aio::EventNotifier;
    for desc in [OpsDesc::new().little_endian(), OpsDesc::new().big_endian()] {
        let r = Recorder::new();
        let m = MemoryRegion::new_io("ioev", 0x100, r.clone(), desc);
        let e1 = Arc::new(EventNotifier::new(false).unwrap());
        let e2 = Arc::new(EventNotifier::new(false).unwrap());
        m.add_eventfd(0x40, 4, true, 1, &e1);
        m.add_eventfd(0x50, 0, false, 0, &e2);
        // Guest writes are in target (LE) byte order.
        assert_eq!(
            dispatch_write(&m, 0x40, 1, 4, Endian::Little, A),
            MemTxResult::OK
        );
        assert!(e1.test_and_clear());
        assert!(r.take().is_empty(), "device must not be called");
        dispatch_write(&m, 0x40, 2, 4, Endian::Little, A);
        assert!(!e1.test_and_clear());
        assert_eq!(r.take().len(), 1);
        dispatch_write(&m, 0x40, 1, 2, Endian::Little, A);
        assert!(!e1.test_and_clear());
        assert!(!r.take().is_empty());
        for size in [1, 2, 4, 8] {
            dispatch_write(&m, 0x50, 0xdead, size, Endian::Little, A);
            assert!(e2.test_and_clear());
        }
        assert!(r.take().is_empty());
        m.del_eventfd(0x40, 4, true, 1, &e1);
        dispatch_write(&m, 0x40, 1, 4, Endian::Little, A);
        assert!(!e1.test_and_clear());
        assert_eq!(r.take().len(), 1);
    }
}

#[test]
fn v10_ioeventfd_through_address_space_and_listener() {
    use ferrite_aio::EventNotifier;
    let _bql = ferrite_aio::bql::bql_lock();
    let root = MemoryRegion::new_container("ioevroot", 0x10000);
    let r = Recorder::new();
    let m = MemoryRegion::new_io("ioevdev", 0x100, r.clone(), OpsDesc::new().little_endian());
    root.add_subregion(0x1000, &m);
    let as_ = AddressSpace::new(&root, "ioev");
    let log = Arc::new(parking_lot::Mutex::new(Vec::new()));
    as_.register_listener(Arc::new(LogListener {
        name: "L",
        prio: 0,
        log: log.clone(),
    }));
    log.lock().clear();
    let e = Arc::new(EventNotifier::new(false).unwrap());
    m.add_eventfd(0x10, 4, true, 0x1234, &e);
    assert_eq!(log.lock().clone(), ["L eventfd_add 0x1010+0x4 true 0x1234"]);
    assert_eq!(as_.stl_le(0x1010, 0x1234, A), MemTxResult::OK);
    assert!(e.test_and_clear());
    assert!(r.take().is_empty());
    log.lock().clear();
    m.set_address(0x2000);
    let l = log.lock().clone();
    assert!(
        l.contains(&"L eventfd_del 0x1010+0x4 true 0x1234".to_owned()),
        "{l:?}"
    );
    assert!(
        l.contains(&"L eventfd_add 0x2010+0x4 true 0x1234".to_owned()),
        "{l:?}"
    );
}

/// A tiny latch device: stores what is written, returns it on read.
struct Latch(parking_lot::Mutex<u64>);
impl MemoryRegionOps for Latch {
    fn read(&self, _: HwAddr, _: u32) -> u64 {
        *self.0.lock()
    }
    fn write(&self, _: HwAddr, v: u64, _: u32) {
        *self.0.lock() = v;
    }
}

#[test]
fn v11_riscv_probes() {
    let system = MemoryRegion::new_container("system", u64::MAX);
    let ram = MemoryRegion::new_ram("riscv_virt_board.ram", 0x2000_0000).unwrap();
    let mrom = MemoryRegion::new_rom("riscv_virt_board.mrom", 0xf000).unwrap();
    system.add_subregion(0x8000_0000, &ram);
    system.add_subregion(0x1000, &mrom);
    let window = MemoryRegion::new_io(
        "gpex_mmio_window",
        u64::MAX,
        Arc::new(UnassignedIoOps),
        UNASSIGNED_IO_DESC,
    );
    window.add_subregion(0, &MemoryRegion::new_container("gpex_mmio", u64::MAX));
    system.add_subregion(
        0x4000_0000,
        &MemoryRegion::new_alias("pcie-mmio", &window, 0x4000_0000, 0x4000_0000),
    );
    let as_ = AddressSpace::new(&system, "memory");
    // The reset vector's first word, as the board loads it.
    assert_eq!(
        as_.write_rom(0x1000, A, &0x297u32.to_le_bytes()),
        MemTxResult::OK
    );

    assert!(as_.stq_le(0x8000_0000, 0x1122_3344_5566_7788, A).is_ok());
    assert_eq!(as_.ldq_le(0x8000_0000, A).0, 0x1122_3344_5566_7788);
    assert_eq!(as_.ldl_le(0x8000_0002, A).0, 0x3344_5566);
    assert_eq!(as_.ldub(0x8000_0001, A).0, 0x77);
    let mut b = [0u8; 8];
    as_.read(0x8000_0000, A, &mut b);
    assert_eq!(u64::from_be_bytes(b), 0x8877_6655_4433_2211);
    assert_eq!(as_.ldl_le(0x1000, A).0, 0x297);
    assert_eq!(
        as_.stl_le(0x1000, 0xdead_beef, A),
        MemTxResult::DECODE_ERROR
    );
    assert_eq!(
        as_.write(0x1000, A, &[1, 2, 3, 4]),
        MemTxResult::DECODE_ERROR
    );
    assert_eq!(as_.ldl_le(0x1000, A).0, 0x297);
    assert_eq!(as_.ldl_le(0x5000_0000, A), (0xffff_ffff, MemTxResult::OK));
    assert_eq!(as_.ldq_le(0x600_0000, A), (0, MemTxResult::DECODE_ERROR));
}

#[test]
fn v11_x86_port_probes() {
    let ioroot = MemoryRegion::new_io("io", 0x10000, Arc::new(UnassignedIoOps), UNASSIGNED_IO_DESC);
    let idx = MemoryRegion::new_io(
        "pci-conf-idx",
        4,
        Arc::new(Latch(parking_lot::Mutex::new(0))),
        OpsDesc::new().little_endian(),
    );
    ioroot.add_subregion(0xcf8, &idx);
    ioroot.add_subregion_overlap(0xcf9, &io("piix3-reset-control", 1), 1);
    let as_ = AddressSpace::new(&ioroot, "I/O");
    assert_eq!(as_.ldub(0x10, A), (0xff, MemTxResult::OK));
    assert_eq!(as_.lduw_le(0x10, A), (0xffff, MemTxResult::OK));
    assert_eq!(as_.ldl_le(0x10, A), (0xffff_ffff, MemTxResult::OK));
    assert!(as_.stl_le(0xcf8, 0x8000_0000, A).is_ok());
    // The 4-byte access reaches pci-conf-idx whole, despite 0xcf9 overlap.
    assert_eq!(as_.ldl_le(0xcf8, A).0, 0x8000_0000);
    let mut b = [0u8; 4];
    as_.read(0xcf8, A, &mut b);
    assert_eq!(u32::from_le_bytes(b), 0x8000_0000);
    // ROM write dropped (x86 pc.bios at the top of 4 GiB).
    let system = MemoryRegion::new_container("system", u64::MAX);
    let bios = MemoryRegion::new_rom("pc.bios", 0x40000).unwrap();
    system.add_subregion(0xfffc_0000, &bios);
    let mem = AddressSpace::new(&system, "memory");
    mem.write_rom(0xffff_fff0, A, &0x00e0_5beau32.to_le_bytes());
    assert_eq!(
        mem.stl_le(0xffff_fff0, 0x1234_5678, A),
        MemTxResult::DECODE_ERROR
    );
    assert_eq!(mem.ldl_le(0xffff_fff0, A).0, 0x00e0_5bea);
}

#[test]
fn ld_st_helpers_both_endiannesses() {
    let root = MemoryRegion::new_container("ldst", 0x100000);
    root.add_subregion(0, &MemoryRegion::new_ram("ldstram", 0x1000).unwrap());
    let as_ = AddressSpace::new(&root, "ldst");
    as_.stl_be(0x10, 0x1122_3344, A);
    assert_eq!(as_.ldl_le(0x10, A).0, 0x4433_2211);
    assert_eq!(as_.lduw_be(0x10, A).0, 0x1122);
    as_.stq_be(0x20, 0x0102_0304_0506_0708, A);
    assert_eq!(as_.ldq_le(0x20, A).0, 0x0807_0605_0403_0201);
    as_.stw(0x30, 0xabcd, A);
    assert_eq!(as_.lduw(0x30, A).0, 0xabcd);
    assert_eq!(as_.ldub(0x30, A).0, 0xcd);
    // Crossing the end of RAM: one dispatch to the RAM region → rejected.
    assert_eq!(as_.ldl_le(0xffe, A).1, MemTxResult::DECODE_ERROR);
    // rw across RAM end into a hole: RAM part done, hole part zero.
    let mut b = [0xffu8; 4];
    assert_eq!(as_.read(0xffe, A, &mut b), MemTxResult::DECODE_ERROR);
    assert_eq!(b, [0, 0, 0, 0]);
}

#[test]
fn romd_mode_switch() {
    let r = Recorder::with_answers(&[0x55]);
    let rd =
        MemoryRegion::new_rom_device("flash", 0x1000, r.clone(), OpsDesc::new().little_endian())
            .unwrap();
    let root = MemoryRegion::new_container("romdroot", 0x10000);
    root.add_subregion(0, &rd);
    let as_ = AddressSpace::new(&root, "romd");
    as_.write_rom(0, A, &[0xaa, 0xbb]);
    assert_eq!(as_.lduw_le(0, A).0, 0xbbaa);
    assert!(r.take().is_empty());
    // Writes always go to the device.
    as_.stb(0, 0x11, A);
    assert_eq!(r.take(), [Call::W(0, 0x11, 1)]);
    assert_eq!(mtree::memory_region_type(&rd), "romd");
    rd.rom_device_set_romd(false);
    assert_eq!(as_.ldub(0, A).0, 0x55);
    assert_eq!(r.take(), [Call::R(0, 1)]);
    assert_eq!(mtree::memory_region_type(&rd), "i/o");
}

#[test]
fn map_unmap_direct_and_bounce() {
    let root = MemoryRegion::new_container("maproot", 0x100000);
    let ram = MemoryRegion::new_ram("mapram", 0x2000).unwrap();
    root.add_subregion(0, &ram);
    let r = Recorder::with_answers(&[0x44332211]);
    root.add_subregion(
        0x10000,
        &MemoryRegion::new_io("mapdev", 0x100, r.clone(), OpsDesc::new().little_endian()),
    );
    let as_ = AddressSpace::new(&root, "map");
    let mut m = as_.map(0x100, 0x10000, true, A).unwrap();
    assert!(!m.is_bounce());
    assert_eq!(m.len(), 0x2000 - 0x100, "clamped to the RAM block");
    m.write(0, &[9, 8, 7]);
    as_.unmap(m, 3);
    assert_eq!(as_.ldub(0x101, A).0, 8);
    // MMIO: a bounce buffer filled by reads now.
    let m = as_.map(0x10000, 4, false, A).unwrap();
    assert!(m.is_bounce());
    let mut b = [0u8; 4];
    m.read(0, &mut b);
    assert_eq!(b, [0x11, 0x22, 0x33, 0x44]);
    // Budget exhausted while the first bounce buffer is mapped.
    let big = as_.map(0x10000, 8192, true, A);
    assert!(big.as_ref().is_none_or(|b| b.len() <= 4092));
    if let Some(b) = big {
        as_.unmap(b, 0);
    }
    as_.unmap(m, 0);
    let mut w = as_.map(0x10000, 4, true, A).unwrap();
    w.write(0, &[1, 0, 0, 0]);
    r.take();
    as_.unmap(w, 4);
    assert_eq!(r.take(), [Call::W(0, 1, 4)]);
    // Hole → nothing mapped.
    assert!(as_.map(0x50000, 4, false, A).is_none());
    // Map clients: run at once when space is free, else after an unmap.
    let fired = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let f = fired.clone();
    as_.register_map_client(Box::new(move || {
        f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }));
    assert_eq!(fired.load(std::sync::atomic::Ordering::Relaxed), 1);
    let full = as_.map(0x10000, 4096, false, A).unwrap();
    assert_eq!(full.len(), 4096);
    assert!(as_.map(0x10000, 4, false, A).is_none(), "budget exhausted");
    let f = fired.clone();
    as_.register_map_client(Box::new(move || {
        f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }));
    assert_eq!(fired.load(std::sync::atomic::Ordering::Relaxed), 1);
    as_.unmap(full, 0);
    assert_eq!(fired.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[test]
fn reservation_and_container_reject() {
    let root = MemoryRegion::new_container("resroot", 0x10000);
    root.add_subregion(0x100, &MemoryRegion::new_reservation("reserved", 0x100));
    let as_ = AddressSpace::new(&root, "res");
    assert_eq!(as_.ldl_le(0x100, A), (0, MemTxResult::DECODE_ERROR));
    assert_eq!(as_.stl_le(0x100, 1, A), MemTxResult::DECODE_ERROR);
    assert!(!as_.access_valid(0x100, 4, false, A));
    assert!(!as_.access_valid(0x200, 4, false, A));
}

#[test]
fn guest_bad_accesses_never_panic() {
    let root = MemoryRegion::new_container("badroot", u64::MAX);
    root.add_subregion(0, &MemoryRegion::new_ram("badram", 0x1000).unwrap());
    root.add_subregion(
        0x2000,
        &MemoryRegion::new_io(
            "baddev",
            0x10,
            Recorder::new(),
            OpsDesc::new().valid_sizes(4, 4),
        ),
    );
    let as_ = AddressSpace::new(&root, "bad");
    for addr in [
        0xfff,
        0x1000,
        0x1fff,
        0x2000,
        0x2001,
        0x200f,
        u64::MAX - 3,
        u64::MAX,
    ] {
        for size in [1, 2, 4, 8] {
            let _ = as_.ld(addr, size, Endian::Little, A);
            let _ = as_.st(addr, 0x55, size, Endian::Little, A);
        }
        let mut b = [0u8; 16];
        let _ = as_.read(addr, A, &mut b);
        let _ = as_.write(addr, A, &b);
    }
    assert_eq!(as_.ldub(0x2001, A), (0, MemTxResult::DECODE_ERROR));
}

#[test]
fn lockless_and_bql_held_callers() {
    struct Check(bool);
    impl MemoryRegionOps for Check {
        fn read(&self, _: HwAddr, _: u32) -> u64 {
            assert_eq!(ferrite_aio::bql::bql_locked(), self.0);
            1
        }
    }
    let locked = MemoryRegion::new_io("locked", 8, Arc::new(Check(true)), OpsDesc::new());
    assert_eq!(dispatch_read(&locked, 0, 4, Endian::Little, A).0, 1);
    // Already holding the BQL: no deadlock.
    {
        let _g = ferrite_aio::bql::bql_lock();
        assert_eq!(dispatch_read(&locked, 0, 4, Endian::Little, A).0, 1);
    }
    let free = MemoryRegion::new_io("lockless", 8, Arc::new(Check(false)), OpsDesc::new());
    free.enable_lockless_io();
    assert_eq!(dispatch_read(&free, 0, 4, Endian::Little, A).0, 1);
}

#[test]
fn alias_dispatch_and_ram_device() {
    let (m, r) = dev(OpsDesc::new().little_endian(), &[3]);
    let al = MemoryRegion::new_alias("al", &m, 0x100, 0x10);
    assert_eq!(dispatch_read(&al, 4, 4, Endian::Little, A).0, 3);
    assert_eq!(r.take(), [Call::R(0x104, 4)]);
    let mut backing = vec![0u64; 512];
    // SAFETY: `backing` outlives the region (dropped at the end of the test).
    let rd = unsafe { MemoryRegion::new_ram_device_ptr("ramd", 4096, backing.as_mut_ptr().cast()) };
    let root = MemoryRegion::new_container("ramdroot", 0x10000);
    root.add_subregion(0, &rd);
    let as_ = AddressSpace::new(&root, "ramd");
    as_.stq_le(8, 0x1122_3344_5566_7788, A);
    assert_eq!(as_.ldq_le(8, A).0, 0x1122_3344_5566_7788);
    assert_eq!(mtree::memory_region_type(&rd), "ramd");
    assert!(matches!(
        as_.flatview().translate(8),
        PhysTarget::Mmio { .. }
    ));
    drop(as_);
    drop(root);
    drop(rd);
    assert_eq!(backing[1], 0x1122_3344_5566_7788);
}

#[test]
fn cpu_fast_path_translate() {
    let root = MemoryRegion::new_container("fastroot", u64::MAX);
    let ram = MemoryRegion::new_ram("fastram", 0x4000).unwrap();
    root.add_subregion(0x8000_0000, &ram);
    let rom = MemoryRegion::new_rom("fastrom", 0x1000).unwrap();
    root.add_subregion(0x1000, &rom);
    let (m, _) = dev(OpsDesc::new(), &[]);
    root.add_subregion(0x1000_0000, &m);
    let as_ = AddressSpace::new(&root, "fast");
    let fv = as_.flatview();
    match fv.translate(0x8000_0010) {
        PhysTarget::Ram {
            host,
            len,
            ram_addr,
            writable,
            ..
        } => {
            assert_eq!(len, 0x4000 - 0x10);
            assert!(writable);
            assert_eq!(ram_addr, ram.ram_addr().unwrap() + 0x10);
            assert_eq!(host, ram.ram_ptr().unwrap().wrapping_add(0x10));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        fv.translate(0x1004),
        PhysTarget::Ram {
            writable: false,
            ..
        }
    ));
    match fv.translate(0x1000_0008) {
        PhysTarget::Mmio { offset, fr } => {
            assert_eq!(offset, 8);
            assert_eq!(fr.mr(), &m);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(fv.translate(0x2000_0000), PhysTarget::Unassigned));
    // Accesses on a snapshot keep working (and see the old topology) after
    // a change is published.
    assert!(fv.st(0x8000_0008, 0xfeed, 4, Endian::Little, A).is_ok());
    root.del_subregion(&ram);
    assert_eq!(fv.ld(0x8000_0008, 4, Endian::Little, A).0, 0xfeed);
    assert_eq!(as_.ldl_le(0x8000_0008, A), (0, MemTxResult::DECODE_ERROR));
    assert_ne!(as_.flatview().generation(), fv.generation());
    let mut hint = 0;
    assert_eq!(fv.lookup_cached(0x8000_0000, &mut hint).unwrap().mr(), &ram);
    assert_eq!(fv.ranges()[hint].mr(), &ram);
}

#[test]
fn mutex_ops_reentrancy_is_refused_not_deadlocked() {
    // A device whose register write triggers DMA to an address the guest
    // chose — here its own register block.
    struct Dma {
        as_: Arc<parking_lot::Mutex<Option<AddressSpace>>>,
        last: u64,
        dma_result: Option<MemTxResult>,
    }
    impl MemoryRegionOpsMut for Dma {
        fn read(&mut self, _: HwAddr, _: u32) -> u64 {
            self.last
        }
        fn write(&mut self, _: HwAddr, value: u64, _: u32) {
            self.last = value;
            let as_ = self.as_.lock().clone().unwrap();
            self.dma_result = Some(as_.stl_le(value, 0x1234, A));
        }
    }
    let slot = Arc::new(parking_lot::Mutex::new(None));
    let dev = Arc::new(MutexOps::new(Dma {
        as_: slot.clone(),
        last: 0,
        dma_result: None,
    }));
    let root = MemoryRegion::new_container("reentroot", 0x100000);
    root.add_subregion(
        0x1000,
        &MemoryRegion::new_io(
            "dma-dev",
            0x100,
            dev.clone(),
            OpsDesc::new().little_endian(),
        ),
    );
    root.add_subregion(0x8000, &MemoryRegion::new_ram("dma-ram", 0x1000).unwrap());
    let as_ = AddressSpace::new(&root, "reent");
    *slot.lock() = Some(as_.clone());
    // DMA into RAM works.
    assert!(as_.stl_le(0x1000, 0x8000, A).is_ok());
    assert_eq!(as_.ldl_le(0x8000, A).0, 0x1234);
    assert_eq!(dev.0.lock().dma_result, Some(MemTxResult::OK));
    // DMA aimed at the device itself is refused instead of deadlocking.
    assert!(as_.stl_le(0x1000, 0x1000, A).is_ok());
    assert_eq!(dev.0.lock().dma_result, Some(MemTxResult::ACCESS_ERROR));
    *slot.lock() = None;
}
