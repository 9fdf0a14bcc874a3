//! The `notify_me` / `notified` protocol of `util/async.c:aio_notify` and
//! `util/aio-posix.c:aio_poll`, isolated so that the loom model in
//! `tests/loom_notify.rs` checks exactly this code.
//!
//! The atomics come from `super::sync`: `std::sync::atomic` inside the
//! crate, loom's atomics in the model.
//!
//! QEMU orders the two sides with full fences (`smp_mb`) between a store to
//! one word and a load of the other (a store-buffering pattern). Ferrite
//! makes every access to `notified` on both sides a read-modify-write
//! instead: RMWs on one location are totally ordered, and each one reads
//! the previous, so whichever side comes second in that order *synchronises
//! with* the first and sees its update of `notify_me` or of the data. This
//! gives the same guarantee without relying on sequentially consistent
//! fences, which loom does not model exactly (and on x86 an `xchg` already
//! is a full barrier, so it costs no more than QEMU's store + `mfence`).

use super::sync::{AtomicBool, AtomicU32, Ordering};

/// The two words of the protocol.
///
/// - `notify_me`: bit 0 belongs to an external driver (QEMU's glib
///   `prepare`/`check`; Ferrite's main loop uses it for the iohandler
///   context); every blocking poll adds 2 before it may block and
///   subtracts 2 afterwards.
/// - `notified`: set by every notify, cleared by [`accept`](Self::accept)
///   before callbacks are dispatched.
#[derive(Debug)]
pub(crate) struct NotifyState {
    notify_me: AtomicU32,
    notified: AtomicBool,
}

impl NotifyState {
    pub(crate) fn new() -> Self {
        Self {
            notify_me: AtomicU32::new(0),
            notified: AtomicBool::new(false),
        }
    }

    /// Producer side (`aio_notify`): publish, then report whether the
    /// poller may be blocked, i.e. whether the caller must write the
    /// eventfd. Everything the caller wrote before this call is visible to
    /// the dispatch that follows the poller's [`accept`](Self::accept).
    pub(crate) fn notify(&self) -> bool {
        // notified = true (release: publishes the caller's data; acquire:
        // if the poller already announced itself, we see its notify_me).
        self.notified.swap(true, Ordering::AcqRel);
        self.notify_me.load(Ordering::Relaxed) != 0
    }

    /// Poller side, before blocking: announce that we may block. Returns
    /// false if a notification is already pending, in which case the
    /// caller must not block (timeout becomes 0). Either way the caller
    /// must call [`end_block`](Self::end_block) afterwards.
    pub(crate) fn begin_block(&self) -> bool {
        self.notify_me.fetch_add(2, Ordering::Relaxed);
        // Read `notified` with an RMW (see the module docs).
        !self.notified.fetch_or(false, Ordering::AcqRel)
    }

    /// Poller side, after the wait (`qatomic_store_release(notify_me - 2)`).
    pub(crate) fn end_block(&self) {
        self.notify_me.fetch_sub(2, Ordering::Release);
    }

    /// `aio_notify_accept`: clears `notified`. As a swap, it reads a
    /// producer's `notified = true` if it overwrites it, so the dispatch
    /// that follows sees everything published before that notify.
    pub(crate) fn accept(&self) {
        self.notified.swap(false, Ordering::AcqRel);
    }

    /// Whether a notification is pending (the notifier's `io_poll`). A hint
    /// for busy polling: a stale `false` only delays until the poller
    /// announces itself with [`begin_block`](Self::begin_block).
    pub(crate) fn notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Sets or clears bit 0 of `notify_me` (an external driver about to
    /// block / done blocking). Setting returns false if a notification is
    /// already pending, like [`begin_block`](Self::begin_block).
    pub(crate) fn set_external(&self, on: bool) -> bool {
        if on {
            self.notify_me.fetch_or(1, Ordering::Relaxed);
            !self.notified.fetch_or(false, Ordering::AcqRel)
        } else {
            self.notify_me.fetch_and(!1, Ordering::Release);
            true
        }
    }
}
