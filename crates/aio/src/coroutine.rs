//! Coroutines (`util/qemu-coroutine*.c`, `util/async.c:aio_co_*`).
//!
//! A QEMU coroutine is a stackful thread of control; a Ferrite
//! [`Coroutine`] is a boxed `Future<Output = ()> + Send` with QEMU's
//! scheduling semantics around it:
//!
//! - [`Coroutine::enter`] polls it *synchronously* on the caller's stack and
//!   returns only once it (and every coroutine it woke, depth-first) has
//!   yielded or finished (`qemu_aio_coroutine_enter`).
//! - [`aio_co_wake`] / [`aio_co_enter`]: in another context's thread,
//!   schedule it there; inside a coroutine of the same context, run it after
//!   the current coroutine yields; otherwise enter it right now.
//! - [`aio_co_schedule`] (any thread): FIFO per target context, through the
//!   context's `co_schedule_bh`; scheduling twice panics.
//! - The [`Waker`] handed to the future behaves like `aio_co_wake`, but is
//!   lenient (wakes coalesce, waking a running coroutine re-polls it after it
//!   yields), because Rust futures may wake themselves or be woken twice.
//! - `qemu_coroutine_yield` is [`qemu_coroutine_yield`]: `Pending` once,
//!   without registering a waker; something must enter or wake it later.
//!
//! The synchronisation primitives [`CoMutex`], [`CoQueue`] and [`CoRwlock`]
//! work through wakers, so they also work for plain futures; inside
//! coroutines they give QEMU's ordering (FIFO hand-off, wake runs after the
//! waker yields).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;

use crate::context::{AioContext, current_aio_context, is_current, main_aio_context};
use crate::timer::{ClockType, QemuClock, Timer};

const IDLE: u8 = 0;
const QUEUED: u8 = 1;
const RUNNING: u8 = 2;
const RUNNING_WOKEN: u8 = 3;
const DONE: u8 = 4;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

pub(crate) struct CoInner {
    id: u64,
    state: AtomicU8,
    /// The context that last entered the coroutine (`co->ctx`).
    ctx: Mutex<Option<Weak<AioContext>>>,
    /// `co->scheduled`: who scheduled it, if anyone.
    scheduled: Mutex<Option<&'static str>>,
    future: Mutex<Option<BoxFuture>>,
    /// `co_queue_wakeup`: coroutines to enter once this one yields.
    wakeup: Mutex<VecDeque<Arc<CoInner>>>,
    locks_held: AtomicU32,
    /// Set when the running coroutine scheduled itself (`aio_co_schedule`
    /// of `qemu_coroutine_self()` followed by a yield): where to hand it
    /// once it has yielded.
    self_scheduled: Mutex<Option<Arc<AioContext>>>,
}

static NEXT_CO_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT_CO: std::cell::RefCell<Option<Arc<CoInner>>> = const { std::cell::RefCell::new(None) };
}

fn current_co() -> Option<Arc<CoInner>> {
    CURRENT_CO.with(|c| c.borrow().clone())
}

fn current_co_id() -> u64 {
    CURRENT_CO.with(|c| c.borrow().as_ref().map_or(0, |c| c.id))
}

/// A coroutine handle (`Coroutine *`). Cloning gives another handle to the
/// same coroutine.
#[derive(Clone)]
pub struct Coroutine(pub(crate) Arc<CoInner>);

impl std::fmt::Debug for Coroutine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coroutine")
            .field("id", &self.0.id)
            .field("state", &self.0.state.load(Ordering::Relaxed))
            .finish()
    }
}

impl Coroutine {
    /// `qemu_coroutine_create`: a coroutine that will run `f` when first
    /// entered.
    pub fn new(f: impl Future<Output = ()> + Send + 'static) -> Self {
        Coroutine(Arc::new(CoInner {
            id: NEXT_CO_ID.fetch_add(1, Ordering::Relaxed),
            state: AtomicU8::new(IDLE),
            ctx: Mutex::new(None),
            scheduled: Mutex::new(None),
            future: Mutex::new(Some(Box::pin(f))),
            wakeup: Mutex::new(VecDeque::new()),
            locks_held: AtomicU32::new(0),
            self_scheduled: Mutex::new(None),
        }))
    }

    /// `qemu_coroutine_enter`: enters in the current thread's context.
    ///
    /// # Panics
    /// If the thread has no context, the coroutine is scheduled, running
    /// (recursive entry) or finished.
    pub fn enter(&self) {
        let ctx = current_aio_context().expect("qemu_coroutine_enter: thread has no AioContext");
        self.enter_in(&ctx);
    }

    /// `qemu_aio_coroutine_enter(ctx, co)`: enters synchronously, recording
    /// `ctx` as the coroutine's context.
    pub fn enter_in(&self, ctx: &Arc<AioContext>) {
        enter(ctx, Arc::clone(&self.0), true);
    }

    /// `qemu_coroutine_enter_if_inactive`.
    pub fn enter_if_inactive(&self) {
        let s = self.0.state.load(Ordering::Acquire);
        if s == IDLE || s == QUEUED {
            self.enter();
        }
    }

    /// Whether the coroutine has finished.
    pub fn is_done(&self) -> bool {
        self.0.state.load(Ordering::Acquire) == DONE
    }

    /// `qemu_coroutine_entered`: whether it is running right now.
    pub fn entered(&self) -> bool {
        matches!(
            self.0.state.load(Ordering::Acquire),
            RUNNING | RUNNING_WOKEN
        )
    }

