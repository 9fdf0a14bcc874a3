//! Bottom-half invariants (spec §(c) 1–6, 26, 29) and the dispatch order.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ferrite_aio::{AioContext, ClockType, EventNotifier, MemReentrancyGuard, QemuClock, Timer};

fn ctx() -> Arc<AioContext> {
    AioContext::new("test").unwrap()
}

fn counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + Clone + 'static) {
    let c = Arc::new(AtomicUsize::new(0));
    let c2 = Arc::clone(&c);
    (c, move || {
        c2.fetch_add(1, Ordering::SeqCst);
    })
}

#[test]
fn schedules_coalesce_into_one_run() {
    let ctx = ctx();
    let (n, cb) = counter();
    let bh = Arc::new(ctx.bh_new("c", cb));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let bh = Arc::clone(&bh);
            std::thread::spawn(move || {
                for _ in 0..250 {
                    bh.schedule();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(ctx.poll(false));
    assert!(!ctx.poll(false));
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn schedule_inside_callback_runs_on_next_poll() {
    let ctx = ctx();
    let n = Arc::new(AtomicUsize::new(0));
    let slot: Arc<Mutex<Option<Arc<ferrite_aio::QemuBh>>>> = Arc::new(Mutex::new(None));
    let (n2, s2) = (Arc::clone(&n), Arc::clone(&slot));
    let bh = Arc::new(ctx.bh_new("self", move || {
        // Reschedules itself forever (invariant 5).
        n2.fetch_add(1, Ordering::SeqCst);
        s2.lock().unwrap().as_ref().unwrap().schedule();
    }));
    *slot.lock().unwrap() = Some(Arc::clone(&bh));
    bh.schedule();
    for i in 1..=5 {
        assert!(ctx.poll(true), "a rescheduled BH is progress");
        assert_eq!(n.load(Ordering::SeqCst), i, "one callback per poll");
    }
    slot.lock().unwrap().take();
}

#[test]
fn cancel_and_delete() {
    let ctx = ctx();
    let (n, cb) = counter();
    let bh = ctx.bh_new("c", cb.clone());
    bh.schedule();
    bh.cancel();
    assert!(!ctx.poll(false));
    assert_eq!(n.load(Ordering::SeqCst), 0);
    bh.schedule();
    assert!(ctx.poll(false));
    assert_eq!(n.load(Ordering::SeqCst), 1);

    let bh2 = ctx.bh_new("d", cb);
    bh2.schedule();
    drop(bh2); // qemu_bh_delete: DELETED wins over SCHEDULED
    ctx.poll(false);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn idle_bh_is_not_progress_and_does_not_block_forever() {
    let ctx = ctx();
    let (n, cb) = counter();
    let bh = ctx.bh_new("idle", cb);
    bh.schedule_idle();
    let t = ctx.compute_timeout();
    assert_eq!(t, 10_000_000, "an idle BH caps the timeout at 10 ms");
    // Blocking poll returns (after at most the 10 ms cap) without progress.
    assert!(!ctx.poll(true));
    assert_eq!(n.load(Ordering::SeqCst), 1);
    bh.schedule();
    assert_eq!(ctx.compute_timeout(), 0);
}

#[test]
fn batch_runs_lifo() {
    let ctx = ctx();
    let order = Arc::new(Mutex::new(Vec::new()));
    let bhs: Vec<_> = (0..4)
        .map(|i| {
            let o = Arc::clone(&order);
            ctx.bh_new("o", move || o.lock().unwrap().push(i))
        })
        .collect();
    for b in &bhs {
        b.schedule();
    }
    ctx.poll(false);
    assert_eq!(*order.lock().unwrap(), vec![3, 2, 1, 0]);
}

#[test]
fn nested_poll_finishes_parent_slice_exactly_once() {
    let ctx = ctx();
    let counts: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
    let log = Arc::new(Mutex::new(Vec::new()));
    let mk = |i: usize, nest: bool| {
        let c = Arc::clone(&counts);
        let l = Arc::clone(&log);
        let cx = Arc::downgrade(&ctx);
        ctx.bh_new("n", move || {
            c[i].fetch_add(1, Ordering::SeqCst);
            l.lock().unwrap().push(i);
            if nest {
                let ctx = cx.upgrade().unwrap();
                ctx.poll(false);
                l.lock().unwrap().push(100 + i);
            }
        })
    };
    let b = mk(1, false);
    let c = mk(2, false);
    let a = mk(0, true);
    // LIFO: A (scheduled last) runs first and nests.
    b.schedule();
    c.schedule();
    a.schedule();
    assert!(ctx.poll(false));
    for cnt in counts.iter() {
        assert_eq!(cnt.load(Ordering::SeqCst), 1);
    }
    assert_eq!(*log.lock().unwrap(), vec![0, 2, 1, 100]);
}

#[test]
fn dispatch_order_bh_then_fd_then_timer() {
    let ctx = ctx();
    let order = Arc::new(Mutex::new(Vec::new()));
    let e = Arc::new(EventNotifier::new(true).unwrap());
    let (o1, o2, o3) = (Arc::clone(&order), Arc::clone(&order), Arc::clone(&order));
    let e2 = Arc::clone(&e);
    ctx.set_event_notifier(
        &e,
        Some(Arc::new(move || {
            e2.test_and_clear();
            o2.lock().unwrap().push("fd");
        })),
        None,
        None,
    );
    let t = Timer::new(&ctx, ClockType::Realtime, move || {
        o3.lock().unwrap().push("timer")
    });
    t.modify_ns(QemuClock::get_ns(ClockType::Realtime) - 1);
    let bh = ctx.bh_new("bh", move || o1.lock().unwrap().push("bh"));
    bh.schedule();
    assert!(ctx.poll(false));
    assert_eq!(*order.lock().unwrap(), vec!["bh", "fd", "timer"]);
    ctx.remove_fd_handler(e.as_raw_fd_for_test());
}

trait RawFdForTest {
    fn as_raw_fd_for_test(&self) -> i32;
}
impl RawFdForTest for EventNotifier {
    fn as_raw_fd_for_test(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.as_raw_fd()
    }
}

#[test]
fn reentrancy_guard_is_engaged_during_the_callback() {
    let ctx = ctx();
    let guard = Arc::new(MemReentrancyGuard::new());
    let seen = Arc::new(AtomicBool::new(false));
    let (g, s) = (Arc::clone(&guard), Arc::clone(&seen));
    let bh = ctx.bh_new_guarded(
        "g",
        move || s.store(g.engaged(), Ordering::SeqCst),
        Some(Arc::clone(&guard)),
    );
    bh.schedule();
    ctx.poll(false);
    assert!(seen.load(Ordering::SeqCst));
    assert!(!guard.engaged());
}

#[test]
fn panicking_bh_does_not_wedge_the_loop() {
    let ctx = ctx();
    let (n, cb) = counter();
    let good = ctx.bh_new("good", cb);
    let bad = ctx.bh_new("bad", || panic!("boom"));
    good.schedule();
    bad.schedule(); // LIFO: runs first and panics
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ctx.poll(false)));
    assert!(r.is_err());
    // The rest of the batch runs on the next poll; the bad BH is not stuck.
    assert!(ctx.poll(false));
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert!(!bad.scheduled());
    assert!(!ctx.poll(false));
}

/// Invariant 1 under stress: 4 producer threads × 1,000,000 cross-thread
/// oneshot schedules; each runs exactly once, and no wakeup is lost (the
/// home thread only ever polls with `blocking = true`).
#[test]
fn stress_cross_thread_oneshots_run_exactly_once() {
    const PER: usize = 1_000_000;
    const THREADS: usize = 4;
    let ctx = ctx();
    ctx.poll(false); // claim the home thread
    let flags: Arc<Vec<AtomicU8>> =
        Arc::new((0..PER * THREADS).map(|_| AtomicU8::new(0)).collect());
    let done = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let ctx = Arc::clone(&ctx);
            let flags = Arc::clone(&flags);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                for i in 0..PER {
                    let f = Arc::clone(&flags);
                    let d = Arc::clone(&done);
                    ctx.bh_schedule_oneshot(move || {
                        f[t * PER + i].fetch_add(1, Ordering::Relaxed);
                        d.fetch_add(1, Ordering::Relaxed);
                    });
                }
            })
        })
        .collect();
    while done.load(Ordering::Relaxed) < PER * THREADS {
        ctx.poll(true);
    }
    for p in producers {
        p.join().unwrap();
    }
    assert!(!ctx.poll(false));
    assert!(flags.iter().all(|f| f.load(Ordering::Relaxed) == 1));
}
