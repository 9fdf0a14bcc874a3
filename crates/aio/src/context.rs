//! `AioContext`: QEMU's event loop (`util/async.c`, `util/aio-posix.c`,
//! `util/fdmon-epoll.c`, `util/fdmon-poll.c`).
//!
//! # Threading model
//! Every context has one *home thread*, the only thread that may call
//! [`AioContext::poll`]. It is fixed by [`set_current_aio_context`] or, for
//! a thread that has no current context yet, by the first `poll`. The main
//! context is also "home" for any thread that holds the BQL (QEMU's
//! `qemu_get_current_aio_context`), but only one thread at a time may be
//! inside a context's `poll` (nesting is fine; a concurrent second poller
//! panics). Everything else is thread-safe and may be
//! called from any thread: scheduling bottom halves, [`AioContext::notify`],
//! [`AioContext::set_fd_handler`], arming timers, scheduling coroutines.
//! All callbacks (bottom halves, fd handlers, timers, coroutines) run in the
//! home thread, inside `poll`.
//!
//! # One iteration of `poll`
//! Compute the timeout (0 if not blocking or a non-idle BH is pending),
//! busy-poll the `io_poll` handlers (adaptive window), announce a possible
//! block through `notify_me`, wait on epoll (ns precision), accept the
//! notification, then dispatch in QEMU's order: **bottom halves, fd and
//! poll handlers, timers**. The result says whether any callback other than
//! the context's own notifier or an idle BH ran.
//!
//! # Panics in callbacks
//! A panicking callback does not cut the iteration short: the rest of the
//! phase's work waits for the next `poll` only within that phase (the
//! remaining bottom halves of the batch, the remaining expired timers),
//! while every other ready fd handler and the later phases still run; the
//! first panic is then re-raised out of `poll` to its caller. The context
//! is left consistent: no lock is held across a callback, a bottom half is
//! dequeued and its flags cleared before it runs, a timer is unlinked
//! before it runs, and a coroutine batch that a panic interrupts goes back
//! to the context's schedule list.
//! [`IoThread`](crate::IoThread) and the main loop catch the panic, report
//! it on stderr and keep looping.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::ThreadId;

use parking_lot::Mutex;
use rustix::event::{PollFd, PollFlags, Timespec, epoll};

use crate::EventNotifier;
use crate::bh::{
    BH_DELETED, BH_IDLE, BH_ONESHOT, BH_PENDING, BH_SCHEDULED, BhCallback, BhInner, BhStack,
    MemReentrancyGuard, QemuBh,
};
use crate::coroutine::CoInner;
use crate::notify::NotifyState;
use crate::thread_pool::ThreadPool;
use crate::timer::{
    ClockType, QemuClock, TimerList, TimerListGroup, get_clock, qemu_soonest_timeout,
};

/// A handler without a return value (`IOHandler`).
pub type IoHandler = Arc<dyn Fn() + Send + Sync>;
/// A busy-poll function (`AioPollFn`): returns true when there is work.
pub type IoPollFn = Arc<dyn Fn() -> bool + Send + Sync>;

/// The callbacks of one fd handler (`aio_set_fd_handler` arguments).
///
/// `io_read` runs while the fd is readable (or has HUP/ERR), `io_write`
/// while it is writable (or has ERR); both are level-triggered. `io_poll`
/// is the optional busy-poll check, `io_poll_ready` runs when `io_poll`
/// reported work, `io_poll_begin`/`io_poll_end` bracket a busy-poll phase
/// (devices switch guest notifications off and on there).
#[derive(Clone, Default)]
pub struct AioHandlerOps {
    /// `io_read`.
    pub io_read: Option<IoHandler>,
    /// `io_write`.
    pub io_write: Option<IoHandler>,
    /// `io_poll`.
    pub io_poll: Option<IoPollFn>,
    /// `io_poll_ready`.
    pub io_poll_ready: Option<IoHandler>,
    /// `io_poll_begin`.
    pub io_poll_begin: Option<IoHandler>,
    /// `io_poll_end`.
    pub io_poll_end: Option<IoHandler>,
}

impl std::fmt::Debug for AioHandlerOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AioHandlerOps")
            .field("io_read", &self.io_read.is_some())
            .field("io_write", &self.io_write.is_some())
            .field("io_poll", &self.io_poll.is_some())
            .finish()
    }
}

/// How a context waits for fds (QEMU's `FDMonOps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdMonKind {
    /// epoll, level-triggered; timed waits use `ppoll` on the epoll fd for
    /// nanosecond precision, as `fdmon-epoll.c` does.
    Epoll,
    /// `ppoll` over every registered fd (the fallback).
    Poll,
}

/// `POLL_IDLE_INTERVAL_NS`: a handler leaves busy polling after this long
/// without a successful `io_poll`.
pub const POLL_IDLE_INTERVAL_NS: i64 = 7_000_000_000;
/// The first non-zero polling window of a handler.
pub const POLL_NS_INITIAL: i64 = 4000;
/// An idle BH caps the poll timeout at 10 ms.
const IDLE_BH_TIMEOUT_NS: i64 = 10_000_000;
const NOTIFIER_TOKEN: u64 = u64::MAX;

const EV_IN: u32 = 1;
const EV_OUT: u32 = 2;
const EV_HUP: u32 = 4;
const EV_ERR: u32 = 8;

struct PollState {
    /// `node->poll.ns`: this handler's busy-poll window.
    ns: i64,
    idle_timeout: i64,
    in_poll_list: bool,
}

pub(crate) struct AioHandler {
    id: u32,
    fd: RawFd,
    ops: AioHandlerOps,
    deleted: AtomicBool,
    /// Set when poll(2) reported POLLNVAL (fd closed behind our back): the
    /// handler is skipped instead of spinning.
    invalid: AtomicBool,
    /// epoll refused the fd (EPERM: a regular file or directory, which
    /// poll(2) reports as always ready): dispatched on every iteration.
    always_ready: AtomicBool,
    /// The context's own notifier (`ctx->notifier`): polled like any
    /// handler (its `io_poll` is `notified`) but never counts as progress.
    is_notifier: bool,
    /// Stamp of the ready list that holds this node (0 = none), so a
    /// readiness is dispatched at most once across nested polls.
    ready_stamp: AtomicU64,
    poll: Mutex<PollState>,
}

impl AioHandler {
    fn events(&self) -> u32 {
        (if self.ops.io_read.is_some() { EV_IN } else { 0 })
            | (if self.ops.io_write.is_some() {
                EV_OUT
            } else {
                0
            })
    }
}

struct Ready {
    node: Arc<AioHandler>,
    revents: u32,
    poll_ready: bool,
    stamp: u64,
}

