//! `MemoryRegionCache` (`include/system/memory_cached.h`,
//! `physmem.c: address_space_cache_*`): one translation, kept for repeated
//! accesses to a hot guest structure such as a virtio ring, plus
//! `address_space_set` and `address_space_get_iotlb_entry`.
//!
//! A cache pins the FlatView it was created from (it is *not* updated by
//! topology changes, as in QEMU); its owner re-creates it when the guest
//! moves the structure.

use std::sync::Arc;

use crate::address_space::AddressSpace;
use crate::dispatch::{self, memory_access_size};
use crate::flatview::FlatView;
use crate::iommu::{IommuAccessFlags, IommuTlbEntry};
use crate::ram;
use crate::region::MemoryRegion;
use crate::types::*;

/// A cached translation of `[addr, addr + len)` of an AddressSpace.
pub struct MemoryRegionCache {
    as_: AddressSpace,
    _fv: Arc<FlatView>,
    addr: HwAddr,
    len: u64,
    is_write: bool,
    /// Leaf region and in-region offset of `addr` (non-IOMMU case).
    mr: Option<(MemoryRegion, HwAddr)>,
    /// Host address of `addr` when the range is direct RAM.
    host: usize,
    ram_addr: u64,
    dirty_log_mask: u8,
    /// The first hop is an IOMMU: re-translate on every slow access.
    via_iommu: bool,
}

impl std::fmt::Debug for MemoryRegionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MemoryRegionCache({:#x}+{:#x} direct={})",
            self.addr,
            self.len,
            self.host != 0
        )
    }
}

impl MemoryRegionCache {
    /// `address_space_cache_init`: the cache covers at most the section
    /// `addr` falls in; check [`len`](Self::len) for how much was cached.
    pub fn new(as_: &AddressSpace, addr: HwAddr, len: u64, is_write: bool) -> MemoryRegionCache {
        let fv = as_.flatview();
        let via_iommu = fv.lookup(addr).is_some_and(|fr| fr.mr().is_iommu());
        let t = as_.translate(addr, len, is_write, MEMTXATTRS_UNSPECIFIED);
        let mut c = MemoryRegionCache {
            as_: as_.clone(),
            _fv: fv,
            addr,
            len: 0,
            is_write,
            mr: None,
            host: 0,
            ram_addr: 0,
            dirty_log_mask: 0,
            via_iommu,
        };
        let Some(fr) = t.range() else { return c };
        if via_iommu {
            // Bounded by the IOMMU page (and the final section for RAM).
            c.len = len.min(t.len);
            return c;
        }
        // Not behind an IOMMU: `fr` is in this AS's own view.
        let section_left = u64::try_from(fr.end() - u128::from(addr)).unwrap_or(u64::MAX);
        c.len = len.min(section_left);
        if fr.is_direct(is_write) && fr.host != 0 {
            c.host = fr.host + (t.xlat - fr.offset_in_region) as usize;
            c.ram_addr = fr.ram_addr + (t.xlat - fr.offset_in_region);
            c.dirty_log_mask = fr.dirty_log_mask;
        }
        c.mr = Some((fr.mr().clone(), t.xlat));
        c
    }

    /// Bytes usable from the start of the cache.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// True if nothing is mapped at the cache's address.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// True when accesses are plain host memory copies.
    pub fn is_direct(&self) -> bool {
        self.host != 0
    }

    fn check(&self, off: u64, n: u64) {
        assert!(
            off < self.len && n <= self.len - off,
            "MemoryRegionCache access {off:#x}+{n:#x} outside cached length {:#x}",
            self.len
        );
    }

