//! Clocks and timers (`util/qemu-timer.c`, `system/cpu-timers.c`).
//!
//! Four clocks ([`ClockType`]): REALTIME (host monotonic), VIRTUAL (guest
//! time, frozen while the VM is stopped), HOST (wall clock) and VIRTUAL_RT
//! (equal to VIRTUAL without icount). Every [`AioContext`] owns one
//! [`TimerList`] per clock; a [`Timer`] belongs to one list and fires in
//! that context's home thread, during the timer phase of
//! [`AioContext::poll`].
//!
//! Thread safety, as in QEMU: [`Timer::modify_ns`], [`Timer::del`] and
//! friends may be called from any thread. A change that makes a timer the
//! new head of its list notifies the owning context so that a blocked loop
//! recomputes its timeout. Timers with equal deadlines fire in the order in
//! which they were armed.
//!
//! `timer_del` semantics: once [`Timer::del`] returns, the callback will not
//! *start*; a callback already running in the home thread is not waited for.
//! Only disabling a clock ([`QemuClock::enable`]) waits for running
//! callbacks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::ThreadId;

use parking_lot::{Condvar, Mutex};

use crate::context::AioContext;

/// Nanoseconds per nanosecond (`SCALE_NS`).
pub const SCALE_NS: i64 = 1;
/// Nanoseconds per microsecond (`SCALE_US`).
pub const SCALE_US: i64 = 1_000;
/// Nanoseconds per millisecond (`SCALE_MS`).
pub const SCALE_MS: i64 = 1_000_000;
/// Nanoseconds per second (`NANOSECONDS_PER_SECOND`).
pub const NANOSECONDS_PER_SECOND: i64 = 1_000_000_000;

/// QEMU's clock types (`QEMUClockType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClockType {
    /// `QEMU_CLOCK_REALTIME`: host monotonic time; runs while the VM is
    /// stopped. For anything that must not change guest state.
    Realtime = 0,
    /// `QEMU_CLOCK_VIRTUAL`: guest time; frozen while the VM is stopped
    /// and starts disabled (reads 0 until the first `vm_start`).
    Virtual = 1,
    /// `QEMU_CLOCK_HOST`: host wall-clock time (jumps with settimeofday).
    Host = 2,
    /// `QEMU_CLOCK_VIRTUAL_RT`: like VIRTUAL without icount.
    VirtualRt = 3,
}

impl ClockType {
    /// All clock types, in QEMU's order.
    pub const ALL: [ClockType; 4] = [
        ClockType::Realtime,
        ClockType::Virtual,
        ClockType::Host,
        ClockType::VirtualRt,
    ];

    fn idx(self) -> usize {
        self as usize
    }
}

/// Host `CLOCK_MONOTONIC` in nanoseconds (QEMU's `get_clock`).
pub fn get_clock() -> i64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec
}

/// Host `CLOCK_REALTIME` in nanoseconds (QEMU's `get_clock_realtime`).
pub fn get_clock_realtime() -> i64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec
}

// --- The VIRTUAL clock's tick state (system/cpu-timers.c) -----------------

/// `cpu_clock_offset` and `cpu_ticks_enabled` under a sequence lock, so
/// that readers (device models reading guest time from vCPU threads) never
/// take a lock.
struct TicksState {
    seq: AtomicU32,
    offset: AtomicI64,
    enabled: AtomicBool,
    writer: Mutex<()>,
}

static TICKS: TicksState = TicksState {
    seq: AtomicU32::new(0),
    offset: AtomicI64::new(0),
    enabled: AtomicBool::new(false),
    writer: Mutex::new(()),
};

/// `cpu_get_clock`: the VIRTUAL time without icount. Constant while ticks
/// are disabled; 0 before the first [`cpu_enable_ticks`].
pub fn cpu_get_clock() -> i64 {
    loop {
        let s1 = TICKS.seq.load(Ordering::Acquire);
        if s1 & 1 != 0 {
            std::hint::spin_loop();
            continue;
        }
        let offset = TICKS.offset.load(Ordering::Relaxed);
        let enabled = TICKS.enabled.load(Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Acquire);
        if TICKS.seq.load(Ordering::Relaxed) == s1 {
            return if enabled {
                offset + get_clock()
            } else {
                offset
            };
        }
    }
}

