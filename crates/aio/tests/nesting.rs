//! Spec §(c) invariants 26 (poll from inside a timer callback) and 27
//! (handler deletion during nested dispatch), on both fd monitors.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ferrite_aio::{AioContext, ClockType, EventNotifier, FdMonKind, QemuClock, Timer};

fn both() -> [Arc<AioContext>; 2] {
    [
        AioContext::with_fdmon("epoll", FdMonKind::Epoll).unwrap(),
        AioContext::with_fdmon("poll", FdMonKind::Poll).unwrap(),
    ]
}

/// Invariant 26: a timer callback that polls its own context works, and
/// nothing runs twice: the other expired timer, a BH scheduled from the
/// callback and a ready fd each run exactly once.
#[test]
fn poll_from_inside_a_timer_callback() {
    for ctx in both() {
        ctx.poll(false);
        let first = Arc::new(AtomicUsize::new(0));
        let second = Arc::new(AtomicUsize::new(0));
        let bh_runs = Arc::new(AtomicUsize::new(0));
        let fd_runs = Arc::new(AtomicUsize::new(0));
        let e = Arc::new(EventNotifier::new(false).unwrap());
        let (e2, f2) = (Arc::clone(&e), Arc::clone(&fd_runs));
        ctx.set_fd_rw(
            e.as_raw_fd(),
            Some(Arc::new(move || {
                e2.test_and_clear();
                f2.fetch_add(1, Ordering::SeqCst);
            })),
            None,
        );
        let c = Arc::downgrade(&ctx);
        let (a, b2) = (Arc::clone(&first), Arc::clone(&bh_runs));
        let t1 = Timer::new(&ctx, ClockType::Realtime, move || {
            a.fetch_add(1, Ordering::SeqCst);
            let ctx = c.upgrade().unwrap();
            let b3 = Arc::clone(&b2);
            ctx.bh_schedule_oneshot(move || {
                b3.fetch_add(1, Ordering::SeqCst);
            });
            // Nested polls from the timer callback.
            while ctx.poll(false) {}
        });
        let b = Arc::clone(&second);
        let t2 = Timer::new(&ctx, ClockType::Realtime, move || {
            b.fetch_add(1, Ordering::SeqCst);
        });
        let now = QemuClock::get_ns(ClockType::Realtime);
        // Equal deadlines: t1 (armed first) fires first and polls.
        t1.modify_ns(now);
        t2.modify_ns(now);
        e.set();
        assert!(ctx.poll(false));
        for _ in 0..3 {
            ctx.poll(false);
        }
        assert_eq!(first.load(Ordering::SeqCst), 1);
        assert_eq!(second.load(Ordering::SeqCst), 1);
        assert_eq!(bh_runs.load(Ordering::SeqCst), 1);
        assert_eq!(fd_runs.load(Ordering::SeqCst), 1);
        assert!(!t1.pending() && !t2.pending());
        ctx.remove_fd_handler(e.as_raw_fd());
    }
}

/// Invariant 27: a handler removed inside a callback (here, one that then
/// runs a nested poll) is never called again, although it is still on the
/// outer dispatch's ready list; its callbacks are freed once that list is
/// done with them.
#[test]
fn handler_deleted_during_nested_dispatch_is_never_called_again() {
    for ctx in both() {
        ctx.poll(false);
        let ea = Arc::new(EventNotifier::new(false).unwrap());
        let eb = Arc::new(EventNotifier::new(false).unwrap());
        let removed = Arc::new(AtomicBool::new(false));
        let b_calls_after_removal = Arc::new(AtomicUsize::new(0));
        // Dropped when B's callbacks are freed.
        let token = Arc::new(());
        let weak_token = Arc::downgrade(&token);
        let (r, bad) = (Arc::clone(&removed), Arc::clone(&b_calls_after_removal));
        // B stays readable (never drained): every poll would dispatch it.
        ctx.set_fd_rw(
            eb.as_raw_fd(),
            Some(Arc::new(move || {
                let _keep = &token;
                if r.load(Ordering::SeqCst) {
                    bad.fetch_add(1, Ordering::SeqCst);
                }
            })),
            None,
        );
        let c = Arc::downgrade(&ctx);
        let (ea2, eb_fd, r2) = (Arc::clone(&ea), eb.as_raw_fd(), Arc::clone(&removed));
        let a_fd = ea.as_raw_fd();
        let a_calls = Arc::new(Mutex::new(0));
        let a2 = Arc::clone(&a_calls);
        ctx.set_fd_rw(
            a_fd,
            Some(Arc::new(move || {
                ea2.test_and_clear();
                *a2.lock().unwrap() += 1;
                let ctx = c.upgrade().unwrap();
                // Remove B and A itself, then dispatch again, nested.
                ctx.remove_fd_handler(eb_fd);
                ctx.remove_fd_handler(a_fd);
                r2.store(true, Ordering::SeqCst);
                ctx.poll(false);
                ctx.poll(false);
            })),
            None,
        );
        ea.set();
        eb.set();
        ctx.poll(false);
        ea.set();
        for _ in 0..3 {
            ctx.poll(false);
        }
        assert_eq!(*a_calls.lock().unwrap(), 1, "A removed itself");
        assert_eq!(
            b_calls_after_removal.load(Ordering::SeqCst),
            0,
            "B never runs after its removal"
        );
        assert_eq!(ctx.fd_handler_count(), 0);
        assert!(
            weak_token.upgrade().is_none(),
            "B's callbacks were freed after the dispatch"
        );
    }
}
