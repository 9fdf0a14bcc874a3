//! Coroutine semantics (spec §(c) 7–11, 19) and every primitive.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ferrite_aio::coroutine::{CoMutex, CoQueue, CoRwlock, QemuCoSleep, qemu_coroutine_self};
use ferrite_aio::{
    AioContext, ClockType, Coroutine, IoThread, aio_co_reschedule_self, aio_co_schedule,
    aio_co_wake, qemu_co_sleep_ns, qemu_coroutine_yield, qemu_in_coroutine, run_until_done,
};

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn push(l: &Log, s: impl Into<String>) {
    l.lock().unwrap().push(s.into());
}

fn home() -> Arc<AioContext> {
    let ctx = AioContext::new("co").unwrap();
    ctx.poll(false); // this thread becomes its home
    ctx
}

#[test]
fn enter_is_synchronous_and_yield_returns_to_the_caller() {
    let ctx = home();
    let l = log();
    let l2 = Arc::clone(&l);
    let co = Coroutine::new(async move {
        assert!(qemu_in_coroutine());
        push(&l2, "a");
        qemu_coroutine_yield().await;
        push(&l2, "b");
    });
    co.enter_in(&ctx);
    assert_eq!(*l.lock().unwrap(), ["a"]);
    assert!(!co.is_done());
    assert!(!qemu_in_coroutine());
    aio_co_wake(&co); // same context, outside a coroutine: runs now
    assert_eq!(*l.lock().unwrap(), ["a", "b"]);
    assert!(co.is_done());
}

/// Invariant 8: inside A, waking B does not run B before A yields; B runs
/// before control returns to A's enterer (depth-first).
#[test]
fn wake_inside_a_coroutine_runs_after_it_yields() {
    let ctx = home();
    let l = log();
    let lb = Arc::clone(&l);
    let b = Coroutine::new(async move {
        push(&lb, "b1");
        qemu_coroutine_yield().await;
        push(&lb, "b2");
    });
    b.enter_in(&ctx);
    let la = Arc::clone(&l);
    let b2 = b.clone();
    let a = Coroutine::new(async move {
        push(&la, "a1");
        aio_co_wake(&b2);
        push(&la, "a2");
        qemu_coroutine_yield().await;
        push(&la, "a3");
    });
    a.enter_in(&ctx);
    push(&l, "caller");
    assert_eq!(*l.lock().unwrap(), ["b1", "a1", "a2", "b2", "caller"]);
    assert!(b.is_done() && !a.is_done());
}

/// Invariant 7: aio_co_schedule from one thread enters in order.
#[test]
fn cross_thread_schedules_are_fifo() {
    let ctx = home();
    let l = log();
    let cos: Vec<Coroutine> = (0..50)
        .map(|i| {
            let l = Arc::clone(&l);
            Coroutine::new(async move { push(&l, i.to_string()) })
        })
        .collect();
    let c2 = Arc::clone(&ctx);
    let cos2 = cos.clone();
    std::thread::spawn(move || {
        for co in &cos2 {
            aio_co_schedule(&c2, co);
        }
    })
    .join()
    .unwrap();
    ctx.poll(false);
    let expected: Vec<String> = (0..50).map(|i: i32| i.to_string()).collect();
    assert_eq!(*l.lock().unwrap(), expected);
    assert!(cos.iter().all(Coroutine::is_done));
}

/// Invariant 9: double scheduling and sleep-vs-schedule races panic.
#[test]
fn double_schedule_panics() {
    let ctx = home();
    let co = Coroutine::new(async {});
    aio_co_schedule(&ctx, &co);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| aio_co_schedule(&ctx, &co)));
    let msg = r.unwrap_err();
    assert!(
        msg.downcast_ref::<String>()
            .unwrap()
            .contains("already scheduled in 'aio_co_schedule'")
    );
    ctx.poll(false);
    assert!(co.is_done());

    let sleeper =
        Coroutine::new(async { qemu_co_sleep_ns(ClockType::Realtime, 1_000_000_000).await });
    sleeper.enter_in(&ctx);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        aio_co_schedule(&ctx, &sleeper)
    }));
    let msg = r.unwrap_err();
    assert!(
        msg.downcast_ref::<String>()
            .unwrap()
            .contains("qemu_co_sleep_ns")
    );
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sleeper.enter_in(&ctx)));
    assert!(r.is_err(), "entering a sleeping coroutine directly aborts");
}

