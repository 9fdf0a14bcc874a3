//! BQL rules (spec §(c) 30) and the BQL-protected cells.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferrite_aio::bql::{BqlCell, BqlCondvar, BqlRefCell, bql_lock, bql_locked, unlocked};

#[test]
fn bql_is_not_recursive() {
    let _g = bql_lock();
    let r = std::panic::catch_unwind(bql_lock);
    assert!(r.is_err());
    assert!(bql_locked());
}

#[test]
fn cells_need_and_honour_the_bql() {
    static CELL: BqlCell<u32> = BqlCell::new(1);
    static REF: BqlRefCell<Vec<u32>> = BqlRefCell::new(Vec::new());
    let g = bql_lock();
    CELL.set(5);
    assert_eq!(CELL.replace(6), 5);
    REF.borrow_mut().push(1);
    assert_eq!(REF.borrow().len(), 1);
    drop(g);
    // Checked in every build (the cells are Sync on the strength of it).
    assert!(
        std::panic::catch_unwind(|| CELL.get()).is_err(),
        "unlocked access is caught"
    );
    assert!(std::panic::catch_unwind(|| REF.borrow().len()).is_err());
    // A live borrow blocks bql_unlock.
    let _g = bql_lock();
    let b = REF.borrow();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unlocked(|| ())));
    assert!(r.is_err());
    drop(b);
    unlocked(|| assert!(!bql_locked()));
    assert!(bql_locked());
}

/// Review finding 2: dropping a guard inside an `unlocked` scope must not
/// unlock the BQL (by then it is released, and may belong to another
/// thread). It is refused with a panic; `unlocked` then retakes the lock
/// for this thread, which is where the scope's caller expects it.
/// (The BQL stays held by this test thread afterwards: nextest runs each
/// test in its own process.)
#[test]
fn guard_dropped_inside_unlocked_is_refused() {
    let g = bql_lock();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        unlocked(move || {
            assert!(!bql_locked());
            drop(g);
        })
    }));
    assert!(r.is_err(), "the stray drop is refused");
    assert!(bql_locked(), "unlocked retook the BQL on unwind");
}

#[test]
fn condvar_wait_releases_the_bql() {
    let cv = Arc::new(BqlCondvar::new());
    let flag = Arc::new(AtomicBool::new(false));
    let mut g = bql_lock();
    let (c2, f2) = (Arc::clone(&cv), Arc::clone(&flag));
    let t = std::thread::spawn(move || {
        // Needs the BQL: only possible while the waiter has released it.
        let _g = bql_lock();
        f2.store(true, Ordering::SeqCst);
        c2.notify_all();
    });
    while !flag.load(Ordering::SeqCst) {
        cv.wait();
    }
    assert!(bql_locked());
    g.unlocked(|| t.join().unwrap());
    drop(g);
}