struct HandlerTable {
    by_fd: HashMap<RawFd, Arc<AioHandler>>,
    next_id: u32,
    /// Handlers with `always_ready` (the wait never blocks while any
    /// exists).
    always_ready: usize,
    /// Handlers without `io_poll` (`poll_disable_cnt`): while any exists
    /// the fd wait cannot be skipped (`fdmon_ops->need_wait`).
    poll_disable_cnt: usize,
}

struct HomeState {
    bh_slices: VecDeque<VecDeque<Arc<BhInner>>>,
    poll_handlers: Vec<Arc<AioHandler>>,
    poll_started: bool,
    /// Poll nesting depth, and the thread that polls (QEMU allows one
    /// poller at a time; the pending-BH walk in `compute_timeout` and the
    /// ready lists depend on it).
    depth: u32,
    poller: Option<ThreadId>,
    next_stamp: u64,
}

enum FdMon {
    Epoll(OwnedFd),
    Poll,
}

/// An event loop (`AioContext`). Always used through `Arc<AioContext>`.
pub struct AioContext {
    name: String,
    pub(crate) notify_state: NotifyState,
    notifier: EventNotifier,
    pub(crate) bh_list: BhStack,
    home: OnceLock<ThreadId>,
    home_state: Mutex<HomeState>,
    handlers: Mutex<HandlerTable>,
    fdmon: FdMon,
    tlg: TimerListGroup,
    poll_max_ns: AtomicI64,
    poll_grow: AtomicI64,
    poll_shrink: AtomicI64,
    pub(crate) co_scheduled: Mutex<VecDeque<Arc<CoInner>>>,
    co_schedule_bh: Arc<BhInner>,
    notifier_node: Arc<AioHandler>,
    pub(crate) thread_pool: OnceLock<Arc<ThreadPool>>,
    pub(crate) is_iohandler: bool,
    eventfd_writes: AtomicU64,
    self_weak: Weak<AioContext>,
}

impl std::fmt::Debug for AioContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AioContext")
            .field("name", &self.name)
            .finish()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<AioContext>>> = const { RefCell::new(None) };
    static SLACK_SET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Reused epoll event buffer (a nested poll finds it taken and
    /// allocates its own).
    static EVENT_BUF: RefCell<Vec<epoll::Event>> = const { RefCell::new(Vec::new()) };
}

static MAIN_CONTEXT: OnceLock<Arc<AioContext>> = OnceLock::new();

/// `qemu_set_current_aio_context`: makes `ctx` the calling thread's
/// context and the thread `ctx`'s home.
///
/// # Panics
/// If the thread already has a different context, or `ctx` already has a
/// different home thread.
pub fn set_current_aio_context(ctx: &Arc<AioContext>) {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(cur) = c.as_ref() {
            assert!(
                Arc::ptr_eq(cur, ctx),
                "qemu_set_current_aio_context: thread already has context {:?}",
                cur.name
            );
            return;
        }
        ctx.claim_home();
        *c = Some(Arc::clone(ctx));
    });
}

/// `qemu_get_current_aio_context`: the calling thread's context; the main
/// context for a thread that has none but holds the BQL; otherwise `None`.
pub fn current_aio_context() -> Option<Arc<AioContext>> {
    if let Some(c) = CURRENT.with(|c| c.borrow().clone()) {
        return Some(c);
    }
    if crate::bql::bql_locked() {
        return MAIN_CONTEXT.get().cloned();
    }
    None
}

/// Whether the calling thread may run `ctx`'s callbacks: it is `ctx`'s home
/// thread, or `ctx` is the main context and the thread holds the BQL.
pub(crate) fn is_current(ctx: &AioContext) -> bool {
    if ctx.home.get() == Some(&std::thread::current().id()) {
        return true;
    }
    crate::bql::bql_locked()
        && MAIN_CONTEXT
            .get()
            .is_some_and(|m| std::ptr::eq(Arc::as_ptr(m), ctx))
}

/// The main context (`qemu_get_aio_context`), if the main loop exists.
pub fn main_aio_context() -> Option<Arc<AioContext>> {
    MAIN_CONTEXT.get().cloned()
}

pub(crate) fn set_main_context(ctx: Arc<AioContext>) -> Arc<AioContext> {
    Arc::clone(MAIN_CONTEXT.get_or_init(|| ctx))
}

fn set_timer_slack_once() {
    SLACK_SET.with(|s| {
        if !s.get() {
            s.set(true);
            // init_clocks: 1 ns timer slack so ns deadlines are honoured.
            let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
        }
    });
}

fn now_ns() -> i64 {
    get_clock()
}

fn timespec(ns: i64) -> Timespec {
    Timespec {
        tv_sec: (ns / 1_000_000_000).min(i64::from(i32::MAX)),
        tv_nsec: ns % 1_000_000_000,
    }
}

type Panic = Box<dyn std::any::Any + Send>;

/// Runs one part of a poll iteration; a panic is recorded in `slot` (the
/// first one wins) and counts as progress, since a callback did run.
fn contain(slot: &mut Option<Panic>, f: impl FnOnce() -> bool) -> bool {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(p) => p,
        Err(e) => {
            slot.get_or_insert(e);
            true
        }
    }
}

/// Deferred decrement of the poll depth (and release of the poller claim),
/// also on unwind.
struct DepthGuard<'a>(&'a AioContext);
impl Drop for DepthGuard<'_> {
    fn drop(&mut self) {
        let mut hs = self.0.home_state.lock();
        hs.depth -= 1;
        if hs.depth == 0 {
            hs.poller = None;
        }
    }
}

impl Drop for AioContext {
    fn drop(&mut self) {
        // The pool's workers hold it alive; tell them to exit.
        if let Some(p) = self.thread_pool.get() {
            p.shutdown();
        }
    }
}

impl AioContext {
    /// `aio_context_new`: a context with epoll (falling back to poll), no
    /// busy polling (`poll-max-ns=0`, like the main context).
    pub fn new(name: &str) -> std::io::Result<Arc<Self>> {
        Self::with_fdmon(name, FdMonKind::Epoll)
    }

    /// A context with an explicit fd monitor.
    pub fn with_fdmon(name: &str, kind: FdMonKind) -> std::io::Result<Arc<Self>> {
        Self::build(name, kind, false)
    }

