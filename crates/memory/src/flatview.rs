//! FlatViews: the rendered, immutable form of a region tree
//! (`system/memory.c: render_memory_region`, `flatview_simplify`,
//! `memory_region_get_flatview_root`).
//!
//! A [`FlatView`] is a sorted array of non-overlapping [`FlatRange`]s, each
//! naming the *leaf* region that serves it and the offset inside that
//! region. It never changes after it is built; AddressSpaces publish new
//! ones atomically (see [`crate::AddressSpace`]). Lookups walk the view's
//! phys map, a radix table over page numbers built right after rendering
//! in the shape of QEMU's `AddressSpaceDispatch` (see the `phys_map` module
//! and `docs/benchmarks.md`); views too fragmented for the table's node
//! budget use a binary search over the range starts instead.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::phys_map::{Leaf, PhysMap};
use crate::region::{MemoryRegion, MrInner, RegionKind};
use crate::types::*;

/// One piece of a FlatView (QEMU `FlatRange`).
#[derive(Clone)]
pub struct FlatRange {
    pub(crate) mr: MemoryRegion,
    pub(crate) start: u64,
    pub(crate) size: u128,
    pub(crate) offset_in_region: u64,
    pub(crate) dirty_log_mask: u8,
    pub(crate) romd_mode: bool,
    pub(crate) readonly: bool,
    pub(crate) nonvolatile: bool,
    pub(crate) unmergeable: bool,
    /// Host address of `offset_in_region` when the leaf has a RAM block
    /// (0 otherwise); cached so the hot path needs no indirection.
    pub(crate) host: usize,
    /// ram_addr of `offset_in_region` when the leaf has a RAM block.
    pub(crate) ram_addr: u64,
}

impl std::fmt::Debug for FlatRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FlatRange({:#x}+{:#x} {} @{:#x}{})",
            self.start,
            self.size,
            self.mr.name(),
            self.offset_in_region,
            if self.readonly { " ro" } else { "" }
        )
    }
}

impl FlatRange {
    /// The leaf region serving this range.
    pub fn mr(&self) -> &MemoryRegion {
        &self.mr
    }
    /// First guest address covered.
    pub fn start(&self) -> u64 {
        self.start
    }
    /// Size in bytes (up to 2^64).
    pub fn size(&self) -> u128 {
        self.size
    }
    /// One past the last address, as a 128-bit value.
    pub fn end(&self) -> u128 {
        u128::from(self.start) + self.size
    }
    /// Offset of `start` inside the leaf region.
    pub fn offset_in_region(&self) -> u64 {
        self.offset_in_region
    }
    /// Dirty clients logging this range, as of rendering.
    pub fn dirty_log_mask(&self) -> u8 {
        self.dirty_log_mask
    }
    /// Read-only (inherited from the region, its aliases and containers).
    pub fn readonly(&self) -> bool {
        self.readonly
    }
    /// ROM device in romd mode at render time.
    pub fn romd_mode(&self) -> bool {
        self.romd_mode
    }
    /// Non-volatile flag.
    pub fn nonvolatile(&self) -> bool {
        self.nonvolatile
    }
    /// Unmergeable flag.
    pub fn unmergeable(&self) -> bool {
        self.unmergeable
    }
    /// True if `addr` is inside this range.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && u128::from(addr) < self.end()
    }

    /// `flatrange_equal`: what the listener diff compares (not the dirty
    /// mask).
    pub(crate) fn equal(&self, o: &FlatRange) -> bool {
        self.mr == o.mr
            && self.start == o.start
            && self.size == o.size
            && self.offset_in_region == o.offset_in_region
            && self.romd_mode == o.romd_mode
            && self.readonly == o.readonly
            && self.nonvolatile == o.nonvolatile
            && self.unmergeable == o.unmergeable
    }

    /// `can_merge`.
    fn can_merge(&self, r2: &FlatRange) -> bool {
        self.end() == u128::from(r2.start)
            && self.mr == r2.mr
            && u128::from(self.offset_in_region) + self.size == u128::from(r2.offset_in_region)
            && self.dirty_log_mask == r2.dirty_log_mask
            && self.romd_mode == r2.romd_mode
            && self.readonly == r2.readonly
            && self.nonvolatile == r2.nonvolatile
            && !self.unmergeable
            && !r2.unmergeable
    }

    /// `memory_access_is_direct` for this range: may the access be done
    /// with a memcpy on host memory? Reads: RAM (not RAM device) or a ROM
    /// device in romd mode. Writes: RAM that is not read-only (the FR's
    /// inherited flag) and not a RAM device.
    pub fn is_direct(&self, is_write: bool) -> bool {
        let k = self.mr.kind();
        if is_write {
            k == RegionKind::Ram && !self.readonly
        } else {
            k == RegionKind::Ram || (k == RegionKind::RomDevice && self.romd_mode)
        }
    }

    /// Host pointer for guest address `addr` inside this range, if the
    /// range is backed by host memory.
    pub fn host_ptr(&self, addr: u64) -> Option<*mut u8> {
        if self.host == 0 {
            return None;
        }
        Some((self.host + (addr - self.start) as usize) as *mut u8)
    }
}

