//! Model check of the cross-thread bottom-half path: producers push onto
//! the lock-free BH stack and notify; the poller computes its timeout from
//! the stack, announces itself, blocks on the eventfd, accepts and takes
//! the stack. Every node must be taken exactly once and the poller must
//! never block with a node pending (spec §(c) 1 and 13). The stack and
//! protocol sources are compiled here against loom's atomics.

#[allow(dead_code, unreachable_pub)]
#[path = "../src/notify.rs"]
mod notify;
#[allow(dead_code, unreachable_pub)]
#[path = "../src/stack.rs"]
mod stack;

mod sync {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
}

use loom::sync::{Condvar, Mutex};
use notify::NotifyState;
use stack::{StackNode, TreiberStack};

struct Node {
    next: sync::AtomicPtr<Node>,
    id: usize,
}

impl StackNode for Node {
    fn next(&self) -> &sync::AtomicPtr<Node> {
        &self.next
    }
}

struct EventFd {
    set: Mutex<bool>,
    cv: Condvar,
}

struct Ctx {
    st: NotifyState,
    stack: TreiberStack<Node>,
    ev: EventFd,
}

impl Ctx {
    /// `aio_bh_enqueue` + `aio_notify`.
    fn schedule(&self, id: usize) {
        self.stack.push(std::sync::Arc::new(Node {
            next: sync::AtomicPtr::new(std::ptr::null_mut()),
            id,
        }));
        if self.st.notify() {
            *self.ev.set.lock().unwrap() = true;
            self.ev.cv.notify_all();
        }
    }
}

#[test]
fn cross_thread_bhs_are_taken_once_and_never_missed() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(|| {
        let ctx = loom::sync::Arc::new(Ctx {
            st: NotifyState::new(),
            stack: TreiberStack::new(),
            ev: EventFd {
                set: Mutex::new(false),
                cv: Condvar::new(),
            },
        });
        let producers: Vec<_> = (0..2)
            .map(|id| {
                let c = loom::sync::Arc::clone(&ctx);
                loom::thread::spawn(move || c.schedule(id))
            })
            .collect();
        let mut got = Vec::new();
        while got.len() < 2 {
            // aio_compute_timeout: a pending BH means "do not block".
            let mut pending = false;
            ctx.stack.for_each(|_| pending = true);
            if !pending {
                if ctx.st.begin_block() {
                    let mut s = ctx.ev.set.lock().unwrap();
                    while !*s {
                        s = ctx.ev.cv.wait(s).unwrap();
                    }
                    *s = false;
                }
                ctx.st.end_block();
            }
            ctx.st.accept();
            got.extend(ctx.stack.take_all().iter().map(|n| n.id));
        }
        for p in producers {
            p.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, [0, 1]);
    });
}