    pub(crate) fn build(
        name: &str,
        kind: FdMonKind,
        is_iohandler: bool,
    ) -> std::io::Result<Arc<Self>> {
        let notifier = EventNotifier::new(false)?;
        let fdmon = match kind {
            FdMonKind::Epoll => match epoll::create(epoll::CreateFlags::CLOEXEC) {
                Ok(ep) => {
                    epoll::add(
                        &ep,
                        notifier.as_fd(),
                        epoll::EventData::new_u64(NOTIFIER_TOKEN),
                        // Edge-triggered: every write is a new edge, so the
                        // eventfd need not be drained on each wake-up (one
                        // syscall less); `notifier_set` drains it if the
                        // counter ever saturates.
                        epoll::EventFlags::IN | epoll::EventFlags::ET,
                    )?;
                    FdMon::Epoll(ep)
                }
                Err(_) => FdMon::Poll,
            },
            FdMonKind::Poll => FdMon::Poll,
        };
        Ok(Arc::new_cyclic(|weak: &Weak<AioContext>| {
            let w = weak.clone();
            let co_schedule_bh = BhInner::new(
                weak.clone(),
                BhCallback::Fn(Box::new(move || {
                    if let Some(ctx) = w.upgrade() {
                        crate::coroutine::co_schedule_bh_cb(&ctx);
                    }
                })),
                "co_schedule_bh",
                None,
            );
            let wn = weak.clone();
            let notifier_node = Arc::new(AioHandler {
                id: 0,
                fd: notifier.as_raw_fd(),
                ops: AioHandlerOps {
                    // Epoll: edge-triggered, nothing to drain; poll: drained
                    // in fdmon_wait.
                    io_read: Some(Arc::new(|| {})),
                    io_poll: Some(Arc::new(move || {
                        wn.upgrade().is_some_and(|c| c.notify_state.notified())
                    })),
                    io_poll_ready: Some(Arc::new(|| {})),
                    ..Default::default()
                },
                deleted: AtomicBool::new(false),
                invalid: AtomicBool::new(false),
                always_ready: AtomicBool::new(false),
                is_notifier: true,
                ready_stamp: AtomicU64::new(0),
                poll: Mutex::new(PollState {
                    ns: 0,
                    idle_timeout: 0,
                    in_poll_list: false,
                }),
            });
            AioContext {
                name: name.to_owned(),
                notify_state: NotifyState::new(),
                notifier,
                bh_list: BhStack::new(),
                home: OnceLock::new(),
                home_state: Mutex::new(HomeState {
                    bh_slices: VecDeque::new(),
                    poll_handlers: Vec::new(),
                    poll_started: false,
                    depth: 0,
                    poller: None,
                    next_stamp: 1,
                }),
                handlers: Mutex::new(HandlerTable {
                    by_fd: HashMap::new(),
                    next_id: 1,
                    always_ready: 0,
                    poll_disable_cnt: 0,
                }),
                fdmon,
                tlg: TimerListGroup::new(weak.clone()),
                poll_max_ns: AtomicI64::new(0),
                poll_grow: AtomicI64::new(0),
                poll_shrink: AtomicI64::new(0),
                co_scheduled: Mutex::new(VecDeque::new()),
                co_schedule_bh,
                notifier_node,
                thread_pool: OnceLock::new(),
                is_iohandler,
                eventfd_writes: AtomicU64::new(0),
                self_weak: weak.clone(),
            }
        }))
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which fd monitor this context uses.
    pub fn fdmon_kind(&self) -> FdMonKind {
        match self.fdmon {
            FdMon::Epoll(_) => FdMonKind::Epoll,
            FdMon::Poll => FdMonKind::Poll,
        }
    }

    pub(crate) fn arc(&self) -> Arc<AioContext> {
        self.self_weak
            .upgrade()
            .expect("AioContext used after drop")
    }

    fn claim_home(&self) {
        let me = std::thread::current().id();
        let home = *self.home.get_or_init(|| me);
        assert!(
            home == me,
            "AioContext {:?} used outside its home thread",
            self.name
        );
        set_timer_slack_once();
    }

    /// Whether a home thread has been bound (by
    /// [`set_current_aio_context`] or a first poll).
    pub fn has_home(&self) -> bool {
        self.home.get().is_some()
    }

    /// `aio_context_set_thread_pool_params`: bounds of this context's
    /// thread pool.
    ///
    /// # Panics
    /// If `min > max` or `max == 0`.
    pub fn set_thread_pool_params(&self, min: usize, max: usize) {
        self.thread_pool().set_params(min, max);
    }

    /// `in_aio_context_home_thread`.
    pub fn in_home_thread(&self) -> bool {
        if self.is_iohandler {
            return MAIN_CONTEXT.get().is_some_and(|m| is_current(m));
        }
        is_current(self)
    }

    fn assert_home(&self) {
        if self.in_home_thread() {
            return;
        }
        if self.home.get().is_none() && !self.is_iohandler && !self.is_main() {
            // The first thread that polls an unbound context becomes its
            // home (and, if it has none, this is its current context).
            self.claim_home();
            CURRENT.with(|c| {
                let mut c = c.borrow_mut();
                if c.is_none() {
                    *c = Some(self.arc());
                }
            });
            return;
        }
        panic!("aio_poll on {:?} outside its home thread", self.name);
    }

    fn is_main(&self) -> bool {
        MAIN_CONTEXT
            .get()
            .is_some_and(|m| std::ptr::eq(Arc::as_ptr(m), self))
    }

    /// `aio_notify`: wakes the home thread if it may be blocked in `poll`,
    /// or makes its next wait return at once. Any thread; the eventfd is
    /// written only when the loop may be blocked.
    pub fn notify(&self) {
        if self.notify_state.notify() {
            self.eventfd_writes.fetch_add(1, Ordering::Relaxed);
            self.notifier_set();
        }
    }

    /// `event_notifier_set` on the context's own notifier. With the epoll
    /// backend the notifier is edge-triggered and never drained by the
    /// poller, so a saturated counter (EAGAIN) is drained here and written
    /// again to produce a new edge.
    fn notifier_set(&self) {
        let one = 1u64.to_ne_bytes();
        loop {
            match rustix::io::write(&self.notifier, &one) {
                Ok(_) => return,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => {
                    self.notifier.test_and_clear();
                }
                Err(e) => panic!("aio_notify: eventfd write failed: {e}"),
            }
        }
    }

    /// How many times [`notify`](Self::notify) had to write the eventfd
    /// (for benchmarks and tests of the `notify_me` fast path).
    pub fn eventfd_writes(&self) -> u64 {
        self.eventfd_writes.load(Ordering::Relaxed)
    }

    // --- bottom halves ---------------------------------------------------

    /// `aio_bh_new`: a bottom half bound to this context, not scheduled.
    pub fn bh_new(
        self: &Arc<Self>,
        name: &'static str,
        cb: impl Fn() + Send + Sync + 'static,
    ) -> QemuBh {
        self.bh_new_guarded(name, cb, None)
    }

    /// `aio_bh_new_guarded`: like [`bh_new`](Self::bh_new), with a device
    /// re-entrancy guard that is engaged while the callback runs.
    pub fn bh_new_guarded(
        self: &Arc<Self>,
        name: &'static str,
        cb: impl Fn() + Send + Sync + 'static,
        guard: Option<Arc<MemReentrancyGuard>>,
    ) -> QemuBh {
        let inner = BhInner::new(
            Arc::downgrade(self),
            BhCallback::Fn(Box::new(cb)),
            name,
            guard,
        );
        QemuBh::from_parts(inner, Arc::clone(self))
    }

    /// `aio_bh_schedule_oneshot`: runs `cb` once in this context's home
    /// thread at its next dispatch. The recommended way to call a function
    /// in another thread. Any thread.
    pub fn bh_schedule_oneshot(&self, cb: impl FnOnce() + Send + 'static) {
        self.bh_schedule_oneshot_named("oneshot", cb);
    }

    /// [`bh_schedule_oneshot`](Self::bh_schedule_oneshot) with a name.
    pub fn bh_schedule_oneshot_named(
        &self,
        name: &'static str,
        cb: impl FnOnce() + Send + 'static,
    ) {
        let bh = BhInner::new(
            self.self_weak.clone(),
            BhCallback::Once(Mutex::new(Some(Box::new(cb)))),
            name,
            None,
        );
        bh.enqueue_on(self, BH_SCHEDULED | BH_ONESHOT);
    }

    pub(crate) fn schedule_internal_bh(bh: &Arc<BhInner>) {
        bh.enqueue(BH_SCHEDULED);
    }

    pub(crate) fn schedule_co_bh(&self) {
        self.co_schedule_bh.enqueue_on(self, BH_SCHEDULED);
    }

    /// `aio_bh_poll`: runs the pending BHs. Returns true if a non-idle BH
    /// ran.
    fn bh_poll(&self) -> bool {
        let slice = self.bh_list.take_all();
        let mut progress = false;
        {
            let mut hs = self.home_state.lock();
            if slice.is_empty() && hs.bh_slices.is_empty() {
                return false;
            }
            hs.bh_slices.push_back(slice);
        }
        loop {
            // Pop from the first slice: a nested poll finishes the
            // parent's BHs before its own.
            let bh = {
                let mut hs = self.home_state.lock();
                let Some(first) = hs.bh_slices.front_mut() else {
                    break;
                };
                match first.pop_front() {
                    Some(bh) => bh,
                    None => {
                        hs.bh_slices.pop_front();
                        continue;
                    }
                }
            };
            let flags = bh
                .flags
                .fetch_and(!(BH_PENDING | BH_SCHEDULED | BH_IDLE), Ordering::AcqRel);
            if flags & (BH_SCHEDULED | BH_DELETED) == BH_SCHEDULED {
                if flags & BH_IDLE == 0 {
                    progress = true;
                }
                bh.call();
            }
            // DELETED or ONESHOT: our Arc is the stack's reference; dropping
            // it frees the BH once no handle remains.
        }
        progress
    }

    /// `aio_compute_timeout`: the timeout a blocking poll would use, in ns
    /// (-1 = infinite).
    ///
    /// # Panics
    /// Outside the home thread (it walks the pending-BH list, which only
    /// the home thread may do); like `poll`, a thread without a context
    /// claims an unbound context.
    pub fn compute_timeout(&self) -> i64 {
        self.assert_home();
        let _depth = self.enter_poller();
        self.compute_timeout_home()
    }

    /// Claims this context for the calling thread as its one poller
    /// (nested polls from the same thread just go deeper).
    ///
    /// The main context is "home" to every BQL holder, and the main loop
    /// releases the BQL while it blocks, so another BQL holder could
    /// otherwise poll it at the same time: that would walk the pending-BH
    /// list while the other poller frees its entries, and mix their ready
    /// lists. A second concurrent poller is refused instead.
    ///
    /// # Panics
    /// If another thread is inside `poll` (or `compute_timeout`) of this
    /// context.
    fn enter_poller(&self) -> DepthGuard<'_> {
        let me = std::thread::current().id();
        let mut hs = self.home_state.lock();
        if let Some(t) = hs.poller
            && t != me
        {
            drop(hs);
            panic!(
                "aio_poll: AioContext {:?} is already being polled by another thread \
                 (one poller at a time)",
                self.name
            );
        }
        hs.poller = Some(me);
        hs.depth += 1;
        DepthGuard(self)
    }