/// What a guest physical address resolves to, for a CPU's fast path
/// (see [`FlatView::translate`]).
#[derive(Debug)]
pub enum PhysTarget<'a> {
    /// Host memory that can be accessed directly.
    Ram {
        /// Host pointer of the addressed byte.
        host: *mut u8,
        /// Bytes available from `host` to the end of the range.
        len: u64,
        /// ram_addr of the addressed byte (dirty bitmaps are indexed by it).
        ram_addr: u64,
        /// Whether direct writes are allowed (false for ROM and read-only
        /// aliases: writes must go through [`crate::AddressSpace::write`]).
        writable: bool,
        /// Dirty clients logging the range: if it contains CODE, writes
        /// must go through the dirty tracking (`AddressSpace::write` or
        /// [`crate::ram::invalidate_and_set_dirty`]).
        dirty_log_mask: u8,
        /// The range itself.
        fr: &'a FlatRange,
    },
    /// A ROM device in romd mode: reads may use `host`, writes must be
    /// dispatched to `fr.mr()` at `offset`.
    Romd {
        /// Host pointer of the addressed byte.
        host: *mut u8,
        /// Bytes available.
        len: u64,
        /// Offset inside the leaf region.
        offset: u64,
        /// The range.
        fr: &'a FlatRange,
    },
    /// An IOMMU region: resolve with [`crate::AddressSpace::translate`]
    /// (or [`crate::AddressSpace::get_iotlb_entry`]) instead.
    Iommu {
        /// Offset inside the IOMMU region.
        offset: u64,
        /// The range.
        fr: &'a FlatRange,
    },
    /// MMIO (also ROM devices in MMIO mode and RAM devices): dispatch to
    /// `fr.mr()` at `offset`.
    Mmio {
        /// Offset inside the leaf region.
        offset: u64,
        /// The range.
        fr: &'a FlatRange,
    },
    /// Nothing is mapped (QEMU `io_mem_unassigned`).
    Unassigned,
}

static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// An immutable rendering of one region tree (QEMU `FlatView`).
pub struct FlatView {
    ranges: Vec<FlatRange>,
    /// `ranges[i].start`, dense, for the binary search (subpages and views
    /// without a phys map).
    starts: Vec<u64>,
    /// The radix table (QEMU's dispatch), if within its node budget.
    map: Option<PhysMap>,
    root: Option<MemoryRegion>,
    generation: u64,
}

impl std::fmt::Debug for FlatView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlatView")
            .field("generation", &self.generation)
            .field("root", &self.root.as_ref().map(|r| r.name().to_owned()))
            .field("ranges", &self.ranges)
            .finish()
    }
}

