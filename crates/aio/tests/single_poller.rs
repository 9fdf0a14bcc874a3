//! Review finding 8: the main context is "home" to every BQL holder, but
//! only one thread may be inside its `poll` at a time (the pending-BH walk
//! and the ready lists assume it). A second concurrent poller is refused.
//! One test: the main loop is process-wide.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use ferrite_aio::bql::bql_lock;
use ferrite_aio::main_loop::{qemu_get_aio_context, qemu_init_main_loop};

#[test]
fn second_concurrent_poller_of_the_main_context_is_refused() {
    qemu_init_main_loop().unwrap();
    let main = qemu_get_aio_context();
    let (tx, rx) = mpsc::channel::<bool>();
    let done = Arc::new(AtomicBool::new(false));
    let d2 = Arc::clone(&done);
    let m2 = Arc::clone(&main);
    // The main thread polls without the BQL (as main_loop_wait does while
    // blocked); from inside that poll, a BQL holder tries to poll too.
    main.bh_schedule_oneshot(move || {
        let refused = std::thread::spawn(move || {
            let _g = bql_lock();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m2.poll(false))).is_err()
        })
        .join()
        .unwrap();
        tx.send(refused).unwrap();
        d2.store(true, Ordering::SeqCst);
    });
    while !done.load(Ordering::SeqCst) {
        main.poll(true);
    }
    assert!(rx.recv().unwrap(), "the second poller was refused");
    // Once the first poll has returned, a BQL holder may poll.
    let m3 = Arc::clone(&main);
    std::thread::spawn(move || {
        let _g = bql_lock();
        m3.poll(false);
    })
    .join()
    .unwrap();
}
