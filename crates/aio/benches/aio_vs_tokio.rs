//! Ferrite's event loop side by side with tokio (issue 3, "Benchmarks"),
//! with criterion.
//!
//! Every group measures `ferrite`, `tokio-ct` (current_thread runtime) and
//! `tokio-mt` (multi_thread runtime, one worker) back to back in the same
//! process, so that both see the same machine load. Criterion reports its
//! usual estimates per benchmark; in addition each routine records what
//! criterion cannot (per-wake latencies for p50/p99, eventfd writes per
//! wake) and at the end the bench prints one compact summary table with the
//! ratio ferrite/tokio for every case.
//!
//! Run: `cargo bench -p ferrite-aio --bench aio_vs_tokio`
//! (about a minute). Criterion's usual arguments work (a name filter,
//! `--sample-size`, `--measurement-time` except for the wake and lateness
//! groups, which set their own budget); the summary only lists the cases
//! that ran. `AIO_BENCH_PIN=split` pins the loop thread(s) to CPU 1
//! and the producer to CPU 0, `AIO_BENCH_PIN=same` pins them all to CPU 0
//! (for the wake-latency investigation in docs/benchmarks.md).
//!
//! Only the samples of criterion's measurement phase (its last
//! `sample_size` calls of each routine) enter the summary; warm-up calls are
//! discarded.
//!
//! Cases (docs/benchmarks.md, "## aio", has what each measures and results):
//! B1 cross-thread wake with the loop blocked (p50, p99 per round and
//! pooled, eventfd writes per wake, loop-thread CPU per wake), B1c eventfd
//! writes per schedule while the loop is busy, B1b wakes 10 µs apart with
//! Ferrite busy-polling, B2 bottom-half schedule-to-run throughput, B3 timer
//! arm-and-fire throughput, B4 coroutine lifecycle cost, B5 timer lateness,
//! B7 thread-pool round trip.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use ferrite_aio::{
    AioContext, ClockType, Coroutine, QemuBh, QemuClock, Timer, qemu_coroutine_yield,
};

/// Criterion's default sample count for this bench (overridable with
/// `--sample-size`); the summary keeps this many calls per routine.
const SAMPLE_SIZE: usize = 20;

// --- recording what criterion does not ------------------------------------

/// One call of an `iter_custom` routine.
struct Call {
    iters: u64,
    elapsed: Duration,
    /// Per-iteration latencies in ns (wake benches only).
    lat: Vec<u64>,
    /// eventfd writes during the call (Ferrite wake benches only).
    writes: u64,
    /// CPU time of the loop thread during the call (wake benches only).
    cpu_ns: u64,
}

#[derive(Default)]
struct Rec {
    calls: Vec<Call>,
}

impl Rec {
    fn push(&mut self, iters: u64, elapsed: Duration, lat: Vec<u64>, writes: u64) {
        self.calls.push(Call {
            iters,
            elapsed,
            lat,
            writes,
            cpu_ns: 0,
        });
    }

    /// The measurement-phase calls (criterion runs its warm-up first, then
    /// exactly `sample_size` calls).
    fn measured(&self, n: usize) -> &[Call] {
        &self.calls[self.calls.len().saturating_sub(n)..]
    }
}

/// How a case is compared.
#[derive(Clone, Copy)]
enum Better {
    Lower,
    Higher,
}

struct Row {
    case: String,
    unit: &'static str,
    better: Better,
    ferrite: Option<f64>,
    ct: Option<f64>,
    mt: Option<f64>,
}

struct Summary {
    rows: Vec<Row>,
    sample_size: usize,
    /// /proc/loadavg when the bench started.
    load_start: String,
}

impl Summary {
    fn row(
        &mut self,
        case: impl Into<String>,
        unit: &'static str,
        better: Better,
        vals: [Option<f64>; 3],
    ) {
        if vals.iter().all(Option::is_none) {
            return; // filtered out
        }
        self.rows.push(Row {
            case: case.into(),
            unit,
            better,
            ferrite: vals[0],
            ct: vals[1],
            mt: vals[2],
        });
    }