fn ticks_write(f: impl FnOnce(i64, bool) -> (i64, bool)) {
    let _w = TICKS.writer.lock();
    let s = TICKS.seq.load(Ordering::Relaxed);
    TICKS.seq.store(s.wrapping_add(1), Ordering::Relaxed);
    std::sync::atomic::fence(Ordering::Release);
    let (o, e) = f(
        TICKS.offset.load(Ordering::Relaxed),
        TICKS.enabled.load(Ordering::Relaxed),
    );
    TICKS.offset.store(o, Ordering::Relaxed);
    TICKS.enabled.store(e, Ordering::Relaxed);
    TICKS.seq.store(s.wrapping_add(2), Ordering::Release);
}

/// `cpu_enable_ticks`: VIRTUAL time starts advancing again from the value
/// it had when it was stopped (no jump). Idempotent.
pub fn cpu_enable_ticks() {
    ticks_write(|offset, enabled| {
        if enabled {
            (offset, true)
        } else {
            (offset - get_clock(), true)
        }
    });
}

/// `cpu_disable_ticks`: freezes VIRTUAL time at its current value.
/// Idempotent.
pub fn cpu_disable_ticks() {
    ticks_write(|offset, enabled| {
        if enabled {
            (offset + get_clock(), false)
        } else {
            (offset, false)
        }
    });
}

// --- Clocks -----------------------------------------------------------------

struct ClockState {
    /// `QEMUClock.enabled`: the dispatch gate (separate from the ticks).
    enabled: AtomicBool,
    /// Every live timer list of this clock (`QEMUClock.timerlists`).
    lists: Mutex<Vec<Weak<TimerList>>>,
}

static CLOCKS: [ClockState; 4] = [
    ClockState {
        enabled: AtomicBool::new(true),
        lists: Mutex::new(Vec::new()),
    },
    // VIRTUAL starts disabled: it is enabled by the first vm_start.
    ClockState {
        enabled: AtomicBool::new(false),
        lists: Mutex::new(Vec::new()),
    },
    ClockState {
        enabled: AtomicBool::new(true),
        lists: Mutex::new(Vec::new()),
    },
    ClockState {
        enabled: AtomicBool::new(true),
        lists: Mutex::new(Vec::new()),
    },
];

static VIRTUAL_CLOCK_HOOK: parking_lot::RwLock<Option<fn() -> i64>> =
    parking_lot::RwLock::new(None);

/// Installs the accelerator's VIRTUAL clock source (`cpus_get_virtual_clock`,
/// e.g. icount); `None` restores [`cpu_get_clock`]. VIRTUAL_RT keeps using
/// `cpu_get_clock`, as in QEMU.
pub fn set_virtual_clock_source(hook: Option<fn() -> i64>) {
    *VIRTUAL_CLOCK_HOOK.write() = hook;
}

/// Accessors for QEMU's clocks (`qemu_clock_*`).
#[derive(Debug)]
pub struct QemuClock;

impl QemuClock {
    /// `qemu_clock_get_ns`.
    pub fn get_ns(clock: ClockType) -> i64 {
        match clock {
            ClockType::Realtime => get_clock(),
            ClockType::Virtual => match *VIRTUAL_CLOCK_HOOK.read() {
                Some(hook) => hook(),
                None => cpu_get_clock(),
            },
            ClockType::VirtualRt => cpu_get_clock(),
            ClockType::Host => get_clock_realtime(),
        }
    }

    /// `qemu_clock_get_ms`.
    pub fn get_ms(clock: ClockType) -> i64 {
        Self::get_ns(clock) / SCALE_MS
    }

    /// `qemu_clock_get_us`.
    pub fn get_us(clock: ClockType) -> i64 {
        Self::get_ns(clock) / SCALE_US
    }

    /// Whether timers of `clock` are dispatched (`QEMUClock.enabled`).
    pub fn is_enabled(clock: ClockType) -> bool {
        CLOCKS[clock.idx()].enabled.load(Ordering::SeqCst)
    }

