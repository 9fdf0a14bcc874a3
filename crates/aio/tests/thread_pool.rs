//! Thread pool: completion in the submitting context, cancel while queued,
//! idle workers exiting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use ferrite_aio::{AioContext, ThreadPoolError};

#[test]
fn completion_runs_in_the_context_thread_in_order() {
    let ctx = AioContext::new("tp").unwrap();
    ctx.poll(false);
    let pool = ctx.thread_pool();
    // One worker: requests finish in submission order, and the completion
    // BH reports finished requests in submission order.
    pool.set_params(0, 1);
    let me = std::thread::current().id();
    let results = Arc::new(Mutex::new(Vec::new()));
    for i in 0..8 {
        let r = Arc::clone(&results);
        pool.submit(
            move || (i, std::thread::current().id()),
            move |res| {
                let (v, worker) = res.unwrap();
                assert_ne!(worker, me, "work runs on a worker thread");
                assert_eq!(std::thread::current().id(), me, "completion runs at home");
                r.lock().unwrap().push(v);
            },
        );
    }
    while results.lock().unwrap().len() < 8 {
        ctx.poll(true);
    }
    let v = results.lock().unwrap().clone();
    assert_eq!(v, (0..8).collect::<Vec<_>>());
    assert!(pool.cur_threads() >= 1);
}

#[test]
fn cancel_only_while_queued_and_reported_through_the_bh() {
    let ctx = AioContext::new("cancel").unwrap();
    ctx.poll(false);
    let pool = ctx.thread_pool();
    pool.set_params(0, 1);
    let barrier = Arc::new(Barrier::new(2));
    let b2 = Arc::clone(&barrier);
    let first_done = Arc::new(Mutex::new(None));
    let fd = Arc::clone(&first_done);
    let running = pool.submit(
        move || {
            b2.wait();
            b2.wait();
            7
        },
        move |r| *fd.lock().unwrap() = Some(r),
    );
    let second = Arc::new(Mutex::new(None));
    let ran = Arc::new(AtomicBool::new(false));
    let (s2, r2) = (Arc::clone(&second), Arc::clone(&ran));
    let queued = pool.submit(
        move || r2.store(true, Ordering::SeqCst),
        move |r| *s2.lock().unwrap() = Some(r),
    );
    // Wait for the single worker to pick up the first job (spawned from a BH).
    let b3 = Arc::clone(&barrier);
    let started = Arc::new(AtomicBool::new(false));
    let st = Arc::clone(&started);
    let waiter = std::thread::spawn(move || {
        b3.wait();
        st.store(true, Ordering::SeqCst);
    });
    while !started.load(Ordering::SeqCst) {
        ctx.poll(false);
        std::thread::yield_now();
    }
    waiter.join().unwrap();
    assert!(!pool.cancel(&running), "running work cannot be cancelled");
    assert!(pool.cancel(&queued));
    assert!(
        second.lock().unwrap().is_none(),
        "never reported synchronously"
    );
    while second.lock().unwrap().is_none() {
        ctx.poll(true);
    }
    assert_eq!(
        *second.lock().unwrap(),
        Some(Err(ThreadPoolError::Cancelled))
    );
    barrier.wait();
    while first_done.lock().unwrap().is_none() {
        ctx.poll(true);
    }
    assert_eq!(*first_done.lock().unwrap(), Some(Ok(7)));
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn idle_workers_exit_down_to_min() {
    let ctx = AioContext::new("idle").unwrap();
    ctx.poll(false);
    let pool = ctx.thread_pool();
    pool.set_idle_timeout(Duration::from_millis(5));
    let done = Arc::new(Mutex::new(0));
    for _ in 0..4 {
        let d = Arc::clone(&done);
        pool.submit(
            || std::thread::sleep(Duration::from_millis(2)),
            move |_| *d.lock().unwrap() += 1,
        );
    }
    while *done.lock().unwrap() < 4 {
        ctx.poll(true);
    }
    while pool.cur_threads() > 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // The pool still works after every worker left.
    let d = Arc::clone(&done);
    pool.submit(|| (), move |_| *d.lock().unwrap() += 1);
    while *done.lock().unwrap() < 5 {
        ctx.poll(true);
    }
}

/// Review finding 4: a panicking work function completes its request with
/// an error and leaves the worker (and the pool's count) intact.
#[test]
fn panicking_work_completes_with_an_error() {
    let ctx = AioContext::new("panic").unwrap();
    ctx.poll(false);
    let pool = ctx.thread_pool();
    // One worker: if the panic killed it, the second request would never
    // run (cur_threads would stay at the maximum).
    pool.set_params(0, 1);
    let first = Arc::new(Mutex::new(None));
    let second = Arc::new(Mutex::new(None));
    let (f, s2) = (Arc::clone(&first), Arc::clone(&second));
    pool.submit(
        || -> u32 { panic!("boom") },
        move |r| *f.lock().unwrap() = Some(r),
    );
    pool.submit(|| 5u32, move |r| *s2.lock().unwrap() = Some(r));
    while second.lock().unwrap().is_none() {
        ctx.poll(true);
    }
    assert_eq!(
        *first.lock().unwrap(),
        Some(Err(ThreadPoolError::Panicked("boom".into())))
    );
    assert_eq!(*second.lock().unwrap(), Some(Ok(5)));
    assert_eq!(pool.cur_threads(), 1);
    // The coroutine form returns the error instead of waiting forever.
    let r = ferrite_aio::run_until_done(&ctx, pool.submit_co(|| -> u32 { panic!("again") }));
    assert_eq!(r, Err(ThreadPoolError::Panicked("again".into())));
}
