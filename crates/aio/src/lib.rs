//! The event loop, threads and synchronisation primitives of Ferrite.
//!
//! QEMU counterpart: `util/async.c`, `util/aio-posix.c`, `util/main-loop.c`,
//! `util/qemu-timer.c`, `util/thread-pool.c`, `util/qemu-coroutine*.c`,
//! `util/event_notifier-posix.c`, `system/cpus.c` (the BQL).
//!
//! This crate knows nothing about guests, devices or the command line; the
//! memory API and everything above it build on it.
//!
//! Contents so far:
//! - [`EventNotifier`]: QEMU's `EventNotifier`, an eventfd that one side sets
//!   and the other side waits on (used by ioeventfd and by `AioContext`
//!   notification).
//! - [`bql`]: the Big QEMU Lock.
//! - [`log`]: the `-d` debug-log categories and the `-D` log file
//!   (`util/log.c`).

pub mod bql;
mod event_notifier;
pub mod log;

pub use event_notifier::EventNotifier;
