//! The main loop, the iohandler context, requests and signals (spec §(c)
//! 19, 28, 30). One test: the main loop is process-wide.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ferrite_aio::bql::{bql_lock, bql_locked};
use ferrite_aio::main_loop::{
    iohandler_get_aio_context, main_loop_wait, qemu_bh_new, qemu_get_aio_context,
    qemu_init_main_loop, qemu_main_loop, qemu_notify_event, qemu_set_fd_handler,
    qemu_system_shutdown_request, qemu_system_vmstop_request,
};
use ferrite_aio::runstate::{RunState, ShutdownCause, runstate_get, vm_start};
use ferrite_aio::{
    ClockType, EventNotifier, IoThread, QemuClock, Timer, aio_wait_kick, aio_wait_while,
    current_aio_context, qemu_co_sleep_ns, run_until_done,
};

#[test]
fn main_loop_end_to_end() {
    qemu_init_main_loop().unwrap();
    let main = qemu_get_aio_context();
    let ioh = iohandler_get_aio_context();
    let mut bql = bql_lock();

    // current_aio_context: main thread -> main; vCPU-like thread -> main
    // only while it holds the BQL.
    assert!(Arc::ptr_eq(&current_aio_context().unwrap(), &main));
    let m2 = Arc::clone(&main);
    bql.unlocked(|| {
        std::thread::spawn(move || {
            assert!(current_aio_context().is_none());
            let _g = bql_lock();
            assert!(Arc::ptr_eq(&current_aio_context().unwrap(), &m2));
        })
        .join()
        .unwrap();
    });

    // Legacy fd handlers live in the iohandler context: nested polls of the
    // main context never run them (invariant 28); main_loop_wait does.
    let e = Arc::new(EventNotifier::new(true).unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let (e2, h2) = (Arc::clone(&e), Arc::clone(&hits));
    qemu_set_fd_handler(
        e.as_raw_fd(),
        Some(Arc::new(move || {
            e2.test_and_clear();
            assert!(bql_locked(), "main-loop callbacks run under the BQL");
            h2.fetch_add(1, Ordering::SeqCst);
        })),
        None,
    );
    main.poll(false);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    main_loop_wait(false);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // main_loop_tlg timers: also only from main_loop_wait.
    let fired = Arc::new(AtomicBool::new(false));
    let f2 = Arc::clone(&fired);
    let t = Timer::new_main(ClockType::Realtime, move || {
        f2.store(true, Ordering::SeqCst)
    });
    t.modify_ns(0);
    main.poll(false);
    assert!(!fired.load(Ordering::SeqCst));
    main_loop_wait(true);
    assert!(fired.load(Ordering::SeqCst));

    // A main-loop timer armed from another thread wakes a blocked loop.
    fired.store(false, Ordering::SeqCst);
    let t = Arc::new(t);
    let t2 = Arc::clone(&t);
    let th = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(5));
        t2.modify_ns(QemuClock::get_ns(ClockType::Realtime) + 100_000);
    });
    while !fired.load(Ordering::SeqCst) {
        main_loop_wait(false);
    }
    th.join().unwrap();

    // A BH scheduled from another thread wakes it too, and the chardev fd
    // becoming readable from another thread as well.
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = Arc::clone(&ran);
    let bh = Arc::new(qemu_bh_new("test", move || {
        r2.store(true, Ordering::SeqCst)
    }));
    let bh2 = Arc::clone(&bh);
    let th = std::thread::spawn(move || bh2.schedule());
    while !ran.load(Ordering::SeqCst) {
        main_loop_wait(false);
    }
    th.join().unwrap();
    let e3 = Arc::clone(&e);
    let th = std::thread::spawn(move || e3.set());
    while hits.load(Ordering::SeqCst) < 2 {
        main_loop_wait(false);
    }
    th.join().unwrap();

    // AIO_WAIT_WHILE in the main thread for work done in an IOThread
    // (invariant 19), and the co-wrapper pattern across threads.
    let io = IoThread::new("ml").unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let f3 = Arc::clone(&flag);
    io.ctx().bh_schedule_oneshot(move || {
        f3.store(true, Ordering::SeqCst);
        aio_wait_kick();
    });
    aio_wait_while(io.ctx(), || !flag.load(Ordering::SeqCst));
    let tid = io.thread_id();
    let on_io = run_until_done(io.ctx(), async move {
        qemu_co_sleep_ns(ClockType::Realtime, 1_000_000).await;
        std::thread::current().id() == tid
    });
    assert!(on_io);
    bql.unlocked(|| io.stop());

    // Requests from other threads are acted on in the loop.
    vm_start();
    let v = Timer::new(&main, ClockType::Virtual, || {
        qemu_system_vmstop_request(RunState::Paused)
    });
    v.modify_ns(0);
    while runstate_get() == RunState::Running {
        main_loop_wait(false);
        assert!(ferrite_aio::main_loop::main_loop_should_exit().is_none());
    }
    assert_eq!(runstate_get(), RunState::Paused);

    // A reset request runs the machine's reset with the vCPUs paused; a
    // VM that was not running goes back to prelaunch.
    let resets = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let r3 = Arc::clone(&resets);
    ferrite_aio::main_loop::set_system_reset_handler(move |c| r3.lock().push(c));
    ferrite_aio::main_loop::qemu_system_reset_request(ShutdownCause::GuestReset);
    main_loop_wait(true);
    assert!(ferrite_aio::main_loop::main_loop_should_exit().is_none());
    assert_eq!(*resets.lock(), [ShutdownCause::GuestReset]);
    assert_eq!(runstate_get(), RunState::Prelaunch);

    // Shutdown notifiers see every request; with shutdown=pause the VM
    // stops in "shutdown" and the loop goes on.
    let causes = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let c3 = Arc::clone(&causes);
    ferrite_aio::runstate::add_shutdown_notifier(move |c| c3.lock().push(c));
    vm_start();
    ferrite_aio::runstate::set_shutdown_action_pause(true);
    qemu_system_shutdown_request(ShutdownCause::GuestShutdown);
    assert!(ferrite_aio::main_loop::main_loop_should_exit().is_none());
    assert_eq!(runstate_get(), RunState::Shutdown);
    ferrite_aio::runstate::set_shutdown_action_pause(false);

    let th = std::thread::spawn(|| qemu_system_shutdown_request(ShutdownCause::HostQmpQuit));
    assert_eq!(qemu_main_loop(), ShutdownCause::HostQmpQuit);
    th.join().unwrap();
    assert_eq!(runstate_get(), RunState::Shutdown);

    // SIGTERM becomes a shutdown request handled in the loop.
    // SAFETY: raising a signal whose handler the main loop installed.
    assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
    assert_eq!(qemu_main_loop(), ShutdownCause::HostSignal);
    // raise(3) sends from our own pid.
    assert_eq!(
        ferrite_aio::runstate::shutdown_signal_info(),
        Some((libc::SIGTERM, std::process::id() as i32))
    );
    assert_eq!(
        *causes.lock(),
        [
            ShutdownCause::GuestShutdown,
            ShutdownCause::HostQmpQuit,
            ShutdownCause::HostSignal
        ]
    );
    qemu_notify_event();
    drop(bql);
    drop(ioh);
}
