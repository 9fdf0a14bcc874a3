//! The per-context thread pool for blocking work (`util/thread-pool.c`).
//!
//! Work is submitted from the context's home thread, runs on a worker
//! thread, and its completion callback runs back in the home thread from the
//! pool's completion bottom half, in submission order among finished
//! requests. A request can be cancelled while it is still queued; its
//! completion then reports [`ThreadPoolError::Cancelled`] through the same
//! BH (never synchronously). A work function that panics completes its
//! request with [`ThreadPoolError::Panicked`]; the worker lives on. Workers are spawned from a BH in the pool's context and
//! exit after [`ThreadPool::set_idle_timeout`] (10 s by default) without
//! work, down to `min` workers.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::bh::{BhCallback, BhInner};
use crate::context::AioContext;

/// `THREAD_POOL_MAX_THREADS_DEFAULT`.
pub const THREAD_POOL_MAX_THREADS_DEFAULT: usize = 64;

const QUEUED: u8 = 0;
const ACTIVE: u8 = 1;
const DONE: u8 = 2;

/// Why a request produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThreadPoolError {
    /// Cancelled while queued (QEMU's `-ECANCELED`).
    #[error("thread pool request cancelled")]
    Cancelled,
    /// The work function panicked (with this message). The worker caught
    /// the panic and goes on serving requests.
    #[error("thread pool work function panicked: {0}")]
    Panicked(String),
}

type Work = Box<dyn FnOnce() + Send>;
type Completion = Box<dyn FnOnce(Result<(), ThreadPoolError>) + Send>;

struct Elem {
    state: AtomicU8,
    cancelled: AtomicU8,
    /// The panic message if the work function panicked.
    panicked: Mutex<Option<String>>,
    work: Mutex<Option<Work>>,
    completion: Mutex<Option<Completion>>,
}

struct PoolState {
    queue: VecDeque<Arc<Elem>>,
    cur_threads: usize,
    idle_threads: usize,
    /// Threads requested but not started yet (spawned by `new_thread_bh`).
    pending_threads: usize,
    min: usize,
    max: usize,
    idle_timeout: Duration,
    handles: Vec<std::thread::JoinHandle<()>>,
}

/// One context's thread pool (`ThreadPool`).
pub struct ThreadPool {
    ctx: Weak<AioContext>,
    state: Mutex<PoolState>,
    cond: Condvar,
    exit_cond: Condvar,
    /// Every submitted request not completed yet, in submission order
    /// (`pool->head`). Home thread only.
    head: Mutex<Vec<Arc<Elem>>>,
    completion_bh: Arc<BhInner>,
    new_thread_bh: Arc<BhInner>,
    self_weak: Weak<ThreadPool>,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("ThreadPool")
            .field("cur_threads", &st.cur_threads)
            .field("queued", &st.queue.len())
            .finish()
    }
}

/// A submitted request (`ThreadPoolElement`), for [`ThreadPool::cancel`].
#[derive(Clone)]
pub struct ThreadPoolRequest(Arc<Elem>);

impl std::fmt::Debug for ThreadPoolRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPoolRequest")
            .field("state", &self.0.state.load(Ordering::Relaxed))
            .finish()
    }
}

impl ThreadPool {
    pub(crate) fn new(ctx: Weak<AioContext>) -> Arc<Self> {
        Arc::new_cyclic(|w: &Weak<ThreadPool>| {
            let w1 = w.clone();
            let w2 = w.clone();
            ThreadPool {
                ctx: ctx.clone(),
                state: Mutex::new(PoolState {
                    queue: VecDeque::new(),
                    cur_threads: 0,
                    idle_threads: 0,
                    pending_threads: 0,
                    min: 0,
                    max: THREAD_POOL_MAX_THREADS_DEFAULT,
                    idle_timeout: Duration::from_secs(10),
                    handles: Vec::new(),
                }),
                cond: Condvar::new(),
                exit_cond: Condvar::new(),
                head: Mutex::new(Vec::new()),
                completion_bh: BhInner::new(
                    ctx.clone(),
                    BhCallback::Fn(Box::new(move || {
                        if let Some(p) = w1.upgrade() {
                            p.completion_bh_cb();
                        }
                    })),
                    "thread_pool_completion_bh",
                    None,
                ),
                new_thread_bh: BhInner::new(
                    ctx,
                    BhCallback::Fn(Box::new(move || {
                        if let Some(p) = w2.upgrade() {
                            p.spawn_pending();
                        }
                    })),
                    "thread_pool_new_thread_bh",
                    None,
                ),
                self_weak: w.clone(),
            }
        })
    }

