//! The narrow view of guest physical memory that the translator needs.
//!
//! QEMU's TCG talks to the memory API through `address_space_translate_for_iotlb`
//! (to fill the softmmu TLB), `io_readx`/`io_writex` (MMIO dispatch) and the
//! `DIRTY_MEMORY_CODE` dirty client (self-modifying code). [`PhysMemory`] is
//! exactly that surface; `ferrite-memory`'s `AddressSpace` will implement it.
//! [`SimplePhysMemory`] is a small stand-alone implementation (RAM blocks plus
//! a table of MMIO callbacks) for tests and the bare-metal board until then.

use std::alloc::Layout;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::codesync::CodeSync;

/// Size of a target page as the translator sees it (4 KiB).
pub const PAGE_BITS: u32 = 12;
/// Page size in bytes.
pub const PAGE_SIZE: u64 = 1 << PAGE_BITS;
/// Mask that keeps the page-aligned part of an address.
pub const PAGE_MASK: u64 = !(PAGE_SIZE - 1);

/// What a physical address resolves to (QEMU's `MemoryRegionSection` after
/// `address_space_translate`, reduced to what the TLB needs).
#[derive(Clone, Copy, Debug)]
pub enum Section {
    /// Directly accessible RAM (or ROM).
    Ram {
        /// Host pointer to the byte at the translated physical address.
        host: *mut u8,
        /// Bytes from that address to the end of the RAM region.
        avail: u64,
        /// Offset of the address in the global RAM offset space (QEMU's
        /// `ram_addr_t`), used for code-page tracking.
        ram_addr: u64,
        /// Whether guest writes are allowed (false for ROM: writes are
        /// discarded, as QEMU does for ROM regions).
        writable: bool,
    },
    /// An I/O region: accesses are dispatched through
    /// [`PhysMemory::mmio_read`]/[`PhysMemory::mmio_write`].
    Mmio {
        /// Opaque region handle passed back to the dispatch calls.
        handle: u32,
        /// Bytes from the address to the end of the region.
        avail: u64,
    },
    /// Nothing is mapped here.
    Unassigned,
}

/// An MMIO or unassigned access failed (QEMU's `MEMTX_ERROR`/`MEMTX_DECODE_ERROR`);
/// the CPU turns this into an access fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemTxError;

/// Guest physical memory as seen by a vCPU.
///
/// # Host-pointer validity
///
/// A [`Section::Ram`] host pointer stays valid (and the region at least
/// `avail` bytes long) until [`PhysMemory::generation`] changes. The CPU checks
/// the generation at every block boundary and flushes its TLB when it changes.
pub trait PhysMemory: Send + Sync {
    /// Resolves a physical address.
    fn translate(&self, paddr: u64) -> Section;
    /// Reads `size` (1, 2, 4 or 8) bytes from an I/O region.
    fn mmio_read(&self, handle: u32, paddr: u64, size: u32) -> Result<u64, MemTxError>;
    /// Writes `size` (1, 2, 4 or 8) bytes to an I/O region.
    fn mmio_write(&self, handle: u32, paddr: u64, size: u32, val: u64) -> Result<(), MemTxError>;
    /// Changes whenever the memory topology changes (QEMU's FlatView switch).
    fn generation(&self) -> u64;
    /// Records that translated code was generated from the RAM page containing
    /// `ram_addr` (QEMU's `tlb_protect_code`: clears the page's CODE dirty bit).
    fn mark_code_page(&self, ram_addr: u64);
    /// Whether the RAM page containing `ram_addr` holds translated code.
    fn is_code_page(&self, ram_addr: u64) -> bool;
    /// Forgets that the page holds code (all its TBs were invalidated).
    fn clear_code_page(&self, ram_addr: u64);
    /// Cheap check: has a non-CPU writer (device, DMA, loader) written to a
    /// code page since the last [`PhysMemory::take_dirty_code_pages`]?
    fn code_dirty_pending(&self) -> bool;
    /// Returns and clears the RAM page addresses written by non-CPU writers
    /// while they held code.
    fn take_dirty_code_pages(&self) -> Vec<u64>;
    /// The code-page event log shared by the vCPUs of this memory
    /// ([`CodeSync`]). Without one (the default) each vCPU only sees its
    /// own code writes: fine for a single vCPU, wrong for several.
    fn code_sync(&self) -> Option<&CodeSync> {
        None
    }
}

/// A device callback table entry for [`SimplePhysMemory`].
pub trait MmioDevice: Send + Sync {
    /// Reads `size` bytes at `offset` within the device.
    fn read(&self, offset: u64, size: u32) -> Result<u64, MemTxError>;
    /// Writes `size` bytes at `offset` within the device.
    fn write(&self, offset: u64, size: u32, val: u64) -> Result<(), MemTxError>;
}

