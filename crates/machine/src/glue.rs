//! Glue between the subsystems a board wires together.
//!
//! - [`AsPhysMemory`] lets a vCPU reach guest memory through an
//!   [`AddressSpace`]: the translator's [`PhysMemory`] is exactly the part of
//!   the memory API QEMU's TCG uses (`address_space_translate_for_iotlb`,
//!   `io_readx`/`io_writex`, and the CODE dirty client for self-modifying
//!   code).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ferrite_memory::ram::{self, CodeWriteHook};
use ferrite_memory::{AddressSpace, MemoryListener, PhysTarget};
use ferrite_memory::{DirtyClient, Endian, MEMTXATTRS_UNSPECIFIED};
use ferrite_tcg::codesync::CodeSync;
use ferrite_tcg::memory::{MemTxError, PAGE_MASK, PAGE_SIZE, PhysMemory, Section};
use parking_lot::Mutex;

/// Guest physical memory for a vCPU, through an [`AddressSpace`].
pub struct AsPhysMemory {
    space: AddressSpace,
    /// RAM pages written by non-CPU writers (devices, DMA, loaders) while
    /// they held translated code; drained by the vCPU at block boundaries.
    dirty_code: Arc<Mutex<Vec<u64>>>,
    dirty_pending: Arc<AtomicBool>,
    /// Bumped by [`TopologyListener`] after every memory-map commit; the
    /// vCPU reads it at every block boundary, so it is a plain atomic
    /// rather than a load of the published FlatView.
    generation: Arc<AtomicU64>,
    /// Code-page events between the vCPUs (each has its own TB cache).
    code_sync: CodeSync,
}

/// QEMU's `tcg_commit`: after each memory-map commit (the new FlatViews are
/// already published) the vCPUs must drop TLB entries that point into the
/// old views; they notice through the generation counter.
struct TopologyListener(Arc<AtomicU64>);

impl MemoryListener for TopologyListener {
    fn name(&self) -> &str {
        "tcg"
    }

