//! Property test of access splitting and endianness: a device whose
//! callbacks read and write a byte array (in the device's own byte order,
//! at whatever width its `impl` sizes allow) must behave exactly like
//! memory for every valid guest access, whatever the split.

use std::sync::Arc;

use ferrite_memory::*;
use parking_lot::Mutex;
use proptest::prelude::*;

struct ByteDev {
    mem: Mutex<Vec<u8>>,
    big: bool,
    min: u32,
    max: u32,
}

impl MemoryRegionOps for ByteDev {
    fn read(&self, addr: HwAddr, size: u32) -> u64 {
        assert!(
            size >= self.min && size <= self.max,
            "core called with size {size}"
        );
        let m = self.mem.lock();
        let b = &m[addr as usize..addr as usize + size as usize];
        if self.big {
            b.iter().fold(0, |a, &x| (a << 8) | u64::from(x))
        } else {
            b.iter().rev().fold(0, |a, &x| (a << 8) | u64::from(x))
        }
    }
    fn write(&self, addr: HwAddr, value: u64, size: u32) {
        assert!(
            size >= self.min && size <= self.max,
            "core called with size {size}"
        );
        let mut m = self.mem.lock();
        for i in 0..size as usize {
            let sh = if self.big {
                8 * (size as usize - 1 - i)
            } else {
                8 * i
            };
            m[addr as usize + i] = (value >> sh) as u8;
        }
    }
}