    /// `thread_pool_update_params`: minimum and maximum worker counts.
    ///
    /// # Panics
    /// If `min > max` or `max == 0` (QEMU rejects these).
    pub fn set_params(&self, min: usize, max: usize) {
        assert!(
            max > 0 && min <= max,
            "thread pool: need 0 <= min <= max, max > 0"
        );
        let mut st = self.state.lock();
        st.min = min;
        st.max = max;
        // Surplus workers notice on wake-up and exit.
        self.cond.notify_all();
    }

    /// How long an idle worker waits for work before exiting (10 s in
    /// QEMU).
    pub fn set_idle_timeout(&self, d: Duration) {
        self.state.lock().idle_timeout = d;
        self.cond.notify_all();
    }

    /// Number of live worker threads.
    pub fn cur_threads(&self) -> usize {
        self.state.lock().cur_threads
    }

    fn ctx(&self) -> Arc<AioContext> {
        self.ctx
            .upgrade()
            .expect("thread pool outlived its AioContext")
    }

    /// `thread_pool_submit_aio`: runs `func` on a worker; `cb` receives its
    /// result (or [`ThreadPoolError::Cancelled`], or
    /// [`ThreadPoolError::Panicked`] if `func` panicked) in the context's
    /// home thread.
    ///
    /// # Panics
    /// If called outside the context's home thread.
    pub fn submit<R: Send + 'static>(
        &self,
        func: impl FnOnce() -> R + Send + 'static,
        cb: impl FnOnce(Result<R, ThreadPoolError>) + Send + 'static,
    ) -> ThreadPoolRequest {
        let ctx = self.ctx();
        assert!(
            ctx.in_home_thread()
                || crate::context::current_aio_context().is_none_or(|c| Arc::ptr_eq(&c, &ctx)),
            "thread_pool_submit from outside the pool's AioContext"
        );
        let slot: Arc<Mutex<Option<R>>> = Arc::new(Mutex::new(None));
        let s1 = Arc::clone(&slot);
        let elem = Arc::new(Elem {
            state: AtomicU8::new(QUEUED),
            cancelled: AtomicU8::new(0),
            panicked: Mutex::new(None),
            work: Mutex::new(Some(Box::new(move || {
                let r = func();
                *s1.lock() = Some(r);
            }))),
            completion: Mutex::new(Some(Box::new(move |res: Result<(), ThreadPoolError>| {
                cb(res.map(|()| slot.lock().take().expect("result stored before DONE")));
            }))),
        });
        self.head.lock().push(Arc::clone(&elem));
        let mut st = self.state.lock();
        if st.idle_threads == 0 && st.cur_threads < st.max {
            // spawn_thread: counted now, started from a BH in our context.
            st.cur_threads += 1;
            st.pending_threads += 1;
            AioContext::schedule_internal_bh(&self.new_thread_bh);
        }
        st.queue.push_back(Arc::clone(&elem));
        drop(st);
        self.cond.notify_one();
        ThreadPoolRequest(elem)
    }

    /// `thread_pool_submit_co`: submits `func` and waits for its result.
    pub fn submit_co<R: Send + 'static>(
        &self,
        func: impl FnOnce() -> R + Send + 'static,
    ) -> impl Future<Output = Result<R, ThreadPoolError>> + Send + 'static {
        struct Shared<R> {
            res: Option<Result<R, ThreadPoolError>>,
            waker: Option<Waker>,
        }
        let shared = Arc::new(Mutex::new(Shared {
            res: None,
            waker: None,
        }));
        let pool = self.self_weak.upgrade().expect("pool alive");
        struct Fut<R> {
            shared: Arc<Mutex<Shared<R>>>,
            func: Option<Box<dyn FnOnce() -> R + Send>>,
            pool: Arc<ThreadPool>,
        }
        impl<R: Send + 'static> Future for Fut<R> {
            type Output = Result<R, ThreadPoolError>;
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                if let Some(f) = self.func.take() {
                    self.shared.lock().waker = Some(cx.waker().clone());
                    let s = Arc::clone(&self.shared);
                    self.pool.submit(f, move |r| {
                        let w = {
                            let mut g = s.lock();
                            g.res = Some(r);
                            g.waker.take()
                        };
                        if let Some(w) = w {
                            w.wake();
                        }
                    });
                    return Poll::Pending;
                }
                let mut g = self.shared.lock();
                match g.res.take() {
                    Some(r) => Poll::Ready(r),
                    None => {
                        g.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            }
        }
        // Make the future Unpin-friendly by boxing the closure.
        Fut {
            shared,
            func: Some(Box::new(func)),
            pool,
        }
    }

    /// `thread_pool_cancel`: succeeds only while the request is still
    /// queued; its completion then reports [`ThreadPoolError::Cancelled`]
    /// from the BH.
    /// Returns whether it was cancelled.
    pub fn cancel(&self, req: &ThreadPoolRequest) -> bool {
        let mut st = self.state.lock();
        if req.0.state.load(Ordering::Acquire) != QUEUED {
            return false;
        }
        if let Some(i) = st.queue.iter().position(|e| Arc::ptr_eq(e, &req.0)) {
            st.queue.remove(i);
            drop(st);
            req.0.work.lock().take();
            req.0.cancelled.store(1, Ordering::Relaxed);
            req.0.state.store(DONE, Ordering::Release);
            AioContext::schedule_internal_bh(&self.completion_bh);
            return true;
        }
        false
    }

    /// `spawn_thread_bh_fn`: starts the workers counted by `submit`.
    fn spawn_pending(&self) {
        let mut st = self.state.lock();
        while st.pending_threads > 0 {
            st.pending_threads -= 1;
            let pool = self.self_weak.clone();
            let h = std::thread::Builder::new()
                .name("worker".into())
                .spawn(move || worker_thread(pool))
                .expect("spawn thread-pool worker");
            st.handles.retain(|h| !h.is_finished());
            st.handles.push(h);
        }
    }

    /// `thread_pool_completion_bh`.
    fn completion_bh_cb(&self) {
        loop {
            let done = {
                let mut head = self.head.lock();
                let pos = head
                    .iter()
                    .position(|e| e.state.load(Ordering::Acquire) == DONE);
                pos.map(|i| head.remove(i))
            };
            let Some(e) = done else { break };
            // Reschedule ourselves first: the callback may run a nested
            // poll that waits for another completion.
            AioContext::schedule_internal_bh(&self.completion_bh);
            let cb = e.completion.lock().take();
            if let Some(cb) = cb {
                let panicked = e.panicked.lock().take();
                let r = if e.cancelled.load(Ordering::Relaxed) != 0 {
                    Err(ThreadPoolError::Cancelled)
                } else if let Some(msg) = panicked {
                    Err(ThreadPoolError::Panicked(msg))
                } else {
                    Ok(())
                };
                cb(r);
            }
            self.completion_bh
                .flags
                .fetch_and(!crate::bh::BH_SCHEDULED, Ordering::AcqRel);
        }
    }
}

