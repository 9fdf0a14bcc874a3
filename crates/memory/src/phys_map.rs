//! The phys map: a radix table over guest page numbers that answers "which
//! FlatRange holds this address" in a few dependent loads (QEMU
//! `system/physmem.c`: `AddressSpaceDispatch`, `phys_page_set_level`,
//! `phys_page_compact`, `phys_page_find`, `register_subpage`,
//! `register_multipage`, `mtree_print_dispatch`).
//!
//! The table has QEMU's shape, built by QEMU's rules, so `info mtree -f -d`
//! prints the same nodes: 4 KiB pages, nodes of 512 32-bit entries (9 bits
//! of the page number per level, 6 levels), each entry a 6-bit `skip` and a
//! 26-bit `ptr`. `skip == 0` makes the entry a leaf; otherwise `ptr` is a
//! node index (or NIL) `skip` levels down. A range is entered at the highest
//! level where an aligned, fully covered run fits, and after all ranges are
//! in, chains of single-child nodes are compacted into one entry with a
//! larger `skip` (so a lookup that skips levels must check that the range it
//! finds really contains the address).
//!
//! What differs from QEMU is what a leaf points at. QEMU's leaves name
//! `MemoryRegionSection`s, and a page shared by several sections gets a
//! `subpage_t` with a 16-bit section number per byte (8 KiB per page). Here
//! a leaf names the FlatRange directly (`1 + index`, 0 = unassigned), and a
//! shared page names a *subpage*: the contiguous run of FlatRanges that
//! touch the page, searched by start address (ranges are sorted, so the run
//! is a slice). A page touched by more than 8 ranges also gets an index of
//! 64 buckets of 64 bytes (130 bytes), so a lookup searches only the
//! ranges overlapping its bucket. QEMU's section
//! numbering is only needed for the dump; [`dispatch_dump`] replays the
//! build with [`Recorder`] to number sections exactly as QEMU does.
//!
//! Memory is bounded by the number of ranges, not by the 2^64 address span:
//! each range edge that is not aligned to a level's step costs at most one
//! node per level. A view whose table would need more than
//! `NODE_BUDGET_BASE + ranges` nodes (2 KiB each) does not get one; its
//! lookups use the binary search over range starts instead (see
//! [`crate::FlatView`]).

use std::fmt::Write as _;

use crate::flatview::FlatRange;
use crate::region::RegionKind;

/// `TARGET_PAGE_BITS` (4 KiB pages, as on RISC-V and x86).
pub(crate) const PAGE_BITS: u32 = 12;
const PAGE_SIZE: u64 = 1 << PAGE_BITS;
/// `P_L2_BITS`.
const L2_BITS: u32 = 9;
/// `P_L2_SIZE`.
const L2_SIZE: usize = 1 << L2_BITS;
/// `P_L2_LEVELS` = (64 − page bits − 1) / 9 + 1.
const L2_LEVELS: u32 = (64 - PAGE_BITS - 1) / L2_BITS + 1;

const SKIP_SHIFT: u32 = 26;
const PTR_MASK: u32 = (1 << SKIP_SHIFT) - 1;
/// `PHYS_MAP_NODE_NIL`.
const NIL: u32 = PTR_MASK;
/// Leaf value of an unassigned page (QEMU's section 0).
const UNASSIGNED: u32 = 0;
/// Leaf flag: `ptr & !SUBPAGE` indexes `subpages`.
const SUBPAGE: u32 = 1 << 25;
/// Largest range or subpage count a leaf can encode.
const MAX_LEAF_INDEX: usize = (SUBPAGE - 2) as usize;
/// Nodes a view may always use, on top of one per range.
const NODE_BUDGET_BASE: usize = 64;
/// Subpages with more ranges than this get a bucket index.
const CROWDED: u32 = 8;
/// Buckets per crowded subpage, and their size in bytes.
const BUCKETS: usize = 64;
const BUCKET_BYTES: u64 = PAGE_SIZE / BUCKETS as u64;

type Node = [u32; L2_SIZE];

#[inline]
const fn entry(skip: u32, ptr: u32) -> u32 {
    (skip << SKIP_SHIFT) | ptr
}
#[inline]
const fn skip_of(e: u32) -> u32 {
    e >> SKIP_SHIFT
}
#[inline]
const fn ptr_of(e: u32) -> u32 {
    e & PTR_MASK
}