    fn compute_timeout_home(&self) -> i64 {
        fn check(timeout: &mut i64, flags: u32) {
            if flags & (BH_SCHEDULED | BH_DELETED) == BH_SCHEDULED {
                if flags & BH_IDLE != 0 {
                    *timeout = qemu_soonest_timeout(*timeout, IDLE_BH_TIMEOUT_NS);
                } else {
                    *timeout = 0;
                }
            }
        }
        let mut timeout = -1i64;
        self.bh_list
            .for_each(|bh| check(&mut timeout, bh.flags.load(Ordering::Acquire)));
        if timeout != 0 {
            let hs = self.home_state.lock();
            for s in &hs.bh_slices {
                for bh in s {
                    check(&mut timeout, bh.flags.load(Ordering::Acquire));
                }
            }
        }
        if timeout == 0 {
            return 0;
        }
        qemu_soonest_timeout(timeout, self.tlg.deadline_ns())
    }

    // --- timers ----------------------------------------------------------

    pub(crate) fn timer_list(&self, clock: ClockType) -> &Arc<TimerList> {
        &self.tlg.lists[clock as usize]
    }

    /// `timerlistgroup_deadline_ns` of this context.
    pub fn timers_deadline_ns(&self) -> i64 {
        self.tlg.deadline_ns()
    }

    // --- fd handlers -----------------------------------------------------