impl FlatView {
    /// The shared empty view (ASes whose root has nothing enabled).
    pub(crate) fn empty() -> FlatView {
        FlatView {
            ranges: Vec::new(),
            starts: Vec::new(),
            map: None,
            root: None,
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Renders the tree below `root` (`generate_memory_topology`): render,
    /// then merge adjacent compatible ranges.
    pub fn render(root: &MemoryRegion) -> FlatView {
        let mut r = Renderer {
            covered: BTreeMap::new(),
            out: Vec::new(),
        };
        r.render(&root.0, 0, (0, SIZE_2_64 as i128), false, false, false);
        let mut v = r.out;
        v.sort_unstable_by_key(|fr| fr.start);
        let mut ranges: Vec<FlatRange> = Vec::with_capacity(v.len());
        for fr in v {
            if let Some(last) = ranges.last_mut()
                && last.can_merge(&fr)
            {
                last.size += fr.size;
                continue;
            }
            ranges.push(fr);
        }
        let starts: Vec<u64> = ranges.iter().map(|r| r.start).collect();
        let map = PhysMap::build(&ranges);
        FlatView {
            ranges,
            starts,
            map,
            root: Some(root.clone()),
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The ranges in address order.
    pub fn ranges(&self) -> &[FlatRange] {
        &self.ranges
    }
    /// The physical root this view was rendered from (`None` for the
    /// shared empty view).
    pub fn root(&self) -> Option<&MemoryRegion> {
        self.root.as_ref()
    }
    /// A number that changes every time a new FlatView is built; CPUs
    /// compare it to know whether cached translations are stale.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Index of the range containing `addr`.
    #[inline]
    pub fn lookup_index(&self, addr: u64) -> Option<usize> {
        let i = match &self.map {
            Some(map) => match map.find(addr) {
                Leaf::Unassigned => return None,
                // Compaction skips levels, so the page's range may not be
                // this address's: the containment check below decides.
                Leaf::Range(i) => i,
                Leaf::Subpage { first, count } => {
                    let j = self.starts[first..first + count].partition_point(|&s| s <= addr);
                    if j == 0 {
                        return None;
                    }
                    first + j - 1
                }
            },
            None => {
                let j = self.starts.partition_point(|&s| s <= addr);
                if j == 0 {
                    return None;
                }
                j - 1
            }
        };
        let fr = &self.ranges[i];
        if addr >= fr.start && u128::from(addr) < fr.end() {
            Some(i)
        } else {
            None
        }
    }

    /// Whether lookups use the phys map (false for views too fragmented
    /// for its node budget, which use a binary search).
    pub fn has_phys_map(&self) -> bool {
        self.map.is_some()
    }

    /// The `Dispatch` section of `info mtree -f -d` for this view, in QEMU
    /// 7.2's format (see [`crate::mtree`]; no ` [MRU]` marker since
    /// there is no shared MRU section); empty for a view without
    /// ranges or root, which QEMU does not dump either.
    pub fn dispatch_dump(&self) -> String {
        if self.ranges.is_empty() || self.root.is_none() {
            return String::new();
        }
        crate::phys_map::dispatch_dump(&self.ranges, self.root.as_ref())
    }

    /// The range containing `addr` (QEMU `flatview_lookup`/`address_space_lookup_region`).
    #[inline]
    pub fn lookup(&self, addr: u64) -> Option<&FlatRange> {
        self.lookup_index(addr).map(|i| &self.ranges[i])
    }

    /// Like [`lookup`](Self::lookup) but first tries `*hint` (a caller-owned
    /// MRU slot, QEMU's `mru_section` made per caller so CPUs do not share
    /// a contended cache line).
    #[inline]
    pub fn lookup_cached(&self, addr: u64, hint: &mut usize) -> Option<&FlatRange> {
        if let Some(fr) = self.ranges.get(*hint)
            && fr.contains(addr)
        {
            return Some(fr);
        }
        let i = self.lookup_index(addr)?;
        *hint = i;
        Some(&self.ranges[i])
    }

    /// Classifies `addr` for a CPU fast path.
    pub fn translate(&self, addr: u64) -> PhysTarget<'_> {
        let Some(fr) = self.lookup(addr) else {
            return PhysTarget::Unassigned;
        };
        let offset = addr - fr.start + fr.offset_in_region;
        let avail = fr.end() - u128::from(addr);
        let len = u64::try_from(avail).unwrap_or(u64::MAX);
        match fr.mr.kind() {
            RegionKind::Ram if fr.host != 0 => PhysTarget::Ram {
                host: fr.host_ptr(addr).expect("host checked"),
                len,
                ram_addr: fr.ram_addr + (addr - fr.start),
                writable: !fr.readonly,
                dirty_log_mask: fr.dirty_log_mask,
                fr,
            },
            RegionKind::RomDevice if fr.romd_mode && fr.host != 0 => PhysTarget::Romd {
                host: fr.host_ptr(addr).expect("host checked"),
                len,
                offset,
                fr,
            },
            RegionKind::Iommu => PhysTarget::Iommu { offset, fr },
            _ => PhysTarget::Mmio { offset, fr },
        }
    }
}

/// `render_memory_region` state: the ranges emitted so far plus an index
/// of covered intervals so gap filling is O(log n) per piece.
struct Renderer {
    /// start → end of every emitted range (disjoint).
    covered: BTreeMap<i128, i128>,
    out: Vec<FlatRange>,
}

impl Renderer {
    fn render(
        &mut self,
        mr: &Arc<MrInner>,
        mut base: i128,
        clip: (i128, i128),
        mut readonly: bool,
        mut nonvolatile: bool,
        mut unmergeable: bool,
    ) {
        let st = mr.state.lock();
        if !st.enabled {
            return;
        }
        base += i128::from(st.addr);
        readonly |= st.readonly;
        nonvolatile |= st.nonvolatile;
        unmergeable |= st.unmergeable;
        let cs = clip.0.max(base);
        let ce = clip.1.min(base + st.size as i128);
        if cs >= ce {
            return;
        }
        let clip = (cs, ce);
        if let Some(target) = &mr.alias {
            // Alias offsets are offsets inside the target: cancel the
            // target's own address, which its render step adds back.
            let taddr = i128::from(target.state.lock().addr);
            base -= taddr + i128::from(st.alias_offset);
            drop(st);
            self.render(target, base, clip, readonly, nonvolatile, unmergeable);
            return;
        }
        for sub in &st.subregions {
            self.render(sub, base, clip, readonly, nonvolatile, unmergeable);
        }
        if !mr.terminates {
            return;
        }
        let romd_mode = st.romd_mode;
        let own_mask = st.dirty_log_mask;
        drop(st);
        // Gaps of `clip` not yet covered: those are this region's. Fast
        // path: nothing covered overlaps the clip (one map query, no
        // allocation) — the common case for leaves.
        let clear = match self.covered.range(..ce).next_back() {
            None => true,
            Some((_, &e)) => e <= cs,
        };
        let gaps: Vec<(i128, i128)> = if clear {
            Vec::new()
        } else {
            let mut gaps = Vec::new();
            let mut pos = cs;
            if let Some((_, &e)) = self.covered.range(..=cs).next_back()
                && e > pos
            {
                pos = e;
            }
            for (&s, &e) in self.covered.range(cs..ce) {
                if s > pos {
                    gaps.push((pos, s));
                }
                pos = pos.max(e);
            }
            if pos < ce {
                gaps.push((pos, ce));
            }
            if gaps.is_empty() {
                return;
            }
            gaps
        };
        let dirty_log_mask = mr.dirty_log_mask_with(own_mask);
        let (host0, ram0) = match &mr.ram_block {
            Some(b) => (b.host() as usize, b.offset()),
            None => (0, 0),
        };
        let mut emit = |s: i128, e: i128| {
            self.covered.insert(s, e);
            let off = (s - base) as u64;
            self.out.push(FlatRange {
                mr: MemoryRegion(mr.clone()),
                start: s as u64,
                size: (e - s) as u128,
                offset_in_region: off,
                dirty_log_mask,
                romd_mode,
                readonly,
                nonvolatile,
                unmergeable,
                host: if host0 != 0 { host0 + off as usize } else { 0 },
                ram_addr: ram0 + off,
            });
        };
        if clear {
            emit(cs, ce);
        } else {
            for (s, e) in gaps {
                emit(s, e);
            }
        }
    }
}

/// `memory_region_get_flatview_root`: the region actually rendered for an
/// AS rooted at `mr` (skipping whole-covering aliases and single-child
/// containers) so ASes can share FlatViews; `None` means the shared empty
/// view.
pub(crate) fn flatview_root(mr: &MemoryRegion) -> Option<MemoryRegion> {
    let mut mr = mr.0.clone();
    loop {
        let next = {
            let st = mr.state.lock();
            if !st.enabled {
                return None;
            }
            if let Some(a) = &mr.alias {
                if st.alias_offset == 0 && st.size >= a.state.lock().size {
                    a.clone()
                } else {
                    return Some(MemoryRegion(mr.clone()));
                }
            } else if !mr.terminates {
                let mut found = 0;
                let mut next = None;
                for c in &st.subregions {
                    let cs = c.state.lock();
                    if cs.enabled {
                        found += 1;
                        if found > 1 {
                            next = None;
                            break;
                        }
                        if cs.addr == 0 && st.size >= cs.size {
                            next = Some(c.clone());
                        }
                    }
                }
                if found == 0 {
                    return None;
                }
                match next {
                    Some(n) => n,
                    None => return Some(MemoryRegion(mr.clone())),
                }
            } else {
                return Some(MemoryRegion(mr.clone()));
            }
        };
        mr = next;
    }
}