    /// `address_space_read_cached`.
    ///
    /// # Panics
    /// If `[off, off + buf.len())` is outside the cache (callers bound
    /// guest-provided offsets first, as in QEMU).
    pub fn read(&self, off: u64, buf: &mut [u8]) -> MemTxResult {
        if buf.is_empty() {
            return MemTxResult::OK;
        }
        self.check(off, buf.len() as u64);
        if self.host != 0 {
            // SAFETY: bounds checked against the cached length, which lies
            // inside the RAM block kept alive by the pinned FlatView.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    (self.host + off as usize) as *const u8,
                    buf.as_mut_ptr(),
                    buf.len(),
                )
            };
            return MemTxResult::OK;
        }
        match &self.mr {
            Some((mr, xlat)) => {
                let mut r = MemTxResult::OK;
                let mut done = 0usize;
                while done < buf.len() {
                    let a = xlat + off + done as u64;
                    let l = memory_access_size(mr, (buf.len() - done) as u64, a).max(1) as usize;
                    let (v, ri) = dispatch::dispatch_read(
                        mr,
                        a,
                        l as u32,
                        Endian::host(),
                        MEMTXATTRS_UNSPECIFIED,
                    );
                    for (i, b) in buf[done..done + l].iter_mut().enumerate() {
                        *b = (v
                            >> (8 * if Endian::host() == Endian::Little {
                                i
                            } else {
                                l - 1 - i
                            })) as u8;
                    }
                    r |= ri;
                    done += l;
                }
                r
            }
            None => self.as_.read(self.addr + off, MEMTXATTRS_UNSPECIFIED, buf),
        }
    }

    /// `address_space_write_cached`.
    ///
    /// # Panics
    /// As for [`read`](Self::read), and on a read-only cache.
    pub fn write(&self, off: u64, buf: &[u8]) -> MemTxResult {
        assert!(self.is_write, "write through a read-only MemoryRegionCache");
        if buf.is_empty() {
            return MemTxResult::OK;
        }
        self.check(off, buf.len() as u64);
        if self.host != 0 {
            // SAFETY: as in `read`; the range is writable RAM.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    buf.as_ptr(),
                    (self.host + off as usize) as *mut u8,
                    buf.len(),
                )
            };
            ram::invalidate_and_set_dirty(
                self.dirty_log_mask,
                self.ram_addr + off,
                buf.len() as u64,
            );
            return MemTxResult::OK;
        }
        match &self.mr {
            Some((mr, xlat)) => {
                let mut r = MemTxResult::OK;
                let mut done = 0usize;
                while done < buf.len() {
                    let a = xlat + off + done as u64;
                    let l = memory_access_size(mr, (buf.len() - done) as u64, a).max(1) as usize;
                    let mut v = 0u64;
                    for (i, b) in buf[done..done + l].iter().enumerate() {
                        v |= u64::from(*b)
                            << (8 * if Endian::host() == Endian::Little {
                                i
                            } else {
                                l - 1 - i
                            });
                    }
                    r |= dispatch::dispatch_write(
                        mr,
                        a,
                        v,
                        l as u32,
                        Endian::host(),
                        MEMTXATTRS_UNSPECIFIED,
                    );
                    done += l;
                }
                r
            }
            None => self.as_.write(self.addr + off, MEMTXATTRS_UNSPECIFIED, buf),
        }
    }

    /// `address_space_ld*_cached`: loads `size` bytes in byte order `endian`.
    pub fn ld(&self, off: u64, size: u32, endian: Endian) -> (u64, MemTxResult) {
        self.check(off, u64::from(size));
        if self.host != 0 || self.via_iommu {
            let mut b = [0u8; 8];
            let r = self.read(off, &mut b[..size as usize]);
            let v = match endian {
                Endian::Little => b[..size as usize]
                    .iter()
                    .rev()
                    .fold(0u64, |a, &x| (a << 8) | u64::from(x)),
                Endian::Big => b[..size as usize]
                    .iter()
                    .fold(0u64, |a, &x| (a << 8) | u64::from(x)),
            };
            return (v, r);
        }
        let (mr, xlat) = self.mr.as_ref().expect("checked non-empty");
        let (v, r) = dispatch::dispatch_read(mr, xlat + off, size, endian, MEMTXATTRS_UNSPECIFIED);
        (v & size_mask(size), r)
    }

    /// `address_space_st*_cached`.
    pub fn st(&self, off: u64, value: u64, size: u32, endian: Endian) -> MemTxResult {
        self.check(off, u64::from(size));
        if self.host != 0 || self.via_iommu {
            let mut b = [0u8; 8];
            for (i, x) in b[..size as usize].iter_mut().enumerate() {
                let sh = match endian {
                    Endian::Little => 8 * i,
                    Endian::Big => 8 * (size as usize - 1 - i),
                };
                *x = (value >> sh) as u8;
            }
            return self.write(off, &b[..size as usize]);
        }
        assert!(self.is_write, "write through a read-only MemoryRegionCache");
        let (mr, xlat) = self.mr.as_ref().expect("checked non-empty");
        dispatch::dispatch_write(mr, xlat + off, value, size, endian, MEMTXATTRS_UNSPECIFIED)
    }

    /// `address_space_cache_invalidate`: marks `[off, off+len)` dirty (and
    /// invalidates translated code there) after the cached RAM was changed
    /// behind the memory API's back.
    pub fn invalidate(&self, off: u64, len: u64) {
        assert!(self.is_write, "invalidate on a read-only MemoryRegionCache");
        if self.host != 0 && len > 0 {
            self.check(off, len);
            ram::invalidate_and_set_dirty(self.dirty_log_mask, self.ram_addr + off, len);
        }
    }
}

impl AddressSpace {
    /// `address_space_set`: fills `len` bytes at `addr` with `c`, in
    /// 512-byte chunks.
    pub fn set(&self, addr: HwAddr, c: u8, len: u64, attrs: MemTxAttrs) -> MemTxResult {
        let chunk = [c; 512];
        let mut r = MemTxResult::OK;
        let mut done = 0u64;
        while done < len {
            let l = (len - done).min(512);
            r |= self.write(addr.wrapping_add(done), attrs, &chunk[..l as usize]);
            done += l;
        }
        r
    }

    /// `address_space_get_iotlb_entry`: the translation of `addr` for a
    /// device IOTLB, through any IOMMUs; `None` where QEMU returns an
    /// all-zero entry (unmapped or not permitted).
    pub fn get_iotlb_entry(
        &self,
        addr: HwAddr,
        is_write: bool,
        attrs: MemTxAttrs,
    ) -> Option<IommuTlbEntry> {
        let mut as_ = self.clone();
        let mut cur = addr;
        let mut mask: u64 = u64::MAX;
        for hop in 0.. {
            if hop > crate::address_space::MAX_IOMMU_HOPS {
                return None;
            }
            let fv = as_.flatview();
            let fr = fv.lookup(cur)?;
            let xlat = cur - fr.start() + fr.offset_in_region();
            let Some(ops) = fr.mr().iommu_ops().cloned() else {
                break;
            };
            let need = IommuAccessFlags::for_access(is_write);
            let e = ops.translate(xlat, need, ops.attrs_to_index(attrs));
            if !e.perm.contains(need) {
                return None;
            }
            let target = e.target_as.clone()?;
            cur = (e.translated_addr & !e.addr_mask) | (xlat & e.addr_mask);
            mask &= e.addr_mask;
            as_ = target;
        }
        if mask == u64::MAX {
            // Not behind an IOMMU: the default page size.
            mask = !TARGET_PAGE_MASK;
        }
        Some(IommuTlbEntry {
            target_as: Some(as_),
            iova: addr & !mask,
            translated_addr: cur & !mask,
            addr_mask: mask,
            perm: IommuAccessFlags::RW,
        })
    }
}
