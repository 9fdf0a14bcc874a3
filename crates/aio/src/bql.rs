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
    /// `bql_unlock_blocked`: live [`BqlRefCell`] borrows (debug builds).
    static UNLOCK_BLOCKED: Cell<u32> = const { Cell::new(0) };
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
    // A guard exists only on the thread that locked, but it can be dropped
    // (or its `unlocked` entered) inside an `unlocked` scope, where this
    // thread has already released the lock and another thread may own it.
    // Checking the thread-local flag keeps that safe-code misuse from
    // unlocking someone else's BQL.
    assert!(
        bql_locked(),
        "bql_unlock: the BQL is not held by this thread (guard used inside an unlocked scope?)"
    );
    assert_eq!(
        UNLOCK_BLOCKED.with(Cell::get),
        0,
        "bql_unlock: a BqlRefCell borrow is still alive"
    );
    HELD.with(|h| h.set(false));
    // SAFETY: HELD was true, and HELD is set only right after this thread
    // locked BQL and cleared right before it unlocks it, so this thread
    // owns the lock.
    unsafe { BQL.unlock() };
}

/// Releases the BQL around `f` if the calling thread holds it (the main
/// loop's "unlock around the blocking poll"); otherwise just runs `f`.
///
/// # Panics
/// If a [`BqlRefCell`] borrow is alive (it would outlive the release).
pub fn unlocked<R>(f: impl FnOnce() -> R) -> R {
    if !bql_locked() {
        return f();
    }
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

fn assert_bql(what: &str) {
    // Always on (a thread-local read): the `Sync` impls of the cells below
    // rely on it, so a release build must not skip it.
    assert!(bql_locked(), "{what} accessed without the BQL");
}

/// A `Cell` protected by the BQL (QEMU's `rust/bql` `BqlCell`): `Sync`
/// because every access happens with the BQL held (checked in every build;
/// an access without it panics).
pub struct BqlCell<T> {
    value: std::cell::Cell<T>,
}

// SAFETY: every access asserts (in all builds) that this thread holds the
// BQL, so at most one thread touches the cell at a time, and taking and
// releasing the lock orders the accesses.
unsafe impl<T: Send> Sync for BqlCell<T> {}

impl<T: Copy> BqlCell<T> {
    /// Creates a cell.
    pub const fn new(value: T) -> Self {
        BqlCell {
            value: std::cell::Cell::new(value),
        }
    }

    /// Reads the value (BQL held).
    pub fn get(&self) -> T {
        assert_bql("BqlCell");
        self.value.get()
    }

    /// Writes the value (BQL held).
    pub fn set(&self, v: T) {
        assert_bql("BqlCell");
        self.value.set(v);
    }

    /// Replaces the value, returning the old one (BQL held).
    pub fn replace(&self, v: T) -> T {
        assert_bql("BqlCell");
        self.value.replace(v)
    }
}

impl<T: Copy + std::fmt::Debug> std::fmt::Debug for BqlCell<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BqlCell").finish_non_exhaustive()
    }
}

/// A `RefCell` protected by the BQL (`BqlRefCell`). A live borrow blocks
/// `bql_unlock` (it panics), so a borrow can never outlive the lock.
pub struct BqlRefCell<T> {
    value: std::cell::RefCell<T>,
}

// SAFETY: as for `BqlCell`: every borrow asserts the BQL, and a live borrow
// makes `bql_unlock` panic, so the RefCell's flag and value are only touched
// by the one thread that holds the lock.
unsafe impl<T: Send> Sync for BqlRefCell<T> {}

/// A shared borrow of a [`BqlRefCell`].
pub struct BqlRef<'a, T> {
    inner: std::cell::Ref<'a, T>,
    _block: UnlockBlock,
}

/// A mutable borrow of a [`BqlRefCell`].
pub struct BqlRefMut<'a, T> {
    inner: std::cell::RefMut<'a, T>,
    _block: UnlockBlock,
}

struct UnlockBlock;
impl UnlockBlock {
    fn new() -> Self {
        UNLOCK_BLOCKED.with(|c| c.set(c.get() + 1));
        UnlockBlock
    }
}
impl Drop for UnlockBlock {
    fn drop(&mut self) {
        UNLOCK_BLOCKED.with(|c| c.set(c.get() - 1));
    }
}