    /// `qemu_coroutine_get_aio_context`: where it last ran.
    pub fn aio_context(&self) -> Option<Arc<AioContext>> {
        self.0.ctx.lock().as_ref().and_then(Weak::upgrade)
    }

    /// Number of CoMutex/CoRwlock locks held (`locks_held`).
    pub fn locks_held(&self) -> u32 {
        self.0.locks_held.load(Ordering::Relaxed)
    }
}

/// `qemu_in_coroutine`.
pub fn qemu_in_coroutine() -> bool {
    CURRENT_CO.with(|c| c.borrow().is_some())
}

/// `qemu_coroutine_self`: the running coroutine, if any.
pub fn qemu_coroutine_self() -> Option<Coroutine> {
    current_co().map(Coroutine)
}

impl Wake for CoInner {
    fn wake(self: Arc<Self>) {
        waker_wake(self);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        waker_wake(Arc::clone(self));
    }
}

/// Restores CURRENT_CO (also on unwind).
struct CurrentGuard(Option<Arc<CoInner>>);
impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT_CO.with(|c| *c.borrow_mut() = prev);
    }
}

/// `qemu_aio_coroutine_enter`: the pending-queue loop. `explicit` entries
/// are strict (QEMU's aborts); queued entries are skipped when another path
/// already ran the coroutine.
fn enter(ctx: &Arc<AioContext>, co: Arc<CoInner>, explicit: bool) {
    /// If a coroutine panics, the coroutines still waiting in this enter's
    /// queue (and in the panicking one's wake-up queue) would never run:
    /// hand them to their context's `co_schedule_bh` instead.
    struct Pending<'a> {
        ctx: &'a Arc<AioContext>,
        q: VecDeque<(Arc<CoInner>, bool)>,
        current: Option<Arc<CoInner>>,
    }
    impl Drop for Pending<'_> {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                return;
            }
            let mut rest: Vec<Arc<CoInner>> = self.q.drain(..).map(|e| e.0).collect();
            if let Some(c) = self.current.take() {
                rest.extend(c.wakeup.lock().drain(..));
            }
            for co in rest {
                if co.state.load(Ordering::Acquire) == QUEUED {
                    let target = co
                        .ctx
                        .lock()
                        .as_ref()
                        .and_then(Weak::upgrade)
                        .unwrap_or_else(|| Arc::clone(self.ctx));
                    target.co_scheduled.lock().push_back(co);
                    target.schedule_co_bh();
                }
            }
        }
    }
    let mut pending = Pending {
        ctx,
        q: VecDeque::new(),
        current: None,
    };
    pending.q.push_back((co, explicit));
    while let Some((to, strict)) = pending.q.pop_front() {
        pending.current = Some(Arc::clone(&to));
        if strict {
            if let Some(s) = *to.scheduled.lock() {
                panic!("qemu_aio_coroutine_enter: co-routine was already scheduled in '{s}'");
            }
            let s = to.state.load(Ordering::Acquire);
            match s {
                IDLE | QUEUED => {
                    if to
                        .state
                        .compare_exchange(s, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        panic!("qemu_aio_coroutine_enter: co-routine entered concurrently");
                    }
                }
                DONE => panic!("qemu_aio_coroutine_enter: co-routine has terminated"),
                _ => panic!("qemu_aio_coroutine_enter: co-routine re-entered recursively"),
            }
        } else if to
            .state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue;
        }
        *to.ctx.lock() = Some(Arc::downgrade(ctx));
        let mut fut = to
            .future
            .lock()
            .take()
            .expect("coroutine future present while not running");
        let waker = Waker::from(Arc::clone(&to));
        let result = {
            let prev = CURRENT_CO.with(|c| c.borrow_mut().replace(Arc::clone(&to)));
            let _restore = CurrentGuard(prev);
            let mut cx = Context::from_waker(&waker);
            // If the future panics, the coroutine is lost: mark it done so
            // nothing tries to enter it again.
            struct DoneOnUnwind<'a>(&'a CoInner, bool);
            impl Drop for DoneOnUnwind<'_> {
                fn drop(&mut self) {
                    if !self.1 {
                        self.0.state.store(DONE, Ordering::Release);
                    }
                }
            }
            let mut g = DoneOnUnwind(&to, false);
            let r = fut.as_mut().poll(&mut cx);
            g.1 = true;
            r
        };
        let mut requeue = false;
        match result {
            Poll::Ready(()) => {
                drop(fut);
                assert!(
                    to.self_scheduled.lock().take().is_none(),
                    "coroutine terminated after scheduling itself"
                );
                to.state.store(DONE, Ordering::Release);
                let held = to.locks_held.load(Ordering::Relaxed);
                assert!(
                    held == 0,
                    "coroutine terminated while holding {held} lock(s)"
                );
            }
            Poll::Pending => {
                *to.future.lock() = Some(fut);
                let target = to.self_scheduled.lock().take();
                if let Some(target) = target {
                    // It scheduled itself and has now yielded: hand it to the
                    // target context (never entered before the yield).
                    to.state.store(QUEUED, Ordering::Release);
                    target.co_scheduled.lock().push_back(Arc::clone(&to));
                    target.schedule_co_bh();
                } else if to
                    .state
                    .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // Woken while running: run again once its wakeups ran.
                    to.state.store(QUEUED, Ordering::Release);
                    requeue = true;
                }
            }
        }
        if requeue {
            pending.q.push_front((Arc::clone(&to), false));
        }
        // Depth-first: the wakeups of `to` run before older pending entries.
        let wake: Vec<_> = to.wakeup.lock().drain(..).collect();
        for w in wake.into_iter().rev() {
            pending.q.push_front((w, false));
        }
        pending.current = None;
    }
}