    /// `aio_set_fd_handler`: installs, replaces or (all of `io_read`,
    /// `io_write`, `io_poll` `None`) removes the handler of `fd`. Any
    /// thread. An `io_poll` without `io_poll_ready` is ignored, as in QEMU.
    ///
    /// The caller keeps `fd` open while the handler is installed. Closing
    /// it anyway is handled: epoll forgets closed fds, and the poll backend
    /// drops fds that report `POLLNVAL` instead of spinning.
    pub fn set_fd_handler(&self, fd: RawFd, mut ops: AioHandlerOps) {
        if ops.io_poll_ready.is_none() {
            ops.io_poll = None;
        }
        let remove = ops.io_read.is_none() && ops.io_write.is_none() && ops.io_poll.is_none();
        {
            let mut t = self.handlers.lock();
            let old = t.by_fd.remove(&fd);
            if let Some(old) = &old {
                old.deleted.store(true, Ordering::Release);
                if old.always_ready.load(Ordering::Relaxed) {
                    t.always_ready -= 1;
                }
                if old.ops.io_poll.is_none() {
                    t.poll_disable_cnt -= 1;
                }
            }
            if remove {
                if old.is_some()
                    && let FdMon::Epoll(ep) = &self.fdmon
                {
                    // SAFETY: `fd` is only borrowed for the syscall; if it
                    // was closed, epoll_ctl fails and we ignore that.
                    let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
                    let _ = epoll::delete(ep, bfd);
                }
            } else {
                let id = t.next_id;
                t.next_id = t.next_id.wrapping_add(1).max(1);
                let node = Arc::new(AioHandler {
                    id,
                    fd,
                    ops,
                    deleted: AtomicBool::new(false),
                    invalid: AtomicBool::new(false),
                    always_ready: AtomicBool::new(false),
                    is_notifier: false,
                    ready_stamp: AtomicU64::new(0),
                    poll: Mutex::new(PollState {
                        ns: 0,
                        idle_timeout: 0,
                        in_poll_list: false,
                    }),
                });
                if let FdMon::Epoll(ep) = &self.fdmon {
                    let mut flags = epoll::EventFlags::empty();
                    if node.ops.io_read.is_some() {
                        flags |= epoll::EventFlags::IN | epoll::EventFlags::RDHUP;
                    }
                    if node.ops.io_write.is_some() {
                        flags |= epoll::EventFlags::OUT;
                    }
                    let data = epoll::EventData::new_u64((u64::from(id) << 32) | fd as u32 as u64);
                    // SAFETY: as above, a borrow for the duration of the call.
                    let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
                    let r = if old.is_some() {
                        epoll::modify(ep, bfd, data, flags).or_else(|e| {
                            if e == rustix::io::Errno::NOENT {
                                epoll::add(ep, bfd, data, flags)
                            } else {
                                Err(e)
                            }
                        })
                    } else {
                        epoll::add(ep, bfd, data, flags).or_else(|e| {
                            if e == rustix::io::Errno::EXIST {
                                epoll::modify(ep, bfd, data, flags)
                            } else {
                                Err(e)
                            }
                        })
                    };
                    match r {
                        Ok(()) => {}
                        // Files that epoll cannot watch are always ready
                        // for poll(2); keep that level-triggered meaning.
                        Err(rustix::io::Errno::PERM) => {
                            node.always_ready.store(true, Ordering::Relaxed);
                            t.always_ready += 1;
                        }
                        // A bad fd is a caller bug, but not worth a crash:
                        // the handler simply never fires (like a closed fd).
                        Err(e) => {
                            node.invalid.store(true, Ordering::Relaxed);
                            eprintln!(
                                "ferrite: aio_set_fd_handler: epoll_ctl on fd {fd} failed: {e}"
                            );
                        }
                    }
                }
                if node.ops.io_poll.is_none() {
                    t.poll_disable_cnt += 1;
                }
                t.by_fd.insert(fd, node);
            }
        }
        self.notify();
    }

    /// Convenience for [`set_fd_handler`](Self::set_fd_handler) with only
    /// read and write callbacks (no polling).
    pub fn set_fd_rw(&self, fd: RawFd, io_read: Option<IoHandler>, io_write: Option<IoHandler>) {
        self.set_fd_handler(
            fd,
            AioHandlerOps {
                io_read,
                io_write,
                ..Default::default()
            },
        );
    }

    /// Removes the handler of `fd` (if any).
    pub fn remove_fd_handler(&self, fd: RawFd) {
        self.set_fd_handler(fd, AioHandlerOps::default());
    }

    /// `aio_set_event_notifier`: a read handler (and optional busy-poll
    /// pair) on an [`EventNotifier`]. The notifier must stay alive while
    /// registered.
    pub fn set_event_notifier(
        &self,
        e: &EventNotifier,
        io_read: Option<IoHandler>,
        io_poll: Option<IoPollFn>,
        io_poll_ready: Option<IoHandler>,
    ) {
        self.set_fd_handler(
            e.as_raw_fd(),
            AioHandlerOps {
                io_read,
                io_poll,
                io_poll_ready,
                ..Default::default()
            },
        );
    }

    /// `aio_set_event_notifier_poll`: installs `io_poll_begin`/`io_poll_end`
    /// on an already registered notifier.
    pub fn set_event_notifier_poll(
        &self,
        e: &EventNotifier,
        begin: Option<IoHandler>,
        end: Option<IoHandler>,
    ) {
        let fd = e.as_raw_fd();
        let ops = self.handlers.lock().by_fd.get(&fd).map(|n| n.ops.clone());
        if let Some(mut ops) = ops {
            ops.io_poll_begin = begin;
            ops.io_poll_end = end;
            self.set_fd_handler(fd, ops);
        }
    }

    /// Number of installed fd handlers.
    pub fn fd_handler_count(&self) -> usize {
        self.handlers.lock().by_fd.len()
    }

    // --- polling parameters ---------------------------------------------

    /// `aio_context_set_poll_params`: `max_ns` 0 disables busy polling;
    /// `grow` 0 means ×2, `shrink` 0 means "reset to 0". Resets every
    /// handler's window and notifies the loop.
    ///
    /// # Panics
    /// On a negative value (a programming error here; user input goes
    /// through [`IoThread::set_poll_params`](crate::IoThread::set_poll_params),
    /// which returns QEMU's error instead).
    pub fn set_poll_params(&self, max_ns: i64, grow: i64, shrink: i64) {
        assert!(
            max_ns >= 0 && grow >= 0 && shrink >= 0,
            "poll params must be >= 0"
        );
        self.poll_max_ns.store(max_ns, Ordering::Release);
        self.poll_grow.store(grow, Ordering::Release);
        self.poll_shrink.store(shrink, Ordering::Release);
        self.reset_poll_windows();
        self.notify();
    }

    /// The current `(poll_max_ns, poll_grow, poll_shrink)`.
    pub fn poll_params(&self) -> (i64, i64, i64) {
        (
            self.poll_max_ns.load(Ordering::Acquire),
            self.poll_grow.load(Ordering::Acquire),
            self.poll_shrink.load(Ordering::Acquire),
        )
    }

    /// The busy-poll window of the context's own notifier.
    pub fn notifier_poll_ns(&self) -> i64 {
        self.notifier_node.poll.lock().ns
    }

    /// The busy-poll window of the handler of `fd` (`node->poll.ns`), for
    /// tests and statistics.
    pub fn handler_poll_ns(&self, fd: RawFd) -> Option<i64> {
        self.handlers
            .lock()
            .by_fd
            .get(&fd)
            .map(|n| n.poll.lock().ns)
    }

    // --- aio_poll ---------------------------------------------------------