    /// `qemu_clock_enable`. Enabling notifies every context with timers on
    /// this clock so it recomputes its deadline. Disabling returns only
    /// when no callback of this clock is running in any context.
    ///
    /// # Panics
    /// When disabling from inside a callback of the same clock: QEMU
    /// deadlocks there; Ferrite detects it. Request a VM stop instead.
    pub fn enable(clock: ClockType, enabled: bool) {
        let st = &CLOCKS[clock.idx()];
        let old = st.enabled.swap(enabled, Ordering::SeqCst);
        let lists: Vec<Arc<TimerList>> = {
            let mut l = st.lists.lock();
            l.retain(|w| w.strong_count() > 0);
            l.iter().filter_map(Weak::upgrade).collect()
        };
        if enabled {
            if !old {
                for l in &lists {
                    l.notify();
                }
            }
        } else {
            for l in &lists {
                l.wait_not_running();
            }
        }
    }

    /// `qemu_clock_deadline_ns_all`: nanoseconds until the earliest timer of
    /// `clock` in any context, or -1.
    pub fn deadline_ns_all(clock: ClockType) -> i64 {
        let lists: Vec<Arc<TimerList>> = CLOCKS[clock.idx()]
            .lists
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        lists
            .iter()
            .fold(-1, |acc, l| qemu_soonest_timeout(acc, l.deadline_ns()))
    }
}

/// `qemu_soonest_timeout`: the smaller of two timeouts where -1 means
/// "infinite" (compared as unsigned, as in QEMU).
pub fn qemu_soonest_timeout(a: i64, b: i64) -> i64 {
    if (a as u64) < (b as u64) { a } else { b }
}

/// `qemu_timeout_ns_to_ms`: rounds up (never wakes early), -1 stays -1,
/// capped at `i32::MAX` ms.
pub fn qemu_timeout_ns_to_ms(ns: i64) -> i64 {
    if ns < 0 {
        return -1;
    }
    if ns == 0 {
        return 0;
    }
    let ms = ns / SCALE_MS + i64::from(ns % SCALE_MS != 0);
    ms.min(i64::from(i32::MAX))
}

// --- Timer lists --------------------------------------------------------------

struct ListState {
    /// Armed timers sorted by (expire_time, arming sequence number): the
    /// sequence keeps equal deadlines FIFO.
    active: BTreeMap<(i64, u64), Arc<TimerInner>>,
    seq: u64,
}

/// One clock's timers in one context (`QEMUTimerList`).
pub struct TimerList {
    clock: ClockType,
    ctx: Weak<AioContext>,
    state: Mutex<ListState>,
    /// Expire time of the head or -1, for lock-free "any timer?" checks.
    head: AtomicI64,
    /// Threads currently inside `run_timers` of this list (the
    /// `timers_done_ev` of QEMU, as a count so nesting works).
    runners: Mutex<Vec<ThreadId>>,
    done: Condvar,
}

impl std::fmt::Debug for TimerList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerList")
            .field("clock", &self.clock)
            .field("head", &self.head.load(Ordering::Relaxed))
            .finish()
    }
}

impl TimerList {
    pub(crate) fn new(clock: ClockType, ctx: Weak<AioContext>) -> Arc<Self> {
        let l = Arc::new(TimerList {
            clock,
            ctx,
            state: Mutex::new(ListState {
                active: BTreeMap::new(),
                seq: 0,
            }),
            head: AtomicI64::new(-1),
            runners: Mutex::new(Vec::new()),
            done: Condvar::new(),
        });
        let mut lists = CLOCKS[clock.idx()].lists.lock();
        lists.retain(|w| w.strong_count() > 0);
        lists.push(Arc::downgrade(&l));
        l
    }

    fn notify(&self) {
        if let Some(ctx) = self.ctx.upgrade() {
            ctx.notify();
        }
    }

    fn update_head(&self, st: &ListState) {
        let h = st.active.keys().next().map_or(-1, |k| k.0);
        self.head.store(h, Ordering::Release);
    }

    /// `timerlist_has_timers`.
    pub fn has_timers(&self) -> bool {
        self.head.load(Ordering::Acquire) >= 0
    }