/// What a leaf resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leaf {
    /// Nothing mapped in this page.
    Unassigned,
    /// The whole page belongs to `ranges[i]` (if the address is inside it:
    /// compaction may route foreign addresses here).
    Range(usize),
    /// The page is shared: search `ranges[first..first + count]`.
    Subpage { first: usize, count: usize },
}

/// The radix table of one FlatView.
#[derive(Clone)]
pub(crate) struct PhysMap {
    /// `AddressSpaceDispatch.phys_map`.
    root: u32,
    nodes: Vec<Node>,
    /// First range index and number of ranges touching each shared page.
    subpages: Vec<(u32, u32)>,
    /// Per subpage: offset of its bucket index in `buckets`, or `u32::MAX`
    /// when it has at most `CROWDED` ranges.
    crowded: Vec<u32>,
    /// For crowded subpages, `BUCKETS + 1` entries each: entry `b` is the
    /// position in the subpage's run of the first range ending after byte
    /// `b * BUCKET_BYTES` of the page, so a lookup searches only the
    /// ranges overlapping its 64-byte bucket.
    buckets: Vec<u16>,
}

/// One `MemoryRegionSection` as QEMU would number it (dump only).
struct Section {
    start: u64,
    size: u128,
    /// `None` for a subpage container section (`(noname)`).
    range: Option<usize>,
}

/// Replays QEMU's section numbering while building (dump only).
#[derive(Default)]
struct Recorder {
    sections: Vec<Section>,
    /// Section number of each range's whole-page part.
    multipage: Vec<u32>,
    /// Section number of each subpage's container section.
    subpage: Vec<u32>,
}

struct Builder<'a> {
    map: PhysMap,
    budget: usize,
    over_budget: bool,
    last_subpage_page: Option<u64>,
    /// Page address of each subpage.
    sub_pages: Vec<u64>,
    /// Span (page number >> 9) and index of the leaf-level node written
    /// last.
    finger: Option<(u64, u32)>,
    rec: Option<&'a mut Recorder>,
}

impl PhysMap {
    /// Builds the table for sorted, disjoint `ranges`; `None` if the view
    /// is too fragmented for the node budget (or absurdly large).
    pub(crate) fn build(ranges: &[FlatRange]) -> Option<PhysMap> {
        Self::build_with(ranges, NODE_BUDGET_BASE + ranges.len(), None)
    }

    fn build_with(ranges: &[FlatRange], budget: usize, rec: Option<&mut Recorder>) -> Option<Self> {
        if ranges.len() > MAX_LEAF_INDEX {
            return None;
        }
        let mut b = Builder {
            map: PhysMap {
                root: entry(1, NIL),
                // Dense views need about one node per 512 pages plus the
                // path from the root: start with room for a small view.
                nodes: Vec::with_capacity(8.min(budget)),
                subpages: Vec::new(),
                crowded: Vec::new(),
                buckets: Vec::new(),
            },
            budget,
            over_budget: false,
            last_subpage_page: None,
            sub_pages: Vec::new(),
            finger: None,
            rec,
        };
        for (i, fr) in ranges.iter().enumerate() {
            b.add_range(i, fr.start(), fr.size());
            if b.over_budget {
                return None;
            }
        }
        if b.map.subpages.len() > MAX_LEAF_INDEX {
            return None;
        }
        b.index_crowded_subpages(ranges);
        // `address_space_dispatch_compact`.
        if skip_of(b.map.root) != 0 {
            let mut root = b.map.root;
            compact(&mut root, L2_LEVELS - 1, &mut b.map.nodes);
            b.map.root = root;
        }
        Some(b.map)
    }

    /// `phys_page_find`, returning the leaf for `addr`'s page.
    #[inline]
    pub(crate) fn find(&self, addr: u64) -> Leaf {
        let page = addr >> PAGE_BITS;
        let mut e = self.root;
        let mut level = L2_LEVELS;
        while skip_of(e) != 0 {
            let ptr = ptr_of(e);
            if ptr == NIL {
                return Leaf::Unassigned;
            }
            // Sums of skips along any path are exactly L2_LEVELS, so this
            // never underflows.
            level -= skip_of(e);
            e = self.nodes[ptr as usize][((page >> (level * L2_BITS)) as usize) & (L2_SIZE - 1)];
        }
        self.decode_leaf(ptr_of(e), addr)
    }