/// Where a coroutine whose state is now QUEUED should run (the three cases
/// of `aio_co_enter`).
fn dispatch_queued(ctx: &Arc<AioContext>, co: Arc<CoInner>) {
    if !is_current(ctx) {
        ctx.co_scheduled.lock().push_back(co);
        ctx.schedule_co_bh();
    } else if let Some(cur) = current_co() {
        debug_assert!(!Arc::ptr_eq(&cur, &co));
        cur.wakeup.lock().push_back(co);
    } else {
        enter(ctx, co, false);
    }
}

fn co_ctx(co: &CoInner) -> Arc<AioContext> {
    co.ctx
        .lock()
        .as_ref()
        .and_then(Weak::upgrade)
        .or_else(current_aio_context)
        .expect("aio_co_wake: coroutine has no AioContext (never entered?)")
}

fn waker_wake(co: Arc<CoInner>) {
    loop {
        match co.state.load(Ordering::Acquire) {
            IDLE => {
                if co
                    .state
                    .compare_exchange(IDLE, QUEUED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    let ctx = co_ctx(&co);
                    dispatch_queued(&ctx, co);
                    return;
                }
            }
            RUNNING => {
                if co
                    .state
                    .compare_exchange(RUNNING, RUNNING_WOKEN, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// `aio_co_wake`: enters `co` in the context where it last ran (see
/// [`aio_co_enter`]).
///
/// # Panics
/// If `co` has terminated or is already queued for a wake-up.
pub fn aio_co_wake(co: &Coroutine) {
    let ctx = co_ctx(&co.0);
    aio_co_enter(&ctx, co);
}

/// `aio_co_enter(ctx, co)`: from another thread, schedule `co` on `ctx`;
/// inside a coroutine of `ctx`, run `co` after the current coroutine
/// yields; otherwise enter it synchronously now.
///
/// # Panics
/// If `co` is the current coroutine, has terminated, or is already
/// queued.
pub fn aio_co_enter(ctx: &Arc<AioContext>, co: &Coroutine) {
    if !is_current(ctx) {
        aio_co_schedule(ctx, co);
        return;
    }
    if let Some(cur) = current_co() {
        assert!(
            !Arc::ptr_eq(&cur, &co.0),
            "aio_co_enter: a coroutine cannot wake itself"
        );
        match co
            .0
            .state
            .compare_exchange(IDLE, QUEUED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => cur.wakeup.lock().push_back(Arc::clone(&co.0)),
            Err(RUNNING) => {
                // Running in an outer frame of this thread: re-poll it once it
                // yields (Rust-side leniency, see the module docs).
                waker_wake(Arc::clone(&co.0));
            }
            Err(s) => panic!("aio_co_enter: coroutine in state {s} cannot be woken"),
        }
        return;
    }
    co.enter_in(ctx);
}

/// `aio_co_schedule(ctx, co)`: enters `co` in `ctx` from its
/// `co_schedule_bh`. Any thread; FIFO per target context. The running
/// coroutine may schedule itself and then yield
/// ([`qemu_coroutine_yield`]); it is handed over only after the yield.
///
/// # Panics
/// If `co` is already scheduled (by this function or by a sleep), or is
/// running.
pub fn aio_co_schedule(ctx: &Arc<AioContext>, co: &Coroutine) {
    {
        let mut s = co.0.scheduled.lock();
        if let Some(prev) = *s {
            panic!("aio_co_schedule: co-routine was already scheduled in '{prev}'");
        }
        *s = Some("aio_co_schedule");
    }
    if current_co().is_some_and(|cur| Arc::ptr_eq(&cur, &co.0)) {
        // The running coroutine schedules itself and will yield next (the
        // QMP dispatcher's pattern): hand it over after the yield.
        *co.0.self_scheduled.lock() = Some(Arc::clone(ctx));
        return;
    }
    if co
        .0
        .state
        .compare_exchange(IDLE, QUEUED, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        *co.0.scheduled.lock() = None;
        panic!(
            "aio_co_schedule: coroutine is running or already queued \
             (use aio_co_reschedule_self to move the running coroutine)"
        );
    }
    ctx.co_scheduled.lock().push_back(Arc::clone(&co.0));
    ctx.schedule_co_bh();
}

/// `co_schedule_bh_cb`: enters every scheduled coroutine, oldest first.
pub(crate) fn co_schedule_bh_cb(ctx: &Arc<AioContext>) {
    /// If entering one coroutine panics, the rest of the batch goes back
    /// to the front of the context's list, and the BH is scheduled again,
    /// instead of being dropped while still QUEUED.
    struct Batch<'a> {
        ctx: &'a Arc<AioContext>,
        list: VecDeque<Arc<CoInner>>,
    }
    impl Drop for Batch<'_> {
        fn drop(&mut self) {
            if self.list.is_empty() {
                return;
            }
            let mut q = self.ctx.co_scheduled.lock();
            while let Some(co) = self.list.pop_back() {
                q.push_front(co);
            }
            drop(q);
            self.ctx.schedule_co_bh();
        }
    }
    let mut batch = Batch {
        ctx,
        list: std::mem::take(&mut *ctx.co_scheduled.lock()),
    };
    while let Some(co) = batch.list.pop_front() {
        *co.scheduled.lock() = None;
        enter(ctx, co, false);
    }
}

/// `qemu_coroutine_yield`: returns `Pending` once without registering a
/// waker. The coroutine continues only when someone enters or wakes it
/// (keep a handle from [`qemu_coroutine_self`]).
pub fn qemu_coroutine_yield() -> impl Future<Output = ()> + Send {
    struct Yield(bool);
    impl Future for Yield {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                assert!(
                    qemu_in_coroutine(),
                    "qemu_coroutine_yield outside a coroutine"
                );
                self.0 = true;
                Poll::Pending
            }
        }
    }
    Yield(false)
}

/// `aio_co_reschedule_self(new_ctx)`: moves the running coroutine to
/// `new_ctx`. A oneshot BH in the old context schedules it once it has
/// yielded, so the other thread can never enter it early.
pub fn aio_co_reschedule_self(new_ctx: Arc<AioContext>) -> impl Future<Output = ()> + Send {
    struct Resched(Option<Arc<AioContext>>);
    impl Future for Resched {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            let Some(new_ctx) = self.0.take() else {
                return Poll::Ready(());
            };
            let co = current_co().expect("aio_co_reschedule_self outside a coroutine");
            let old = co_ctx(&co);
            if Arc::ptr_eq(&old, &new_ctx) {
                return Poll::Ready(());
            }
            assert!(
                !new_ctx.is_iohandler,
                "cannot move a coroutine to the iohandler context"
            );
            old.bh_schedule_oneshot_named("aio_co_reschedule_self", move || {
                aio_co_schedule(&new_ctx, &Coroutine(co));
            });
            Poll::Pending
        }
    }
    Resched(Some(new_ctx))
}