#[test]
fn wake_from_another_thread_is_scheduled_on_the_home_context() {
    let ctx = home();
    let me = std::thread::current().id();
    let slot: Arc<Mutex<Option<Coroutine>>> = Arc::new(Mutex::new(None));
    let s2 = Arc::clone(&slot);
    let ran_home = Arc::new(AtomicBool::new(false));
    let r2 = Arc::clone(&ran_home);
    let co = Coroutine::new(async move {
        *s2.lock().unwrap() = qemu_coroutine_self();
        qemu_coroutine_yield().await;
        r2.store(std::thread::current().id() == me, Ordering::SeqCst);
    });
    co.enter_in(&ctx);
    let s3 = Arc::clone(&slot);
    std::thread::spawn(move || aio_co_wake(s3.lock().unwrap().as_ref().unwrap()))
        .join()
        .unwrap();
    assert!(!co.is_done(), "a cross-thread wake is asynchronous");
    while !co.is_done() {
        ctx.poll(true);
    }
    assert!(ran_home.load(Ordering::SeqCst));
}

#[test]
fn coroutine_moves_between_contexts() {
    let ctx = home();
    let io = IoThread::new("co-move").unwrap();
    let io_tid = io.thread_id();
    let me = std::thread::current().id();
    let (ioc, back) = (Arc::clone(io.ctx()), Arc::clone(&ctx));
    let steps = run_until_done(&ctx, async move {
        let mut steps = vec![std::thread::current().id() == me];
        aio_co_reschedule_self(ioc).await;
        steps.push(std::thread::current().id() == io_tid);
        aio_co_reschedule_self(back).await;
        steps.push(std::thread::current().id() == me);
        steps
    });
    assert_eq!(steps, [true, true, true]);
    io.stop();
}

#[test]
fn sleep_on_a_clock_and_early_wake() {
    let ctx = home();
    let start = ferrite_aio::QemuClock::get_ns(ClockType::Realtime);
    run_until_done(&ctx, qemu_co_sleep_ns(ClockType::Realtime, 2_000_000));
    assert!(ferrite_aio::QemuClock::get_ns(ClockType::Realtime) - start >= 2_000_000);

    let w = QemuCoSleep::new();
    let w2 = Arc::clone(&w);
    let co =
        Coroutine::new(async move { w2.sleep_ns(ClockType::Realtime, 3_600_000_000_000).await });
    co.enter_in(&ctx);
    assert!(!co.is_done());
    w.wake();
    assert!(
        co.is_done(),
        "woken synchronously (same context, outside a coroutine)"
    );
}

/// Invariant 10, within one context: waiters acquire in the order they
/// queued; a non-holder cannot unlock; terminating with a lock panics.
#[test]
fn comutex_is_fifo_and_checks_ownership() {
    let ctx = home();
    let m = Arc::new(CoMutex::new());
    let l = log();
    let gate = Arc::new(CoQueue::new());
    let (m0, g0, l0) = (Arc::clone(&m), Arc::clone(&gate), Arc::clone(&l));
    let holder = Coroutine::new(async move {
        let _g = m0.lock().await;
        push(&l0, "holder");
        g0.wait().await;
    });
    holder.enter_in(&ctx);
    let waiters: Vec<Coroutine> = (1..=3)
        .map(|i| {
            let (m, l) = (Arc::clone(&m), Arc::clone(&l));
            let co = Coroutine::new(async move {
                let _g = m.lock().await;
                push(&l, format!("w{i}"));
            });
            co.enter_in(&ctx);
            co
        })
        .collect();
    assert!(m.is_locked());
    gate.enter_next(); // holder finishes and unlocks
    assert_eq!(*l.lock().unwrap(), ["holder", "w1", "w2", "w3"]);
    assert!(waiters.iter().all(Coroutine::is_done) && holder.is_done());
    assert!(!m.is_locked());

    // A guard moved to another coroutine cannot unlock there.
    let stash: Arc<Mutex<Option<ferrite_aio::coroutine::CoMutexGuard<'static>>>> =
        Arc::new(Mutex::new(None));
    let leaked: &'static CoMutex = Box::leak(Box::new(CoMutex::new()));
    let s2 = Arc::clone(&stash);
    let taker = Coroutine::new(async move {
        let g = leaked.lock().await;
        *s2.lock().unwrap() = Some(g);
        qemu_coroutine_yield().await;
    });
    taker.enter_in(&ctx);
    let s3 = Arc::clone(&stash);
    let other = Coroutine::new(async move {
        let g = s3.lock().unwrap().take();
        drop(g);
    });
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| other.enter_in(&ctx)));
    assert!(r.is_err(), "unlock by a non-holder panics");

    let m2: &'static CoMutex = Box::leak(Box::new(CoMutex::new()));
    let forgets = Coroutine::new(async move {
        std::mem::forget(m2.lock().await);
    });
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| forgets.enter_in(&ctx)));
    let msg = r.unwrap_err();
    assert!(
        msg.downcast_ref::<String>()
            .unwrap()
            .contains("holding 1 lock")
    );
}