fn sizes() -> impl Strategy<Value = u32> {
    prop::sample::select(vec![1u32, 2, 4, 8])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
    #[test]
    fn split_accesses_behave_like_memory(
        big in any::<bool>(),
        imin in sizes(),
        imax in sizes(),
        ops in prop::collection::vec((any::<bool>(), 0u64..8, sizes(), any::<u64>(), any::<bool>()), 1..40),
    ) {
        let (imin, imax) = (imin.min(imax), imin.max(imax));
        let dev = Arc::new(ByteDev { mem: Mutex::new(vec![0; 64]), big, min: imin, max: imax });
        let desc = if big { OpsDesc::new().big_endian() } else { OpsDesc::new().little_endian() };
        let mr = MemoryRegion::new_io("bytedev", 64, dev.clone(), desc.valid_sizes(1, 8).impl_sizes(imin, imax));
        let mut model = [0u8; 64];
        let a = MEMTXATTRS_UNSPECIFIED;
        for (is_write, slot, size, value, op_big) in ops {
            // Aligned accesses whose size is at least impl.min (narrower
            // ones become one wide access by design, which is not
            // memory-like).
            if size < imin {
                continue;
            }
            let addr = slot * 8 % (64 - u64::from(size) + 1) / u64::from(size) * u64::from(size);
            let endian = if op_big { Endian::Big } else { Endian::Little };
            let v = value & if size == 8 { u64::MAX } else { (1u64 << (8 * size)) - 1 };
            if is_write {
                prop_assert_eq!(dispatch_write(&mr, addr, v, size, endian, a), MemTxResult::OK);
                for i in 0..size as usize {
                    let sh = if op_big { 8 * (size as usize - 1 - i) } else { 8 * i };
                    model[addr as usize + i] = (v >> sh) as u8;
                }
            } else {
                let (got, r) = dispatch_read(&mr, addr, size, endian, a);
                prop_assert_eq!(r, MemTxResult::OK);
                let b = &model[addr as usize..addr as usize + size as usize];
                let want = if op_big {
                    b.iter().fold(0, |a, &x| (a << 8) | u64::from(x))
                } else {
                    b.iter().rev().fold(0, |a, &x| (a << 8) | u64::from(x))
                };
                prop_assert_eq!(got, want, "read {} @{:#x} {:?}", size, addr, endian);
            }
            prop_assert_eq!(&dev.mem.lock()[..], &model[..]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn address_space_rw_on_mmio_behaves_like_memory(
        big in any::<bool>(),
        vmax in sizes(),
        imax in sizes(),
        ops in prop::collection::vec((any::<bool>(), 0u64..64, 1usize..20, any::<u8>()), 1..30),
    ) {
        let dev = Arc::new(ByteDev { mem: Mutex::new(vec![0; 96]), big, min: 1, max: imax });
        let desc = if big { OpsDesc::new().big_endian() } else { OpsDesc::new().little_endian() };
        let mr = MemoryRegion::new_io("rwdev", 96, dev.clone(), desc.valid_sizes(1, vmax).impl_sizes(1, imax));
        let root = MemoryRegion::new_container("rwroot", 0x10000);
        root.add_subregion(0x1000, &mr);
        let as_ = AddressSpace::new(&root, "rw-model");
        let mut model = [0u8; 96];
        let a = MEMTXATTRS_UNSPECIFIED;
        for (is_write, off, len, seed) in ops {
            let len = len.min(96 - off as usize);
            if is_write {
                let data: Vec<u8> = (0..len).map(|i| seed.wrapping_add((i as u8).wrapping_mul(37))).collect();
                prop_assert_eq!(as_.write(0x1000 + off, a, &data), MemTxResult::OK);
                model[off as usize..off as usize + len].copy_from_slice(&data);
            } else {
                let mut buf = vec![0u8; len];
                prop_assert_eq!(as_.read(0x1000 + off, a, &mut buf), MemTxResult::OK);
                prop_assert_eq!(&buf[..], &model[off as usize..off as usize + len]);
            }
            prop_assert_eq!(&dev.mem.lock()[..], &model[..]);
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Byte {
    RamA(usize),
    Dev(usize),
    Rom(usize),
    RoAlias(usize),
    RamB(usize),
    Hole,
}

fn classify(a: u64) -> Byte {
    match a {
        0x10000..=0x10fff => Byte::RamA((a - 0x10000) as usize),
        0x11000..=0x110ff => Byte::Dev((a - 0x11000) as usize),
        0x12000..=0x12fff => Byte::Rom((a - 0x12000) as usize),
        0x13000..=0x137ff => Byte::RoAlias(0x800 + (a - 0x13000) as usize),
        0xffff_ffff_ffff_f000..=u64::MAX => Byte::RamB((a - 0xffff_ffff_ffff_f000) as usize),
        _ => Byte::Hole,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    /// Arbitrary guest reads and writes across region boundaries, holes,
    /// ROM, a read-only alias and the top of the address space: the result
    /// is byte-for-byte what the memory map says, nothing outside the
    /// addressed regions changes, and nothing panics.
    #[test]
    fn address_space_rw_matches_memory_map(
        ops in prop::collection::vec(
            (any::<bool>(), prop::sample::select(vec![
                0x10000u64, 0x10ff8, 0x11000, 0x110f8, 0x11ff8, 0x12000, 0x12ffc,
                0x13000, 0x137f8, 0xffff_ffff_ffff_efff, 0xffff_ffff_ffff_fff0, 0x0,
            ]), 0u64..16, 0usize..48, any::<u8>()),
            1..25,
        ),
    ) {
        let a = MEMTXATTRS_UNSPECIFIED;
        let root = MemoryRegion::new_container("map-root", u64::MAX);
        let ram_a = MemoryRegion::new_ram("map-ram-a", 0x1000).unwrap();
        root.add_subregion(0x10000, &ram_a);
        let dev = Arc::new(ByteDev { mem: Mutex::new(vec![0; 0x100]), big: false, min: 1, max: 8 });
        root.add_subregion(0x11000, &MemoryRegion::new_io("map-dev", 0x100, dev.clone(),
            OpsDesc::new().little_endian().valid_sizes(1, 8).impl_sizes(1, 8)));
        let rom = MemoryRegion::new_rom("map-rom", 0x1000).unwrap();
        root.add_subregion(0x12000, &rom);
        let ro = MemoryRegion::new_alias("map-ro", &ram_a, 0x800, 0x800);
        ro.set_readonly(true);
        root.add_subregion(0x13000, &ro);
        root.add_subregion(0xffff_ffff_ffff_f000, &MemoryRegion::new_ram("map-ram-b", 0x1000).unwrap());
        let as_ = AddressSpace::new(&root, "map");
        let rom_img: Vec<u8> = (0..0x1000).map(|i| (i * 7) as u8).collect();
        as_.write_rom(0x12000, a, &rom_img);
        let (mut m_a, mut m_dev, mut m_b) = (vec![0u8; 0x1000], vec![0u8; 0x100], vec![0u8; 0x1000]);
        for (is_write, base, delta, len, seed) in ops {
            let addr = base.wrapping_add(delta);
            let mut expect_err = false;
            if is_write {
                let data: Vec<u8> = (0..len).map(|i| seed.wrapping_add((i as u8).wrapping_mul(13))).collect();
                let r = as_.write(addr, a, &data);
                for (i, &d) in data.iter().enumerate() {
                    match classify(addr.wrapping_add(i as u64)) {
                        Byte::RamA(o) => m_a[o] = d,
                        Byte::Dev(o) => m_dev[o] = d,
                        Byte::RamB(o) => m_b[o] = d,
                        Byte::Rom(_) | Byte::RoAlias(_) | Byte::Hole => expect_err = true,
                    }
                }
                prop_assert_eq!(r.is_ok(), !expect_err, "write {:#x}+{}", addr, len);
            } else {
                let mut buf = vec![0xeeu8; len];
                let r = as_.read(addr, a, &mut buf);
                for (i, &got) in buf.iter().enumerate() {
                    let want = match classify(addr.wrapping_add(i as u64)) {
                        Byte::RamA(o) | Byte::RoAlias(o) => m_a[o],
                        Byte::Dev(o) => m_dev[o],
                        Byte::Rom(o) => rom_img[o],
                        Byte::RamB(o) => m_b[o],
                        Byte::Hole => {
                            expect_err = true;
                            0
                        }
                    };
                    prop_assert_eq!(got, want, "read {:#x}+{} byte {}", addr, len, i);
                }
                prop_assert_eq!(r.is_ok(), !expect_err, "read {:#x}+{}", addr, len);
            }
            // Whole-state check: nothing else changed.
            let mut all = vec![0u8; 0x1000];
            as_.read(0x10000, a, &mut all);
            prop_assert_eq!(&all, &m_a);
            as_.read(0xffff_ffff_ffff_f000, a, &mut all);
            prop_assert_eq!(&all, &m_b);
            prop_assert_eq!(&dev.mem.lock()[..], &m_dev[..]);
            as_.read(0x12000, a, &mut all);
            prop_assert_eq!(&all, &rom_img);
        }
    }
}