// --- sleeping ---------------------------------------------------------------

/// `QemuCoSleep`: a sleep that another path may end early with
/// [`wake`](Self::wake).
#[derive(Default)]
pub struct QemuCoSleep {
    to_wake: Mutex<Option<Arc<CoInner>>>,
}

impl std::fmt::Debug for QemuCoSleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuCoSleep")
            .field("sleeping", &self.to_wake.lock().is_some())
            .finish()
    }
}

const SLEEP_MARK: &str = "qemu_co_sleep_ns";

impl QemuCoSleep {
    /// A sleep handle with nobody sleeping.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// `qemu_co_sleep_wake`: ends the sleep now (no-op if nobody sleeps).
    pub fn wake(&self) {
        let co = self.to_wake.lock().take();
        if let Some(co) = co {
            {
                let mut s = co.scheduled.lock();
                assert_eq!(
                    *s,
                    Some(SLEEP_MARK),
                    "qemu_co_sleep_wake: coroutine not sleeping"
                );
                *s = None;
            }
            waker_wake(co);
        }
    }

    /// `qemu_co_sleep_ns_wakeable`: sleeps `ns` on `clock` with a timer in
    /// the current context, or until [`wake`](Self::wake).
    pub fn sleep_ns(
        self: &Arc<Self>,
        clock: ClockType,
        ns: i64,
    ) -> impl Future<Output = ()> + Send {
        CoSleepFuture {
            w: Arc::clone(self),
            clock,
            ns,
            timer: None,
        }
    }
}

struct CoSleepFuture {
    w: Arc<QemuCoSleep>,
    clock: ClockType,
    ns: i64,
    timer: Option<Timer>,
}

impl Future for CoSleepFuture {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.timer.is_some() {
            // Entered again: done if woken, else a spurious wake.
            if self.w.to_wake.lock().is_none() {
                self.timer = None;
                return Poll::Ready(());
            }
            return Poll::Pending;
        }
        let co = current_co().expect("qemu_co_sleep_ns outside a coroutine");
        let ctx = current_aio_context().expect("qemu_co_sleep_ns: no AioContext");
        {
            let mut s = co.scheduled.lock();
            if let Some(prev) = *s {
                panic!("qemu_co_sleep_ns: co-routine was already scheduled in '{prev}'");
            }
            *s = Some(SLEEP_MARK);
        }
        *self.w.to_wake.lock() = Some(co);
        let w = Arc::clone(&self.w);
        let t = Timer::new(&ctx, self.clock, move || w.wake());
        t.modify_ns(QemuClock::get_ns(self.clock).saturating_add(self.ns));
        self.timer = Some(t);
        Poll::Pending
    }
}

impl Drop for CoSleepFuture {
    fn drop(&mut self) {
        // Cancelled while sleeping: undo the marker.
        if let Some(co) = self.w.to_wake.lock().take() {
            *co.scheduled.lock() = None;
        }
    }
}

/// `qemu_co_sleep_ns(type, ns)`.
pub async fn qemu_co_sleep_ns(clock: ClockType, ns: i64) {
    QemuCoSleep::new().sleep_ns(clock, ns).await;
}

// --- AIO_WAIT_WHILE -------------------------------------------------------------

static NUM_WAITERS: AtomicU32 = AtomicU32::new(0);