    /// `timerlist_deadline_ns`: ns until the head expires (0 if already
    /// expired), or -1 when there is no timer or the clock is disabled.
    pub fn deadline_ns(&self) -> i64 {
        let head = self.head.load(Ordering::Acquire);
        if head < 0 || !QemuClock::is_enabled(self.clock) {
            return -1;
        }
        (head - QemuClock::get_ns(self.clock)).max(0)
    }

    /// `timerlist_run_timers`: runs every expired timer, dropping the list
    /// lock around each callback. Returns true if a callback ran.
    pub(crate) fn run_timers(&self) -> bool {
        if self.head.load(Ordering::Acquire) < 0 {
            return false;
        }
        let me = std::thread::current().id();
        self.runners.lock().push(me);
        // Unregisters (and wakes QemuClock::enable waiters) also when a
        // callback unwinds.
        struct Runner<'a>(&'a TimerList, ThreadId);
        impl Drop for Runner<'_> {
            fn drop(&mut self) {
                let mut r = self.0.runners.lock();
                if let Some(i) = r.iter().position(|t| *t == self.1) {
                    r.swap_remove(i);
                }
                if r.is_empty() {
                    self.0.done.notify_all();
                }
            }
        }
        let _runner = Runner(self, me);
        let mut progress = false;
        // Checked after registering as a runner: see QemuClock::enable.
        if QemuClock::is_enabled(self.clock) {
            let now = QemuClock::get_ns(self.clock);
            loop {
                let t = {
                    let mut st = self.state.lock();
                    let Some((&key, _)) = st.active.iter().next() else {
                        break;
                    };
                    if key.0 > now {
                        break;
                    }
                    let t = st.active.remove(&key).expect("head just seen");
                    t.expire.store(-1, Ordering::Release);
                    self.update_head(&st);
                    t
                };
                // The lock is dropped: the callback may re-arm (even to an
                // already expired time, firing again in this loop) or
                // delete timers of this list.
                (t.cb)();
                progress = true;
            }
        }
        progress
    }

    fn wait_not_running(&self) {
        let me = std::thread::current().id();
        let mut r = self.runners.lock();
        assert!(
            !r.contains(&me),
            "qemu_clock_enable({:?}, false) called from a callback of that clock: \
             this would deadlock (request a VM stop instead)",
            self.clock
        );
        while !r.is_empty() {
            self.done.wait(&mut r);
        }
    }

    fn modify(&self, t: &Arc<TimerInner>, expire: i64, anticipate: bool) {
        let expire = expire.max(0);
        let became_head = {
            let mut st = self.state.lock();
            let cur = t.expire.load(Ordering::Relaxed);
            if anticipate && cur >= 0 && cur <= expire {
                return;
            }
            if cur >= 0 {
                st.active.remove(&(cur, t.seq.load(Ordering::Relaxed)));
            }
            st.seq += 1;
            let seq = st.seq;
            t.seq.store(seq, Ordering::Relaxed);
            t.expire.store(expire, Ordering::Release);
            st.active.insert((expire, seq), Arc::clone(t));
            let head = st.active.keys().next() == Some(&(expire, seq));
            self.update_head(&st);
            head
        };
        // Notify after unlocking, as QEMU does.
        if became_head {
            self.notify();
        }
    }

    fn del(&self, t: &TimerInner) {
        let mut st = self.state.lock();
        let cur = t.expire.load(Ordering::Relaxed);
        if cur >= 0 {
            st.active.remove(&(cur, t.seq.load(Ordering::Relaxed)));
            t.expire.store(-1, Ordering::Release);
            self.update_head(&st);
        }
    }
}

type TimerCb = Box<dyn Fn() + Send + Sync>;

struct TimerInner {
    list: Arc<TimerList>,
    scale: i64,
    /// -1 when not pending; written only under the list lock.
    expire: AtomicI64,
    /// Arming sequence number (the BTreeMap key's second half).
    seq: AtomicU64,
    cb: TimerCb,
}