    fn print(&self) {
        println!();
        println!(
            "ferrite-aio vs tokio, summary (criterion measurement phase, {} samples per case; loadavg at start {}, at end {})",
            self.sample_size,
            self.load_start,
            loadavg()
        );
        println!(
            "B1b: ferrite with poll-max-ns=32768 (IOThread default); thread pinning: {}",
            match pin_mode() {
                Pin::None => "none",
                Pin::Split => "loop threads on CPU 1, producer on CPU 0 (AIO_BENCH_PIN=split)",
                Pin::Same => "all on CPU 0 (AIO_BENCH_PIN=same)",
            }
        );
        println!(
            "{:<48} {:>12} {:>12} {:>12} {:>8} {:>8}  unit",
            "case", "ferrite", "tokio-ct", "tokio-mt", "f/ct", "f/mt"
        );
        let fmt = |v: Option<f64>| match v {
            Some(v) if v >= 100.0 => format!("{v:.0}"),
            Some(v) => format!("{v:.3}"),
            None => "-".into(),
        };
        let ratio = |f: Option<f64>, t: Option<f64>| match (f, t) {
            (Some(f), Some(t)) if t > 0.0 => format!("{:.2}", f / t),
            _ => "-".into(),
        };
        for r in &self.rows {
            let better = match r.better {
                Better::Lower => "lower is better",
                Better::Higher => "higher is better",
            };
            println!(
                "{:<48} {:>12} {:>12} {:>12} {:>8} {:>8}  {} ({better})",
                r.case,
                fmt(r.ferrite),
                fmt(r.ct),
                fmt(r.mt),
                ratio(r.ferrite, r.ct),
                ratio(r.ferrite, r.mt),
                r.unit,
            );
        }
    }
}

/// The 1, 5 and 15 minute load averages (the machine may be shared).
fn loadavg() -> String {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn percentile(sorted: &[u64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)] as f64
}