/// `AIO_WAIT_WHILE(ctx, cond)`: polls while `cond` holds. In `ctx`'s home
/// thread it polls `ctx`; otherwise the caller must be the main thread
/// (BQL holder) and it polls the main context, relying on whoever changes
/// `cond` to call [`aio_wait_kick`].
///
/// # Panics
/// If called from a thread that is neither `ctx`'s home nor the main
/// thread (waiting between two IOThreads deadlocks in QEMU).
pub fn aio_wait_while(ctx: &Arc<AioContext>, mut cond: impl FnMut() -> bool) {
    NUM_WAITERS.fetch_add(1, Ordering::SeqCst);
    struct Dec;
    impl Drop for Dec {
        fn drop(&mut self) {
            NUM_WAITERS.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _dec = Dec;
    if ctx.in_home_thread() || (current_aio_context().is_none() && !ctx.is_iohandler) {
        while cond() {
            ctx.poll(true);
        }
    } else {
        let main = main_aio_context()
            .filter(|m| m.in_home_thread())
            .expect("AIO_WAIT_WHILE outside both the context's home thread and the main thread");
        while cond() {
            main.poll(true);
        }
    }
}

/// `aio_wait_kick`: wakes a main-thread [`aio_wait_while`] so it
/// re-evaluates its condition.
pub fn aio_wait_kick() {
    std::sync::atomic::fence(Ordering::SeqCst);
    if NUM_WAITERS.load(Ordering::SeqCst) > 0
        && let Some(m) = main_aio_context()
    {
        m.bh_schedule_oneshot_named("aio_wait_kick", || {});
    }
}

/// `aio_wait_bh_oneshot(ctx, cb)`: runs `cb` in `ctx`'s home thread and
/// waits (polling) until it has run.
pub fn aio_wait_bh_oneshot(ctx: &Arc<AioContext>, cb: impl FnOnce() + Send + 'static) {
    let done = Arc::new(AtomicBool::new(false));
    let d = Arc::clone(&done);
    ctx.bh_schedule_oneshot_named("aio_wait_bh_oneshot", move || {
        cb();
        d.store(true, Ordering::Release);
        aio_wait_kick();
    });
    aio_wait_while(ctx, || !done.load(Ordering::Acquire));
}

/// The co-wrapper pattern (`block-coroutine-wrapper.py`): runs `f` as a
/// coroutine in `ctx` and polls until it finishes, returning its output.
///
/// # Panics
/// Inside a coroutine (there, `.await` the future directly).
pub fn run_until_done<T: Send + 'static>(
    ctx: &Arc<AioContext>,
    f: impl Future<Output = T> + Send + 'static,
) -> T {
    assert!(
        !qemu_in_coroutine(),
        "run_until_done inside a coroutine: await the future instead"
    );
    let slot = Arc::new(Mutex::new(None));
    let s = Arc::clone(&slot);
    let co = Coroutine::new(async move {
        let v = f.await;
        *s.lock() = Some(v);
        aio_wait_kick();
    });
    if ctx.in_home_thread() || current_aio_context().is_none() {
        co.enter_in(ctx);
    } else {
        aio_co_schedule(ctx, &co);
    }
    aio_wait_while(ctx, || slot.lock().is_none());
    let v = slot.lock().take();
    v.expect("coroutine finished")
}

// --- CoMutex --------------------------------------------------------------------

struct Waiter {
    granted: AtomicBool,
    waker: Mutex<Option<Waker>>,
    co_id: u64,
}

impl Waiter {
    fn new(cx: &Context<'_>) -> Arc<Self> {
        Arc::new(Waiter {
            granted: AtomicBool::new(false),
            waker: Mutex::new(Some(cx.waker().clone())),
            co_id: current_co_id(),
        })
    }
    fn grant(&self) -> Option<Waker> {
        self.granted.store(true, Ordering::Release);
        self.waker.lock().take()
    }
}

struct MutexState {
    locked: bool,
    holder: u64,
    waiters: VecDeque<Arc<Waiter>>,
}

/// `CoMutex`: a mutex for coroutines. Waiters acquire in the order they
/// queued (hand-off on unlock); a woken waiter in the unlocker's context
/// runs after the unlocker yields.
pub struct CoMutex {
    state: Mutex<MutexState>,
}

impl std::fmt::Debug for CoMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoMutex")
            .field("locked", &self.state.lock().locked)
            .finish()
    }
}

impl Default for CoMutex {
    fn default() -> Self {
        Self::new()
    }
}

fn held_inc() {
    if let Some(co) = current_co() {
        co.locks_held.fetch_add(1, Ordering::Relaxed);
    }
}

fn held_dec() {
    if let Some(co) = current_co() {
        co.locks_held.fetch_sub(1, Ordering::Relaxed);
    }
}

impl CoMutex {
    /// `qemu_co_mutex_init`.
    pub const fn new() -> Self {
        CoMutex {
            state: Mutex::new(MutexState {
                locked: false,
                holder: 0,
                waiters: VecDeque::new(),
            }),
        }
    }

    /// `qemu_co_mutex_lock`.
    pub fn lock(&self) -> CoMutexLock<'_> {
        CoMutexLock {
            m: self,
            waiter: None,
        }
    }

    /// Whether the mutex is held.
    pub fn is_locked(&self) -> bool {
        self.state.lock().locked
    }

    /// `qemu_co_mutex_unlock`, through the guard.
    fn unlock(&self) {
        let w = {
            let mut st = self.state.lock();
            assert!(st.locked, "qemu_co_mutex_unlock: mutex not locked");
            assert_eq!(
                st.holder,
                current_co_id(),
                "qemu_co_mutex_unlock: unlocked by a coroutine that does not hold it"
            );
            held_dec();
            match st.waiters.pop_front() {
                Some(w) => {
                    st.holder = w.co_id;
                    w.grant()
                }
                None => {
                    st.locked = false;
                    st.holder = 0;
                    None
                }
            }
        };
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// The future returned by [`CoMutex::lock`].
pub struct CoMutexLock<'a> {
    m: &'a CoMutex,
    waiter: Option<Arc<Waiter>>,
}

impl std::fmt::Debug for CoMutexLock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoMutexLock")
    }
}

