//! Criterion benchmarks of the memory API (results in docs/benchmarks.md,
//! section `## memory`).
//!
//! * `lookup/N`: FlatView lookup of pseudo-random addresses in a view of N
//!   ranges (phys map walk), and `lookup_mru/N`: the same with a caller
//!   MRU hint and a hot address (QEMU's `mru_section` fast path).
//! * `mmio_dispatch/*`: `AddressSpace::ldl_le` to a trivial device, with
//!   and without the BQL being taken around the callback.
//! * `rerender_1000`: one change + commit (re-render and publish) in a
//!   tree of 1,000 regions with one AddressSpace.
//! * `dirty_4g/*`: dirty-bitmap set and snapshot-and-clear over 4 GiB.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferrite_memory::ram::{set_dirty_range, snapshot_and_clear_dirty};
use ferrite_memory::*;

struct Trivial;
impl MemoryRegionOps for Trivial {
    fn read(&self, addr: HwAddr, _: u32) -> u64 {
        addr
    }
}

fn tree(n: usize) -> MemoryRegion {
    let root = MemoryRegion::new_container("bench-root", u64::MAX);
    for i in 0..n {
        let d = MemoryRegion::new_io(&format!("d{i}"), 0x1000, Arc::new(Trivial), OpsDesc::new());
        root.add_subregion(0x2000 * i as u64, &d);
    }
    root
}

fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup");
    for n in [10usize, 100, 10_000] {
        let fv = FlatView::render(&tree(n));
        assert_eq!(fv.ranges().len(), n);
        // Pseudo-random hit addresses (xorshift), precomputed.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let addrs: Vec<u64> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                0x2000 * (x % n as u64) + (x >> 40) % 0x1000
            })
            .collect();
        g.bench_with_input(BenchmarkId::new("random", n), &n, |b, _| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & 4095;
                black_box(fv.lookup(black_box(addrs[i])))
            })
        });
        // Peer: the std ordered map a straightforward implementation would use.
        let map: std::collections::BTreeMap<u64, (u64, usize)> = fv
            .ranges()
            .iter()
            .enumerate()
            .map(|(i, r)| (r.start(), (r.start() + r.size() as u64, i)))
            .collect();
        g.bench_with_input(BenchmarkId::new("peer_btreemap", n), &n, |b, _| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & 4095;
                let a = black_box(addrs[i]);
                black_box(
                    map.range(..=a)
                        .next_back()
                        .filter(|(_, (e, _))| a < *e)
                        .map(|(_, (_, i))| *i),
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("mru_hot", n), &n, |b, _| {
            let mut hint = 0;
            let a = addrs[7];
            b.iter(|| black_box(fv.lookup_cached(black_box(a), &mut hint)))
        });
    }
    g.finish();
}

fn mmio_dispatch(c: &mut Criterion) {
    let root = MemoryRegion::new_container("mmio-root", u64::MAX);
    let ram = MemoryRegion::new_ram("mmio-ram", 0x10000).unwrap();
    root.add_subregion(0x8000_0000, &ram);
    let locked = MemoryRegion::new_io(
        "locked",
        0x1000,
        Arc::new(Trivial),
        OpsDesc::new().little_endian(),
    );
    let free = MemoryRegion::new_io(
        "lockless",
        0x1000,
        Arc::new(Trivial),
        OpsDesc::new().little_endian(),
    );
    free.enable_lockless_io();
    root.add_subregion(0x1000_0000, &locked);
    root.add_subregion(0x1000_1000, &free);
    for i in 0..100u64 {
        root.add_subregion(
            0x2000_0000 + i * 0x1000,
            &MemoryRegion::new_io("pad", 0x100, Arc::new(Trivial), OpsDesc::new()),
        );
    }
    let as_ = AddressSpace::new(&root, "bench");
    let a = MEMTXATTRS_UNSPECIFIED;
    let mut g = c.benchmark_group("mmio_dispatch");
    g.bench_function("lockless", |b| {
        b.iter(|| black_box(as_.ldl_le(black_box(0x1000_1010), a)))
    });
    g.bench_function("bql_taken_per_access", |b| {
        b.iter(|| black_box(as_.ldl_le(black_box(0x1000_0010), a)))
    });
    {
        let _bql = ferrite_aio::bql::bql_lock();
        g.bench_function("bql_already_held", |b| {
            b.iter(|| black_box(as_.ldl_le(black_box(0x1000_0010), a)))
        });
    }
    let snap = as_.flatview();
    g.bench_function("snapshot_lockless", |b| {
        b.iter(|| black_box(snap.ld(black_box(0x1000_1010), 4, Endian::Little, a)))
    });
    g.bench_function("snapshot_ram_ldl", |b| {
        b.iter(|| black_box(snap.ld(black_box(0x8000_0010), 4, Endian::Little, a)))
    });
    g.bench_function("ram_ldl", |b| {
        b.iter(|| black_box(as_.ldl_le(black_box(0x8000_0010), a)))
    });
    g.finish();
}

fn rerender(c: &mut Criterion) {
    let root = tree(1000);
    let as_ = AddressSpace::new(&root, "rerender");
    let victim = root.subregions()[500].clone();
    c.bench_function("render_only_1000", |b| {
        b.iter(|| black_box(FlatView::render(&root)))
    });
    let _bql = ferrite_aio::bql::bql_lock();
    let mut on = true;
    c.bench_function("rerender_1000", |b| {
        b.iter(|| {
            on = !on;
            victim.set_enabled(on);
        })
    });
    drop(as_);
}

fn dirty(c: &mut Criterion) {
    let ram = MemoryRegion::new_ram("dirty4g", 4 << 30).unwrap();
    let base = ram.ram_addr().unwrap();
    let mut g = c.benchmark_group("dirty_4g");
    g.throughput(Throughput::Bytes(4 << 30));
    g.sample_size(20);
    // Setting bits in a clean bitmap (the clear is done, unmeasured, before
    // every iteration).
    g.bench_function("set", |b| {
        b.iter_batched(
            || drop(snapshot_and_clear_dirty(base, 4 << 30, DirtyClient::Vga)),
            |_| set_dirty_range(base, 4 << 30, DirtyClient::Vga.mask()),
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function("set_already_dirty", |b| {
        b.iter(|| set_dirty_range(base, 4 << 30, DirtyClient::Vga.mask()))
    });
    g.bench_function("snapshot_and_clear", |b| {
        b.iter(|| {
            set_dirty_range(base, 4096, DirtyClient::Vga.mask());
            black_box(snapshot_and_clear_dirty(base, 4 << 30, DirtyClient::Vga))
        })
    });
    g.finish();
}

criterion_group!(benches, lookup, mmio_dispatch, rerender, dirty);
criterion_main!(benches);