struct RamBlock {
    base: u64,
    len: u64,
    ram_addr: u64,
    ptr: *mut u8,
    writable: bool,
}

// SAFETY: the block owns its allocation; concurrent guest accesses through the
// raw pointer are the emulated machine's own (racy, as on real hardware)
// memory semantics and never touch memory outside the allocation.
unsafe impl Send for RamBlock {}
// SAFETY: see `Send`; the struct itself is immutable after construction.
unsafe impl Sync for RamBlock {}

impl Drop for RamBlock {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with this exact layout.
        unsafe { std::alloc::dealloc(self.ptr, ram_layout(self.len)) }
    }
}

fn ram_layout(len: u64) -> Layout {
    Layout::from_size_align(len as usize, 4096).expect("RAM block too large")
}

struct MmioRegion {
    base: u64,
    len: u64,
    dev: Arc<dyn MmioDevice>,
}

/// A simple [`PhysMemory`]: RAM blocks and MMIO callback regions at fixed
/// addresses, with a code-page bitmap. The topology is fixed after
/// construction, so the generation never changes.
pub struct SimplePhysMemory {
    ram: Vec<RamBlock>,
    mmio: Vec<MmioRegion>,
    code: Vec<AtomicU64>,
    dirty_pending: AtomicBool,
    dirty_pages: Mutex<Vec<u64>>,
    code_sync: CodeSync,
}

impl Default for SimplePhysMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl SimplePhysMemory {
    /// An empty address space.
    pub fn new() -> Self {
        SimplePhysMemory {
            ram: Vec::new(),
            mmio: Vec::new(),
            code: Vec::new(),
            dirty_pending: AtomicBool::new(false),
            dirty_pages: Mutex::new(Vec::new()),
            code_sync: CodeSync::new(),
        }
    }

    fn overlaps(&self, base: u64, len: u64) -> bool {
        let end = base + len;
        self.ram
            .iter()
            .any(|r| base < r.base + r.len && r.base < end)
            || self
                .mmio
                .iter()
                .any(|r| base < r.base + r.len && r.base < end)
    }

    /// Adds zeroed RAM (`writable`) or ROM at `base`. Panics on overlap or a
    /// length that is not a whole number of pages (a board bug).
    pub fn add_ram(&mut self, base: u64, len: u64, writable: bool) {
        assert!(
            len > 0 && len.is_multiple_of(PAGE_SIZE) && base.is_multiple_of(PAGE_SIZE),
            "RAM must be page aligned"
        );
        assert!(!self.overlaps(base, len), "overlapping region at {base:#x}");
        let ram_addr = self.ram.iter().map(|r| r.len).sum();
        // SAFETY: the layout has non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(ram_layout(len)) };
        assert!(!ptr.is_null(), "out of memory allocating guest RAM");
        self.ram.push(RamBlock {
            base,
            len,
            ram_addr,
            ptr,
            writable,
        });
        let pages: u64 = self.ram.iter().map(|r| r.len / PAGE_SIZE).sum();
        self.code
            .resize_with(pages.div_ceil(64) as usize, || AtomicU64::new(0));
    }

    /// Maps an MMIO device at `base`. Panics on overlap.
    pub fn add_mmio(&mut self, base: u64, len: u64, dev: Arc<dyn MmioDevice>) {
        assert!(!self.overlaps(base, len), "overlapping region at {base:#x}");
        self.mmio.push(MmioRegion { base, len, dev });
    }

    fn ram_block(&self, paddr: u64) -> Option<&RamBlock> {
        self.ram
            .iter()
            .find(|r| paddr >= r.base && paddr - r.base < r.len)
    }