impl<'a> Future for CoMutexLock<'a> {
    type Output = CoMutexGuard<'a>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CoMutexGuard<'a>> {
        let m = self.m;
        if let Some(w) = &self.waiter {
            if w.granted.load(Ordering::Acquire) {
                self.waiter = None;
                held_inc();
                return Poll::Ready(CoMutexGuard { m });
            }
            *w.waker.lock() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut st = m.state.lock();
        if !st.locked {
            st.locked = true;
            st.holder = current_co_id();
            drop(st);
            held_inc();
            return Poll::Ready(CoMutexGuard { m });
        }
        let w = Waiter::new(cx);
        st.waiters.push_back(Arc::clone(&w));
        drop(st);
        self.waiter = Some(w);
        Poll::Pending
    }
}

impl Drop for CoMutexLock<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.waiter.take() {
            let mut st = self.m.state.lock();
            if w.granted.load(Ordering::Acquire) {
                // Ownership was handed to us but we are gone: pass it on.
                match st.waiters.pop_front() {
                    Some(n) => {
                        st.holder = n.co_id;
                        let wk = n.grant();
                        drop(st);
                        if let Some(wk) = wk {
                            wk.wake();
                        }
                    }
                    None => {
                        st.locked = false;
                        st.holder = 0;
                    }
                }
            } else {
                st.waiters.retain(|x| !Arc::ptr_eq(x, &w));
            }
        }
    }
}

/// Holding a [`CoMutex`]; dropping it unlocks.
pub struct CoMutexGuard<'a> {
    m: &'a CoMutex,
}

impl std::fmt::Debug for CoMutexGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoMutexGuard")
    }
}

impl<'a> CoMutexGuard<'a> {
    /// The mutex this guard holds.
    pub fn mutex(&self) -> &'a CoMutex {
        self.m
    }
}

impl Drop for CoMutexGuard<'_> {
    fn drop(&mut self) {
        self.m.unlock();
    }
}

// --- CoQueue ----------------------------------------------------------------------

struct QueueWaiter {
    woken: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// `CoQueue`: a FIFO of waiting coroutines.
#[derive(Default)]
pub struct CoQueue {
    waiters: Mutex<VecDeque<Arc<QueueWaiter>>>,
}

impl std::fmt::Debug for CoQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoQueue")
            .field("len", &self.waiters.lock().len())
            .finish()
    }
}

impl CoQueue {
    /// `qemu_co_queue_init`.
    pub fn new() -> Self {
        Self::default()
    }

    /// `qemu_co_queue_wait(q, NULL)`: waits at the tail until woken by
    /// [`next`](Self::next) or [`restart_all`](Self::restart_all).
    pub fn wait(&self) -> CoQueueWait<'_, 'static> {
        CoQueueWait {
            q: self,
            waiter: None,
            front: false,
            unlock: None,
        }
    }

    /// `qemu_co_queue_wait_flags(q, NULL, CO_QUEUE_WAIT_FRONT)`.
    pub fn wait_front(&self) -> CoQueueWait<'_, 'static> {
        CoQueueWait {
            q: self,
            waiter: None,
            front: true,
            unlock: None,
        }
    }

    /// `qemu_co_queue_wait(q, lock)`: enqueues, unlocks `guard`, waits, and
    /// locks the mutex again.
    pub async fn wait_with<'m>(&self, guard: CoMutexGuard<'m>) -> CoMutexGuard<'m> {
        let m = guard.mutex();
        CoQueueWait {
            q: self,
            waiter: None,
            front: false,
            unlock: Some(guard),
        }
        .await;
        m.lock().await
    }

    /// `qemu_co_queue_next`: wakes the first waiter (through its waker, i.e.
    /// `aio_co_wake`). Returns false if the queue was empty.
    pub fn next(&self) -> bool {
        let w = self.waiters.lock().pop_front();
        match w {
            Some(w) => {
                w.woken.store(true, Ordering::Release);
                let wk = w.waker.lock().take();
                if let Some(wk) = wk {
                    wk.wake();
                }
                true
            }
            None => false,
        }
    }

    /// `qemu_co_queue_restart_all`.
    pub fn restart_all(&self) {
        while self.next() {}
    }

    /// `qemu_co_enter_next`: same as [`next`](Self::next) from outside a
    /// coroutine (the woken coroutine runs synchronously).
    pub fn enter_next(&self) -> bool {
        self.next()
    }

    /// `qemu_co_enter_all`.
    pub fn enter_all(&self) {
        self.restart_all();
    }

    /// `qemu_co_queue_empty`.
    pub fn is_empty(&self) -> bool {
        self.waiters.lock().is_empty()
    }
}

/// The future of [`CoQueue::wait`].
pub struct CoQueueWait<'q, 'm> {
    q: &'q CoQueue,
    waiter: Option<Arc<QueueWaiter>>,
    front: bool,
    unlock: Option<CoMutexGuard<'m>>,
}

impl std::fmt::Debug for CoQueueWait<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoQueueWait")
    }
}

impl Future for CoQueueWait<'_, '_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(w) = &self.waiter {
            if w.woken.load(Ordering::Acquire) {
                self.waiter = None;
                return Poll::Ready(());
            }
            *w.waker.lock() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let w = Arc::new(QueueWaiter {
            woken: AtomicBool::new(false),
            waker: Mutex::new(Some(cx.waker().clone())),
        });
        {
            let mut q = self.q.waiters.lock();
            if self.front {
                q.push_front(Arc::clone(&w));
            } else {
                q.push_back(Arc::clone(&w));
            }
        }
        self.waiter = Some(w);
        // Unlock only after enqueueing: no wake-up can be missed.
        drop(self.unlock.take());
        Poll::Pending
    }
}

