//! The lock-free stack behind a context's pending bottom halves (QEMU's
//! `QSLIST_INSERT_HEAD_ATOMIC` / `QSLIST_MOVE_ATOMIC` on `ctx->bh_list`),
//! isolated so that `tests/loom_bh.rs` can model-check it together with
//! the notify protocol. The atomics come from `super::sync` (std in the
//! crate, loom in the model).
//!
//! Any thread pushes (one CAS); only the owning thread takes the whole
//! stack or walks it. Entries are `Arc`s whose reference the stack owns
//! while they are on it.

use std::collections::VecDeque;
use std::ptr;
use std::sync::Arc;

use super::sync::{AtomicPtr, Ordering};

/// An element that carries its own link.
pub(crate) trait StackNode: Sized {
    /// The link field; written only by the thread that pushes the node.
    fn next(&self) -> &AtomicPtr<Self>;
}

/// A Treiber stack of `Arc<T>`.
pub(crate) struct TreiberStack<T: StackNode> {
    head: AtomicPtr<T>,
}

impl<T: StackNode> TreiberStack<T> {
    pub(crate) fn new() -> Self {
        TreiberStack {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes `node`. The caller guarantees the node is on no stack (for
    /// BHs: it is the thread that set `PENDING`).
    pub(crate) fn push(&self, node: Arc<T>) {
        let p = Arc::into_raw(node).cast_mut();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `p` came from `Arc::into_raw` above and stays alive
            // (the stack owns that reference); nobody else writes its link
            // while it is being pushed.
            unsafe { (*p).next().store(head, Ordering::Relaxed) };
            // AcqRel: releases our link; acquires the previous head's so a
            // taker that acquires our node also sees the whole chain.
            match self
                .head
                .compare_exchange_weak(head, p, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    /// Takes every entry, most recently pushed first.
    pub(crate) fn take_all(&self) -> VecDeque<Arc<T>> {
        let mut p = self.head.swap(ptr::null_mut(), Ordering::AcqRel);
        let mut out = VecDeque::new();
        while !p.is_null() {
            // SAFETY: every pointer on the stack came from `Arc::into_raw`
            // in `push`; after the swap we own the whole chain.
            let node = unsafe { Arc::from_raw(p) };
            p = node.next().swap(ptr::null_mut(), Ordering::Relaxed);
            out.push_back(node);
        }
        out
    }

    /// Calls `f` on every entry still on the stack. Only the thread that
    /// calls `take_all` may walk (it is the only one that removes).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&T)) {
        let mut p = self.head.load(Ordering::Acquire);
        while !p.is_null() {
            // SAFETY: entries are removed (and freed) only by `take_all`,
            // which runs in the same thread as this walk; concurrent pushes
            // only add in front of `p`.
            let node = unsafe { &*p };
            f(node);
            p = node.next().load(Ordering::Relaxed);
        }
    }
}

impl<T: StackNode> Drop for TreiberStack<T> {
    fn drop(&mut self) {
        drop(self.take_all());
    }
}
