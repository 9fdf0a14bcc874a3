//! Review finding 3 (spec item 112): a reset request while the VM is not
//! running must not restart the vCPUs (`resume_all_vcpus` acts only while
//! running), or guest code would run with VIRTUAL time frozen.
//! One test: the main loop and the CPU list are process-wide.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use ferrite_aio::bql::bql_lock;
use ferrite_aio::cpus::{VcpuCtl, all_vcpus_paused};
use ferrite_aio::main_loop::{
    main_loop_should_exit, qemu_init_main_loop, qemu_system_reset_request, set_system_reset_handler,
};
use ferrite_aio::runstate::{RunState, ShutdownCause, runstate_get, vm_start, vm_stop};
use ferrite_aio::{ClockType, QemuClock};

#[test]
fn reset_while_not_running_keeps_vcpus_stopped() {
    qemu_init_main_loop().unwrap();
    let ctl = VcpuCtl::new(0);
    let executed = Arc::new(AtomicU64::new(0));
    let quit = Arc::new(AtomicBool::new(false));
    let (c, e, q) = (Arc::clone(&ctl), Arc::clone(&executed), Arc::clone(&quit));
    let thread = std::thread::spawn(move || {
        let mut bql = bql_lock();
        c.attach_current_thread(false);
        while !q.load(Ordering::Acquire) {
            if c.can_run() {
                bql.unlocked(|| {
                    while !c.exit_requested() {
                        e.fetch_add(1, Ordering::Relaxed);
                        std::thread::yield_now();
                    }
                });
                c.clear_exit_request();
            }
            c.wait_io_event();
        }
    });
    let resets = Arc::new(AtomicUsize::new(0));
    let r2 = Arc::clone(&resets);
    set_system_reset_handler(move |_| {
        r2.fetch_add(1, Ordering::SeqCst);
    });
    let mut bql = bql_lock();

    // Prelaunch: the reset runs, the vCPU stays stopped.
    assert_eq!(runstate_get(), RunState::Prelaunch);
    qemu_system_reset_request(ShutdownCause::GuestReset);
    assert!(main_loop_should_exit().is_none());
    assert_eq!(resets.load(Ordering::SeqCst), 1);
    assert!(ctl.is_stopped(), "reset in prelaunch restarted the vCPU");
    assert!(all_vcpus_paused());
    assert_eq!(runstate_get(), RunState::Prelaunch);

    // Running, then paused: VIRTUAL time freezes and a reset keeps the
    // vCPU stopped with it.
    vm_start();
    while executed.load(Ordering::Relaxed) == 0 {
        bql.unlocked(std::thread::yield_now);
    }
    vm_stop(RunState::Paused);
    let frozen = QemuClock::get_ns(ClockType::Virtual);
    qemu_system_reset_request(ShutdownCause::HostQmpSystemReset);
    assert!(main_loop_should_exit().is_none());
    assert_eq!(resets.load(Ordering::SeqCst), 2);
    assert!(ctl.is_stopped(), "reset while paused restarted the vCPU");
    assert_eq!(QemuClock::get_ns(ClockType::Virtual), frozen);

    // Running: the reset pauses around the handler and resumes after it.
    vm_start();
    qemu_system_reset_request(ShutdownCause::GuestReset);
    assert!(main_loop_should_exit().is_none());
    assert_eq!(resets.load(Ordering::SeqCst), 3);
    assert!(!ctl.is_stopped(), "reset while running resumes the vCPU");
    let before = executed.load(Ordering::Relaxed);
    while executed.load(Ordering::Relaxed) == before {
        bql.unlocked(std::thread::yield_now);
    }

    // vm_stop from a vCPU thread becomes a request for the main loop and
    // stops only that vCPU (QEMU's vm_stop in a vCPU thread).
    ctl.run_on_cpu(|| vm_stop(RunState::Paused));
    assert_eq!(runstate_get(), RunState::Running, "only a request so far");
    assert!(main_loop_should_exit().is_none());
    assert_eq!(runstate_get(), RunState::Paused);
    assert!(ctl.is_stopped());
    vm_start();

    // Still running: the kick takes the vCPU out of guest code, it sees
    // `quit` and leaves its loop.
    quit.store(true, Ordering::Release);
    ctl.kick();
    drop(bql);
    thread.join().unwrap();
    ctl.unregister();
}