impl Drop for CoQueueWait<'_, '_> {
    fn drop(&mut self) {
        if let Some(w) = self.waiter.take()
            && !w.woken.load(Ordering::Acquire)
        {
            self.q.waiters.lock().retain(|x| !Arc::ptr_eq(x, &w));
        }
    }
}

// --- CoRwlock --------------------------------------------------------------------

struct Ticket {
    read: bool,
    w: Arc<Waiter>,
}

struct RwState {
    /// Readers > 0, writer = -1.
    owners: i32,
    tickets: VecDeque<Ticket>,
}

/// `CoRwlock`: readers wait behind a queued writer; on release the first
/// queued ticket is admitted, and consecutive queued readers with it.
pub struct CoRwlock {
    state: Mutex<RwState>,
}

impl std::fmt::Debug for CoRwlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoRwlock")
            .field("owners", &self.state.lock().owners)
            .finish()
    }
}

impl Default for CoRwlock {
    fn default() -> Self {
        Self::new()
    }
}

impl CoRwlock {
    /// `qemu_co_rwlock_init`.
    pub const fn new() -> Self {
        CoRwlock {
            state: Mutex::new(RwState {
                owners: 0,
                tickets: VecDeque::new(),
            }),
        }
    }

    /// Current owners: readers (> 0), a writer (-1) or none (0).
    pub fn owners(&self) -> i32 {
        self.state.lock().owners
    }

    /// `qemu_co_rwlock_rdlock`.
    pub async fn rdlock(&self) -> CoRwlockReadGuard<'_> {
        RwAcquire {
            l: self,
            read: true,
            w: None,
        }
        .await;
        held_inc();
        CoRwlockReadGuard { l: self }
    }

    /// `qemu_co_rwlock_wrlock`.
    pub async fn wrlock(&self) -> CoRwlockWriteGuard<'_> {
        RwAcquire {
            l: self,
            read: false,
            w: None,
        }
        .await;
        held_inc();
        CoRwlockWriteGuard { l: self }
    }

    /// `qemu_co_rwlock_maybe_wake_one`, admitting consecutive readers.
    fn maybe_wake(st: &mut RwState) -> Vec<Waker> {
        let mut out = Vec::new();
        while let Some(t) = st.tickets.front() {
            if t.read && st.owners >= 0 {
                st.owners += 1;
            } else if !t.read && st.owners == 0 {
                st.owners = -1;
            } else {
                break;
            }
            let t = st.tickets.pop_front().expect("front exists");
            if let Some(w) = t.w.grant() {
                out.push(w);
            }
            if !t.read {
                break;
            }
        }
        out
    }

    fn release(&self, writer: bool) {
        let wakers = {
            let mut st = self.state.lock();
            if writer {
                assert_eq!(st.owners, -1, "CoRwlock: write unlock without a writer");
                st.owners = 0;
            } else {
                assert!(st.owners > 0, "CoRwlock: read unlock without readers");
                st.owners -= 1;
            }
            Self::maybe_wake(&mut st)
        };
        held_dec();
        for w in wakers {
            w.wake();
        }
    }
}

struct RwAcquire<'a> {
    l: &'a CoRwlock,
    read: bool,
    w: Option<Arc<Waiter>>,
}

impl Future for RwAcquire<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(w) = &self.w {
            if w.granted.load(Ordering::Acquire) {
                self.w = None;
                return Poll::Ready(());
            }
            *w.waker.lock() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut st = self.l.state.lock();
        let ok = if self.read {
            st.owners == 0 || (st.owners > 0 && st.tickets.is_empty())
        } else {
            st.owners == 0 && st.tickets.is_empty()
        };
        if ok {
            st.owners = if self.read { st.owners + 1 } else { -1 };
            return Poll::Ready(());
        }
        let w = Waiter::new(cx);
        st.tickets.push_back(Ticket {
            read: self.read,
            w: Arc::clone(&w),
        });
        drop(st);
        self.w = Some(w);
        Poll::Pending
    }
}

impl Drop for RwAcquire<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.w.take() {
            let wakers = {
                let mut st = self.l.state.lock();
                if w.granted.load(Ordering::Acquire) {
                    // Admitted but cancelled: give the lock back.
                    if self.read {
                        st.owners -= 1;
                    } else {
                        st.owners = 0;
                    }
                } else {
                    st.tickets.retain(|t| !Arc::ptr_eq(&t.w, &w));
                }
                CoRwlock::maybe_wake(&mut st)
            };
            for wk in wakers {
                wk.wake();
            }
        }
    }
}

/// A read lock on a [`CoRwlock`].
pub struct CoRwlockReadGuard<'a> {
    l: &'a CoRwlock,
}

impl std::fmt::Debug for CoRwlockReadGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoRwlockReadGuard")
    }
}

impl<'a> CoRwlockReadGuard<'a> {
    /// `qemu_co_rwlock_upgrade`: becomes the writer, queueing behind other
    /// readers and tickets if needed.
    pub async fn upgrade(self) -> CoRwlockWriteGuard<'a> {
        let l = self.l;
        std::mem::forget(self);
        {
            let mut st = l.state.lock();
            if st.owners == 1 && st.tickets.is_empty() {
                st.owners = -1;
                return CoRwlockWriteGuard { l };
            }
        }
        // Give up the read lock (locks_held stays: we hold a lock again
        // when this returns), then queue as a writer.
        let wakers = {
            let mut st = l.state.lock();
            st.owners -= 1;
            CoRwlock::maybe_wake(&mut st)
        };
        for w in wakers {
            w.wake();
        }
        RwAcquire {
            l,
            read: false,
            w: None,
        }
        .await;
        CoRwlockWriteGuard { l }
    }
}

