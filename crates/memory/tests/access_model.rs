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