    /// What leaf value `p` means for `addr` (in its page).
    #[inline]
    fn decode_leaf(&self, p: u32, addr: u64) -> Leaf {
        if p & SUBPAGE != 0 {
            let k = (p & !SUBPAGE) as usize;
            let (first, count) = self.subpages[k];
            let (first, count) = (first as usize, count as usize);
            let c = self.crowded[k];
            if c == u32::MAX {
                return Leaf::Subpage { first, count };
            }
            let b = c as usize + ((addr & (PAGE_SIZE - 1)) / BUCKET_BYTES) as usize;
            let lo = usize::from(self.buckets[b]);
            // The range holding the next bucket's first byte may start in
            // this bucket: include it.
            let hi = (usize::from(self.buckets[b + 1]) + 1).min(count);
            Leaf::Subpage {
                first: first + lo,
                count: hi.saturating_sub(lo),
            }
        } else if p == UNASSIGNED {
            Leaf::Unassigned
        } else {
            Leaf::Range((p - 1) as usize)
        }
    }

    /// Number of 2 KiB nodes (for docs and tests).
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

impl Builder<'_> {
    /// Builds the bucket index of every crowded subpage (after all ranges
    /// are in, when each run is complete).
    fn index_crowded_subpages(&mut self, ranges: &[FlatRange]) {
        let map = &mut self.map;
        map.crowded.reserve(map.subpages.len());
        for (k, &(first, count)) in map.subpages.iter().enumerate() {
            if count <= CROWDED {
                map.crowded.push(u32::MAX);
                continue;
            }
            map.crowded.push(map.buckets.len() as u32);
            let base = u128::from(self.sub_pages[k]);
            let run = &ranges[first as usize..(first + count) as usize];
            let mut j = 0;
            for b in 0..=BUCKETS as u64 {
                let a = base + u128::from(b * BUCKET_BYTES);
                while j < run.len() && run[j].end() <= a {
                    j += 1;
                }
                // At most 4096 one-byte ranges touch a page.
                map.buckets.push(j as u16);
            }
        }
    }

    /// `flatview_add_to_dispatch`: an unaligned head goes to a subpage,
    /// whole pages to the table, an unaligned tail to a subpage.
    fn add_range(&mut self, i: usize, mut start: u64, mut size: u128) {
        let page = u128::from(PAGE_SIZE);
        let off = start & (PAGE_SIZE - 1);
        if off != 0 {
            let head = size.min(page - u128::from(off));
            self.register_subpage(i, start, head);
            if head == size {
                return;
            }
            size -= head;
            start += head as u64;
        }
        if size >= page {
            let whole = size & !(page - 1);
            if let Some(r) = self.rec.as_deref_mut() {
                r.multipage[i] = r.sections.len() as u32;
                r.sections.push(Section {
                    start,
                    size: whole,
                    range: Some(i),
                });
            }
            self.set(
                start >> PAGE_BITS,
                (whole >> PAGE_BITS) as u64,
                i as u32 + 1,
            );
            if whole == size {
                return;
            }
            size -= whole;
            start += whole as u64;
        }
        self.register_subpage(i, start, size);
    }

    /// `register_subpage`: the page becomes (or already is) shared, and
    /// range `i` joins its run.
    fn register_subpage(&mut self, i: usize, start: u64, size: u128) {
        let base = start & !(PAGE_SIZE - 1);
        // Ranges arrive in address order, so a page that is already shared
        // is the one shared last (QEMU looks it up in the table).
        let existing = self.last_subpage_page == Some(base);
        if existing {
            self.map.subpages.last_mut().expect("checked").1 += 1;
        } else {
            let id = self.map.subpages.len() as u32;
            self.map.subpages.push((i as u32, 1));
            self.last_subpage_page = Some(base);
            self.sub_pages.push(base);
            if let Some(r) = self.rec.as_deref_mut() {
                r.subpage.push(r.sections.len() as u32);
                r.sections.push(Section {
                    start: base,
                    size: u128::from(PAGE_SIZE),
                    range: None,
                });
            }
            self.set(base >> PAGE_BITS, 1, SUBPAGE | id.min(SUBPAGE - 2));
        }
        if let Some(r) = self.rec.as_deref_mut() {
            r.sections.push(Section {
                start,
                size,
                range: Some(i),
            });
        }
    }