/// Invariant 10 across threads: 4 IOThreads, mutual exclusion holds.
#[test]
fn comutex_excludes_across_four_contexts() {
    let _home = home();
    let m = Arc::new(CoMutex::new());
    let inside = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let threads: Vec<Arc<IoThread>> = (0..4)
        .map(|i| IoThread::new(&format!("mx{i}")).unwrap())
        .collect();
    let mut cos = Vec::new();
    for t in &threads {
        for _ in 0..2 {
            let (m, inside, count) = (Arc::clone(&m), Arc::clone(&inside), Arc::clone(&count));
            let co = Coroutine::new(async move {
                for _ in 0..200 {
                    let _g = m.lock().await;
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    // Give up the CPU inside the critical section sometimes.
                    qemu_co_sleep_ns(ClockType::Realtime, 0).await;
                    inside.store(false, Ordering::SeqCst);
                    count.fetch_add(1, Ordering::SeqCst);
                }
            });
            aio_co_schedule(t.ctx(), &co);
            cos.push(co);
        }
    }
    while !cos.iter().all(Coroutine::is_done) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(count.load(Ordering::SeqCst), 4 * 2 * 200);
    for t in threads {
        t.stop();
    }
}

#[test]
fn coqueue_wait_with_lock_and_restart_all() {
    let ctx = home();
    let m = Arc::new(CoMutex::new());
    let q = Arc::new(CoQueue::new());
    let l = log();
    let cos: Vec<Coroutine> = (0..3)
        .map(|i| {
            let (m, q, l) = (Arc::clone(&m), Arc::clone(&q), Arc::clone(&l));
            let co = Coroutine::new(async move {
                let g = m.lock().await;
                let g = q.wait_with(g).await;
                push(&l, format!("woke{i}"));
                drop(g);
            });
            co.enter_in(&ctx);
            co
        })
        .collect();
    assert!(!m.is_locked(), "waiting released the lock");
    assert!(q.enter_next());
    assert_eq!(*l.lock().unwrap(), ["woke0"]);
    q.enter_all();
    assert_eq!(*l.lock().unwrap(), ["woke0", "woke1", "woke2"]);
    assert!(cos.iter().all(Coroutine::is_done));
    assert!(q.is_empty());
    assert!(!q.next());

    // CO_QUEUE_WAIT_FRONT
    let l2 = log();
    for (i, front) in [(0, false), (1, true)] {
        let (q, l) = (Arc::clone(&q), Arc::clone(&l2));
        Coroutine::new(async move {
            if front {
                q.wait_front().await;
            } else {
                q.wait().await;
            }
            push(&l, i.to_string());
        })
        .enter_in(&ctx);
    }
    q.restart_all();
    assert_eq!(*l2.lock().unwrap(), ["1", "0"]);
}

/// Invariant 11: a new reader queues behind a queued writer; after the
/// writer, all consecutively queued readers get in.
#[test]
fn corwlock_fairness_upgrade_downgrade() {
    let ctx = home();
    let rw: &'static CoRwlock = Box::leak(Box::new(CoRwlock::new()));
    let l = log();
    let gate = Arc::new(CoQueue::new());
    let (g1, l1) = (Arc::clone(&gate), Arc::clone(&l));
    let r1 = Coroutine::new(async move {
        let _r = rw.rdlock().await;
        push(&l1, "r1");
        g1.wait().await;
    });
    r1.enter_in(&ctx);
    let lw = Arc::clone(&l);
    let w = Coroutine::new(async move {
        let _w = rw.wrlock().await;
        push(&lw, "w");
    });
    w.enter_in(&ctx);
    let readers: Vec<Coroutine> = (2..=3)
        .map(|i| {
            let l = Arc::clone(&l);
            let c = Coroutine::new(async move {
                let _r = rw.rdlock().await;
                push(&l, format!("r{i}"));
            });
            c.enter_in(&ctx);
            c
        })
        .collect();
    assert_eq!(
        *l.lock().unwrap(),
        ["r1"],
        "readers wait behind the queued writer"
    );
    gate.enter_next();
    assert_eq!(*l.lock().unwrap(), ["r1", "w", "r2", "r3"]);
    assert!(readers.iter().all(Coroutine::is_done) && w.is_done());
    assert_eq!(rw.owners(), 0);

    let done = run_until_done(&ctx, async move {
        let wg = rw.wrlock().await;
        assert_eq!(rw.owners(), -1);
        let rg = wg.downgrade();
        assert_eq!(rw.owners(), 1);
        let wg = rg.upgrade().await;
        assert_eq!(rw.owners(), -1);
        drop(wg);
        rw.owners()
    });
    assert_eq!(done, 0);
}

