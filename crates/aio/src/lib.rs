//! The event loop, threads and synchronisation primitives of Ferrite.
//!
//! QEMU counterpart: `util/async.c`, `util/aio-posix.c`, `util/main-loop.c`,
//! `util/qemu-timer.c`, `util/thread-pool.c`, `util/qemu-coroutine*.c`,
//! `util/event_notifier-posix.c`, `iothread.c`, `system/cpus.c` (the BQL),
//! `system/cpu-timers.c` and `system/runstate.c`.
//!
//! This crate knows nothing about guests, devices or the command line; the
//! memory API and everything above it build on it.
//!
//! # Threading model: what runs where
//! - **Main thread**: [`main_loop::qemu_init_main_loop`] makes it the home of
//!   the main [`AioContext`] and of the iohandler context. It holds the
//!   [`bql`] except while blocked in [`main_loop::main_loop_wait`], so every
//!   main-loop callback (BHs, fd handlers, timers, coroutines entered there)
//!   runs under the BQL. Run-state changes happen only here.
//! - **IOThreads** ([`IoThread`]): each is the home thread of its own
//!   context and runs `poll(true)` in a loop, without the BQL.
//! - **Thread-pool workers** ([`ThreadPool`]): run blocking functions;
//!   completions come back to the submitting context through a BH.
//! - **vCPU threads** (built elsewhere): a thread that holds the BQL and has
//!   no context of its own counts as the home of the main context
//!   ([`current_aio_context`]), but it may poll it only while no other
//!   thread is inside that context's `poll` (one poller at a time: a second
//!   concurrent poller panics); otherwise it talks to contexts through
//!   thread-safe calls: [`QemuBh::schedule`],
//!   [`AioContext::bh_schedule_oneshot`], [`Timer::modify_ns`],
//!   [`aio_co_schedule`]. Accelerators drive their vCPU threads with
//!   [`cpus::VcpuCtl`] (kick, `run_on_cpu`, pause/resume, exclusive
//!   sections); [`runstate::vm_stop`]/[`runstate::vm_start`] pause them and
//!   freeze/resume the VIRTUAL clock.
//!
//! Every callback of a context runs in that context's home thread, inside
//! [`AioContext::poll`]; the thread-safe entry points only enqueue work and
//! call [`AioContext::notify`], which writes the context's eventfd only when
//! its loop may be blocked (the `notify_me`/`notified` protocol).
//!
//! A panicking callback does not stop the rest of its `poll` iteration; the
//! panic is re-raised out of `poll` afterwards, and the IOThread and main
//! loops report it and go on (see [`AioContext::poll`]). A thread-pool
//! work function that panics completes its request with
//! [`ThreadPoolError::Panicked`].
//!
//! # Quick start
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use ferrite_aio::{AioContext, ClockType, Coroutine, QemuClock, Timer, qemu_co_sleep_ns};
//!
//! let ctx = AioContext::new("example").unwrap();
//! let hits = Arc::new(AtomicUsize::new(0));
//!
//! // A bottom half, scheduled from another thread, runs in ctx's thread.
//! let h = Arc::clone(&hits);
//! let bh = ctx.bh_new("example-bh", move || {
//!     h.fetch_add(1, Ordering::SeqCst);
//! });
//! std::thread::scope(|s| {
//!     s.spawn(|| bh.schedule());
//! });
//! while hits.load(Ordering::SeqCst) < 1 {
//!     ctx.poll(true); // the first poll makes this thread ctx's home
//! }
//!
//! // A timer on the REALTIME clock, 1 ms from now.
//! let h = Arc::clone(&hits);
//! let t = Timer::new(&ctx, ClockType::Realtime, move || {
//!     h.fetch_add(1, Ordering::SeqCst);
//! });
//! t.modify_ns(QemuClock::get_ns(ClockType::Realtime) + 1_000_000);
//! while hits.load(Ordering::SeqCst) < 2 {
//!     ctx.poll(true);
//! }
//!
//! // A coroutine that sleeps on the clock, driven to completion.
//! let v = ferrite_aio::run_until_done(&ctx, async {
//!     qemu_co_sleep_ns(ClockType::Realtime, 100_000).await;
//!     42
//! });
//! assert_eq!(v, 42);
//! ```
//!
//! Contents:
//! - [`AioContext`]: the loop, fd handlers, busy polling, bottom halves
//!   ([`QemuBh`]).
//! - [`timer`]: the four clocks and per-context timer lists ([`Timer`]).
//! - [`coroutine`]: coroutines as futures bound to a context, `CoMutex`,
//!   `CoQueue`, `CoRwlock`, sleeping, `AIO_WAIT_WHILE`.
//! - [`ThreadPool`], [`IoThread`], [`main_loop`], [`runstate`], [`cpus`]
//!   (vCPU kicks, `run_on_cpu`, pause/resume).
//! - [`EventNotifier`], [`bql`] (with `BqlCell`/`BqlRefCell`), [`log`].

mod bh;
pub mod bql;
mod context;
pub mod coroutine;
pub mod cpus;
mod event_notifier;
mod iothread;
pub mod log;
pub mod main_loop;
mod notify;
pub mod runstate;
mod stack;
mod thread_pool;
pub mod timer;

/// The atomics used by [`notify`] and [`stack`] (swapped for loom's in the
/// model tests).
mod sync {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
}

pub use bh::{MemReentrancyGuard, QemuBh};
pub use context::{
    AioContext, AioHandlerOps, FdMonKind, IoHandler, IoPollFn, POLL_IDLE_INTERVAL_NS,
    POLL_NS_INITIAL, current_aio_context, main_aio_context, set_current_aio_context,
};
pub use coroutine::{
    CoMutex, CoQueue, CoRwlock, Coroutine, aio_co_enter, aio_co_reschedule_self, aio_co_schedule,
    aio_co_wake, aio_wait_bh_oneshot, aio_wait_kick, aio_wait_while, qemu_co_sleep_ns,
    qemu_coroutine_yield, qemu_in_coroutine, run_until_done,
};
pub use event_notifier::EventNotifier;
pub use iothread::{IOTHREAD_POLL_MAX_NS_DEFAULT, IoThread, IoThreadError, IoThreadParams};
pub use thread_pool::{
    THREAD_POOL_MAX_THREADS_DEFAULT, ThreadPool, ThreadPoolError, ThreadPoolRequest,
};
pub use timer::{ClockType, QemuClock, Timer};
