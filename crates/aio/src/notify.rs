//! The `notify_me` / `notified` protocol of `util/async.c:aio_notify` and
//! `util/aio-posix.c:aio_poll`, isolated so that the loom model in
//! `tests/loom_notify.rs` checks exactly this code.
//!
//! The atomics come from `super::sync`: `std::sync::atomic` inside the
//! crate, loom's atomics in the model. Memory orderings follow QEMU's
//! barriers: `smp_wmb` becomes a Release store, `smp_mb` a SeqCst fence,
//! `qatomic_store_release` a Release store.

use super::sync::{AtomicBool, AtomicU32, Ordering, fence};

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
        // smp_wmb(); notified = true
        self.notified.store(true, Ordering::Release);
        // smp_mb(): order the store above before the load of notify_me; the
        // poller does the mirror image (increment, fence, load notified).
        fence(Ordering::SeqCst);
        self.notify_me.load(Ordering::Relaxed) != 0
    }

    /// Poller side, before blocking: announce that we may block. Returns
    /// false if a notification is already pending, in which case the
    /// caller must not block (timeout becomes 0). Either way the caller
    /// must call [`end_block`](Self::end_block) afterwards.
    pub(crate) fn begin_block(&self) -> bool {
        self.notify_me.fetch_add(2, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        !self.notified.load(Ordering::Relaxed)
    }

    /// Poller side, after the wait (`qatomic_store_release(notify_me - 2)`).
    pub(crate) fn end_block(&self) {
        self.notify_me.fetch_sub(2, Ordering::Release);
    }

    /// `aio_notify_accept`: clear `notified`, then a full fence so that the
    /// dispatch that follows sees everything published before the notify.
    pub(crate) fn accept(&self) {
        self.notified.store(false, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Whether a notification is pending (the notifier's `io_poll`).
    pub(crate) fn notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Sets or clears bit 0 of `notify_me` (external driver about to
    /// block / done blocking). Setting is followed by a full fence like
    /// [`begin_block`](Self::begin_block); returns false if a notification is
    /// already pending.
    pub(crate) fn set_external(&self, on: bool) -> bool {
        if on {
            self.notify_me.fetch_or(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            !self.notified.load(Ordering::Relaxed)
        } else {
            self.notify_me.fetch_and(!1, Ordering::Release);
            true
        }
    }
}