#[test]
fn thread_pool_from_a_coroutine_in_an_iothread() {
    let _home = home();
    let io = IoThread::new("co-pool").unwrap();
    let ctx = Arc::clone(io.ctx());
    let tid = io.thread_id();
    let c2 = Arc::clone(&ctx);
    let (tx, rx) = std::sync::mpsc::channel();
    let co = Coroutine::new(async move {
        let pool = c2.thread_pool();
        let v = pool
            .submit_co(|| std::thread::current().name().map(str::to_owned))
            .await;
        tx.send((v.unwrap(), std::thread::current().id() == tid))
            .unwrap();
    });
    aio_co_schedule(&ctx, &co);
    let (v, same_thread) = rx.recv().unwrap();
    assert_eq!(v.as_deref(), Some("worker"));
    assert!(same_thread, "the coroutine resumes in its IOThread");
    io.stop();
}

#[test]
fn yield_until_fd_readable_wakes_on_data() {
    use std::os::fd::AsRawFd;
    let ctx = home();
    let e = Arc::new(ferrite_aio::EventNotifier::new(false).unwrap());
    let fd = e.as_raw_fd();
    let co =
        Coroutine::new(async move { ferrite_aio::coroutine::yield_until_fd_readable(fd).await });
    co.enter_in(&ctx);
    assert!(!co.is_done());
    assert_eq!(ctx.fd_handler_count(), 1);
    let e2 = Arc::clone(&e);
    std::thread::spawn(move || e2.set()).join().unwrap();
    while !co.is_done() {
        ctx.poll(true);
    }
    assert_eq!(
        ctx.fd_handler_count(),
        0,
        "the temporary handler is removed"
    );
}

#[test]
fn co_timeout_returns_early_and_cleans_up_late_results() {
    use ferrite_aio::coroutine::{TimedOut, qemu_co_timeout};
    let ctx = home();
    let fast = run_until_done(
        &ctx,
        qemu_co_timeout(async { 7 }, 1_000_000_000, |_| unreachable!()),
    );
    assert_eq!(fast, Ok(7));

    let cleaned = Arc::new(Mutex::new(None));
    let c2 = Arc::clone(&cleaned);
    let slow = run_until_done(
        &ctx,
        qemu_co_timeout(
            async {
                qemu_co_sleep_ns(ClockType::Realtime, 5_000_000).await;
                42
            },
            1_000_000,
            move |v| *c2.lock().unwrap() = Some(v),
        ),
    );
    assert_eq!(slow, Err(TimedOut));
    while cleaned.lock().unwrap().is_none() {
        ctx.poll(true);
    }
    assert_eq!(*cleaned.lock().unwrap(), Some(42));
}