    /// Writes bytes into RAM/ROM as a device or loader would (DMA): code
    /// pages that are hit are reported to the vCPUs for invalidation.
    /// Returns an error if any byte is outside RAM.
    pub fn write_bytes(&self, paddr: u64, data: &[u8]) -> Result<(), MemTxError> {
        for (i, b) in data.iter().enumerate() {
            let a = paddr.wrapping_add(i as u64);
            let r = self.ram_block(a).ok_or(MemTxError)?;
            let off = a - r.base;
            // SAFETY: `off < r.len`, inside the block's allocation.
            unsafe { r.ptr.add(off as usize).write(*b) };
            let ram_addr = r.ram_addr + off;
            if self.is_code_page(ram_addr) {
                self.clear_code_page(ram_addr);
                self.dirty_pages.lock().push(ram_addr & PAGE_MASK);
                self.dirty_pending.store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    /// Reads bytes from RAM/ROM (for loaders, tests and device DMA).
    pub fn read_bytes(&self, paddr: u64, out: &mut [u8]) -> Result<(), MemTxError> {
        for (i, b) in out.iter_mut().enumerate() {
            let a = paddr.wrapping_add(i as u64);
            let r = self.ram_block(a).ok_or(MemTxError)?;
            // SAFETY: the offset is inside the block's allocation.
            *b = unsafe { r.ptr.add((a - r.base) as usize).read() };
        }
        Ok(())
    }

    /// Little-endian convenience read of `N <= 8` bytes.
    pub fn read_u64(&self, paddr: u64) -> Result<u64, MemTxError> {
        let mut b = [0u8; 8];
        self.read_bytes(paddr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn code_bit(&self, ram_addr: u64) -> Option<(&AtomicU64, u64)> {
        let page = ram_addr >> PAGE_BITS;
        self.code
            .get((page / 64) as usize)
            .map(|w| (w, 1u64 << (page % 64)))
    }
}

impl PhysMemory for SimplePhysMemory {
    fn translate(&self, paddr: u64) -> Section {
        if let Some(r) = self.ram_block(paddr) {
            let off = paddr - r.base;
            return Section::Ram {
                // SAFETY: `off < r.len`, inside the allocation.
                host: unsafe { r.ptr.add(off as usize) },
                avail: r.len - off,
                ram_addr: r.ram_addr + off,
                writable: r.writable,
            };
        }
        for (i, m) in self.mmio.iter().enumerate() {
            if paddr >= m.base && paddr - m.base < m.len {
                return Section::Mmio {
                    handle: i as u32,
                    avail: m.len - (paddr - m.base),
                };
            }
        }
        Section::Unassigned
    }

    fn mmio_read(&self, handle: u32, paddr: u64, size: u32) -> Result<u64, MemTxError> {
        let m = self.mmio.get(handle as usize).ok_or(MemTxError)?;
        m.dev.read(paddr.wrapping_sub(m.base), size)
    }

    fn mmio_write(&self, handle: u32, paddr: u64, size: u32, val: u64) -> Result<(), MemTxError> {
        let m = self.mmio.get(handle as usize).ok_or(MemTxError)?;
        m.dev.write(paddr.wrapping_sub(m.base), size, val)
    }

    fn generation(&self) -> u64 {
        0
    }

    fn mark_code_page(&self, ram_addr: u64) {
        if let Some((w, bit)) = self.code_bit(ram_addr) {
            w.fetch_or(bit, Ordering::Relaxed);
        }
    }

    fn is_code_page(&self, ram_addr: u64) -> bool {
        self.code_bit(ram_addr)
            .is_some_and(|(w, bit)| w.load(Ordering::Relaxed) & bit != 0)
    }

    fn clear_code_page(&self, ram_addr: u64) {
        if let Some((w, bit)) = self.code_bit(ram_addr) {
            w.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    fn code_dirty_pending(&self) -> bool {
        self.dirty_pending.load(Ordering::Relaxed)
    }

    fn take_dirty_code_pages(&self) -> Vec<u64> {
        self.dirty_pending.store(false, Ordering::Relaxed);
        std::mem::take(&mut *self.dirty_pages.lock())
    }

    fn code_sync(&self) -> Option<&CodeSync> {
        Some(&self.code_sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_and_mmio_resolve() {
        struct Dev;
        impl MmioDevice for Dev {
            fn read(&self, offset: u64, _size: u32) -> Result<u64, MemTxError> {
                Ok(offset * 2)
            }
            fn write(&self, _o: u64, _s: u32, _v: u64) -> Result<(), MemTxError> {
                Err(MemTxError)
            }
        }
        let mut m = SimplePhysMemory::new();
        m.add_ram(0x8000_0000, 0x2000, true);
        m.add_mmio(0x1000, 0x100, Arc::new(Dev));
        match m.translate(0x8000_1ff0) {
            Section::Ram {
                avail, ram_addr, ..
            } => {
                assert_eq!(avail, 0x10);
                assert_eq!(ram_addr, 0x1ff0);
            }
            s => panic!("{s:?}"),
        }
        let Section::Mmio { handle, .. } = m.translate(0x1010) else {
            panic!()
        };
        assert_eq!(m.mmio_read(handle, 0x1010, 4), Ok(0x20));
        assert_eq!(m.mmio_write(handle, 0x1010, 4, 0), Err(MemTxError));
        assert!(matches!(m.translate(0x2000), Section::Unassigned));
        m.mark_code_page(0x1000);
        assert!(m.is_code_page(0x1abc));
        m.write_bytes(0x8000_1004, &[1, 2]).unwrap();
        assert!(!m.is_code_page(0x1000));
        assert!(m.code_dirty_pending());
        assert_eq!(m.take_dirty_code_pages(), vec![0x1000]);
        assert_eq!(m.read_u64(0x8000_1000).unwrap(), 0x0201_0000_0000);
    }
}