    fn commit(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

impl AsPhysMemory {
    /// Wraps `space` and installs the memory API's code-write hook, so that
    /// writes through the memory API to pages holding code reach the
    /// translator. TCG must have been enabled with
    /// [`ram::set_tcg_enabled`] before the RAM was created.
    pub fn new(space: AddressSpace) -> Arc<Self> {
        let dirty_code = Arc::new(Mutex::new(Vec::new()));
        let dirty_pending = Arc::new(AtomicBool::new(false));
        let (dc, dp) = (dirty_code.clone(), dirty_pending.clone());
        let hook: CodeWriteHook = Arc::new(move |ram_addr: u64, len: u64| {
            let mut pages = dc.lock();
            let mut page = ram_addr & PAGE_MASK;
            let end = ram_addr.saturating_add(len);
            while page < end {
                pages.push(page);
                page += PAGE_SIZE;
            }
            dp.store(true, Ordering::Release);
        });
        ram::set_code_write_hook(Some(hook));
        let generation = Arc::new(AtomicU64::new(0));
        space.register_listener(Arc::new(TopologyListener(generation.clone())));
        Arc::new(AsPhysMemory {
            space,
            dirty_code,
            dirty_pending,
            generation,
            code_sync: CodeSync::new(),
        })
    }

    /// The address space.
    pub fn address_space(&self) -> &AddressSpace {
        &self.space
    }
}

impl PhysMemory for AsPhysMemory {
    fn translate(&self, paddr: u64) -> Section {
        self.space.with_flatview(|fv| match fv.translate(paddr) {
            PhysTarget::Ram {
                host,
                len,
                ram_addr,
                writable,
                ..
            } => Section::Ram {
                host,
                avail: len,
                ram_addr,
                writable,
            },
            // ROM devices in romd mode and MMIO both go through dispatch:
            // a write to a romd region must reach the device.
            PhysTarget::Romd { len, .. } => Section::Mmio {
                handle: 0,
                avail: len,
            },
            // Accesses behind an IOMMU are translated on every access by the
            // address space's dispatch (the slow path), like MMIO.
            PhysTarget::Mmio { fr, .. } | PhysTarget::Iommu { fr, .. } => {
                let end = fr.end();
                let avail = u64::try_from(end - u128::from(paddr)).unwrap_or(u64::MAX);
                Section::Mmio { handle: 0, avail }
            }
            PhysTarget::Unassigned => Section::Unassigned,
        })
    }

    fn mmio_read(&self, _handle: u32, paddr: u64, size: u32) -> Result<u64, MemTxError> {
        let (v, r) = self
            .space
            .ld(paddr, size, Endian::Little, MEMTXATTRS_UNSPECIFIED);
        if r.is_ok() { Ok(v) } else { Err(MemTxError) }
    }

    fn mmio_write(&self, _handle: u32, paddr: u64, size: u32, val: u64) -> Result<(), MemTxError> {
        let r = self
            .space
            .st(paddr, val, size, Endian::Little, MEMTXATTRS_UNSPECIFIED);
        if r.is_ok() { Ok(()) } else { Err(MemTxError) }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn mark_code_page(&self, ram_addr: u64) {
        // QEMU's tlb_protect_code: a clean CODE bit means "holds code".
        ram::reset_dirty_range(ram_addr & PAGE_MASK, PAGE_SIZE, DirtyClient::Code.mask());
    }

    fn is_code_page(&self, ram_addr: u64) -> bool {
        !ram::get_dirty(ram_addr & PAGE_MASK, PAGE_SIZE, DirtyClient::Code)
    }

    fn clear_code_page(&self, ram_addr: u64) {
        ram::set_dirty_range(ram_addr & PAGE_MASK, PAGE_SIZE, DirtyClient::Code.mask());
    }

    fn code_dirty_pending(&self) -> bool {
        self.dirty_pending.load(Ordering::Acquire)
    }

    fn take_dirty_code_pages(&self) -> Vec<u64> {
        let mut pages = self.dirty_code.lock();
        self.dirty_pending.store(false, Ordering::Release);
        let mut v = std::mem::take(&mut *pages);
        v.sort_unstable();
        v.dedup();
        v
    }

    fn code_sync(&self) -> Option<&CodeSync> {
        Some(&self.code_sync)
    }
}

/// Guest RAM as the virtio devices see it (QEMU: `address_space_rw` on the
/// system address space, limited to RAM). Every access is checked against
/// the RAM window first, so a guest-chosen ring or buffer address can only
/// ever reach guest RAM; writes go through the memory API, so they
/// invalidate any code translated from the pages they touch.
pub struct RamGuestMemory {
    space: AddressSpace,
    base: u64,
    size: u64,
}

impl RamGuestMemory {
    /// RAM of `size` bytes at `base` in `space`.
    pub fn new(space: AddressSpace, base: u64, size: u64) -> Self {
        RamGuestMemory { space, base, size }
    }

    fn check(&self, addr: u64, len: u64) -> Result<(), ferrite_hw::virtio::GuestMemoryError> {
        if ferrite_hw::virtio::GuestMemory::is_ram(self, addr, len) {
            Ok(())
        } else {
            Err(ferrite_hw::virtio::GuestMemoryError { addr, len })
        }
    }
}

impl ferrite_hw::virtio::GuestMemory for RamGuestMemory {
    fn is_ram(&self, addr: u64, len: u64) -> bool {
        match (addr.checked_sub(self.base), addr.checked_add(len)) {
            (Some(off), Some(_)) => off <= self.size && len <= self.size - off,
            _ => false,
        }
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ferrite_hw::virtio::GuestMemoryError> {
        self.check(addr, buf.len() as u64)?;
        let _ = self.space.read(addr, MEMTXATTRS_UNSPECIFIED, buf);
        Ok(())
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), ferrite_hw::virtio::GuestMemoryError> {
        self.check(addr, buf.len() as u64)?;
        let _ = self.space.write(addr, MEMTXATTRS_UNSPECIFIED, buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_hw::virtio::GuestMemory;
    use ferrite_memory::MemoryRegion;

    #[test]
    fn guest_memory_stays_inside_ram() {
        let system = MemoryRegion::new_container("system", u64::MAX);
        let ram = MemoryRegion::new_ram("ram", 0x2000).unwrap();
        system.add_subregion(0x8000_0000, &ram);
        let space = AddressSpace::new(&system, "memory");
        let m = RamGuestMemory::new(space, 0x8000_0000, 0x2000);
        assert!(m.is_ram(0x8000_0000, 0x2000));
        assert!(m.is_ram(0x8000_2000, 0));
        assert!(!m.is_ram(0x8000_1fff, 2));
        assert!(!m.is_ram(0x7fff_ffff, 1));
        assert!(!m.is_ram(u64::MAX, 2));
        m.write(0x8000_1000, b"abc").unwrap();
        let mut b = [0u8; 3];
        m.read(0x8000_1000, &mut b).unwrap();
        assert_eq!(&b, b"abc");
        let e = m.write(0x8000_1ffe, b"abc").unwrap_err();
        assert_eq!((e.addr, e.len), (0x8000_1ffe, 3));
    }

    /// A memory-map change makes the vCPU see a new generation (and so
    /// flush its TLB); a plain read leaves it alone. The new view is
    /// already published when the generation moves.
    #[test]
    fn topology_changes_bump_the_generation() {
        let system = MemoryRegion::new_container("system", u64::MAX);
        let ram = MemoryRegion::new_ram("ram", 0x2000).unwrap();
        system.add_subregion(0x8000_0000, &ram);
        let mem = AsPhysMemory::new(AddressSpace::new(&system, "memory"));
        let g0 = mem.generation();
        assert!(matches!(mem.translate(0x8000_0000), Section::Ram { .. }));
        assert_eq!(mem.generation(), g0);
        let ram2 = MemoryRegion::new_ram("ram2", 0x1000).unwrap();
        system.add_subregion(0x9000_0000, &ram2);
        assert_ne!(mem.generation(), g0);
        assert!(matches!(mem.translate(0x9000_0000), Section::Ram { .. }));
    }
}