    /// `aio_poll`: one iteration of the event loop. With `blocking`, waits
    /// until something happens (unless a BH is already pending). Returns
    /// true if progress was made: a non-idle BH, an fd or poll handler, or
    /// a timer ran. May be called re-entrantly from any callback.
    ///
    /// # Panics
    /// If called outside the home thread, or while another thread is inside
    /// `poll` of this context. A panic raised by a callback is re-raised
    /// here once the rest of the iteration (the other ready handlers, the
    /// later phases) has run.
    pub fn poll(&self, blocking: bool) -> bool {
        self.poll_inner(blocking, None)
    }

    /// The main loop's variant: also wakes when `extra` is readable, and
    /// never sleeps past `cap_ns` (-1: no cap).
    pub(crate) fn poll_inner(
        &self,
        blocking: bool,
        extra: Option<(BorrowedFd<'_>, i64, bool)>,
    ) -> bool {
        self.assert_home();
        let _depth = self.enter_poller();

        let poll_max = self.poll_max_ns.load(Ordering::Acquire);
        let start = if poll_max > 0 { now_ns() } else { 0 };
        let mut timeout = if blocking {
            self.compute_timeout_home()
        } else {
            0
        };
        let release_bql = extra.as_ref().is_some_and(|e| e.2);
        if let Some((_, cap, _)) = &extra {
            timeout = qemu_soonest_timeout(timeout, *cap);
        }
        let mut ready: Vec<Ready> = Vec::new();

        let polled = self.try_poll_mode(&mut ready, &mut timeout, poll_max);

        let need_wait = {
            let t = self.handlers.lock();
            if timeout != 0 && t.always_ready > 0 {
                timeout = 0;
            }
            // fdmon_ops->need_wait: fds without io_poll (or always-ready
            // files) can only be seen by the wait.
            t.poll_disable_cnt > 0 || t.always_ready > 0
        };
        // Busy polling found work (timeout is 0 then) and every handler is
        // pollable: skip the wait, as QEMU's aio_poll does. Waiting anyway
        // would re-collect the same handlers from epoll every iteration.
        let skip_wait = polled && timeout == 0 && !need_wait;
        // notify_me -= 2 also if an io_poll_end callback or the wait unwinds.
        struct Announced<'a>(&'a NotifyState);
        impl Drop for Announced<'_> {
            fn drop(&mut self) {
                self.0.end_block();
            }
        }
        let mut announced = None;
        if timeout != 0 {
            let may_block = self.notify_state.begin_block();
            announced = Some(Announced(&self.notify_state));
            if !may_block {
                timeout = 0;
            }
        }
        if timeout != 0 && self.poll_set_started(false, &mut ready) {
            timeout = 0;
        }
        let mut do_wait = || self.fdmon_wait(&mut ready, timeout, extra.as_ref().map(|e| e.0));
        if skip_wait {
            // The main loop's extra fd (the iohandler context) is
            // dispatched by main_loop_wait's non-blocking poll anyway.
        } else if release_bql && timeout != 0 && crate::bql::bql_locked() {
            crate::bql::unlocked(do_wait);
        } else {
            do_wait();
        }
        drop(announced);
        self.notify_state.accept();

        let block_ns = if poll_max > 0 { now_ns() - start } else { 0 };

