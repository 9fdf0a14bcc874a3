//! Readers on other threads look up and access memory while the BQL holder
//! commits topology changes in a loop: every view a reader sees is one of
//! the complete states, and readers make progress while the writer holds
//! the BQL (so they never wait for it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ferrite_memory::*;

struct Counter(AtomicU64);
impl MemoryRegionOps for Counter {
    fn read(&self, _: HwAddr, _: u32) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[test]
fn readers_never_see_partial_views_and_never_block() {
    let root = MemoryRegion::new_container("conc-root", 0x100_0000);
    let ram = MemoryRegion::new_ram("conc-ram", 0x10000).unwrap();
    root.add_subregion(0, &ram);
    let dev = MemoryRegion::new_io(
        "conc-dev",
        0x1000,
        Arc::new(Counter(AtomicU64::new(0))),
        OpsDesc::new(),
    );
    dev.enable_lockless_io();
    root.add_subregion(0x10_0000, &dev);
    // The overlay toggles as a unit: 4 windows over RAM, all present or
    // all absent; each splits RAM, so the two states have 2 and 2 + 4*2
    // ranges.
    let overlay: Vec<MemoryRegion> = (0..4)
        .map(|i| {
            MemoryRegion::new_io(
                &format!("ov{i}"),
                0x100,
                Arc::new(Counter(AtomicU64::new(0))),
                OpsDesc::new(),
            )
        })
        .collect();
    for o in &overlay {
        o.enable_lockless_io();
    }
    let as_ = AddressSpace::new(&root, "conc");
    let a = MEMTXATTRS_UNSPECIFIED;
    as_.write(0x1000, a, &[0x5a; 0x4000]);

    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let as_ = as_.clone();
            let stop = stop.clone();
            let progress = progress.clone();
            std::thread::spawn(move || {
                let mut seen = [0u64; 2];
                while !stop.load(Ordering::Relaxed) {
                    let fv = as_.flatview();
                    let n = fv.ranges().len();
                    match n {
                        2 => seen[0] += 1,
                        10 => seen[1] += 1,
                        _ => panic!("partial view with {n} ranges: {fv:?}"),
                    }
                    for w in fv.ranges().windows(2) {
                        assert!(w[0].end() <= u128::from(w[1].start()));
                    }
                    // Accesses through the AS work whatever the state.
                    assert_eq!(as_.ldub(0x2000, a).0, 0x5a);
                    // The view is internally consistent with its state.
                    let leaf = fv.lookup(0x9080).unwrap().mr().name().to_owned();
                    assert_eq!(leaf, if n == 2 { "conc-ram" } else { "ov1" });
                    assert!(as_.ldl_le(0x10_0000, a).0 > 0);
                    progress.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();

    for round in 0..200 {
        // Hold the BQL for the whole round and wait for readers to make
        // progress meanwhile: if they needed the BQL this would never end.
        let _bql = ferrite_aio::bql::bql_lock();
        {
            let _t = Transaction::begin();
            for (i, o) in overlay.iter().enumerate() {
                if round % 2 == 0 {
                    root.add_subregion_overlap(0x8000 + 0x1000 * i as u64, o, 1);
                } else {
                    root.del_subregion(o);
                }
            }
        }
        let p0 = progress.load(Ordering::Relaxed);
        while progress.load(Ordering::Relaxed) < p0 + 5 {
            // A reader that panicked stops making progress: fail, not hang.
            assert!(
                !readers.iter().any(|r| r.is_finished()),
                "a reader thread died"
            );
            std::hint::spin_loop();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = [0u64; 2];
    for r in readers {
        let s = r.join().unwrap();
        total[0] += s[0];
        total[1] += s[1];
    }
    assert!(
        total[0] > 0 && total[1] > 0,
        "both states observed: {total:?}"
    );
}