/// (p50, p99, eventfd writes per wake, wakes, loop-thread CPU ns per wake)
/// of the measured calls.
fn lat_stats(rec: &Rec, n: usize) -> Option<(f64, f64, f64, f64, f64)> {
    let m = rec.measured(n);
    let mut v: Vec<u64> = m.iter().flat_map(|c| c.lat.iter().copied()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let iters: u64 = m.iter().map(|c| c.iters).sum();
    let writes: u64 = m.iter().map(|c| c.writes).sum();
    let cpu: u64 = m.iter().map(|c| c.cpu_ns).sum();
    Some((
        percentile(&v, 50),
        percentile(&v, 99),
        writes as f64 / iters as f64,
        iters as f64,
        cpu as f64 / iters as f64,
    ))
}

/// Median over the measured calls of ns per operation.
fn ns_per_op(rec: &Rec, n: usize, ops_per_iter: u64) -> Option<f64> {
    let m = rec.measured(n);
    if m.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = m
        .iter()
        .map(|c| c.elapsed.as_nanos() as f64 / (c.iters * ops_per_iter) as f64)
        .collect();
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn mops(ns: Option<f64>) -> Option<f64> {
    ns.map(|ns| 1e3 / ns)
}

// --- thread pinning for the wake investigation ----------------------------

#[derive(Clone, Copy, PartialEq)]
enum Pin {
    None,
    /// Loop thread(s) on CPU 1, producer on CPU 0.
    Split,
    /// Everything on CPU 0.
    Same,
}

fn pin_mode() -> Pin {
    match std::env::var("AIO_BENCH_PIN").as_deref() {
        Ok("split") => Pin::Split,
        Ok("same") => Pin::Same,
        Ok("") | Err(_) => Pin::None,
        Ok(o) => panic!("AIO_BENCH_PIN={o}: expected split or same"),
    }
}

fn pin_to(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity(0, ...) only
    // affects the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let r = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(r, 0, "sched_setaffinity({cpu}) failed");
    }
}

fn pin_loop_thread(pin: Pin) {
    match pin {
        Pin::None => {}
        Pin::Split => pin_to(1),
        Pin::Same => pin_to(0),
    }
}

fn pin_producer(pin: Pin) {
    if pin != Pin::None {
        pin_to(0);
    }
}

fn unpin() {
    // SAFETY: as in pin_to.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in 0..libc::CPU_SETSIZE as usize {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

// --- B1: cross-thread wake latency ----------------------------------------

/// What the producer does between two wakes.
#[derive(Clone, Copy)]
enum Gap {
    /// Sleeps: long enough that the loop is back in its blocking wait
    /// (epoll_wait for Ferrite, a futex park for tokio) each time.
    Sleep(Duration),
    /// Spins (keeps its CPU): the next wake comes soon enough to land in
    /// Ferrite's busy-polling window.
    Spin(Duration),
}

/// One cross-thread wake case.
struct WakeCase {
    id: &'static str,
    group: &'static str,
    /// Summary label prefix.
    label: &'static str,
    gap: Gap,
    /// Ferrite's `poll-max-ns` (0: no busy polling, the AioContext default;
    /// 32768 is the IOThread default).
    poll_max_ns: i64,
    /// Criterion measurement time per runtime and round.
    measure: Duration,
}

/// B1: loop blocked (no polling), the case of issue 3's p99 question.
const B1: WakeCase = WakeCase {
    id: "B1",
    group: "wake",
    label: "B1 cross-thread wake, loop blocked,",
    gap: Gap::Sleep(Duration::from_micros(50)),
    poll_max_ns: 0,
    measure: Duration::from_millis(300),
};

/// B1b: wakes 10 µs apart, Ferrite with the IOThread default
/// `poll-max-ns=32768`: the wake lands while the loop busy-polls.
const B1B: WakeCase = WakeCase {
    id: "B1b",
    group: "wake_polling",
    label: "B1b wake 10us apart, ferrite polling,",
    gap: Gap::Spin(Duration::from_micros(10)),
    poll_max_ns: 32768,
    measure: Duration::from_millis(120),
};

/// Unrecorded wakes before each runtime's benchmark: the first wakes
/// after a thread starts are much slower.
const PREWARM: u64 = 500;

/// One wake: stamp, hand `schedule` a callback that stamps again, spin
/// until it ran; returns the latency in ns.
fn one_wake(base: Instant, seen: &Arc<AtomicU64>, schedule: &Sched, gap: Gap) -> u64 {
    match gap {
        Gap::Sleep(d) => std::thread::sleep(d),
        Gap::Spin(d) => {
            let t = Instant::now();
            while t.elapsed() < d {
                std::hint::spin_loop();
            }
        }
    }
    seen.store(u64::MAX, Ordering::Release);
    let s = Arc::clone(seen);
    let t0 = base.elapsed().as_nanos() as u64;
    schedule(Box::new(move || {
        s.store(base.elapsed().as_nanos() as u64, Ordering::Release)
    }));
    loop {
        let v = seen.load(Ordering::Acquire);
        if v != u64::MAX {
            return v - t0;
        }
        std::hint::spin_loop();
    }
}

fn wake_routine(
    rec: &mut Rec,
    iters: u64,
    gap: Gap,
    schedule: &Sched,
    counters: &Counters,
) -> Duration {
    let base = Instant::now();
    let seen = Arc::new(AtomicU64::new(u64::MAX));
    let mut lat = Vec::with_capacity(iters as usize);
    let (w0, cpu0) = counters();
    for _ in 0..iters {
        lat.push(one_wake(base, &seen, schedule, gap));
    }
    let (w1, cpu1) = counters();
    let total = base.elapsed();
    rec.push(iters, total, lat, w1 - w0);
    rec.calls.last_mut().unwrap().cpu_ns = cpu1 - cpu0;
    total
}

/// How many times the wake group cycles through the three runtimes (each
/// round measures ferrite, tokio-ct, tokio-mt back to back, in rotated order; the summary
/// pools the rounds). Interleaving in rounds exposes the three to the same
/// load changes when other processes share the machine.
const WAKE_ROUNDS: usize = 5;

type Sched = Box<dyn Fn(Box<dyn FnOnce() + Send>)>;
/// (eventfd writes so far (0 for tokio), CPU time of the loop thread so
/// far in ns).
type Counters = Box<dyn Fn() -> (u64, u64)>;

/// The calling thread's id, for [`thread_cpu_ns`].
fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// CPU time (ns) a thread of this process has used so far: the first field
/// of /proc/self/task/TID/schedstat. 0 until the thread registered its id.
fn thread_cpu_ns(tid: &AtomicI32) -> u64 {
    let tid = tid.load(Ordering::Acquire);
    if tid == 0 {
        return 0;
    }
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn bench_wake(c: &mut Criterion, sum: &mut Summary, case: &WakeCase) {
    let pin = pin_mode();
    let n = sum.sample_size;
    let gap = case.gap;
    let mut g = c.benchmark_group(case.group);
    // Criterion times whole wake cycles (gap + wake), so its
    // estimate is the cycle time; the latencies themselves are recorded
    // per wake and summarised as p50/p99 in the summary table. (Reporting
    // only the latency sum to criterion does not work: a single wake
    // delayed by milliseconds on a loaded machine dominates its short
    // warm-up and shrinks the sample to a few hundred wakes.) 5 rounds of
    // 0.3 s are 15,000-25,000 wakes per runtime.
    g.warm_up_time(Duration::from_millis(100));
    g.measurement_time(case.measure);
    pin_producer(pin);

    // Ferrite: the home thread sits in poll(true); a producer schedules a
    // oneshot BH (bh_schedule_oneshot = aio_bh_schedule_oneshot).
    let ctx = AioContext::new("bench-wake").unwrap();
    ctx.set_poll_params(case.poll_max_ns, 0, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let (c2, s2) = (Arc::clone(&ctx), Arc::clone(&stop));
    let ftid = Arc::new(AtomicI32::new(0));
    let ftid2 = Arc::clone(&ftid);
    let home = std::thread::spawn(move || {
        pin_loop_thread(pin);
        ftid2.store(gettid(), Ordering::Release);
        ferrite_aio::set_current_aio_context(&c2);
        while !s2.load(Ordering::Acquire) {
            c2.poll(true);
        }
    });
    let c3 = Arc::clone(&ctx);
    let c4 = Arc::clone(&ctx);
    let mut runtimes: Vec<(&str, Sched, Counters)> = vec![(
        "ferrite",
        Box::new(move |f| c3.bh_schedule_oneshot(f)),
        Box::new(move || (c4.eventfd_writes(), thread_cpu_ns(&ftid))),
    )];

    // tokio: the runtime thread waits in block_on; the producer spawns a
    // task through a Handle (the runtime's own cross-thread wake).
    let mut drivers = Vec::new();
    for (i, name) in ["tokio-ct", "tokio-mt"].into_iter().enumerate() {
        // The thread that runs the spawned tasks: the block_on thread for
        // current_thread, the single worker for multi_thread.
        let tid = Arc::new(AtomicI32::new(0));
        let tid2 = Arc::clone(&tid);
        let rt = if i == 1 {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .on_thread_start(move || {
                    pin_loop_thread(pin);
                    let _ = tid2.compare_exchange(0, gettid(), Ordering::AcqRel, Ordering::Acquire);
                })
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
        let tid3 = (i == 0).then(|| Arc::clone(&tid));
        let driver = std::thread::spawn(move || {
            pin_loop_thread(pin);
            if let Some(t) = tid3 {
                t.store(gettid(), Ordering::Release);
            }
            rt.block_on(async move { s2.notified().await })
        });
        drivers.push((stop, driver));
        runtimes.push((
            name,
            Box::new(move |f| {
                handle.spawn(async move { f() });
            }),
            Box::new(move || (0, thread_cpu_ns(&tid))),
        ));
    }

    let mut pooled: Vec<Vec<Call>> = (0..runtimes.len()).map(|_| Vec::new()).collect();
    // p99 of each round, per runtime: shows how much of a p99 difference
    // is load noise (it moves between rounds of the same runtime).
    let mut round_p99 = [[None; 3]; WAKE_ROUNDS];
    for (_, sched, counters) in &runtimes {
        wake_routine(&mut Rec::default(), PREWARM, gap, sched, counters);
    }
    for round in 1..=WAKE_ROUNDS {
        // Rotate the order each round, so that no runtime always runs
        // first (right after a pause) or last.
        for k in 0..runtimes.len() {
            let i = (k + round - 1) % runtimes.len();
            let (name, sched, counters) = &runtimes[i];
            let mut rec = Rec::default();
            g.bench_function(format!("{name}/r{round}"), |b| {
                b.iter_custom(|iters| wake_routine(&mut rec, iters, gap, sched, counters))
            });
            round_p99[round - 1][i] = lat_stats(&rec, n).map(|x| x.1);
            let keep = rec.calls.len().saturating_sub(n);
            pooled[i].extend(rec.calls.drain(keep..));
        }
    }
    g.finish();
    drop(runtimes);
    let window = ctx.notifier_poll_ns();
    stop.store(true, Ordering::Release);
    ctx.bh_schedule_oneshot(|| {});
    home.join().unwrap();
    for (stop, driver) in drivers {
        stop.notify_one();
        driver.join().unwrap();
    }
    unpin();

    let [rf, rct, rmt]: [Vec<Call>; 3] = pooled.try_into().ok().unwrap();
    let pool = |calls: Vec<Call>| Rec { calls };
    let (rf, rct, rmt) = (pool(rf), pool(rct), pool(rmt));
    let all = usize::MAX;
    let f = lat_stats(&rf, all);
    let ct = lat_stats(&rct, all);
    let mt = lat_stats(&rmt, all);
    sum.row(
        format!("{} p50", case.label),
        "ns",
        Better::Lower,
        [f.map(|x| x.0), ct.map(|x| x.0), mt.map(|x| x.0)],
    );
    sum.row(
        format!("{} p99", case.label),
        "ns",
        Better::Lower,
        [f.map(|x| x.1), ct.map(|x| x.1), mt.map(|x| x.1)],
    );
    // The median over rounds ignores up to two rounds hit by a load spike.
    let median_round = |i: usize| {
        let mut v: Vec<f64> = round_p99.iter().filter_map(|r| r[i]).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    sum.row(
        format!("{} p99, median of the {WAKE_ROUNDS} rounds", case.id),
        "ns",
        Better::Lower,
        [median_round(0), median_round(1), median_round(2)],
    );
    for (r, p) in round_p99.iter().enumerate() {
        sum.row(
            format!("{}   p99 of round {} alone", case.id, r + 1),
            "ns",
            Better::Lower,
            *p,
        );
    }
    sum.row(
        format!("{} wakes recorded", case.id),
        "wakes",
        Better::Higher,
        [f.map(|x| x.3), ct.map(|x| x.3), mt.map(|x| x.3)],
    );
    sum.row(
        format!("{} eventfd writes per wake (ferrite)", case.id),
        "writes",
        Better::Lower,
        [f.map(|x| x.2), None, None],
    );
    sum.row(
        format!("{} loop-thread CPU time per wake", case.id),
        "ns",
        Better::Lower,
        [f.map(|x| x.4), ct.map(|x| x.4), mt.map(|x| x.4)],
    );
    if case.poll_max_ns > 0 {
        sum.row(
            format!("{} ferrite busy-poll window at the end", case.id),
            "ns",
            Better::Higher,
            [f.map(|_| window as f64), None, None],
        );
    }
}

/// B1c: eventfd writes per cross-thread schedule while the loop is busy
/// (each callback spins ~2 µs, so the producer outruns the loop and most
/// schedules find `notify_me` clear). Not a timing, so not a criterion
/// benchmark; printed in the summary.
fn busy_writes_ferrite(sum: &mut Summary) {
    const N: usize = 50_000;
    let ctx = AioContext::new("busy").unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let (c2, d2) = (Arc::clone(&ctx), Arc::clone(&done));
    let home = std::thread::spawn(move || {
        ferrite_aio::set_current_aio_context(&c2);
        while d2.load(Ordering::Acquire) < N {
            c2.poll(true);
        }
    });
    std::thread::sleep(Duration::from_millis(5));
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
    let w = (ctx.eventfd_writes() - w0) as f64 / N as f64;
    sum.row(
        "B1c eventfd writes per schedule, loop busy",
        "writes",
        Better::Lower,
        [Some(w), None, None],
    );
}

// --- single-thread throughputs and costs ----------------------------------

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

/// Runs the tokio-ct and tokio-mt variants of a case; `body` gets the
/// runtime and the iteration count and returns the elapsed time.
fn tokio_pair(
    g: &mut BenchmarkGroup<'_, WallTime>,
    body: impl Fn(&tokio::runtime::Runtime, u64) -> Duration,
) -> [Rec; 2] {
    let mut out = [Rec::default(), Rec::default()];
    for (i, name) in ["tokio-ct", "tokio-mt"].into_iter().enumerate() {
        let rt = tokio_rt(i == 1);
        let rec = &mut out[i];
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let d = body(&rt, iters);
                rec.push(iters, d, Vec::new(), 0);
                d
            })
        });
    }
    out
}

const BH_BATCH: u64 = 1024;

/// B2: bottom halves scheduled and run on one thread, 1024 per poll.
fn bench_bh(c: &mut Criterion, sum: &mut Summary) {
    let mut g = c.benchmark_group("bh_schedule_run_x1024");
    let ctx = AioContext::new("bench-bh").unwrap();
    ctx.poll(false);
    let n = Arc::new(AtomicUsize::new(0));

    // Preallocated QemuBh objects (aio_bh_new + qemu_bh_schedule), the
    // usual QEMU pattern for device BHs.
    let bhs: Vec<QemuBh> = (0..BH_BATCH)
        .map(|_| {
            let n = Arc::clone(&n);
            ctx.bh_new("b", move || {
                n.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    let mut rq = Rec::default();
    g.bench_function("ferrite-qemubh", |b| {
        b.iter_custom(|iters| {
            let before = n.load(Ordering::Relaxed);
            let t = Instant::now();
            for _ in 0..iters {
                for bh in &bhs {
                    bh.schedule();
                }
                ctx.poll(false);
            }
            let d = t.elapsed();
            assert_eq!(
                n.load(Ordering::Relaxed) - before,
                (iters * BH_BATCH) as usize
            );
            rq.push(iters, d, Vec::new(), 0);
            d
        })
    });
    drop(bhs);

    // Oneshot BHs (aio_bh_schedule_oneshot): allocates per schedule, like
    // tokio's spawn.
    let mut ro = Rec::default();
    g.bench_function("ferrite-oneshot", |b| {
        b.iter_custom(|iters| {
            let before = n.load(Ordering::Relaxed);
            let t = Instant::now();
            for _ in 0..iters {
                for _ in 0..BH_BATCH {
                    let n = Arc::clone(&n);
                    ctx.bh_schedule_oneshot(move || {
                        n.fetch_add(1, Ordering::Relaxed);
                    });
                }
                ctx.poll(false);
            }
            let d = t.elapsed();
            assert_eq!(
                n.load(Ordering::Relaxed) - before,
                (iters * BH_BATCH) as usize
            );
            ro.push(iters, d, Vec::new(), 0);
            d
        })
    });

    // tokio: 1024 spawns, then yield until all of them ran.
    let [rct, rmt] = tokio_pair(&mut g, |rt, iters| {
        let n = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        rt.block_on(async {
            for r in 0..iters as usize {
                for _ in 0..BH_BATCH {
                    let n = Arc::clone(&n);
                    tokio::spawn(async move {
                        n.fetch_add(1, Ordering::Relaxed);
                    });
                }
                while n.load(Ordering::Relaxed) < (r + 1) * BH_BATCH as usize {
                    tokio::task::yield_now().await;
                }
            }
        });
        t.elapsed()
    });
    g.finish();

    let s = sum.sample_size;
    let ct = mops(ns_per_op(&rct, s, BH_BATCH));
    let mt = mops(ns_per_op(&rmt, s, BH_BATCH));
    sum.row(
        "B2 BH schedule-to-run, QemuBh (tokio: spawn)",
        "M/s",
        Better::Higher,
        [mops(ns_per_op(&rq, s, BH_BATCH)), ct, mt],
    );
    sum.row(
        "B2 BH schedule-to-run, oneshot (tokio: spawn)",
        "M/s",
        Better::Higher,
        [mops(ns_per_op(&ro, s, BH_BATCH)), ct, mt],
    );
}

const TIMER_BATCH: u64 = 1000;

/// B3: timers created and armed at an already expired deadline, then fired
/// by one poll (tokio: tasks awaiting `sleep_until(now)`).
fn bench_timer(c: &mut Criterion, sum: &mut Summary) {
    let mut g = c.benchmark_group("timer_arm_fire_x1000");
    let ctx = AioContext::new("bench-timer").unwrap();
    ctx.poll(false);
    let n = Arc::new(AtomicUsize::new(0));
    let mut rf = Rec::default();
    g.bench_function("ferrite", |b| {
        b.iter_custom(|iters| {
            let before = n.load(Ordering::Relaxed);
            let t = Instant::now();
            for _ in 0..iters {
                let now = QemuClock::get_ns(ClockType::Realtime);
                let timers: Vec<Timer> = (0..TIMER_BATCH)
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
            let d = t.elapsed();
            assert_eq!(
                n.load(Ordering::Relaxed) - before,
                (iters * TIMER_BATCH) as usize
            );
            rf.push(iters, d, Vec::new(), 0);
            d
        })
    });
    let [rct, rmt] = tokio_pair(&mut g, |rt, iters| {
        let n = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        rt.block_on(async {
            for r in 0..iters as usize {
                let now = tokio::time::Instant::now();
                for _ in 0..TIMER_BATCH {
                    let n = Arc::clone(&n);
                    tokio::spawn(async move {
                        tokio::time::sleep_until(now).await;
                        n.fetch_add(1, Ordering::Relaxed);
                    });
                }
                while n.load(Ordering::Relaxed) < (r + 1) * TIMER_BATCH as usize {
                    tokio::task::yield_now().await;
                }
            }
        });
        t.elapsed()
    });
    g.finish();
    let s = sum.sample_size;
    sum.row(
        "B3 timer create+arm+fire (expired)",
        "M/s",
        Better::Higher,
        [
            mops(ns_per_op(&rf, s, TIMER_BATCH)),
            mops(ns_per_op(&rct, s, TIMER_BATCH)),
            mops(ns_per_op(&rmt, s, TIMER_BATCH)),
        ],
    );
}

/// B4: coroutine create + enter + yield + re-enter + complete (tokio:
/// spawn + yield_now + JoinHandle await).
fn bench_coroutine(c: &mut Criterion, sum: &mut Summary) {
    let mut g = c.benchmark_group("coroutine_lifecycle");
    let ctx = AioContext::new("bench-co").unwrap();
    ctx.poll(false);
    let mut rf = Rec::default();
    g.bench_function("ferrite", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let co = Coroutine::new(async {
                    qemu_coroutine_yield().await;
                });
                co.enter_in(&ctx);
                co.enter_in(&ctx);
                assert!(co.is_done());
            }
            let d = t.elapsed();
            rf.push(iters, d, Vec::new(), 0);
            d
        })
    });
    let [rct, rmt] = tokio_pair(&mut g, |rt, iters| {
        let t = Instant::now();
        rt.block_on(async {
            for _ in 0..iters {
                let h = tokio::spawn(async {
                    tokio::task::yield_now().await;
                });
                h.await.unwrap();
            }
        });
        t.elapsed()
    });
    g.finish();
    let s = sum.sample_size;
    sum.row(
        "B4 coroutine create+enter+yield+complete",
        "ns",
        Better::Lower,
        [
            ns_per_op(&rf, s, 1),
            ns_per_op(&rct, s, 1),
            ns_per_op(&rmt, s, 1),
        ],
    );
}

/// B5: lateness of a one-shot timer armed 100 µs ahead on an otherwise idle
/// loop (fire time minus deadline); criterion times the whole cycle, the
/// summary gives p50/p99 of the lateness. tokio-ct only: the timer runs on
/// the runtime's own thread there, as in Ferrite.
fn bench_timer_lateness(c: &mut Criterion, sum: &mut Summary) {
    const AHEAD_NS: i64 = 100_000;
    let mut g = c.benchmark_group("timer_lateness_100us");
    g.warm_up_time(Duration::from_millis(100));
    g.measurement_time(Duration::from_millis(600));
    let ctx = AioContext::new("bench-late").unwrap();
    ctx.poll(false);
    let fired = Arc::new(AtomicU64::new(0));
    let f2 = Arc::clone(&fired);
    let timer = Timer::new(&ctx, ClockType::Realtime, move || {
        f2.store(
            QemuClock::get_ns(ClockType::Realtime) as u64,
            Ordering::Release,
        );
    });
    let mut rf = Rec::default();
    g.bench_function("ferrite", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            let mut lat = Vec::with_capacity(iters as usize);
            for _ in 0..iters {
                fired.store(0, Ordering::Release);
                let deadline = QemuClock::get_ns(ClockType::Realtime) + AHEAD_NS;
                timer.modify_ns(deadline);
                while fired.load(Ordering::Acquire) == 0 {
                    ctx.poll(true);
                }
                lat.push(fired.load(Ordering::Acquire) - deadline as u64);
            }
            let d = t.elapsed();
            rf.push(iters, d, lat, 0);
            d
        })
    });
    let rt = tokio_rt(false);
    let mut rct = Rec::default();
    g.bench_function("tokio-ct", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            let lat = rt.block_on(async {
                let mut lat = Vec::with_capacity(iters as usize);
                for _ in 0..iters {
                    let deadline =
                        tokio::time::Instant::now() + Duration::from_nanos(AHEAD_NS as u64);
                    tokio::time::sleep_until(deadline).await;
                    lat.push(deadline.elapsed().as_nanos() as u64);
                }
                lat
            });
            let d = t.elapsed();
            rct.push(iters, d, lat, 0);
            d
        })
    });
    g.finish();
    let s = sum.sample_size;
    let f = lat_stats(&rf, s);
    let ct = lat_stats(&rct, s);
    sum.row(
        "B5 timer lateness, armed 100us ahead, p50",
        "ns",
        Better::Lower,
        [f.map(|x| x.0), ct.map(|x| x.0), None],
    );
    sum.row(
        "B5 timer lateness, armed 100us ahead, p99",
        "ns",
        Better::Lower,
        [f.map(|x| x.1), ct.map(|x| x.1), None],
    );
}

