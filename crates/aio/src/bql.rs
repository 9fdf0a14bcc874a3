//! The Big QEMU Lock (`system/cpus.c`: `bql_lock`, `bql_unlock`,
//! `bql_locked`).
//!
//! One global, non-recursive lock serialises device emulation, run-state
//! changes and memory-topology transactions. The main loop holds it except
//! while it blocks in `poll`; vCPU threads take it only around work that
//! needs it (BQL-protected MMIO, run-state changes).
//!
//! Rust shape: [`bql_lock`] returns a [`BqlGuard`] that releases the lock
//! when dropped; [`bql_locked`] answers "does *this* thread hold it?" from a
//! thread-local flag, which is what QEMU's assertions (and `BqlCell`) need.

use std::cell::Cell;
use std::marker::PhantomData;

use lock_api::RawMutex as _;

static BQL: parking_lot::RawMutex = parking_lot::RawMutex::INIT;

thread_local! {
    static HELD: Cell<bool> = const { Cell::new(false) };
}

/// Proof that the current thread holds the BQL; dropping it unlocks.
///
/// The guard is neither `Send` nor `Sync`: the lock must be released by the
/// thread that took it.
#[must_use = "the BQL is released as soon as the guard is dropped"]
pub struct BqlGuard {
    _not_send: PhantomData<*const ()>,
}

/// Returns true if the calling thread holds the BQL.
pub fn bql_locked() -> bool {
    HELD.with(Cell::get)
}

/// Takes the BQL, blocking until it is free.
///
/// # Panics
/// If the calling thread already holds it (the BQL is not recursive, as in
/// QEMU, where this is an assertion failure).
pub fn bql_lock() -> BqlGuard {
    assert!(!bql_locked(), "bql_lock: the BQL is not recursive");
    BQL.lock();
    HELD.with(|h| h.set(true));
    BqlGuard {
        _not_send: PhantomData,
    }
}

/// Runs `f` with the BQL held, taking it only if the calling thread does not
/// hold it already (QEMU's `BQL_LOCK_GUARD()` pattern, used on paths such as
/// MMIO dispatch that are reached both with and without the lock).
pub fn with_bql<R>(f: impl FnOnce() -> R) -> R {
    if bql_locked() {
        f()
    } else {
        let _guard = bql_lock();
        f()
    }
}

impl BqlGuard {
    /// Releases the BQL while `f` runs and takes it back afterwards
    /// (QEMU's `bql_unlock(); ...; bql_lock();` around blocking work).
    pub fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        release();
        struct Relock;
        impl Drop for Relock {
            fn drop(&mut self) {
                BQL.lock();
                HELD.with(|h| h.set(true));
            }
        }
        let _relock = Relock;
        f()
    }
}

fn release() {
    HELD.with(|h| h.set(false));
    // SAFETY: only reached from a live `BqlGuard` (or its `unlocked`
    // scope), which exists only while this thread holds the lock.
    unsafe { BQL.unlock() };
}

impl Drop for BqlGuard {
    fn drop(&mut self) {
        release();
    }
}

impl std::fmt::Debug for BqlGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BqlGuard")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn lock_sets_thread_local_flag() {
        assert!(!bql_locked());
        let mut g = bql_lock();
        assert!(bql_locked());
        g.unlocked(|| assert!(!bql_locked()));
        assert!(bql_locked());
        drop(g);
        assert!(!bql_locked());
        with_bql(|| assert!(bql_locked()));
        assert!(!bql_locked());
    }

    #[test]
    fn excludes_other_threads() {
        // A non-atomic read-modify-write under the BQL from several threads
        // must never lose an update.
        let counter = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let _g = bql_lock();
                        let v = c.load(Ordering::Relaxed);
                        c.store(v + 1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::Relaxed), 40_000);
    }
}