impl<T> BqlRefCell<T> {
    /// Creates a cell.
    pub const fn new(value: T) -> Self {
        BqlRefCell {
            value: std::cell::RefCell::new(value),
        }
    }

    /// Borrows immutably (BQL held).
    ///
    /// # Panics
    /// If mutably borrowed.
    pub fn borrow(&self) -> BqlRef<'_, T> {
        assert_bql("BqlRefCell");
        BqlRef {
            inner: self.value.borrow(),
            _block: UnlockBlock::new(),
        }
    }

    /// Borrows mutably (BQL held).
    ///
    /// # Panics
    /// If already borrowed.
    pub fn borrow_mut(&self) -> BqlRefMut<'_, T> {
        assert_bql("BqlRefCell");
        BqlRefMut {
            inner: self.value.borrow_mut(),
            _block: UnlockBlock::new(),
        }
    }
}

impl<T> std::ops::Deref for BqlRef<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> std::ops::Deref for BqlRefMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> std::ops::DerefMut for BqlRefMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> std::fmt::Debug for BqlRefCell<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BqlRefCell").finish_non_exhaustive()
    }
}

/// A condition variable waited on with the BQL (`qemu_cond_wait_bql`).
#[derive(Debug, Default)]
pub struct BqlCondvar {
    generation: parking_lot::Mutex<u64>,
    cond: parking_lot::Condvar,
}

impl BqlCondvar {
    /// Creates a condition variable.
    pub const fn new() -> Self {
        BqlCondvar {
            generation: parking_lot::Mutex::new(0),
            cond: parking_lot::Condvar::new(),
        }
    }

    /// `qemu_cond_wait_bql`: releases the BQL, waits for a notify, retakes
    /// the BQL. May wake spuriously; callers loop on their condition.
    ///
    /// Only notifies issued after this call are seen, so the condition the
    /// caller checked before must be changed with the BQL held; for a
    /// condition changed without it, use [`wait_while`](Self::wait_while).
    ///
    /// # Panics
    /// If the BQL is not held.
    pub fn wait(&self) {
        assert!(bql_locked(), "qemu_cond_wait_bql without the BQL");
        let mut g = self.generation.lock();
        let start = *g;
        unlocked(move || {
            while *g == start {
                self.cond.wait(&mut g);
            }
            drop(g);
        });
    }

    /// Waits (releasing the BQL) while `idle()` is true, without losing a
    /// [`notify_all`](Self::notify_all) that happens between the check and
    /// the sleep: the generation is read *before* each check, so a notify
    /// issued by a thread that does not hold the BQL (a vCPU kick) after
    /// the check still ends the wait. `idle` runs with the BQL held.
    ///
    /// # Panics
    /// If the BQL is not held.
    pub fn wait_while(&self, mut idle: impl FnMut() -> bool) {
        assert!(bql_locked(), "qemu_cond_wait_bql without the BQL");
        loop {
            let start = *self.generation.lock();
            if !idle() {
                return;
            }
            let mut g = self.generation.lock();
            unlocked(move || {
                while *g == start {
                    self.cond.wait(&mut g);
                }
                drop(g);
            });
        }
    }

    /// `qemu_cond_timedwait_bql`; returns false on timeout.
    pub fn wait_for(&self, timeout: std::time::Duration) -> bool {
        assert!(bql_locked(), "qemu_cond_timedwait_bql without the BQL");
        let mut g = self.generation.lock();
        let start = *g;
        unlocked(move || {
            let deadline = std::time::Instant::now() + timeout;
            while *g == start {
                if self.cond.wait_until(&mut g, deadline).timed_out() {
                    break;
                }
            }
            let woken = *g != start;
            // Drop the inner mutex before the BQL is retaken (BQL first).
            drop(g);
            woken
        })
    }

    /// `qemu_cond_broadcast`.
    pub fn notify_all(&self) {
        *self.generation.lock() += 1;
        self.cond.notify_all();
    }
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