/// No lost wake-ups between coroutines in two IOThreads: 20,000 round
/// trips of a ping-pong through two CoQueues guarded by one CoMutex.
#[test]
fn cross_thread_ping_pong_loses_no_wakeup() {
    const ROUNDS: u64 = 20_000;
    let _home = home();
    let a = IoThread::new("pp-a").unwrap();
    let b = IoThread::new("pp-b").unwrap();
    struct State {
        turn: std::sync::atomic::AtomicU64,
        m: CoMutex,
        q: [CoQueue; 2],
    }
    let st = Arc::new(State {
        turn: std::sync::atomic::AtomicU64::new(0),
        m: CoMutex::new(),
        q: [CoQueue::new(), CoQueue::new()],
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let cos: Vec<Coroutine> = (0..2u64)
        .map(|me| {
            let st = Arc::clone(&st);
            let tx = tx.clone();
            Coroutine::new(async move {
                loop {
                    let mut g = st.m.lock().await;
                    while st.turn.load(Ordering::SeqCst) % 2 != me
                        && st.turn.load(Ordering::SeqCst) < 2 * ROUNDS
                    {
                        g = st.q[me as usize].wait_with(g).await;
                    }
                    let t = st.turn.load(Ordering::SeqCst);
                    if t >= 2 * ROUNDS {
                        st.q[1 - me as usize].restart_all();
                        break;
                    }
                    st.turn.store(t + 1, Ordering::SeqCst);
                    st.q[1 - me as usize].next();
                    drop(g);
                }
                tx.send(me).unwrap();
            })
        })
        .collect();
    aio_co_schedule(a.ctx(), &cos[0]);
    aio_co_schedule(b.ctx(), &cos[1]);
    let mut done = [rx.recv().unwrap(), rx.recv().unwrap()];
    done.sort_unstable();
    assert_eq!(done, [0, 1]);
    assert_eq!(st.turn.load(Ordering::SeqCst), 2 * ROUNDS);
    a.stop();
    b.stop();
}

/// The QMP dispatcher's pattern: `aio_co_schedule(other, self)` then
/// `qemu_coroutine_yield()`; the coroutine continues in `other` only after
/// it yielded.
#[test]
fn coroutine_schedules_itself_then_yields() {
    let ctx = home();
    let io = IoThread::new("self-sched").unwrap();
    let io_tid = io.thread_id();
    let ioc = Arc::clone(io.ctx());
    let back = Arc::clone(&ctx);
    let me = std::thread::current().id();
    let (tx, rx) = std::sync::mpsc::channel();
    let co = Coroutine::new(async move {
        let self_co = qemu_coroutine_self().unwrap();
        aio_co_schedule(&ioc, &self_co);
        qemu_coroutine_yield().await;
        let on_io = std::thread::current().id() == io_tid;
        aio_co_schedule(&back, &self_co);
        qemu_coroutine_yield().await;
        tx.send((on_io, std::thread::current().id() == me)).unwrap();
    });
    co.enter_in(&ctx);
    let got = loop {
        if let Ok(v) = rx.try_recv() {
            break v;
        }
        ctx.poll(true);
    };
    assert_eq!(got, (true, true));
    assert!(co.is_done());
    io.stop();
}

/// A panicking coroutine does not strand the coroutines it had woken: they
/// run from the context's next poll.
#[test]
fn panicking_coroutine_does_not_strand_woken_ones() {
    let ctx = home();
    let l = log();
    let lb = Arc::clone(&l);
    let b = Coroutine::new(async move {
        qemu_coroutine_yield().await;
        push(&lb, "b ran");
    });
    b.enter_in(&ctx);
    let b2 = b.clone();
    let a = Coroutine::new(async move {
        aio_co_wake(&b2); // queued: runs after a yields
        panic!("coroutine bug");
    });
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.enter_in(&ctx)));
    assert!(r.is_err());
    assert!(a.is_done());
    assert!(!b.is_done());
    while !b.is_done() {
        ctx.poll(true);
    }
    assert_eq!(*l.lock().unwrap(), ["b ran"]);
}

/// Review finding 5: when a coroutine entered from the `co_schedule_bh`
/// batch panics, the rest of the batch is not lost (it used to be dropped
/// while still QUEUED, so those coroutines never ran again).
#[test]
fn panic_in_a_scheduled_batch_keeps_the_rest() {
    let ctx = home();
    let ran = Arc::new(AtomicUsize::new(0));
    let bad = Coroutine::new(async { panic!("coroutine bug") });
    let cos: Vec<Coroutine> = (0..3)
        .map(|_| {
            let r = Arc::clone(&ran);
            Coroutine::new(async move {
                r.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    aio_co_schedule(&ctx, &bad);
    for c in &cos {
        aio_co_schedule(&ctx, c);
    }
    let mut panics = 0;
    for _ in 0..10 {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ctx.poll(false))).is_err() {
            panics += 1;
        }
        if ran.load(Ordering::SeqCst) == 3 {
            break;
        }
    }
    assert_eq!(panics, 1);
    assert_eq!(ran.load(Ordering::SeqCst), 3, "the rest of the batch ran");
    assert!(cos.iter().all(Coroutine::is_done));
}
