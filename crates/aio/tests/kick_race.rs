//! Spec §(c) invariant 17 (kick races) and the accelerator kick hook.
//! One test: the CPU list is process-wide.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ferrite_aio::bql::{BqlCondvar, bql_lock};
use ferrite_aio::cpus::{VcpuCtl, all_vcpus_paused, pause_all_vcpus};
use ferrite_aio::runstate::{RunState, runstate_set};

#[test]
fn kicks_are_never_lost() {
    // A notify that lands after the idle check but before the sleep (here:
    // issued, without the BQL, from inside the check) ends the wait. With
    // a wait that read the generation only after the check, this hangs.
    let cv = Arc::new(BqlCondvar::new());
    let checks = AtomicUsize::new(0);
    {
        let _g = bql_lock();
        cv.wait_while(|| {
            if checks.fetch_add(1, Ordering::SeqCst) == 0 {
                let c2 = Arc::clone(&cv);
                std::thread::spawn(move || c2.notify_all()).join().unwrap();
                true
            } else {
                false
            }
        });
    }
    assert_eq!(checks.load(Ordering::SeqCst), 2);

    // The accelerator's kick hook: a vCPU that sleeps in its own wait
    // (TCG's wfi), not in halt_cond, is still reached by pause_all_vcpus.
    runstate_set(RunState::Running);
    let ctl = VcpuCtl::new(0);
    let wfi = Arc::new((parking_lot::Mutex::new(false), parking_lot::Condvar::new()));
    let w = Arc::clone(&wfi);
    ctl.set_kick_hook(Arc::new(move || {
        *w.0.lock() = true;
        w.1.notify_all();
    }));
    let quit = Arc::new(AtomicBool::new(false));
    let in_wfi = Arc::new(AtomicBool::new(false));
    let (c, q, w, iw) = (
        Arc::clone(&ctl),
        Arc::clone(&quit),
        Arc::clone(&wfi),
        Arc::clone(&in_wfi),
    );
    let t = std::thread::spawn(move || {
        let mut bql = bql_lock();
        c.attach_current_thread(false);
        while !q.load(Ordering::Acquire) {
            if c.can_run() {
                // "wfi": sleeps until the hook wakes it; no halted flag.
                bql.unlocked(|| {
                    let mut woken = w.0.lock();
                    iw.store(true, Ordering::SeqCst);
                    while !*woken {
                        w.1.wait(&mut woken);
                    }
                    *woken = false;
                });
                c.clear_exit_request();
            }
            c.wait_io_event();
        }
    });
    let bql = bql_lock();
    ferrite_aio::cpus::resume_all_vcpus();
    drop(bql);
    while !in_wfi.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let bql = bql_lock();
    pause_all_vcpus();
    assert!(all_vcpus_paused());
    quit.store(true, Ordering::Release);
    ferrite_aio::cpus::resume_all_vcpus();
    drop(bql);
    t.join().unwrap();
    ctl.unregister();
}

/// Review finding 6: once a vCPU is unregistered, a kick no longer signals
/// its (possibly exited or reused) thread. The target blocks `SIG_IPI`, so
/// a signal sent to it stays observable as pending.
#[test]
fn unregistered_vcpu_is_not_signalled() {
    use ferrite_aio::cpus::SIG_IPI;
    let ctl = VcpuCtl::new(5);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let (check_tx, check_rx) = std::sync::mpsc::channel::<()>();
    let c = Arc::clone(&ctl);
    let t = std::thread::spawn(move || {
        // SAFETY: sigset operations on a local set, then masking SIG_IPI
        // for this thread only.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, SIG_IPI);
            assert_eq!(
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()),
                0
            );
        }
        c.attach_current_thread(true);
        ready_tx.send(()).unwrap();
        check_rx.recv().unwrap();
        // SAFETY: reads this thread's pending set into a local.
        unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            libc::sigismember(&pending, SIG_IPI) == 1
        }
    });
    ready_rx.recv().unwrap();
    ctl.unregister();
    ctl.kick();
    check_tx.send(()).unwrap();
    assert!(
        !t.join().unwrap(),
        "the kick signalled an unregistered vCPU"
    );
}