fn worker_thread(pool: Weak<ThreadPool>) {
    let Some(p) = pool.upgrade() else { return };
    let mut st = p.state.lock();
    loop {
        if st.cur_threads > st.max {
            break;
        }
        let Some(e) = st.queue.pop_front() else {
            st.idle_threads += 1;
            let to = st.idle_timeout;
            let timed_out = p.cond.wait_for(&mut st, to).timed_out();
            st.idle_threads -= 1;
            if timed_out && st.queue.is_empty() && st.cur_threads > st.min {
                break;
            }
            continue;
        };
        e.state.store(ACTIVE, Ordering::Release);
        drop(st);
        let w = e.work.lock().take();
        if let Some(w) = w {
            // A panicking work function must still complete its request
            // (or submit_co and run_until_done would wait forever) and
            // must not take the worker, and its cur_threads count, down.
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(w)) {
                *e.panicked.lock() = Some(crate::main_loop::panic_message(&p));
            }
        }
        // ret is stored (inside the closure); now publish DONE.
        e.state.store(DONE, Ordering::Release);
        AioContext::schedule_internal_bh(&p.completion_bh);
        st = p.state.lock();
    }
    st.cur_threads -= 1;
    drop(st);
    p.cond.notify_one();
    p.exit_cond.notify_all();
}

impl ThreadPool {
    /// Called when the owning context is dropped: no completion can run
    /// any more, so queued requests are dropped and every worker exits
    /// (idle ones at once, busy ones after their current request), which
    /// releases their references to the pool.
    pub(crate) fn shutdown(&self) {
        let mut st = self.state.lock();
        st.max = 0;
        st.min = 0;
        st.queue.clear();
        drop(st);
        self.cond.notify_all();
    }
}

impl Drop for ThreadPool {
    /// `thread_pool_free`: stops every worker and waits for it to exit.
    fn drop(&mut self) {
        let handles = {
            let mut st = self.state.lock();
            st.max = 0;
            st.queue.clear();
            std::mem::take(&mut st.handles)
        };
        self.cond.notify_all();
        let me = std::thread::current().id();
        for h in handles {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }
}
