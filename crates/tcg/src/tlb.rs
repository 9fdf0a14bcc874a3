//! The softmmu TLB (QEMU's `accel/tcg/cputlb.c`).
//!
//! One direct-mapped table of [`TLB_SIZE`] entries per MMU index. An entry has
//! three comparators — `addr_read`, `addr_write`, `addr_code` — each the
//! page-aligned virtual address it maps for that kind of access, or that
//! address with flag bits set in the low (page offset) bits. The fast path
//! compares the page of the access's *last* byte with the comparator of the
//! entry its first byte indexes: a single compare that fails for a
//! page-crossing access as well as for a miss, and any flag bit makes the
//! compare fail too, sending the access to the slow path, which then looks
//! at the flags:
//!
//! * [`TLB_INVALID`]: nothing mapped for this access kind; call the target's
//!   `tlb_fill` (page walk + PMP).
//! * [`TLB_MMIO`]: the page is an I/O region; dispatch through
//!   [`crate::PhysMemory::mmio_read`]/[`mmio_write`](crate::PhysMemory::mmio_write).
//! * [`TLB_NOTDIRTY`]: (write comparator only) the RAM page holds translated
//!   code; the store must invalidate the blocks on it (self-modifying code).
//! * [`TLB_DISCARD_WRITE`]: ROM; writes are ignored.
//!
//! For RAM, `addend` is `host_page_ptr - vaddr_page`, so the host address of a
//! guest access is `addend + vaddr` — the same trick as QEMU's.

/// Entries per MMU index (QEMU's default `CPU_TLB_DYN_DEFAULT_BITS` = 8).
pub const TLB_SIZE: usize = 256;
/// Number of MMU indexes the common code supports (a power of two: the
/// fast paths mask the index instead of bounds-checking it).
pub const NB_MMU_MODES: usize = 4;
const _: () = assert!(NB_MMU_MODES.is_power_of_two());

/// Comparator flag: no valid mapping.
pub const TLB_INVALID: u64 = 1 << 0;
/// Comparator flag: I/O page.
pub const TLB_MMIO: u64 = 1 << 1;
/// Comparator flag: page contains translated code (write comparator).
pub const TLB_NOTDIRTY: u64 = 1 << 2;
/// Comparator flag: writes are discarded (ROM).
pub const TLB_DISCARD_WRITE: u64 = 1 << 3;

/// One TLB entry. Aligned to 64 bytes so that an entry never straddles
/// two cache lines and indexing is a shift, not a multiply.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub struct TlbEntry {
    /// Comparator for loads.
    pub addr_read: u64,
    /// Comparator for stores.
    pub addr_write: u64,
    /// Comparator for instruction fetch.
    pub addr_code: u64,
    /// `host_ptr - vaddr` for RAM pages (wrapping), 0 otherwise.
    pub addend: usize,
    /// Physical address of the page.
    pub paddr: u64,
    /// RAM offset of the page (for code tracking); `u64::MAX` if not RAM.
    pub ram_addr: u64,
    /// MMIO region handle, if [`TLB_MMIO`].
    pub mmio: u32,
    /// The translation is global (G bit): exempt from ASID-only flushes.
    pub global: bool,
}

impl TlbEntry {
    /// An entry that matches nothing.
    pub const EMPTY: TlbEntry = TlbEntry {
        addr_read: TLB_INVALID,
        addr_write: TLB_INVALID,
        addr_code: TLB_INVALID,
        addend: 0,
        paddr: 0,
        ram_addr: u64::MAX,
        mmio: 0,
        global: false,
    };

    /// Whether any comparator maps the page of `vaddr` (ignoring flags).
    pub fn maps_page(&self, vpage: u64) -> bool {
        [self.addr_read, self.addr_write, self.addr_code]
            .iter()
            .any(|&c| c & TLB_INVALID == 0 && c & crate::PAGE_MASK == vpage)
    }
}

/// Index of `vaddr` in a table.
#[inline]
pub fn tlb_index(vaddr: u64) -> usize {
    ((vaddr >> crate::PAGE_BITS) as usize) & (TLB_SIZE - 1)
}