impl Drop for CoRwlockReadGuard<'_> {
    fn drop(&mut self) {
        self.l.release(false);
    }
}

/// The write lock on a [`CoRwlock`].
pub struct CoRwlockWriteGuard<'a> {
    l: &'a CoRwlock,
}

impl std::fmt::Debug for CoRwlockWriteGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoRwlockWriteGuard")
    }
}

impl<'a> CoRwlockWriteGuard<'a> {
    /// `qemu_co_rwlock_downgrade`: becomes a reader without blocking and
    /// admits queued readers.
    pub fn downgrade(self) -> CoRwlockReadGuard<'a> {
        let l = self.l;
        std::mem::forget(self);
        let wakers = {
            let mut st = l.state.lock();
            assert_eq!(st.owners, -1);
            st.owners = 1;
            CoRwlock::maybe_wake(&mut st)
        };
        for w in wakers {
            w.wake();
        }
        CoRwlockReadGuard { l }
    }
}

impl Drop for CoRwlockWriteGuard<'_> {
    fn drop(&mut self) {
        self.l.release(true);
    }
}

// --- qemu-coroutine-io.c / qemu-co-timeout.c ---------------------------------------

/// `yield_until_fd_readable(fd)`: installs a temporary read handler on
/// `fd` in the current context that wakes this coroutine, yields until the
/// fd is readable, and removes the handler. Like QEMU, it replaces any
/// handler already installed for `fd`.
///
/// # Panics
/// Outside a coroutine or without a current context.
pub async fn yield_until_fd_readable(fd: std::os::fd::RawFd) {
    struct Fut {
        fd: std::os::fd::RawFd,
        ctx: Option<Arc<AioContext>>,
        fired: Arc<AtomicBool>,
    }
    impl Future for Fut {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.fired.load(Ordering::Acquire) {
                if let Some(ctx) = self.ctx.take() {
                    ctx.remove_fd_handler(self.fd);
                }
                return Poll::Ready(());
            }
            if self.ctx.is_none() {
                assert!(
                    qemu_in_coroutine(),
                    "yield_until_fd_readable outside a coroutine"
                );
                let ctx = current_aio_context().expect("yield_until_fd_readable: no AioContext");
                let fired = Arc::clone(&self.fired);
                let waker = cx.waker().clone();
                ctx.set_fd_rw(
                    self.fd,
                    Some(Arc::new(move || {
                        if !fired.swap(true, Ordering::AcqRel) {
                            waker.wake_by_ref();
                        }
                    })),
                    None,
                );
                self.ctx = Some(ctx);
            }
            Poll::Pending
        }
    }
    impl Drop for Fut {
        fn drop(&mut self) {
            if let Some(ctx) = self.ctx.take() {
                ctx.remove_fd_handler(self.fd);
            }
        }
    }
    Fut {
        fd,
        ctx: None,
        fired: Arc::new(AtomicBool::new(false)),
    }
    .await;
}

/// The error of [`qemu_co_timeout`] (QEMU's `-ETIMEDOUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("coroutine timed out")]
pub struct TimedOut;

/// `qemu_co_timeout(entry, ns, clean)`: runs `f` in a new coroutine in the
/// current context and waits for it at most `ns` of REALTIME. On timeout
/// `f` is *not* cancelled: it keeps running, and `clean` receives its
/// output when it finishes.
///
/// # Panics
/// Outside a coroutine.
pub async fn qemu_co_timeout<T: Send + 'static>(
    f: impl Future<Output = T> + Send + 'static,
    ns: i64,
    clean: impl FnOnce(T) + Send + 'static,
) -> Result<T, TimedOut> {
    struct Shared<T> {
        result: Option<T>,
        timed_out: bool,
        clean: Option<Box<dyn FnOnce(T) + Send>>,
        waker: Option<Waker>,
    }
    let shared = Arc::new(Mutex::new(Shared {
        result: None,
        timed_out: false,
        clean: Some(Box::new(clean)),
        waker: None,
    }));
    let ctx = current_aio_context().expect("qemu_co_timeout: no AioContext");
    let s = Arc::clone(&shared);
    let runner = Coroutine::new(async move {
        let v = f.await;
        let (late, waker) = {
            let mut g = s.lock();
            if g.timed_out {
                (g.clean.take().map(|c| (c, v)), None)
            } else {
                g.result = Some(v);
                (None, g.waker.take())
            }
        };
        if let Some((c, v)) = late {
            c(v);
        }
        if let Some(w) = waker {
            w.wake();
        }
    });
    let s = Arc::clone(&shared);
    let timer = Timer::new(&ctx, ClockType::Realtime, move || {
        let w = {
            let mut g = s.lock();
            if g.result.is_some() {
                None
            } else {
                g.timed_out = true;
                g.waker.take()
            }
        };
        if let Some(w) = w {
            w.wake();
        }
    });
    timer.modify_ns(QemuClock::get_ns(ClockType::Realtime).saturating_add(ns));
    // Start the entry coroutine after this one yields (aio_co_enter
    // semantics inside a coroutine).
    aio_co_enter(&ctx, &runner);
    std::future::poll_fn(|cx| {
        let mut g = shared.lock();
        if let Some(v) = g.result.take() {
            return Poll::Ready(Ok(v));
        }
        if g.timed_out {
            return Poll::Ready(Err(TimedOut));
        }
        g.waker = Some(cx.waker().clone());
        Poll::Pending
    })
    .await
}
