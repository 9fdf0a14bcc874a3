//! `async_safe_run_on_cpu` and exclusive sections (spec §(c) 32): while
//! the exclusive function runs, no other vCPU is between `cpu_exec_start`
//! and `cpu_exec_end`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ferrite_aio::bql::bql_lock;
use ferrite_aio::cpus::{VcpuCtl, end_exclusive, resume_all_vcpus, start_exclusive};
use ferrite_aio::runstate::{RunState, runstate_set};

#[test]
fn exclusive_work_runs_with_no_vcpu_in_guest_code() {
    let in_exec = Arc::new(AtomicUsize::new(0));
    let quit = Arc::new(AtomicBool::new(false));
    let entered = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    let mut ctls = Vec::new();
    for i in 0..3 {
        let ctl = VcpuCtl::new(i);
        ctls.push(Arc::clone(&ctl));
        let (ie, q, en) = (
            Arc::clone(&in_exec),
            Arc::clone(&quit),
            Arc::clone(&entered),
        );
        threads.push(std::thread::spawn(move || {
            let mut bql = bql_lock();
            ctl.attach_current_thread(false);
            while !q.load(Ordering::Acquire) {
                if ctl.can_run() {
                    bql.unlocked(|| {
                        ctl.cpu_exec_start();
                        ie.fetch_add(1, Ordering::SeqCst);
                        en.fetch_add(1, Ordering::SeqCst);
                        while !ctl.exit_requested() {
                            std::thread::yield_now();
                        }
                        ie.fetch_sub(1, Ordering::SeqCst);
                        ctl.cpu_exec_end();
                    });
                    ctl.clear_exit_request();
                }
                ctl.wait_io_event();
            }
        }));
    }
    {
        let _g = bql_lock();
        // resume_all_vcpus acts only while the VM runs.
        runstate_set(RunState::Running);
        resume_all_vcpus();
    }
    while entered.load(Ordering::SeqCst) < 3 {
        std::thread::yield_now();
    }
    let runs = Arc::new(AtomicUsize::new(0));
    for round in 0..20 {
        let (ie, r) = (Arc::clone(&in_exec), Arc::clone(&runs));
        ctls[round % 3].async_safe_run_on_cpu(move || {
            assert_eq!(ie.load(Ordering::SeqCst), 0, "a vCPU is in guest code");
            r.fetch_add(1, Ordering::SeqCst);
        });
        while runs.load(Ordering::SeqCst) <= round {
            std::thread::yield_now();
        }
    }
    // From a non-vCPU thread too.
    start_exclusive();
    assert_eq!(in_exec.load(Ordering::SeqCst), 0);
    end_exclusive();

    quit.store(true, Ordering::Release);
    for c in &ctls {
        c.kick();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 20);
}