    /// `phys_page_set`.
    fn set(&mut self, index: u64, nb: u64, leaf: u32) {
        let last = index + (nb - 1);
        // Fast path: the run lies inside the leaf-level node written last.
        // QEMU's descent would reach that same node (the entries above it
        // are pointers, since an earlier, disjoint range put something in
        // it, so the run cannot cover its whole span) and write the same
        // entries.
        if let Some((span, node)) = self.finger
            && index >> L2_BITS == span
            && last >> L2_BITS == span
        {
            let from = (index as usize) & (L2_SIZE - 1);
            let to = (last as usize) & (L2_SIZE - 1);
            self.map.nodes[node as usize][from..=to].fill(entry(0, leaf));
            return;
        }
        let mut root = self.map.root;
        let (mut i, mut n) = (index, nb);
        self.set_level(&mut root, &mut i, &mut n, leaf, L2_LEVELS - 1);
        self.map.root = root;
        self.finger = self.leaf_node_of(last);
    }

    /// The leaf-level node holding `page`'s entry, before compaction.
    fn leaf_node_of(&self, page: u64) -> Option<(u64, u32)> {
        let mut e = self.map.root;
        let mut level = L2_LEVELS;
        while skip_of(e) != 0 && ptr_of(e) != NIL {
            level -= skip_of(e);
            if level == 0 {
                return Some((page >> L2_BITS, ptr_of(e)));
            }
            e = self.map.nodes[ptr_of(e) as usize]
                [((page >> (level * L2_BITS)) as usize) & (L2_SIZE - 1)];
        }
        None
    }

    fn alloc_node(&mut self, leaf_level: bool) -> u32 {
        if self.map.nodes.len() >= self.budget {
            self.over_budget = true;
        }
        let fill = if leaf_level {
            entry(0, UNASSIGNED)
        } else {
            entry(1, NIL)
        };
        self.map.nodes.push([fill; L2_SIZE]);
        (self.map.nodes.len() - 1) as u32
    }

    /// `phys_page_set_level`: fill entries of the node under `lp` from
    /// `*index` on, as leaves where an aligned run of `step` pages fits,
    /// descending otherwise.
    fn set_level(&mut self, lp: &mut u32, index: &mut u64, nb: &mut u64, leaf: u32, level: u32) {
        if skip_of(*lp) != 0 && ptr_of(*lp) == NIL {
            let n = self.alloc_node(level == 0);
            *lp = entry(skip_of(*lp), n);
        }
        if self.over_budget {
            *nb = 0;
            return;
        }
        let node = ptr_of(*lp) as usize;
        let step = 1u64 << (level * L2_BITS);
        let mut j = ((*index >> (level * L2_BITS)) as usize) & (L2_SIZE - 1);
        while *nb != 0 && j < L2_SIZE {
            if *index & (step - 1) == 0 && *nb >= step {
                self.map.nodes[node][j] = entry(0, leaf);
                *index += step;
                *nb -= step;
            } else {
                let mut child = self.map.nodes[node][j];
                self.set_level(&mut child, index, nb, leaf, level - 1);
                self.map.nodes[node][j] = child;
            }
            j += 1;
        }
    }
}

/// `phys_page_compact`: bottom-up, an entry whose node has exactly one
/// non-NIL child takes that child's place (adding its skip). `level` is
/// the level of the node `lp` points to.
fn compact(lp: &mut u32, level: u32, nodes: &mut [Node]) {
    let ptr = ptr_of(*lp);
    // A leaf-level node's entries are all leaves, never NIL (unassigned
    // pages hold section 0), so it has 512 valid children: QEMU scans it
    // and leaves it as is; skipping the scan gives the same table.
    if ptr == NIL || level == 0 {
        return;
    }
    let mut valid = 0;
    let mut valid_j = 0;
    for j in 0..L2_SIZE {
        let mut child = nodes[ptr as usize][j];
        if ptr_of(child) == NIL {
            continue;
        }
        valid += 1;
        valid_j = j;
        if skip_of(child) != 0 {
            let child_level = level - skip_of(child);
            compact(&mut child, child_level, nodes);
            nodes[ptr as usize][j] = child;
        }
    }
    if valid != 1 {
        return;
    }
    let only = nodes[ptr as usize][valid_j];
    // (QEMU also refuses when the summed skip would not fit in 6 bits; with
    // 6 levels it always fits.)
    *lp = if skip_of(only) == 0 {
        entry(0, ptr_of(only))
    } else {
        entry(skip_of(*lp) + skip_of(only), ptr_of(only))
    };
}

