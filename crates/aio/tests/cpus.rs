//! vCPU control (spec §(c) 17, 18, 31): pause/resume, run_on_cpu with the
//! BQL held, kicks of halted vCPUs and of threads blocked in a syscall.
//! One test: the CPU list is process-wide.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ferrite_aio::bql::{bql_lock, bql_locked};
use ferrite_aio::cpus::{
    VcpuCtl, all_vcpus_paused, pause_all_vcpus, resume_all_vcpus, sig_ipi_count,
};
use ferrite_aio::runstate::{RunState, runstate_set};

struct Vcpu {
    ctl: Arc<VcpuCtl>,
    executed: Arc<AtomicU64>,
    in_guest: Arc<AtomicBool>,
    quit: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn spawn_vcpu(index: usize) -> Vcpu {
    let ctl = VcpuCtl::new(index);
    let executed = Arc::new(AtomicU64::new(0));
    let quit = Arc::new(AtomicBool::new(false));
    let in_guest = Arc::new(AtomicBool::new(false));
    let (c, e, q, ig) = (
        Arc::clone(&ctl),
        Arc::clone(&executed),
        Arc::clone(&quit),
        Arc::clone(&in_guest),
    );
    let thread = std::thread::spawn(move || {
        let mut bql = bql_lock();
        c.attach_current_thread(false);
        while !q.load(Ordering::Acquire) {
            if c.can_run() && !c.is_halted() {
                // "Guest code": runs without the BQL until an exit request.
                bql.unlocked(|| {
                    ig.store(true, Ordering::SeqCst);
                    while !c.exit_requested() {
                        e.fetch_add(1, Ordering::Relaxed);
                        std::thread::yield_now();
                    }
                    ig.store(false, Ordering::SeqCst);
                });
                c.clear_exit_request();
            }
            c.wait_io_event();
        }
    });
    Vcpu {
        ctl,
        executed,
        in_guest,
        quit,
        thread,
    }
}

#[test]
fn vcpu_control() {
    let vcpus: Vec<Vcpu> = (0..2).map(spawn_vcpu).collect();
    let mut bql = bql_lock();
    // resume_all_vcpus acts only while the VM runs.
    runstate_set(RunState::Running);
    assert!(all_vcpus_paused(), "vCPUs start stopped");

    resume_all_vcpus();
    for v in &vcpus {
        while v.executed.load(Ordering::Relaxed) < 100 {
            bql.unlocked(std::thread::yield_now);
        }
    }

    // Invariant 31: after pause_all_vcpus returns, no guest code runs.
    pause_all_vcpus();
    assert!(all_vcpus_paused());
    let before: Vec<u64> = vcpus
        .iter()
        .map(|v| v.executed.load(Ordering::SeqCst))
        .collect();
    bql.unlocked(|| std::thread::sleep(Duration::from_millis(20)));
    let after: Vec<u64> = vcpus
        .iter()
        .map(|v| v.executed.load(Ordering::SeqCst))
        .collect();
    assert_eq!(before, after);

    // Invariant 18: run_on_cpu to a stopped/halted vCPU completes while the
    // caller holds the BQL, and runs on the vCPU thread.
    let ran_on = Arc::new(parking_lot::Mutex::new(None));
    let r2 = Arc::clone(&ran_on);
    vcpus[1].ctl.run_on_cpu(move || {
        assert!(bql_locked());
        *r2.lock() = Some(std::thread::current().id());
    });
    assert_eq!(*ran_on.lock(), Some(vcpus[1].thread.thread().id()));
    assert!(bql_locked());

    // A halted vCPU sleeps; clearing halted + kick wakes it.
    resume_all_vcpus();
    vcpus[0].ctl.set_halted(true);
    vcpus[0].ctl.kick();
    // Wait until it has left guest code; being halted, it cannot re-enter.
    while vcpus[0].in_guest.load(Ordering::SeqCst) {
        bql.unlocked(std::thread::yield_now);
    }
    let h0 = vcpus[0].executed.load(Ordering::SeqCst);
    bql.unlocked(|| std::thread::sleep(Duration::from_millis(10)));
    assert_eq!(
        vcpus[0].executed.load(Ordering::SeqCst),
        h0,
        "halted vCPU does not run"
    );
    vcpus[0].ctl.set_halted(false);
    vcpus[0].ctl.kick();
    while vcpus[0].executed.load(Ordering::SeqCst) == h0 {
        bql.unlocked(std::thread::yield_now);
    }

    // async_run_on_cpu from another thread.
    let flag = Arc::new(AtomicBool::new(false));
    let f2 = Arc::clone(&flag);
    let c0 = Arc::clone(&vcpus[0].ctl);
    bql.unlocked(|| {
        std::thread::spawn(move || c0.async_run_on_cpu(move || f2.store(true, Ordering::SeqCst)))
            .join()
            .unwrap()
    });
    while !flag.load(Ordering::SeqCst) {
        bql.unlocked(std::thread::yield_now);
    }

    pause_all_vcpus();
    for v in &vcpus {
        v.quit.store(true, Ordering::Release);
        v.ctl.kick();
    }
    resume_all_vcpus();
    drop(bql);
    for v in vcpus {
        v.thread.join().unwrap();
        v.ctl.unregister();
    }

    // Invariant 17 (signal kick): a thread blocked in a syscall returns with
    // EINTR when kicked, and a kick after it processed events sends again.
    let ctl = VcpuCtl::new(9);
    let (tx, rx) = std::sync::mpsc::channel();
    let c = Arc::clone(&ctl);
    let mut fds = [0; 2];
    // SAFETY: a plain pipe(2) into a local array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let rfd = fds[0];
    let t = std::thread::spawn(move || {
        c.attach_current_thread(true);
        for _ in 0..2 {
            loop {
                let mut p = libc::pollfd {
                    fd: rfd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one pollfd on the stack, our own pipe.
                let r = unsafe { libc::poll(&mut p, 1, 50) };
                let err = std::io::Error::last_os_error().raw_os_error();
                assert_ne!(r, 1, "nobody writes the pipe");
                if r == -1 {
                    assert_eq!(err, Some(libc::EINTR));
                    break;
                }
                // The kick landed before we blocked (QEMU closes this window
                // with immediate_exit): acknowledge and block again.
                let _g = bql_lock();
                c.clear_exit_request();
                c.wait_io_event_common();
            }
            let _g = bql_lock();
            c.clear_exit_request();
            c.wait_io_event_common();
            tx.send(()).unwrap();
        }
    });
    for _ in 0..2 {
        let before = sig_ipi_count();
        loop {
            ctl.kick();
            if rx.recv_timeout(Duration::from_millis(10)).is_ok() {
                break;
            }
        }
        assert!(sig_ipi_count() > before, "the kick was a signal");
    }
    t.join().unwrap();
    ctl.unregister();
    // SAFETY: closing the pipe fds we created.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
}