        // A panicking callback must not starve the rest of the iteration
        // (a level-triggered handler that panics every time would otherwise
        // keep timers and later handlers from ever running): each phase,
        // and each fd handler, is contained; the first panic is re-raised
        // once the iteration is complete.
        let mut panic = None;
        let mut progress = contain(&mut panic, || self.bh_poll());
        progress |= self.dispatch_ready(ready, block_ns, &mut panic);
        progress |= contain(&mut panic, || self.tlg.run_timers());
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
        progress
    }

    fn new_stamp(&self) -> u64 {
        let mut hs = self.home_state.lock();
        let s = hs.next_stamp;
        hs.next_stamp += 1;
        s
    }

    fn add_ready(
        &self,
        ready: &mut Vec<Ready>,
        node: Arc<AioHandler>,
        revents: u32,
        poll_ready: bool,
        stamp: u64,
    ) {
        // Re-stamping detaches the node from a parent's ready list
        // (QLIST_SAFE_REMOVE in QEMU).
        node.ready_stamp.store(stamp, Ordering::Relaxed);
        if let Some(r) = ready.iter_mut().find(|r| Arc::ptr_eq(&r.node, &node)) {
            // The entry takes the node's new stamp too: otherwise
            // dispatch_ready would take the mismatch for a nested poll's
            // claim and skip the handler.
            r.revents |= revents;
            r.poll_ready |= poll_ready;
            r.stamp = stamp;
            return;
        }
        ready.push(Ready {
            node,
            revents,
            poll_ready,
            stamp,
        });
    }

    fn fdmon_wait(&self, ready: &mut Vec<Ready>, timeout: i64, extra: Option<BorrowedFd<'_>>) {
        let stamp = self.new_stamp();
        match &self.fdmon {
            FdMon::Epoll(ep) => {
                let mut events = EVENT_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
                events.clear();
                events.reserve(128);
                // An infinite wait without an extra fd blocks in epoll_wait
                // itself (one syscall per wake-up). A finite timeout is
                // waited with ppoll on the epoll fd for nanosecond
                // precision, as fdmon-epoll.c does, then harvested with a
                // zero-timeout epoll_wait.
                let direct = timeout < 0 && extra.is_none();
                if timeout != 0 && !direct {
                    let mut fds = [
                        PollFd::new(ep, PollFlags::IN),
                        PollFd::new(ep, PollFlags::empty()),
                    ];
                    let n = match extra {
                        Some(x) => {
                            fds[1] = PollFd::from_borrowed_fd(x, PollFlags::IN);
                            2
                        }
                        None => 1,
                    };
                    let ts = (timeout > 0).then(|| timespec(timeout));
                    match rustix::event::poll(&mut fds[..n], ts.as_ref()) {
                        Ok(_) | Err(rustix::io::Errno::INTR) => {}
                        Err(e) => panic!("aio_poll: ppoll failed: {e}"),
                    }
                }
                let zero = timespec(0);
                match epoll::wait(
                    ep,
                    rustix::buffer::spare_capacity(&mut events),
                    if direct { None } else { Some(&zero) },
                ) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => panic!("aio_poll: epoll_wait failed: {e}"),
                }
                struct PutBack(Vec<epoll::Event>);
                impl Drop for PutBack {
                    fn drop(&mut self) {
                        let v = std::mem::take(&mut self.0);
                        EVENT_BUF.with(|b| *b.borrow_mut() = v);
                    }
                }
                let events = PutBack(events);
                let events = &events.0;
                {
                    let table = self.handlers.lock();
                    if table.always_ready > 0 {
                        let nodes: Vec<_> = table
                            .by_fd
                            .values()
                            .filter(|n| n.always_ready.load(Ordering::Relaxed))
                            .cloned()
                            .collect();
                        drop(table);
                        for n in nodes {
                            let ev = n.events();
                            self.add_ready(ready, n, ev, false, stamp);
                        }
                    }
                }
                if events.is_empty() {
                    return;
                }
                let table = self.handlers.lock();
                for ev in events {
                    let data = ev.data.u64();
                    if data == NOTIFIER_TOKEN {
                        // Edge-triggered: nothing to drain (see build()); the
                        // notifier node is dispatched so that it joins busy
                        // polling like QEMU's aio_context_notifier.
                        self.add_ready(ready, Arc::clone(&self.notifier_node), EV_IN, false, stamp);
                        continue;
                    }
                    let fd = data as u32 as RawFd;
                    let id = (data >> 32) as u32;
                    let Some(node) = table.by_fd.get(&fd) else {
                        continue;
                    };
                    if node.id != id {
                        continue;
                    }
                    let f = ev.flags;
                    let mut rev = 0;
                    if f.intersects(epoll::EventFlags::IN | epoll::EventFlags::RDHUP) {
                        rev |= EV_IN;
                    }
                    if f.contains(epoll::EventFlags::OUT) {
                        rev |= EV_OUT;
                    }
                    if f.contains(epoll::EventFlags::HUP) {
                        rev |= EV_HUP;
                    }
                    if f.contains(epoll::EventFlags::ERR) {
                        rev |= EV_ERR;
                    }
                    let node = Arc::clone(node);
                    self.add_ready(ready, node, rev, false, stamp);
                }
            }
            FdMon::Poll => {
                let nodes: Vec<Arc<AioHandler>> = self
                    .handlers
                    .lock()
                    .by_fd
                    .values()
                    .filter(|n| !n.invalid.load(Ordering::Relaxed) && n.events() != 0)
                    .cloned()
                    .collect();
                let mut fds = Vec::with_capacity(nodes.len() + 2);
                fds.push(PollFd::new(&self.notifier, PollFlags::IN));
                for n in &nodes {
                    let mut fl = PollFlags::empty();
                    if n.ops.io_read.is_some() {
                        fl |= PollFlags::IN;
                    }
                    if n.ops.io_write.is_some() {
                        fl |= PollFlags::OUT;
                    }
                    // SAFETY: the fd is borrowed only for this ppoll call; a
                    // closed fd yields POLLNVAL, handled below.
                    fds.push(PollFd::from_borrowed_fd(
                        unsafe { BorrowedFd::borrow_raw(n.fd) },
                        fl,
                    ));
                }
                if let Some(x) = extra {
                    fds.push(PollFd::from_borrowed_fd(x, PollFlags::IN));
                }
                let ts = (timeout >= 0).then(|| timespec(timeout));
                match rustix::event::poll(&mut fds, ts.as_ref()) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => panic!("aio_poll: ppoll failed: {e}"),
                }
                if !fds[0].revents().is_empty() {
                    self.notifier.test_and_clear();
                    self.add_ready(ready, Arc::clone(&self.notifier_node), EV_IN, false, stamp);
                }
                for (n, p) in nodes.iter().zip(&fds[1..]) {
                    let r = p.revents();
                    if r.is_empty() {
                        continue;
                    }
                    if r.contains(PollFlags::NVAL) {
                        n.invalid.store(true, Ordering::Relaxed);
                        continue;
                    }
                    let mut rev = 0;
                    if r.intersects(PollFlags::IN | PollFlags::PRI) {
                        rev |= EV_IN;
                    }
                    if r.contains(PollFlags::OUT) {
                        rev |= EV_OUT;
                    }
                    if r.contains(PollFlags::HUP) {
                        rev |= EV_HUP;
                    }
                    if r.contains(PollFlags::ERR) {
                        rev |= EV_ERR;
                    }
                    self.add_ready(ready, Arc::clone(n), rev, false, stamp);
                }
            }
        }
    }

    /// The busy-polled handlers, with deleted ones purged.
    fn poll_handlers(&self) -> Vec<Arc<AioHandler>> {
        let mut hs = self.home_state.lock();
        hs.poll_handlers.retain(|n| {
            let keep = !n.deleted.load(Ordering::Acquire);
            if !keep {
                n.poll.lock().in_poll_list = false;
            }
            keep
        });
        hs.poll_handlers.clone()
    }

    /// `try_poll_mode`.
    /// Returns true if busy polling (or the final `io_poll` of
    /// `poll_set_started(false)`) found work; `timeout` is 0 then.
    fn try_poll_mode(&self, ready: &mut Vec<Ready>, timeout: &mut i64, poll_max: i64) -> bool {
        if poll_max == 0 {
            if self.poll_set_started(false, ready) {
                *timeout = 0;
                return true;
            }
            return false;
        }
        let handlers = self.poll_handlers();
        if handlers.is_empty() {
            return false;
        }
        let max_window = handlers.iter().map(|n| n.poll.lock().ns).max().unwrap_or(0);
        let max_ns = qemu_soonest_timeout(*timeout, max_window);
        if max_ns != 0 {
            self.poll_set_started(true, ready);
            if self.run_poll_handlers(&handlers, ready, max_ns, timeout) {
                return true;
            }
        }
        if self.poll_set_started(false, ready) {
            *timeout = 0;
            return true;
        }
        false
    }

    /// `run_poll_handlers`: spin on every `io_poll` until one has work, the
    /// loop is notified, or `max_ns` elapses.
    fn run_poll_handlers(
        &self,
        handlers: &[Arc<AioHandler>],
        ready: &mut Vec<Ready>,
        max_ns: i64,
        timeout: &mut i64,
    ) -> bool {
        let start = now_ns();
        let stamp = self.new_stamp();
        let mut found = false;
        let mut now;
        loop {
            now = now_ns();
            for n in handlers {
                if n.deleted.load(Ordering::Acquire) {
                    continue;
                }
                if let Some(p) = &n.ops.io_poll
                    && p()
                {
                    n.poll.lock().idle_timeout = now + POLL_IDLE_INTERVAL_NS;
                    self.add_ready(ready, Arc::clone(n), 0, true, stamp);
                    found = true;
                }
            }
            // The context's own notifier is a poll handler too.
            if found || self.notify_state.notified() {
                break;
            }
            if now_ns() - start >= max_ns {
                break;
            }
            std::hint::spin_loop();
        }
        let elapsed = now_ns() - start;
        self.remove_idle_poll_handlers(now, ready);
        if found || self.notify_state.notified() {
            *timeout = 0;
            return true;
        }
        if *timeout > 0 {
            *timeout = (*timeout - elapsed).max(0);
        }
        false
    }

    /// `remove_idle_poll_handlers`.
    fn remove_idle_poll_handlers(&self, now: i64, ready: &mut Vec<Ready>) {
        let removed: Vec<Arc<AioHandler>> = {
            let mut hs = self.home_state.lock();
            let started = hs.poll_started;
            let mut out = Vec::new();
            hs.poll_handlers.retain(|n| {
                let mut p = n.poll.lock();
                if now > p.idle_timeout {
                    p.in_poll_list = false;
                    out.push(Arc::clone(n));
                    false
                } else {
                    true
                }
            });
            if !started {
                return;
            }
            out
        };
        let stamp = self.new_stamp();
        for n in removed {
            if let Some(end) = &n.ops.io_poll_end {
                end();
            }
            if let Some(p) = &n.ops.io_poll
                && p()
            {
                self.add_ready(ready, n, 0, true, stamp);
            }
        }
    }

    /// `poll_set_started`: calls `io_poll_begin` / `io_poll_end` on every
    /// polled handler; when stopping, one last `io_poll` per handler closes
    /// the race with an event that arrived while notifications were being
    /// re-enabled. Returns true if that last check found work.
    fn poll_set_started(&self, started: bool, ready: &mut Vec<Ready>) -> bool {
        let handlers = {
            let mut hs = self.home_state.lock();
            if hs.poll_started == started {
                return false;
            }
            hs.poll_started = started;
            hs.poll_handlers.clone()
        };
        let stamp = self.new_stamp();
        let mut progress = false;
        for n in handlers {
            if n.deleted.load(Ordering::Acquire) {
                continue;
            }
            let hook = if started {
                &n.ops.io_poll_begin
            } else {
                &n.ops.io_poll_end
            };
            if let Some(h) = hook {
                h();
            }
            if !started
                && let Some(p) = &n.ops.io_poll
                && p()
            {
                self.add_ready(ready, n, 0, true, stamp);
                progress = true;
            }
        }
        progress
    }

    /// `aio_dispatch_ready_handlers`.
    fn dispatch_ready(&self, ready: Vec<Ready>, block_ns: i64, panic: &mut Option<Panic>) -> bool {
        let mut progress = false;
        for r in ready {
            // Skip nodes that a nested poll re-collected (and dispatched).
            if r.node
                .ready_stamp
                .compare_exchange(r.stamp, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            progress |= contain(panic, || {
                self.dispatch_handler(&r.node, r.revents, r.poll_ready, block_ns)
            });
        }
        progress
    }

    /// `aio_dispatch_handler`.
    fn dispatch_handler(
        &self,
        node: &Arc<AioHandler>,
        revents: u32,
        poll_ready: bool,
        block_ns: i64,
    ) -> bool {
        if node.deleted.load(Ordering::Acquire) {
            return false;
        }
        let poll_max = self.poll_max_ns.load(Ordering::Acquire);
        if node.ops.io_poll.is_some() && poll_max > 0 {
            let mut p = node.poll.lock();
            if !p.in_poll_list {
                p.in_poll_list = true;
                p.idle_timeout = now_ns() + POLL_IDLE_INTERVAL_NS;
                drop(p);
                self.home_state.lock().poll_handlers.push(Arc::clone(node));
            }
        }
        let mut progress = false;
        if revents == 0
            && poll_ready
            && let Some(f) = &node.ops.io_poll_ready
        {
            // Out of the poll list while the callback runs, so a nested
            // poll does not spin on a condition not cleared yet.
            let was = {
                let mut hs = self.home_state.lock();
                let pos = hs.poll_handlers.iter().position(|n| Arc::ptr_eq(n, node));
                pos.map(|i| hs.poll_handlers.remove(i))
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f()));
            // Back on the poll list also if the callback panicked (it is
            // still marked in_poll_list, so nothing else would re-add it).
            if let Some(n) = was
                && !n.deleted.load(Ordering::Acquire)
            {
                self.home_state.lock().poll_handlers.push(n);
            }
            if let Err(p) = r {
                std::panic::resume_unwind(p);
            }
            progress = true;
        }
        if revents & (EV_IN | EV_HUP | EV_ERR) != 0
            && !node.deleted.load(Ordering::Acquire)
            && let Some(f) = &node.ops.io_read
        {
            f();
            progress = true;
        }
        if revents & (EV_OUT | EV_ERR) != 0
            && !node.deleted.load(Ordering::Acquire)
            && let Some(f) = &node.ops.io_write
        {
            f();
            progress = true;
        }
        if poll_max > 0 && node.ops.io_poll.is_some() {
            self.adjust_polling_time(node, block_ns, poll_max);
        }
        if node.is_notifier {
            // aio_dispatch_handler: being woken by aio_notify is no progress.
            return false;
        }
        progress
    }

    /// `adjust_polling_time` (per handler, QEMU 10.0).
    fn adjust_polling_time(&self, node: &AioHandler, block_ns: i64, poll_max: i64) {
        let mut p = node.poll.lock();
        if block_ns <= p.ns {
            return;
        }
        if block_ns > poll_max {
            let shrink = self.poll_shrink.load(Ordering::Acquire);
            p.ns = if shrink == 0 { 0 } else { p.ns / shrink };
        } else if p.ns < poll_max {
            let grow = match self.poll_grow.load(Ordering::Acquire) {
                0 => 2,
                g => g,
            };
            p.ns = if p.ns == 0 {
                POLL_NS_INITIAL
            } else {
                p.ns.saturating_mul(grow)
            };
            p.ns = p.ns.min(poll_max);
        }
    }

    /// Resets every handler's polling window (after new poll params).
    fn reset_poll_windows(&self) {
        for n in self.handlers.lock().by_fd.values() {
            n.poll.lock().ns = 0;
        }
        self.notifier_node.poll.lock().ns = 0;
    }

    pub(crate) fn epoll_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.fdmon {
            FdMon::Epoll(ep) => Some(ep.as_fd()),
            FdMon::Poll => None,
        }
    }

    /// `aio_context_get_thread_pool`: this context's thread pool, created
    /// on first use.
    pub fn thread_pool(&self) -> Arc<ThreadPool> {
        Arc::clone(
            self.thread_pool
                .get_or_init(|| ThreadPool::new(self.self_weak.clone())),
        )
    }

    /// Polls until `cond` is false (`AIO_WAIT_WHILE` for the home thread).
    pub fn poll_while(&self, mut cond: impl FnMut() -> bool) {
        while cond() {
            self.poll(true);
        }
    }

    /// Notifier raw fd (for tests that check draining).
    pub fn notifier_fd(&self) -> RawFd {
        self.notifier.as_raw_fd()
    }

    /// `QemuClock`-independent helper: REALTIME now.
    pub fn now_ns() -> i64 {
        QemuClock::get_ns(ClockType::Realtime)
    }
}