/// `mtree_print_dispatch`: the `-d` part of `info mtree -f -d` for a view
/// with these ranges, rendered from `root`. Rebuilds the table (without
/// the node budget) while numbering sections the way QEMU does: section 0
/// is unassigned, then per range its unaligned head (preceded by a
/// `(noname)` subpage section when the page was not shared yet), its
/// whole-page part, and its unaligned tail.
///
/// Ferrite has no shared MRU section, so ` [MRU]` is never printed.
pub(crate) fn dispatch_dump(ranges: &[FlatRange], root: Option<&crate::MemoryRegion>) -> String {
    let mut rec = Recorder {
        sections: vec![Section {
            start: 0,
            size: 1u128 << 64,
            range: None,
        }],
        multipage: vec![0; ranges.len()],
        subpage: Vec::new(),
    };
    let mut out = String::new();
    out.push_str("  Dispatch\n");
    let Some(map) = PhysMap::build_with(ranges, usize::MAX, Some(&mut rec)) else {
        // Only past 2^25 ranges or shared pages, which leaves cannot encode.
        out.push_str("    (too many ranges for a dispatch table)\n");
        return out;
    };
    out.push_str("    Physical sections\n");
    const LABELS: [&str; 4] = [" [unassigned]", " [not dirty]", " [ROM]", " [watch]"];
    for (n, s) in rec.sections.iter().enumerate() {
        let end = s
            .start
            .wrapping_add(if s.size == 0 { 0 } else { (s.size - 1) as u64 });
        let mr = s.range.map(|i| ranges[i].mr());
        let _ = write!(
            out,
            "      #{n} @{:016x}..{end:016x} {}{}{}{}",
            s.start,
            mr.map_or("(noname)", |m| m.name()),
            LABELS.get(n).copied().unwrap_or(""),
            if mr.is_some() && mr == root {
                " [ROOT]"
            } else {
                ""
            },
            if mr.is_some_and(|m| m.kind() == RegionKind::Iommu) {
                " [iommu]"
            } else {
                ""
            },
        );
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "    Nodes ({L2_BITS} bits per level, {L2_LEVELS} levels) ptr=[{}] skip={}",
        ptr_of(map.root),
        skip_of(map.root)
    );
    // Leaf values in QEMU's section numbers.
    let shown = |e: u32| -> (u32, u32) {
        let (skip, p) = (skip_of(e), ptr_of(e));
        if skip != 0 || p == NIL {
            return (skip, p);
        }
        let sec = match map.decode_leaf(p, 0) {
            Leaf::Unassigned => 0,
            Leaf::Range(i) => rec.multipage[i],
            Leaf::Subpage { .. } => rec.subpage[(p & !SUBPAGE) as usize],
        };
        (0, sec)
    };
    for (n, node) in map.nodes.iter().enumerate() {
        let _ = writeln!(out, "      [{n}]");
        let mut from = 0;
        while from < L2_SIZE {
            let mut to = from;
            while to + 1 < L2_SIZE && node[to + 1] == node[from] {
                to += 1;
            }
            if from == to {
                let _ = write!(out, "\t{from:3}      ");
            } else {
                let _ = write!(out, "\t{from:3}..{to:<3} ");
            }
            let (skip, p) = shown(node[from]);
            let _ = write!(out, " skip={skip} ");
            if p == NIL {
                out.push_str(" ptr=NIL\n");
            } else if skip == 0 {
                let _ = writeln!(out, " ptr=#{p}");
            } else {
                let _ = writeln!(out, " ptr=[{p}]");
            }
            from = to + 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FlatView, MemoryRegion};

    fn view(ranges: &[(u64, u64)]) -> FlatView {
        let root = MemoryRegion::new_container("root", u64::MAX);
        for (i, &(s, len)) in ranges.iter().enumerate() {
            root.add_subregion(s, &MemoryRegion::new_reservation(&format!("r{i}"), len));
        }
        FlatView::render(&root)
    }

    #[test]
    fn dense_pages_need_few_nodes() {
        let r: Vec<(u64, u64)> = (0..10_000u64).map(|i| (0x2000 * i, 0x1000)).collect();
        let fv = view(&r);
        assert_eq!(fv.ranges().len(), 10_000);
        let map = PhysMap::build(fv.ranges()).expect("within budget");
        // 40 leaf nodes for 20,000 pages, one level-1 node, four above.
        assert_eq!(map.node_count(), 45);
    }

    struct NoIommu;
    impl crate::iommu::IommuMemoryRegionOps for NoIommu {
        fn translate(
            &self,
            addr: crate::HwAddr,
            _: crate::iommu::IommuAccessFlags,
            _: u32,
        ) -> crate::iommu::IommuTlbEntry {
            crate::iommu::IommuTlbEntry {
                target_as: None,
                iova: addr & !0xfff,
                translated_addr: 0,
                addr_mask: 0xfff,
                perm: crate::iommu::IommuAccessFlags::NONE,
            }
        }
    }

    /// Section numbering worked out by hand from QEMU's rules: a range
    /// with an unaligned head and tail gives a `(noname)` subpage section
    /// before each partial piece, and its whole pages one section; the
    /// second range joins the existing subpage. Labels: by index for 0–3,
    /// `[iommu]` for IOMMU leaves, `[ROOT]` for the view's root.
    #[test]
    fn dump_numbers_sections_like_qemu() {
        let root = MemoryRegion::new_container("root", u64::MAX);
        let a = MemoryRegion::new_reservation("a", 0x2000);
        root.add_subregion(0x1800, &a);
        root.add_subregion(
            0x3800,
            &MemoryRegion::new_iommu("smmu", 0x100, std::sync::Arc::new(NoIommu)),
        );
        let fv = FlatView::render(&root);
        let d = fv.dispatch_dump();
        let sections: Vec<&str> = d.lines().filter(|l| l.contains(" #")).collect();
        assert_eq!(
            sections,
            [
                "      #0 @0000000000000000..ffffffffffffffff (noname) [unassigned]",
                "      #1 @0000000000001000..0000000000001fff (noname) [not dirty]",
                "      #2 @0000000000001800..0000000000001fff a [ROM]",
                "      #3 @0000000000002000..0000000000002fff a [watch]",
                "      #4 @0000000000003000..0000000000003fff (noname)",
                "      #5 @0000000000003000..00000000000037ff a",
                "      #6 @0000000000003800..00000000000038ff smmu [iommu]",
            ]
        );
        // Page 1 → subpage #1, page 2 → #3, page 3 → subpage #4.
        assert!(d.contains("\t  1       skip=0  ptr=#1\n"), "{d}");
        assert!(d.contains("\t  2       skip=0  ptr=#3\n"), "{d}");
        assert!(d.contains("\t  3       skip=0  ptr=#4\n"), "{d}");
        // A terminating root shows as [ROOT].
        let io = MemoryRegion::new_reservation("io", 0x10000);
        let d = FlatView::render(&io).dispatch_dump();
        assert!(
            d.contains("      #1 @0000000000000000..000000000000ffff io [not dirty] [ROOT]\n"),
            "{d}"
        );
    }

    #[test]
    fn scattered_ranges_fall_back_to_search() {
        // Each range alone in its own 2^40-byte slot, unaligned: three
        // nodes (levels 2 to 0) per range, over the budget.
        let r: Vec<(u64, u64)> = (1..200u64).map(|i| ((i << 40) + 0x800, 0x10)).collect();
        let fv = view(&r);
        assert!(PhysMap::build(fv.ranges()).is_none());
        for (i, &(s, _)) in r.iter().enumerate() {
            assert_eq!(fv.lookup_index(s + 3), Some(i));
            assert_eq!(fv.lookup_index(s + 0x10), None);
        }
    }
}