/// The TLBs of one vCPU.
pub struct Tlb {
    /// `tables[mmu_idx][index]`.
    pub tables: Box<[[TlbEntry; TLB_SIZE]; NB_MMU_MODES]>,
    /// Per MMU index: the virtual range `(addr, mask)` covering every
    /// superpage installed since the last full flush (QEMU's
    /// `large_page_addr`/`large_page_mask`); a page flush inside it must
    /// flush everything, because the 4 KiB entries of a superpage cannot be
    /// found individually.
    pub large: [Option<(u64, u64)>; NB_MMU_MODES],
    /// Statistics: full flushes.
    pub full_flushes: u64,
    /// Statistics: page flushes.
    pub page_flushes: u64,
}

impl Default for Tlb {
    fn default() -> Self {
        Self::new()
    }
}

impl Tlb {
    /// Empty TLBs.
    pub fn new() -> Self {
        Tlb {
            tables: Box::new([[TlbEntry::EMPTY; TLB_SIZE]; NB_MMU_MODES]),
            large: [None; NB_MMU_MODES],
            full_flushes: 0,
            page_flushes: 0,
        }
    }

    /// Flushes every entry of every MMU index (QEMU's `tlb_flush`).
    pub fn flush_all(&mut self) {
        for t in self.tables.iter_mut() {
            t.fill(TlbEntry::EMPTY);
        }
        self.large = [None; NB_MMU_MODES];
        self.full_flushes += 1;
    }

    /// Flushes the entries for the page of `vaddr` in all MMU indexes (QEMU's
    /// `tlb_flush_page`). An MMU index in which a superpage may cover the
    /// address is flushed entirely instead (its 4 KiB entries for the
    /// superpage cannot be found one by one), as QEMU's
    /// `tlb_flush_page_locked` does per index; returns true if that
    /// happened for any index.
    pub fn flush_page(&mut self, vaddr: u64) -> bool {
        let vpage = vaddr & crate::PAGE_MASK;
        let i = tlb_index(vaddr);
        let mut full = false;
        for (t, large) in self.tables.iter_mut().zip(self.large.iter_mut()) {
            if large.is_some_and(|(addr, mask)| vaddr & !mask == addr) {
                t.fill(TlbEntry::EMPTY);
                *large = None;
                full = true;
            } else if t[i].maps_page(vpage) {
                t[i] = TlbEntry::EMPTY;
            }
        }
        if full {
            self.full_flushes += 1;
        } else {
            self.page_flushes += 1;
        }
        full
    }

    /// Records that a superpage with offset mask `mask` maps `vaddr` in MMU
    /// index `mmu` (QEMU's `tlb_add_large_page`).
    pub fn add_large_page(&mut self, mmu: usize, vaddr: u64, mask: u64) {
        let (addr, mut m) = match self.large[mmu] {
            None => (vaddr & !mask, mask),
            Some((a, m)) => (a, m.max(mask)),
        };
        while (addr ^ vaddr) & !m != 0 {
            m = (m << 1) | 1;
        }
        self.large[mmu] = Some((vaddr & !m, m));
    }

    /// Flushes all non-global entries (an ASID-only `sfence.vma`).
    pub fn flush_nonglobal(&mut self) {
        for t in self.tables.iter_mut() {
            for e in t.iter_mut() {
                if !e.global {
                    *e = TlbEntry::EMPTY;
                }
            }
        }
        self.full_flushes += 1;
    }

    /// Sets or clears [`TLB_NOTDIRTY`] on every write comparator that maps RAM
    /// page `ram_page` (QEMU's `tlb_reset_dirty` / `tlb_set_dirty`).
    pub fn set_notdirty(&mut self, ram_page: u64, on: bool) {
        for t in self.tables.iter_mut() {
            for e in t.iter_mut() {
                if e.ram_addr == ram_page && e.addr_write & TLB_INVALID == 0 {
                    if on {
                        e.addr_write |= TLB_NOTDIRTY;
                    } else {
                        e.addr_write &= !TLB_NOTDIRTY;
                    }
                }
            }
        }
    }
}
