//! Model check of the `notify_me`/`notified` protocol (spec §(c) 13, 14),
//! the Rust counterpart of QEMU's `docs/aio_notify*.promela`. The protocol
//! source is compiled here against loom's atomics.

#[allow(dead_code, unreachable_pub)]
#[path = "../src/notify.rs"]
mod notify;

mod sync {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
}

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use notify::NotifyState;

/// The eventfd: a counter that a waiter blocks on.
struct EventFd {
    set: Mutex<bool>,
    cv: Condvar,
}

impl EventFd {
    fn write(&self) {
        *self.set.lock().unwrap() = true;
        self.cv.notify_all();
    }
    fn wait_and_clear(&self) {
        let mut s = self.set.lock().unwrap();
        while !*s {
            s = self.cv.wait(s).unwrap();
        }
        *s = false;
    }
}

/// One producer publishes data and notifies; the consumer runs
/// `aio_poll(blocking)` iterations until it has seen the data. If a
/// notification were lost, the consumer would block forever and loom
/// reports a deadlock.
#[test]
fn notify_is_never_lost() {
    loom::model(|| {
        let st = Arc::new(NotifyState::new());
        let ev = Arc::new(EventFd {
            set: Mutex::new(false),
            cv: Condvar::new(),
        });
        let data = Arc::new(AtomicBool::new(false));
        let (st2, ev2, d2) = (Arc::clone(&st), Arc::clone(&ev), Arc::clone(&data));
        let producer = loom::thread::spawn(move || {
            d2.store(true, Ordering::Relaxed);
            if st2.notify() {
                ev2.write();
            }
        });
        loop {
            // aio_poll: the data being visible is "a BH is pending", which
            // makes the timeout 0.
            let pending = data.load(Ordering::Relaxed);
            let may_block = !pending;
            if may_block {
                if st.begin_block() {
                    ev.wait_and_clear();
                }
                st.end_block();
            }
            st.accept();
            if data.load(Ordering::Relaxed) {
                break;
            }
        }
        producer.join().unwrap();
    });
}

/// Two producers and the external-driver bit (the main loop's iohandler
/// path): still no lost wake-up.
#[test]
fn notify_with_external_bit_and_two_producers() {
    // Three threads: bound the preemptions to keep the search small.
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let st = Arc::new(NotifyState::new());
        let ev = Arc::new(EventFd {
            set: Mutex::new(false),
            cv: Condvar::new(),
        });
        let a = Arc::new(AtomicBool::new(false));
        let b = Arc::new(AtomicBool::new(false));
        let mut ps = Vec::new();
        for flag in [Arc::clone(&a), Arc::clone(&b)] {
            let (st2, ev2) = (Arc::clone(&st), Arc::clone(&ev));
            ps.push(loom::thread::spawn(move || {
                flag.store(true, Ordering::Relaxed);
                if st2.notify() {
                    ev2.write();
                }
            }));
        }
        loop {
            let done = a.load(Ordering::Relaxed) && b.load(Ordering::Relaxed);
            if done {
                break;
            }
            if st.set_external(true) {
                ev.wait_and_clear();
            }
            st.set_external(false);
            st.accept();
        }
        for p in ps {
            p.join().unwrap();
        }
    });
}
