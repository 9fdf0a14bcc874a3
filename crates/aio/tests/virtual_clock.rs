//! The VIRTUAL clock and vm_start/vm_stop (spec §(c) 22, 23). One test,
//! because the clock state is process-wide.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrite_aio::runstate::{
    RunState, add_vm_change_state_handler, runstate_get, vm_start, vm_stop,
};
use ferrite_aio::{AioContext, ClockType, IoThread, QemuClock, Timer};

const V: ClockType = ClockType::Virtual;
const RT: ClockType = ClockType::Realtime;

#[test]
fn virtual_clock_stops_with_the_vm() {
    let ctx = AioContext::new("v").unwrap();
    // vm_start/vm_stop run with the BQL, as in the main loop.
    let _bql = ferrite_aio::bql::bql_lock();
    // Before the first vm_start: 0 and disabled.
    assert_eq!(runstate_get(), RunState::Prelaunch);
    assert_eq!(QemuClock::get_ns(V), 0);
    assert!(!QemuClock::is_enabled(V));
    let fired = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&fired);
    let t = Timer::new(&ctx, V, move || {
        f.fetch_add(1, Ordering::SeqCst);
    });
    t.modify_ns(0);
    assert_eq!(
        ctx.compute_timeout(),
        -1,
        "a disabled clock adds no deadline"
    );
    assert!(!ctx.poll(false));
    assert_eq!(fired.load(Ordering::SeqCst), 0);

    let events = Arc::new(Mutex::new(Vec::new()));
    let (e1, e2) = (Arc::clone(&events), Arc::clone(&events));
    let _h1 = add_vm_change_state_handler(1, move |run, _| e1.lock().unwrap().push((1, run)));
    let _h2 = add_vm_change_state_handler(2, move |run, _| e2.lock().unwrap().push((2, run)));

    vm_start();
    assert_eq!(runstate_get(), RunState::Running);
    assert!(
        ctx.poll(false),
        "the expired VIRTUAL timer fires once enabled"
    );
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    let v0 = QemuClock::get_ns(V);
    std::thread::sleep(Duration::from_millis(2));
    assert!(QemuClock::get_ns(V) > v0);

    // Arm 20 ms of virtual time ahead, then stop.
    let expire = QemuClock::get_ns(V) + 20_000_000;
    t.modify_ns(expire);
    vm_stop(RunState::Paused);
    assert_eq!(runstate_get(), RunState::Paused);
    let frozen = QemuClock::get_ns(V);
    let r0 = QemuClock::get_ns(RT);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        QemuClock::get_ns(V),
        frozen,
        "VIRTUAL is constant while stopped"
    );
    assert!(QemuClock::get_ns(RT) > r0, "REALTIME keeps going");
    assert_eq!(ctx.compute_timeout(), -1);
    assert!(!ctx.poll(false));
    assert_eq!(
        fired.load(Ordering::SeqCst),
        1,
        "no VIRTUAL timer fires while stopped"
    );
    assert!(t.pending(), "timers stay armed");

    // Resume: no jump, and the timer needs the remaining virtual time.
    let r1 = QemuClock::get_ns(RT);
    vm_start();
    let v1 = QemuClock::get_ns(V);
    let r2 = QemuClock::get_ns(RT);
    assert!(
        v1 >= frozen && v1 - frozen <= r2 - r1,
        "resumes from the frozen value"
    );
    while fired.load(Ordering::SeqCst) < 2 {
        ctx.poll(true);
    }
    assert!(
        QemuClock::get_ns(V) >= expire,
        "fired after the remaining virtual delay"
    );
    assert_eq!(
        *events.lock().unwrap(),
        vec![
            (1, true),
            (2, true),
            (2, false),
            (1, false),
            (1, true),
            (2, true)
        ]
    );

    // Invariant 23: disabling waits for a running VIRTUAL callback in
    // another thread's list.
    let io = IoThread::new("vclock").unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (s, fi) = (Arc::clone(&started), Arc::clone(&finished));
    let slow = Timer::new(io.ctx(), V, move || {
        s.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        fi.store(true, Ordering::SeqCst);
    });
    slow.modify_ns(0);
    while !started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    vm_stop(RunState::Paused);
    assert!(
        finished.load(Ordering::SeqCst),
        "clock disable waited for the callback"
    );

    // Disabling from inside a VIRTUAL callback is detected.
    vm_start();
    let panicked = Arc::new(AtomicBool::new(false));
    let p = Arc::clone(&panicked);
    let bad = Timer::new(&ctx, V, move || {
        let r = std::panic::catch_unwind(|| QemuClock::enable(V, false));
        p.store(r.is_err(), Ordering::SeqCst);
    });
    bad.modify_ns(0);
    while !ctx.poll(false) {}
    assert!(panicked.load(Ordering::SeqCst));
    drop(slow);
    io.stop();
}