/// B7: thread-pool round trip of a no-op from a coroutine (`submit_co`),
/// sequential (tokio: `spawn_blocking` awaited).
fn bench_pool(c: &mut Criterion, sum: &mut Summary) {
    let mut g = c.benchmark_group("thread_pool_round_trip");
    let ctx = AioContext::new("bench-pool").unwrap();
    ctx.poll(false);
    let mut rf = Rec::default();
    g.bench_function("ferrite", |b| {
        b.iter_custom(|iters| {
            let c2 = Arc::clone(&ctx);
            let t = Instant::now();
            ferrite_aio::run_until_done(&ctx, async move {
                let pool = c2.thread_pool();
                for _ in 0..iters {
                    pool.submit_co(|| black_box(1)).await.unwrap();
                }
            });
            let d = t.elapsed();
            rf.push(iters, d, Vec::new(), 0);
            d
        })
    });
    let [rct, rmt] = tokio_pair(&mut g, |rt, iters| {
        let t = Instant::now();
        rt.block_on(async {
            for _ in 0..iters {
                tokio::task::spawn_blocking(|| black_box(1)).await.unwrap();
            }
        });
        t.elapsed()
    });
    g.finish();
    let s = sum.sample_size;
    sum.row(
        "B7 thread-pool round trip (tokio: spawn_blocking)",
        "ns",
        Better::Lower,
        [
            ns_per_op(&rf, s, 1),
            ns_per_op(&rct, s, 1),
            ns_per_op(&rmt, s, 1),
        ],
    );
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .without_plots()
        .configure_from_args();
    // The summary keeps as many calls as criterion measures; parse a
    // --sample-size override the same way criterion does.
    let args: Vec<String> = std::env::args().collect();
    let sample_size = args
        .iter()
        .position(|a| a == "--sample-size")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(SAMPLE_SIZE);
    let mut sum = Summary {
        rows: Vec::new(),
        sample_size,
        load_start: loadavg(),
    };
    bench_wake(&mut c, &mut sum, &B1);
    // B1c only when the wake group ran (it is not filterable by name).
    if sum.rows.iter().any(|r| r.case.starts_with("B1 ")) {
        busy_writes_ferrite(&mut sum);
    }
    bench_wake(&mut c, &mut sum, &B1B);
    bench_bh(&mut c, &mut sum);
    bench_timer(&mut c, &mut sum);
    bench_coroutine(&mut c, &mut sum);
    bench_timer_lateness(&mut c, &mut sum);
    bench_pool(&mut c, &mut sum);
    c.final_summary();
    // `cargo test --benches` runs every routine once (criterion's test
    // mode, no `--bench` argument): a table of single samples would only
    // mislead.
    if args.iter().any(|a| a == "--bench") {
        sum.print();
    }
}