/// A timer on one clock of one [`AioContext`] (`QEMUTimer`).
///
/// Dropping the timer deletes it (`timer_free`). The callback runs in the
/// context's home thread; it may re-arm or delete this and other timers.
pub struct Timer {
    inner: Arc<TimerInner>,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer")
            .field("clock", &self.inner.list.clock)
            .field("expire_ns", &self.expire_time_ns())
            .finish()
    }
}

impl Timer {
    /// `aio_timer_new(ctx, clock, SCALE_NS, cb)`: a nanosecond timer.
    pub fn new(
        ctx: &Arc<AioContext>,
        clock: ClockType,
        cb: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Self::new_scaled(ctx, clock, SCALE_NS, cb)
    }

    /// `aio_timer_new` with a scale ([`SCALE_NS`], [`SCALE_US`],
    /// [`SCALE_MS`]): [`modify`](Self::modify) takes units of `scale` ns.
    pub fn new_scaled(
        ctx: &Arc<AioContext>,
        clock: ClockType,
        scale: i64,
        cb: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        assert!(scale > 0, "timer scale must be positive");
        Timer {
            inner: Arc::new(TimerInner {
                list: Arc::clone(ctx.timer_list(clock)),
                scale,
                expire: AtomicI64::new(-1),
                seq: AtomicU64::new(0),
                cb: Box::new(cb),
            }),
        }
    }

    /// The clock this timer runs on.
    pub fn clock(&self) -> ClockType {
        self.inner.list.clock
    }

    /// `timer_mod`: arms (or re-arms) the timer to expire at `expire`
    /// (in units of the timer's scale) on its clock. Thread-safe.
    pub fn modify(&self, expire: i64) {
        self.modify_ns(expire.saturating_mul(self.inner.scale));
    }

    /// `timer_mod_ns`: arms the timer for absolute clock time `expire_ns`
    /// (clamped to at least 0). Thread-safe; notifies the context if this
    /// timer became the earliest of its list.
    pub fn modify_ns(&self, expire_ns: i64) {
        self.inner.list.modify(&self.inner, expire_ns, false);
    }

    /// `timer_mod_anticipate`: like [`modify`](Self::modify) but never makes
    /// a pending timer later.
    pub fn modify_anticipate(&self, expire: i64) {
        self.modify_anticipate_ns(expire.saturating_mul(self.inner.scale));
    }

    /// `timer_mod_anticipate_ns`.
    pub fn modify_anticipate_ns(&self, expire_ns: i64) {
        self.inner.list.modify(&self.inner, expire_ns, true);
    }

    /// `timer_del`: disarms the timer. Thread-safe. After it returns the
    /// callback will not start (one already running is not waited for).
    pub fn del(&self) {
        self.inner.list.del(&self.inner);
    }

    /// `timer_pending`.
    pub fn pending(&self) -> bool {
        self.inner.expire.load(Ordering::Acquire) >= 0
    }

    /// `timer_expire_time_ns`: the deadline in ns, or -1 if not pending.
    pub fn expire_time_ns(&self) -> i64 {
        self.inner.expire.load(Ordering::Acquire)
    }

    /// `timer_expired`: pending and due at `current_time` (in scale units).
    pub fn expired(&self, current_time: i64) -> bool {
        let e = self.expire_time_ns();
        e >= 0 && e <= current_time.saturating_mul(self.inner.scale)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.del();
    }
}

/// The timer lists of one context (`QEMUTimerListGroup`).
pub(crate) struct TimerListGroup {
    pub(crate) lists: [Arc<TimerList>; 4],
}

impl TimerListGroup {
    pub(crate) fn new(ctx: Weak<AioContext>) -> Self {
        TimerListGroup {
            lists: ClockType::ALL.map(|c| TimerList::new(c, ctx.clone())),
        }
    }

    /// `timerlistgroup_deadline_ns`.
    pub(crate) fn deadline_ns(&self) -> i64 {
        self.lists
            .iter()
            .fold(-1, |acc, l| qemu_soonest_timeout(acc, l.deadline_ns()))
    }

    /// `timerlistgroup_run_timers`.
    pub(crate) fn run_timers(&self) -> bool {
        let mut progress = false;
        for l in &self.lists {
            progress |= l.run_timers();
        }
        progress
    }
}
