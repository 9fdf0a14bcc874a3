//! Property test of the FlatView lookup structure (the phys map, a radix
//! table over page numbers with subpages for shared pages and compacted
//! single-child chains): for random layouts at byte, page and gigabyte
//! scale, up to the top of the 2^64 space, `FlatView::lookup` must return
//! exactly the range that contains the address (reference: a linear scan
//! over the view's ranges), including addresses that compaction routes
//! into a foreign node and pages crowded enough for a bucket index.

use ferrite_memory::*;
use proptest::prelude::*;

/// One range: gap before it and its length, each at one of three scales.
fn piece() -> impl Strategy<Value = (u64, u64)> {
    let scaled = |v: u64, scale: u8| match scale {
        0 => v % 0x3000 + 1,               // bytes, often inside one page
        1 => (v % 40 + 1) << 12,           // whole pages
        2 => v % 0x60 + 1,                 // tiny: crowded shared pages
        _ => (v % 8 + 1) << (28 + v % 13), // 256 MiB .. 2 TiB
    };
    (any::<u64>(), 0u8..4, any::<u64>(), 0u8..4)
        .prop_map(move |(g, gs, l, ls)| (scaled(g, gs) - 1, scaled(l, ls)))
}

fn layout() -> impl Strategy<Value = (Vec<(u64, u64)>, bool)> {
    // Half of the layouts squeeze every piece to a few bytes, so that many
    // ranges share pages (crowded subpages with a bucket index).
    (
        prop::collection::vec(piece(), 1..80),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(pieces, at_top, crowded)| {
            let pieces = if crowded {
                pieces
                    .into_iter()
                    .map(|(g, l)| (g % 0x20, l % 0x60 + 1))
                    .collect()
            } else {
                pieces
            };
            (pieces, at_top)
        })
}

fn reference(fv: &FlatView, addr: u64) -> Option<usize> {
    fv.ranges().iter().position(|r| r.contains(addr))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lookup_finds_the_containing_range((pieces, at_top) in layout(), probes in prop::collection::vec(any::<u64>(), 64)) {
        let root = MemoryRegion::new_container("root", u64::MAX);
        let mut addr: u64 = 0;
        let mut placed = Vec::new();
        for (i, (gap, len)) in pieces.into_iter().enumerate() {
            let Some(start) = addr.checked_add(gap) else { break };
            if start.checked_add(len).is_none() {
                break;
            }
            let r = MemoryRegion::new_reservation(&format!("r{i}"), len);
            root.add_subregion(start, &r);
            placed.push((start, len));
            addr = start + len;
        }
        if at_top && addr < u64::MAX - 0x1800 {
            // A range ending exactly at 2^64, with an unaligned start.
            let start = u64::MAX - 0x17ff;
            root.add_subregion(start, &MemoryRegion::new_reservation("top", 0x1800));
            placed.push((start, 0x1800));
        }
        let fv = FlatView::render(&root);
        prop_assert_eq!(fv.ranges().len(), placed.len());
        let mut addrs: Vec<u64> = probes;
        for &(s, l) in &placed {
            let e = s.wrapping_add(l);
            for a in [s, s.wrapping_sub(1), e.wrapping_sub(1), e, s | 0xfff, (s & !0xfff).wrapping_add(0x1000), s ^ (1 << 40), e ^ (1 << 33)] {
                addrs.push(a);
            }
        }
        for a in addrs {
            let want = reference(&fv, a);
            prop_assert_eq!(fv.lookup_index(a), want, "addr {:#x} in {:?}", a, fv.ranges());
            prop_assert_eq!(fv.lookup(a).map(|r| r.start()), want.map(|i| fv.ranges()[i].start()));
        }
    }
}

/// A whole 2^64 range and an empty view.
#[test]
fn whole_space_and_empty() {
    let root = MemoryRegion::new_container("root", u64::MAX);
    let fv = FlatView::render(&root);
    assert!(fv.lookup(0).is_none() && fv.lookup(u64::MAX).is_none());
    let io = MemoryRegion::new_reservation("all", u64::MAX);
    root.add_subregion(0, &io);
    let fv = FlatView::render(&root);
    assert!(fv.has_phys_map());
    // A size of u64::MAX means 2^64, as in QEMU.
    assert_eq!(fv.ranges()[0].size(), 1u128 << 64);
    for a in [0, 0xfff, 1 << 40, u64::MAX - 1, u64::MAX] {
        assert_eq!(fv.lookup_index(a), Some(0));
    }
}
