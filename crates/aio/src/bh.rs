//! Bottom halves (`QEMUBH`, `util/async.c`).
//!
//! A bottom half is a callback that a context runs at the start of its next
//! dispatch. Scheduling is wait-free and allowed from any thread: the BH is
//! pushed onto a lock-free stack (QEMU's `bh_list`) only when its `PENDING`
//! flag was clear, so many schedules before a dispatch coalesce into one
//! run. The poller takes the whole stack as one *slice*; within a slice BHs
//! run in reverse scheduling order (LIFO), as in QEMU. A BH scheduled while
//! a slice is being dispatched (even by itself) runs on the next poll.

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::sync::AtomicPtr;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::context::AioContext;

pub(crate) const BH_PENDING: u32 = 1 << 0;
pub(crate) const BH_SCHEDULED: u32 = 1 << 1;
pub(crate) const BH_DELETED: u32 = 1 << 2;
pub(crate) const BH_ONESHOT: u32 = 1 << 3;
pub(crate) const BH_IDLE: u32 = 1 << 4;

/// A device's re-entrancy guard (`MemReentrancyGuard`): set while one of
/// the device's bottom halves runs, so that the memory core can refuse MMIO
/// to the same device from inside it (DMA-to-self re-entrancy).
#[derive(Debug, Default)]
pub struct MemReentrancyGuard {
    /// `engaged_in_io`.
    pub engaged_in_io: AtomicBool,
}

impl MemReentrancyGuard {
    /// Creates a disengaged guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the device is currently inside one of its own callbacks.
    pub fn engaged(&self) -> bool {
        self.engaged_in_io.load(Ordering::Acquire)
    }
}

pub(crate) enum BhCallback {
    Fn(Box<dyn Fn() + Send + Sync>),
    Once(Mutex<Option<Box<dyn FnOnce() + Send>>>),
}

pub(crate) struct BhInner {
    pub(crate) ctx: Weak<AioContext>,
    pub(crate) flags: AtomicU32,
    /// Link in the context's BH stack; owned by whoever holds `PENDING`.
    pub(crate) next: AtomicPtr<BhInner>,
    pub(crate) cb: BhCallback,
    pub(crate) name: &'static str,
    pub(crate) guard: Option<Arc<MemReentrancyGuard>>,
}

impl BhInner {
    pub(crate) fn new(
        ctx: Weak<AioContext>,
        cb: BhCallback,
        name: &'static str,
        guard: Option<Arc<MemReentrancyGuard>>,
    ) -> Arc<Self> {
        Arc::new(BhInner {
            ctx,
            flags: AtomicU32::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
            cb,
            name,
            guard,
        })
    }

    /// `aio_bh_enqueue`.
    pub(crate) fn enqueue(self: &Arc<Self>, new_flags: u32) {
        let Some(ctx) = self.ctx.upgrade() else {
            return;
        };
        self.enqueue_on(&ctx, new_flags);
    }

    /// `aio_bh_enqueue` when the caller already holds the context (saves
    /// the weak-reference upgrade on the hot paths).
    pub(crate) fn enqueue_on(self: &Arc<Self>, ctx: &AioContext, new_flags: u32) {
        debug_assert!(std::ptr::eq(self.ctx.as_ptr(), ctx));
        let old = self
            .flags
            .fetch_or(BH_PENDING | new_flags, Ordering::AcqRel);
        if old & BH_PENDING == 0 {
            ctx.bh_list.push(Arc::clone(self));
        }
        ctx.notify();
    }

    /// `aio_bh_call`: runs the callback with the re-entrancy guard engaged.
    pub(crate) fn call(&self) {
        let prev = self
            .guard
            .as_ref()
            .map(|g| g.engaged_in_io.swap(true, Ordering::AcqRel));
        struct Restore<'a>(Option<&'a MemReentrancyGuard>, Option<bool>);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                if let (Some(g), Some(p)) = (self.0, self.1) {
                    g.engaged_in_io.store(p, Ordering::Release);
                }
            }
        }
        let _restore = Restore(self.guard.as_deref(), prev);
        match &self.cb {
            BhCallback::Fn(f) => f(),
            BhCallback::Once(m) => {
                let f = m.lock().take();
                if let Some(f) = f {
                    f();
                }
            }
        }
    }
}

/// The context's list of pending BHs (`ctx->bh_list`).
pub(crate) type BhStack = crate::stack::TreiberStack<BhInner>;

impl crate::stack::StackNode for BhInner {
    fn next(&self) -> &AtomicPtr<BhInner> {
        &self.next
    }
}

/// A bottom half (`QEMUBH`) created with [`AioContext::bh_new`].
///
/// The handle keeps its context alive. Dropping it is `qemu_bh_delete`: a
/// pending run is discarded.
pub struct QemuBh {
    inner: Arc<BhInner>,
    _ctx: Arc<AioContext>,
}

impl std::fmt::Debug for QemuBh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuBh")
            .field("name", &self.inner.name)
            .field("flags", &self.inner.flags.load(Ordering::Relaxed))
            .finish()
    }
}

impl QemuBh {
    pub(crate) fn from_parts(inner: Arc<BhInner>, ctx: Arc<AioContext>) -> Self {
        QemuBh { inner, _ctx: ctx }
    }

    /// `qemu_bh_schedule`: run the callback once at the start of the
    /// context's next dispatch. Any thread; coalesces.
    pub fn schedule(&self) {
        self.inner.enqueue_on(&self._ctx, BH_SCHEDULED);
    }

    /// `qemu_bh_schedule_idle`: like [`schedule`](Self::schedule) but the
    /// run does not count as progress and only caps the poll timeout at
    /// 10 ms instead of forcing a zero timeout.
    pub fn schedule_idle(&self) {
        self.inner.enqueue_on(&self._ctx, BH_SCHEDULED | BH_IDLE);
    }

    /// `qemu_bh_cancel`: clears the scheduled bit. Asynchronous: a run that
    /// already started is not undone; the BH may be scheduled again.
    pub fn cancel(&self) {
        self.inner.flags.fetch_and(!BH_SCHEDULED, Ordering::AcqRel);
    }

    /// The name given at creation (for debugging).
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// Whether a run is pending (`SCHEDULED` set).
    pub fn scheduled(&self) -> bool {
        self.inner.flags.load(Ordering::Acquire) & BH_SCHEDULED != 0
    }
}

impl Drop for QemuBh {
    /// `qemu_bh_delete`: the BH is freed at dequeue and never runs again,
    /// even if it was scheduled (`DELETED` wins).
    fn drop(&mut self) {
        self.inner.enqueue(BH_DELETED);
    }
}
