//! Ferrite's event loop side by side with tokio (issue 3, "Benchmarks").
//!
//! A custom harness (not criterion): the issue asks for p50/p99 latencies,
//! eventfd writes per wake and a ratio against tokio in the same run, which
//! criterion does not report. Every case prints `ferrite`, `tokio-ct`
//! (current_thread) and `tokio-mt` (multi_thread, 1 worker) and the ratio
//! tokio/ferrite (> 1 means Ferrite is better for latencies and costs, the
//! inverse for throughputs, so that "> 1" is always "Ferrite wins").
//!
//! Run: `cargo bench -p ferrite-aio --bench aio_vs_tokio`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferrite_aio::{AioContext, ClockType, Coroutine, QemuClock, Timer, qemu_coroutine_yield};

const WAKES: usize = 20_000;

struct Lat {
    p50: u64,
    p99: u64,
}

fn lat(mut v: Vec<u64>) -> Lat {
    v.sort_unstable();
    Lat {
        p50: v[v.len() / 2],
        p99: v[v.len() * 99 / 100],
    }
}

/// B1: a producer thread schedules work on a loop that is blocked in its
/// wait; latency from just before the schedule to the callback.
fn wake_ferrite() -> (Lat, f64) {
    let ctx = AioContext::new("bench").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (c2, s2) = (Arc::clone(&ctx), Arc::clone(&stop));
    let home = std::thread::spawn(move || {
        ferrite_aio::set_current_aio_context(&c2);
        while !s2.load(Ordering::Acquire) {
            c2.poll(true);
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    let base = Instant::now();
    let seen = Arc::new(AtomicU64::new(u64::MAX));
    let mut samples = Vec::with_capacity(WAKES);
    let w0 = ctx.eventfd_writes();
    for _ in 0..WAKES {
        // Let the loop go back to sleep in epoll/ppoll.
        std::thread::sleep(Duration::from_micros(50));
        seen.store(u64::MAX, Ordering::Release);
        let s = Arc::clone(&seen);
        let t0 = base.elapsed().as_nanos() as u64;
        ctx.bh_schedule_oneshot(move || {
            s.store(base.elapsed().as_nanos() as u64, Ordering::Release)
        });
        let t1 = loop {
            let v = seen.load(Ordering::Acquire);
            if v != u64::MAX {
                break v;
            }
            std::hint::spin_loop();
        };
        samples.push(t1 - t0);
    }
    let writes = (ctx.eventfd_writes() - w0) as f64 / WAKES as f64;
    stop.store(true, Ordering::Release);
    ctx.notify();
    ctx.bh_schedule_oneshot(|| {});
    home.join().unwrap();
    (lat(samples), writes)
}

/// B1c: a producer schedules oneshots back to back while the loop is busy
/// dispatching (each callback spins for about 2 µs, so the producer
/// outruns the loop); returns eventfd writes per schedule (the `notify_me`
/// fast path skips the write while the loop is not blocked).
fn busy_writes_ferrite() -> f64 {
    const N: usize = 200_000;
    let ctx = AioContext::new("busy").unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let (c2, d2) = (Arc::clone(&ctx), Arc::clone(&done));
    let home = std::thread::spawn(move || {
        ferrite_aio::set_current_aio_context(&c2);
        while d2.load(Ordering::Acquire) < N {
            c2.poll(true);
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    let w0 = ctx.eventfd_writes();
    for _ in 0..N {
        let d = Arc::clone(&done);
        ctx.bh_schedule_oneshot(move || {
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(2) {
                std::hint::spin_loop();
            }
            d.fetch_add(1, Ordering::Release);
        });
    }
    home.join().unwrap();
    (ctx.eventfd_writes() - w0) as f64 / N as f64
}

/// B1b: like B1, but the loop busy-polls (`poll-max-ns=32768`, one
/// handler with an `io_poll`) and the producer waits only ~10 µs between
/// wakes, so the wake usually lands while the loop spins: it sees
/// `notified` without any eventfd write.
fn wake_ferrite_polling(gap: Duration) -> (Lat, f64) {
    let ctx = AioContext::new("bench-poll").unwrap();
    ctx.set_poll_params(32768, 0, 0);
    let e = Arc::new(ferrite_aio::EventNotifier::new(true).unwrap());
    let e2 = Arc::clone(&e);
    use std::os::fd::AsRawFd;
    ctx.set_fd_handler(
        e.as_raw_fd(),
        ferrite_aio::AioHandlerOps {
            io_read: Some(Arc::new(move || {
                e2.test_and_clear();
            })),
            io_poll: Some(Arc::new(|| false)),
            io_poll_ready: Some(Arc::new(|| {})),
            ..Default::default()
        },
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (c2, s2) = (Arc::clone(&ctx), Arc::clone(&stop));
    let home = std::thread::spawn(move || {
        ferrite_aio::set_current_aio_context(&c2);
        while !s2.load(Ordering::Acquire) {
            c2.poll(true);
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    let base = Instant::now();
    let seen = Arc::new(AtomicU64::new(u64::MAX));
    let mut samples = Vec::with_capacity(WAKES);
    let w0 = ctx.eventfd_writes();
    for _ in 0..WAKES {
        let t = Instant::now();
        while t.elapsed() < gap {
            std::hint::spin_loop();
        }
        seen.store(u64::MAX, Ordering::Release);
        let s = Arc::clone(&seen);
        let t0 = base.elapsed().as_nanos() as u64;
        ctx.bh_schedule_oneshot(move || {
            s.store(base.elapsed().as_nanos() as u64, Ordering::Release)
        });
        let t1 = loop {
            let v = seen.load(Ordering::Acquire);
            if v != u64::MAX {
                break v;
            }
            std::hint::spin_loop();
        };
        samples.push(t1 - t0);
    }
    let writes = (ctx.eventfd_writes() - w0) as f64 / WAKES as f64;
    stop.store(true, Ordering::Release);
    ctx.bh_schedule_oneshot(|| {});
    home.join().unwrap();
    ctx.remove_fd_handler(e.as_raw_fd());
    (lat(samples), writes)
}

fn wake_tokio_gap(gap: Duration) -> Lat {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let stop = Arc::new(tokio::sync::Notify::new());
    let s2 = Arc::clone(&stop);
    let driver = std::thread::spawn(move || rt.block_on(async move { s2.notified().await }));
    std::thread::sleep(Duration::from_millis(20));
    let base = Instant::now();
    let seen = Arc::new(AtomicU64::new(u64::MAX));
    let mut samples = Vec::with_capacity(WAKES);
    for _ in 0..WAKES {
        let t = Instant::now();
        while t.elapsed() < gap {
            std::hint::spin_loop();
        }
        seen.store(u64::MAX, Ordering::Release);
        let s = Arc::clone(&seen);
        let t0 = base.elapsed().as_nanos() as u64;
        handle.spawn(async move { s.store(base.elapsed().as_nanos() as u64, Ordering::Release) });
        let t1 = loop {
            let v = seen.load(Ordering::Acquire);
            if v != u64::MAX {
                break v;
            }
            std::hint::spin_loop();
        };
        samples.push(t1 - t0);
    }
    stop.notify_one();
    driver.join().unwrap();
    lat(samples)
}

fn wake_tokio(multi: bool) -> Lat {
    let rt = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    };
    let handle = rt.handle().clone();
    let stop = Arc::new(tokio::sync::Notify::new());
    let s2 = Arc::clone(&stop);
    let driver = std::thread::spawn(move || rt.block_on(async move { s2.notified().await }));
    std::thread::sleep(Duration::from_millis(20));
    let base = Instant::now();
    let seen = Arc::new(AtomicU64::new(u64::MAX));
    let mut samples = Vec::with_capacity(WAKES);
    for _ in 0..WAKES {
        std::thread::sleep(Duration::from_micros(50));
        seen.store(u64::MAX, Ordering::Release);
        let s = Arc::clone(&seen);
        let t0 = base.elapsed().as_nanos() as u64;
        handle.spawn(async move { s.store(base.elapsed().as_nanos() as u64, Ordering::Release) });
        let t1 = loop {
            let v = seen.load(Ordering::Acquire);
            if v != u64::MAX {
                break v;
            }
            std::hint::spin_loop();
        };
        samples.push(t1 - t0);
    }
    stop.notify_one();
    driver.join().unwrap();
    lat(samples)
}

/// B2: bottom halves scheduled and run on one thread (1024 per poll).
fn bh_throughput_ferrite(oneshot: bool) -> f64 {
    let ctx = AioContext::new("bh").unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let bhs: Vec<_> = (0..1024)
        .map(|_| {
            let n = Arc::clone(&n);
            ctx.bh_new("b", move || {
                n.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    let rounds = 2000;
    let t = Instant::now();
    for _ in 0..rounds {
        if oneshot {
            for _ in 0..1024 {
                let n = Arc::clone(&n);
                ctx.bh_schedule_oneshot(move || {
                    n.fetch_add(1, Ordering::Relaxed);
                });
            }
        } else {
            for b in &bhs {
                b.schedule();
            }
        }
        ctx.poll(false);
    }
    let el = t.elapsed().as_secs_f64();
    assert_eq!(n.load(Ordering::Relaxed), rounds * 1024);
    (rounds * 1024) as f64 / el
}

fn tokio_rt(multi: bool) -> tokio::runtime::Runtime {
    if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }
}

fn bh_throughput_tokio(multi: bool) -> f64 {
    let rt = tokio_rt(multi);
    let rounds = 2000usize;
    let n = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    rt.block_on(async {
        for r in 0..rounds {
            for _ in 0..1024 {
                let n = Arc::clone(&n);
                tokio::spawn(async move {
                    n.fetch_add(1, Ordering::Relaxed);
                });
            }
            while n.load(Ordering::Relaxed) < (r + 1) * 1024 {
                tokio::task::yield_now().await;
            }
        }
    });
    (rounds * 1024) as f64 / t.elapsed().as_secs_f64()
}

/// B3: timers armed with an already expired deadline, then fired (1000 per
/// round, each timer created, armed, fired, dropped).
fn timer_throughput_ferrite() -> f64 {
    let ctx = AioContext::new("t").unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let rounds = 200;
    let t = Instant::now();
    for _ in 0..rounds {
        let now = QemuClock::get_ns(ClockType::Realtime);
        let timers: Vec<Timer> = (0..1000)
            .map(|_| {
                let n = Arc::clone(&n);
                let t = Timer::new(&ctx, ClockType::Realtime, move || {
                    n.fetch_add(1, Ordering::Relaxed);
                });
                t.modify_ns(now);
                t
            })
            .collect();
        ctx.poll(false);
        drop(timers);
    }
    assert_eq!(n.load(Ordering::Relaxed), rounds * 1000);
    (rounds * 1000) as f64 / t.elapsed().as_secs_f64()
}

fn timer_throughput_tokio(multi: bool) -> f64 {
    let rt = tokio_rt(multi);
    let rounds = 200usize;
    let n = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    rt.block_on(async {
        for r in 0..rounds {
            let now = tokio::time::Instant::now();
            for _ in 0..1000 {
                let n = Arc::clone(&n);
                tokio::spawn(async move {
                    tokio::time::sleep_until(now).await;
                    n.fetch_add(1, Ordering::Relaxed);
                });
            }
            while n.load(Ordering::Relaxed) < (r + 1) * 1000 {
                tokio::task::yield_now().await;
            }
        }
    });
    (rounds * 1000) as f64 / t.elapsed().as_secs_f64()
}

/// B4: coroutine create + enter + yield + re-enter + complete, in ns.
fn coroutine_cost_ferrite() -> f64 {
    let ctx = AioContext::new("co").unwrap();
    ctx.poll(false);
    let iters = 200_000;
    let t = Instant::now();
    for _ in 0..iters {
        let co = Coroutine::new(async {
            qemu_coroutine_yield().await;
        });
        co.enter_in(&ctx);
        co.enter_in(&ctx);
        black_box(co.is_done());
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

fn coroutine_cost_tokio(multi: bool) -> f64 {
    let rt = tokio_rt(multi);
    let iters = 200_000;
    let t = Instant::now();
    rt.block_on(async {
        for _ in 0..iters {
            let h = tokio::spawn(async {
                tokio::task::yield_now().await;
            });
            h.await.unwrap();
        }
    });
    t.elapsed().as_nanos() as f64 / iters as f64
}

/// B5: lateness of a one-shot timer armed 100 µs ahead (fire time minus
/// deadline), 2000 samples, loop otherwise idle.
fn timer_lateness_ferrite() -> Lat {
    let ctx = AioContext::new("late").unwrap();
    ctx.poll(false);
    let fired = Arc::new(AtomicU64::new(0));
    let f2 = Arc::clone(&fired);
    let t = Timer::new(&ctx, ClockType::Realtime, move || {
        f2.store(
            QemuClock::get_ns(ClockType::Realtime) as u64,
            Ordering::Release,
        );
    });
    let mut samples = Vec::with_capacity(2000);
    for _ in 0..2000 {
        fired.store(0, Ordering::Release);
        let deadline = QemuClock::get_ns(ClockType::Realtime) + 100_000;
        t.modify_ns(deadline);
        while fired.load(Ordering::Acquire) == 0 {
            ctx.poll(true);
        }
        samples.push(fired.load(Ordering::Acquire) - deadline as u64);
    }
    lat(samples)
}

fn timer_lateness_tokio() -> Lat {
    let rt = tokio_rt(false);
    rt.block_on(async {
        let mut samples = Vec::with_capacity(2000);
        for _ in 0..2000 {
            let deadline = tokio::time::Instant::now() + Duration::from_micros(100);
            tokio::time::sleep_until(deadline).await;
            samples.push(deadline.elapsed().as_nanos() as u64);
        }
        lat(samples)
    })
}

/// B7: thread-pool round trip of a no-op, sequential, from a coroutine
/// (`submit_co`) vs tokio's `spawn_blocking`; ns per round trip.
fn pool_round_trip_ferrite() -> f64 {
    let ctx = AioContext::new("pool").unwrap();
    ctx.poll(false);
    let n = 20_000;
    let c2 = Arc::clone(&ctx);
    let t = Instant::now();
    ferrite_aio::run_until_done(&ctx, async move {
        let pool = c2.thread_pool();
        for _ in 0..n {
            pool.submit_co(|| black_box(1)).await.unwrap();
        }
    });
    t.elapsed().as_nanos() as f64 / n as f64
}

fn pool_round_trip_tokio() -> f64 {
    let rt = tokio_rt(false);
    let n = 20_000;
    let t = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            tokio::task::spawn_blocking(|| black_box(1)).await.unwrap();
        }
    });
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful: only run when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // AIO_BENCH=b1c runs only that case (all cases by default).
    let only = std::env::var("AIO_BENCH").ok();
    let want = |c: &str| only.as_deref().is_none_or(|o| o == c);
    if want("b1") {
        b1();
    }
    if want("b1b") {
        let gap = Duration::from_micros(10);
        let (f, writes) = wake_ferrite_polling(gap);
        let ct = wake_tokio_gap(gap);
        println!(
            "B1b cross-thread wake latency, 10 us between wakes, ferrite busy-polling (poll-max-ns=32768)"
        );
        println!(
            "  ferrite  p50 {:>7} ns  p99 {:>7} ns  eventfd writes/wake {:.3}",
            f.p50, f.p99, writes
        );
        println!("  tokio-ct p50 {:>7} ns  p99 {:>7} ns", ct.p50, ct.p99);
        println!(
            "  ratio tokio/ferrite: p50 {:.2} p99 {:.2}",
            ct.p50 as f64 / f.p50 as f64,
            ct.p99 as f64 / f.p99 as f64
        );
    }
    if want("b1c") {
        println!(
            "B1c eventfd writes per cross-thread schedule while the loop is busy: {:.4}",
            busy_writes_ferrite()
        );
    }
    if want("b2") {
        b2();
    }
    if want("b3") {
        b3();
    }
    if want("b4") {
        b4();
    }
    if want("b7") {
        let f = pool_round_trip_ferrite();
        let ct = pool_round_trip_tokio();
        println!("B7 thread-pool round trip of a no-op (submit_co vs spawn_blocking)");
        println!("  ferrite  {:>8.0} ns", f);
        println!("  tokio-ct {:>8.0} ns", ct);
        println!("  ratio tokio/ferrite: {:.2}", ct / f);
    }
    if want("b5") {
        let f = timer_lateness_ferrite();
        let ct = timer_lateness_tokio();
        println!("B5 timer lateness, armed 100 us ahead, idle loop (fire time - deadline)");
        println!("  ferrite  p50 {:>8} ns  p99 {:>8} ns", f.p50, f.p99);
        println!("  tokio-ct p50 {:>8} ns  p99 {:>8} ns", ct.p50, ct.p99);
        println!(
            "  ratio tokio/ferrite: p50 {:.2} p99 {:.2}",
            ct.p50 as f64 / f.p50 as f64,
            ct.p99 as f64 / f.p99 as f64
        );
    }
}

fn b1() {
    println!("B1 cross-thread wake latency (loop blocked, {WAKES} wakes)");
    let (f, writes) = wake_ferrite();
    let ct = wake_tokio(false);
    let mt = wake_tokio(true);
    println!(
        "  ferrite  p50 {:>7} ns  p99 {:>7} ns  eventfd writes/wake {:.3}",
        f.p50, f.p99, writes
    );
    println!("  tokio-ct p50 {:>7} ns  p99 {:>7} ns", ct.p50, ct.p99);
    println!("  tokio-mt p50 {:>7} ns  p99 {:>7} ns", mt.p50, mt.p99);
    println!(
        "  ratio tokio/ferrite: ct p50 {:.2} p99 {:.2}; mt p50 {:.2} p99 {:.2}",
        ct.p50 as f64 / f.p50 as f64,
        ct.p99 as f64 / f.p99 as f64,
        mt.p50 as f64 / f.p50 as f64,
        mt.p99 as f64 / f.p99 as f64
    );
}

fn b2() {
    println!("B2 schedule-to-run throughput on one thread (1024 per poll)");
    let fb = bh_throughput_ferrite(false);
    let fo = bh_throughput_ferrite(true);
    let ct = bh_throughput_tokio(false);
    let mt = bh_throughput_tokio(true);
    println!("  ferrite QemuBh   {:>12.0} /s", fb);
    println!("  ferrite oneshot  {:>12.0} /s", fo);
    println!("  tokio-ct spawn   {:>12.0} /s", ct);
    println!("  tokio-mt spawn   {:>12.0} /s", mt);
    println!(
        "  ratio ferrite/tokio: QemuBh/ct {:.2} oneshot/ct {:.2} QemuBh/mt {:.2} oneshot/mt {:.2}",
        fb / ct,
        fo / ct,
        fb / mt,
        fo / mt
    );
}

fn b3() {
    println!("B3 timer create+arm+fire throughput (expired deadlines, 1000 per poll)");
    let f = timer_throughput_ferrite();
    let ct = timer_throughput_tokio(false);
    let mt = timer_throughput_tokio(true);
    println!("  ferrite  {:>12.0} /s", f);
    println!("  tokio-ct {:>12.0} /s", ct);
    println!("  tokio-mt {:>12.0} /s", mt);
    println!("  ratio ferrite/tokio: ct {:.2} mt {:.2}", f / ct, f / mt);
}

fn b4() {
    println!("B4 coroutine create+enter+yield+enter+complete");
    let f = coroutine_cost_ferrite();
    let ct = coroutine_cost_tokio(false);
    let mt = coroutine_cost_tokio(true);
    println!("  ferrite  {:>8.1} ns", f);
    println!("  tokio-ct {:>8.1} ns (spawn + yield_now + join)", ct);
    println!("  tokio-mt {:>8.1} ns", mt);
    println!("  ratio tokio/ferrite: ct {:.2} mt {:.2}", ct / f, mt / f);
}
