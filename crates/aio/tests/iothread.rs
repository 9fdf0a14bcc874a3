//! IOThread objects: creation and destruction at run time, ids, poll
//! parameters, callbacks in the IOThread, panics not wedging it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferrite_aio::{
    IOTHREAD_POLL_MAX_NS_DEFAULT, IoThread, IoThreadError, IoThreadParams, aio_wait_bh_oneshot,
};

#[test]
fn create_run_and_destroy() {
    let t = IoThread::new("io-a").unwrap();
    assert_eq!(t.id(), "io-a");
    assert_eq!(t.ctx().poll_params(), (IOTHREAD_POLL_MAX_NS_DEFAULT, 0, 0));
    assert!(matches!(
        IoThread::new("io-a"),
        Err(IoThreadError::DuplicateId(_))
    ));
    assert!(Arc::ptr_eq(&IoThread::by_id("io-a").unwrap(), &t));

    let (tx, rx) = std::sync::mpsc::channel();
    t.ctx().bh_schedule_oneshot(move || {
        tx.send(std::thread::current().name().map(str::to_owned))
            .unwrap();
    });
    assert_eq!(rx.recv().unwrap().as_deref(), Some("IO io-a"));

    t.set_poll_params(0, 4, 2).unwrap();
    assert_eq!(t.ctx().poll_params(), (0, 4, 2));
    // Review finding 7: a negative value is an error (QEMU's text), not a
    // panic, and changes nothing.
    let e = t.set_poll_params(-1, 0, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "poll-max-ns value must be in range [0, 9223372036854775807]"
    );
    assert!(matches!(
        t.set_poll_params(0, 0, -3),
        Err(IoThreadError::BadPollParam("poll-shrink"))
    ));
    assert_eq!(t.ctx().poll_params(), (0, 4, 2));

    // A panicking callback is reported and the thread keeps serving.
    t.ctx().bh_schedule_oneshot(|| panic!("callback bug"));
    let ok = Arc::new(AtomicBool::new(false));
    let o2 = Arc::clone(&ok);
    let (tx, rx) = std::sync::mpsc::channel();
    t.ctx().bh_schedule_oneshot(move || {
        o2.store(true, Ordering::SeqCst);
        tx.send(()).unwrap();
    });
    rx.recv().unwrap();
    assert!(ok.load(Ordering::SeqCst));

    t.stop();
    t.stop();
    assert!(IoThread::by_id("io-a").is_none());
    // The id can be reused once destroyed.
    let t2 = IoThread::new("io-a").unwrap();
    drop(t2);
    drop(t);
}

#[test]
fn bad_pool_params_are_rejected() {
    let p = IoThreadParams {
        thread_pool_min: 5,
        thread_pool_max: 2,
        ..Default::default()
    };
    assert!(matches!(
        IoThread::with_params("io-bad", p),
        Err(IoThreadError::BadPoolParams(5, 2))
    ));
    let p = IoThreadParams {
        poll_grow: -2,
        ..Default::default()
    };
    assert!(matches!(
        IoThread::with_params("io-bad", p),
        Err(IoThreadError::BadPollParam("poll-grow"))
    ));
    assert!(IoThread::by_id("io-bad").is_none());
}

#[test]
fn wait_bh_oneshot_on_an_unbound_context() {
    // A thread with no context that waits on an unbound context becomes its
    // home and polls it until the BH has run.
    let ctx = ferrite_aio::AioContext::new("waiter").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let d2 = Arc::clone(&done);
    aio_wait_bh_oneshot(&ctx, move || d2.store(true, Ordering::SeqCst));
    assert!(done.load(Ordering::SeqCst));
}

#[test]
fn an_internal_iothread_does_not_take_a_users_id() {
    // QEMU's monitor IOThread lives under the internal object root, so
    // `-object iothread,id=mon_iothread` still works next to it.
    let internal = IoThread::new_internal("io-shared-id").unwrap();
    assert!(IoThread::by_id("io-shared-id").is_none());
    let user = IoThread::new("io-shared-id").unwrap();
    assert!(Arc::ptr_eq(
        &IoThread::by_id("io-shared-id").unwrap(),
        &user
    ));
    // Stopping the internal one leaves the user's registered.
    drop(internal);
    assert!(Arc::ptr_eq(
        &IoThread::by_id("io-shared-id").unwrap(),
        &user
    ));
    assert!(matches!(
        IoThread::new("io-shared-id"),
        Err(IoThreadError::DuplicateId(_))
    ));
}
