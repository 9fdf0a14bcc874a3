//! vCPU control primitives for the accelerators (`system/cpus.c`,
//! `cpus-common.c`): kicks, `run_on_cpu`, pause/resume of all vCPUs.
//!
//! An accelerator owns its vCPU threads; each thread has a [`VcpuCtl`] and
//! runs a loop shaped like QEMU's:
//!
//! ```text
//! let mut bql = bql_lock();
//! cpu.attach_current_thread(signal_kick);
//! loop {
//!     if cpu.can_run() {
//!         bql.unlocked(|| run_guest_until(cpu.exit_requested()));
//!         cpu.clear_exit_request();
//!     }
//!     cpu.wait_io_event();   // sleeps while idle, handles stop and work
//! }
//! ```
//!
//! [`VcpuCtl::kick`] wakes a vCPU that sleeps in `wait_io_event` (halt
//! condition), sets its exit request (checked by translated code at block
//! boundaries) and, for threads attached with `signal_kick`, sends
//! [`SIG_IPI`] so a blocking syscall (e.g. `KVM_RUN`) returns `EINTR`.
//! Kicks by signal are deduplicated with `thread_kicked`, which the vCPU
//! clears when it processes events, so a kick after that is never lost.
//! An accelerator whose vCPUs sleep or run somewhere `halt_cond` and the
//! exit flag cannot reach (TCG's `wfi` wait, its own exit request) installs
//! [`VcpuCtl::set_kick_hook`], which every kick runs. The halt wait reads
//! its condvar generation before the idle check, so a kick issued without
//! the BQL between the check and the sleep still wakes it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::thread::ThreadId;

use parking_lot::Mutex;

use crate::bql::{BqlCondvar, bql_locked};

/// The signal used to kick vCPU threads out of blocking syscalls
/// (`SIG_IPI` = `SIGUSR1`, as in QEMU).
pub const SIG_IPI: libc::c_int = libc::SIGUSR1;

struct WorkItem {
    f: Box<dyn FnOnce() + Send>,
    done: Option<Arc<AtomicBool>>,
    /// `async_safe_run_on_cpu`: run inside an exclusive section.
    exclusive: bool,
}

/// The control block of one vCPU (the `CPUState` fields that
/// `system/cpus.c` uses).
pub struct VcpuCtl {
    index: usize,
    stop: AtomicBool,
    stopped: AtomicBool,
    halted: AtomicBool,
    exit_request: AtomicBool,
    thread_kicked: AtomicBool,
    signal_kick: AtomicBool,
    halt_cond: BqlCondvar,
    work: Mutex<VecDeque<WorkItem>>,
    thread: Mutex<Option<(ThreadId, libc::pthread_t)>>,
    /// Between `cpu_exec_start` and `cpu_exec_end`.
    running: AtomicBool,
    /// Counted in the pending count of a `start_exclusive` in progress
    /// (protected by `EXCL`).
    has_waiter: AtomicBool,
    /// The accelerator's kick (e.g. TCG's `cpu_exit` on the hart), run by
    /// [`VcpuCtl::kick`].
    kick_hook: Mutex<Option<KickHook>>,
}

/// An accelerator's kick hook (see [`VcpuCtl::set_kick_hook`]).
pub type KickHook = Arc<dyn Fn() + Send + Sync>;

/// Clears a vCPU's recorded thread when that thread exits, so a later
/// signal kick cannot target a dead (or reused) pthread.
struct AttachedCpu(Arc<VcpuCtl>, bool);

impl Drop for AttachedCpu {
    fn drop(&mut self) {
        if !self.1 {
            // A round-robin switch: the thread still runs that vCPU.
            return;
        }
        let me = std::thread::current().id();
        let mut t = self.0.thread.lock();
        if t.is_some_and(|(id, _)| id == me) {
            *t = None;
        }
    }
}

impl std::fmt::Debug for VcpuCtl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcpuCtl")
            .field("index", &self.index)
            .field("stopped", &self.stopped.load(Ordering::Relaxed))
            .field("halted", &self.halted.load(Ordering::Relaxed))
            .finish()
    }
}

static CPUS: Mutex<Vec<Arc<VcpuCtl>>> = Mutex::new(Vec::new());
/// `qemu_work_cond`.
static WORK_COND: BqlCondvar = BqlCondvar::new();
/// `qemu_pause_cond`.
static PAUSE_COND: BqlCondvar = BqlCondvar::new();
static SIG_IPI_INSTALLED: Once = Once::new();
static SIG_IPI_COUNT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static CURRENT_CPU: std::cell::RefCell<Option<AttachedCpu>> = const { std::cell::RefCell::new(None) };
}

/// `current_cpu`: the vCPU the calling thread runs, if any.
pub fn current_cpu() -> Option<Arc<VcpuCtl>> {
    CURRENT_CPU
        .try_with(|c| c.borrow().as_ref().map(|a| Arc::clone(&a.0)))
        .ok()
        .flatten()
}

/// The registered vCPUs (`CPU_FOREACH`).
pub fn all_cpus() -> Vec<Arc<VcpuCtl>> {
    CPUS.lock().clone()
}

/// How many `SIG_IPI`s this process's handler has received.
pub fn sig_ipi_count() -> usize {
    SIG_IPI_COUNT.load(Ordering::Relaxed)
}

extern "C" fn sig_ipi_handler(_sig: libc::c_int) {
    // Nothing else to do: the point is to interrupt a blocking syscall
    // (installed without SA_RESTART). An accelerator that needs more (KVM's
    // immediate_exit) checks exit_requested() after EINTR.
    SIG_IPI_COUNT.fetch_add(1, Ordering::Relaxed);
}

fn install_sig_ipi() {
    SIG_IPI_INSTALLED.call_once(|| {
        // SAFETY: a zeroed sigaction with an async-signal-safe handler and
        // no SA_RESTART, so blocking syscalls return EINTR.
        let r = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = sig_ipi_handler as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(SIG_IPI, &sa, std::ptr::null_mut())
        };
        assert_eq!(r, 0, "sigaction(SIG_IPI) failed");
    });
}

impl VcpuCtl {
    /// A vCPU control block, registered in the CPU list
    /// (`cpu_list_add`). It starts stopped, like QEMU's vCPUs before the
    /// first `vm_start`.
    pub fn new(index: usize) -> Arc<Self> {
        let c = Arc::new(VcpuCtl {
            index,
            stop: AtomicBool::new(false),
            stopped: AtomicBool::new(true),
            halted: AtomicBool::new(false),
            exit_request: AtomicBool::new(false),
            thread_kicked: AtomicBool::new(false),
            signal_kick: AtomicBool::new(false),
            halt_cond: BqlCondvar::new(),
            work: Mutex::new(VecDeque::new()),
            thread: Mutex::new(None),
            running: AtomicBool::new(false),
            has_waiter: AtomicBool::new(false),
            kick_hook: Mutex::new(None),
        });
        CPUS.lock().push(Arc::clone(&c));
        c
    }

    /// `cpu_list_remove`. Also forgets the vCPU's thread, so kicks no
    /// longer signal it.
    pub fn unregister(self: &Arc<Self>) {
        CPUS.lock().retain(|c| !Arc::ptr_eq(c, self));
        *self.thread.lock() = None;
    }

    /// Installs the accelerator's kick: [`kick`](Self::kick) runs `hook`
    /// (from any thread, after setting the exit request), so a kick
    /// reaches a vCPU that executes guest code or sleeps in its own wait
    /// (TCG: the hart's `cpu_exit`, which also wakes it from `wfi`).
    pub fn set_kick_hook(&self, hook: KickHook) {
        *self.kick_hook.lock() = Some(hook);
    }

    /// `cpu_index`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Called by the vCPU thread before its loop: records the thread (for
    /// signal kicks and `run_on_cpu`) and makes this the thread's
    /// [`current_cpu`]. With `signal_kick`, kicks also send [`SIG_IPI`].
    pub fn attach_current_thread(self: &Arc<Self>, signal_kick: bool) {
        if signal_kick {
            install_sig_ipi();
        }
        // Replace (and drop) a previous attachment first: its destructor
        // forgets this thread's record.
        let old = CURRENT_CPU.with(|c| c.borrow_mut().replace(AttachedCpu(Arc::clone(self), true)));
        drop(old);
        // SAFETY: pthread_self has no preconditions.
        let pt = unsafe { libc::pthread_self() };
        *self.thread.lock() = Some((std::thread::current().id(), pt));
        self.signal_kick.store(signal_kick, Ordering::Release);
    }

    /// For a round-robin accelerator, whose one thread runs several vCPUs
    /// (QEMU's "ALL CPUs/TCG" thread): records the calling thread as this
    /// vCPU's (without signal kicks) and makes it the thread's
    /// [`current_cpu`], leaving the other vCPUs' records alone. Call it for
    /// every vCPU at start and again at each switch.
    pub fn attach_rr_thread(self: &Arc<Self>) {
        let old =
            CURRENT_CPU.with(|c| c.borrow_mut().replace(AttachedCpu(Arc::clone(self), false)));
        drop(old);
        // SAFETY: pthread_self has no preconditions.
        let pt = unsafe { libc::pthread_self() };
        *self.thread.lock() = Some((std::thread::current().id(), pt));
        self.signal_kick.store(false, Ordering::Release);
    }

    fn is_self_thread(&self) -> bool {
        self.thread
            .lock()
            .is_some_and(|(t, _)| t == std::thread::current().id())
    }

    /// `qemu_cpu_kick`: wakes the vCPU from its halt wait, requests an exit
    /// from guest code (`cpu_exit`) and, for signal-kicked threads, sends
    /// `SIG_IPI` unless a kick is already pending. Any thread.
    pub fn kick(&self) {
        self.exit_request.store(true, Ordering::Release);
        self.halt_cond.notify_all();
        let hook = self.kick_hook.lock().clone();
        if let Some(h) = hook {
            h();
        }
        if self.signal_kick.load(Ordering::Acquire)
            && !self.thread_kicked.swap(true, Ordering::AcqRel)
        {
            let t = self.thread.lock();
            if let Some((_, pt)) = *t {
                // SAFETY: `pt` is recorded by the vCPU thread itself and
                // cleared (under this same lock) by `unregister` and by the
                // thread's exit (a thread-local destructor, which runs
                // while the pthread is still alive), so it names a live
                // thread for as long as we hold the lock.
                unsafe { libc::pthread_kill(pt, SIG_IPI) };
            }
        }
    }

    /// Whether an exit from guest code was requested (`exit_request`).
    pub fn exit_requested(&self) -> bool {
        self.exit_request.load(Ordering::Acquire)
    }

    /// Clears the exit request (the vCPU did leave guest code).
    pub fn clear_exit_request(&self) {
        self.exit_request.store(false, Ordering::Release);
    }

    /// Sets `halted` (e.g. on `wfi`); clearing it from another thread
    /// should be followed by [`kick`](Self::kick).
    pub fn set_halted(&self, halted: bool) {
        self.halted.store(halted, Ordering::Release);
    }

    /// `cpu->halted`.
    pub fn is_halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    /// `cpu->stopped`.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// `cpu_can_run`: not stopped and no stop request.
    pub fn can_run(&self) -> bool {
        !self.stop.load(Ordering::Acquire) && !self.stopped.load(Ordering::Acquire)
    }

    /// `cpu_thread_is_idle`.
    pub fn thread_is_idle(&self) -> bool {
        if !self.work.lock().is_empty() || self.stop.load(Ordering::Acquire) {
            return false;
        }
        self.stopped.load(Ordering::Acquire) || self.halted.load(Ordering::Acquire)
    }

    /// `qemu_process_cpu_events` (formerly `qemu_wait_io_event`): sleeps
    /// (releasing the BQL) while the vCPU is idle, then acknowledges a
    /// stop request and runs queued work. Called by the vCPU thread with the
    /// BQL held.
    ///
    /// # Panics
    /// Without the BQL.
    pub fn wait_io_event(&self) {
        assert!(bql_locked(), "wait_io_event needs the BQL");
        // Kicks and async_run_on_cpu run without the BQL: wait_while reads
        // the condvar generation before each idle check, so one that lands
        // between the check and the sleep is not lost.
        self.halt_cond.wait_while(|| self.thread_is_idle());
        self.wait_io_event_common();
    }

    /// `qemu_wait_io_event_common`: re-arms signal kicks (a kick after this
    /// point sends a new signal), acknowledges a stop request and runs
    /// queued work, without sleeping. vCPU thread, BQL held.
    pub fn wait_io_event_common(&self) {
        self.thread_kicked.store(false, Ordering::SeqCst);
        if self.stop.swap(false, Ordering::AcqRel) {
            self.stopped.store(true, Ordering::Release);
            PAUSE_COND.notify_all();
        }
        self.process_queued_work();
    }

    /// `process_queued_cpu_work`: runs the queued `run_on_cpu` items.
    pub fn process_queued_work(&self) {
        loop {
            let item = self.work.lock().pop_front();
            let Some(item) = item else { break };
            if item.exclusive {
                // Exclusive work runs without the BQL, with every other
                // vCPU outside guest code.
                crate::bql::unlocked(|| {
                    start_exclusive();
                    (item.f)();
                    end_exclusive();
                });
            } else {
                (item.f)();
            }
            if let Some(d) = item.done {
                d.store(true, Ordering::Release);
                WORK_COND.notify_all();
            }
        }
    }

    /// `run_on_cpu`: runs `f` on the vCPU thread and waits for it,
    /// releasing the BQL while waiting. Runs `f` directly when called from
    /// the vCPU's own thread.
    ///
    /// # Panics
    /// Without the BQL (the wait must release it).
    pub fn run_on_cpu(&self, f: impl FnOnce() + Send + 'static) {
        if self.is_self_thread() {
            f();
            return;
        }
        assert!(bql_locked(), "run_on_cpu needs the BQL");
        let done = Arc::new(AtomicBool::new(false));
        self.work.lock().push_back(WorkItem {
            f: Box::new(f),
            done: Some(Arc::clone(&done)),
            exclusive: false,
        });
        self.kick();
        while !done.load(Ordering::Acquire) {
            WORK_COND.wait();
        }
    }

    /// `async_run_on_cpu`: queues `f` for the vCPU thread and kicks it.
    pub fn async_run_on_cpu(&self, f: impl FnOnce() + Send + 'static) {
        self.work.lock().push_back(WorkItem {
            f: Box::new(f),
            done: None,
            exclusive: false,
        });
        self.kick();
    }

    /// `async_safe_run_on_cpu`: queues `f` to run on the vCPU thread inside
    /// an exclusive section: while it runs, no other vCPU is between
    /// [`cpu_exec_start`](Self::cpu_exec_start) and
    /// [`cpu_exec_end`](Self::cpu_exec_end). It runs without the BQL.
    pub fn async_safe_run_on_cpu(&self, f: impl FnOnce() + Send + 'static) {
        self.work.lock().push_back(WorkItem {
            f: Box::new(f),
            done: None,
            exclusive: true,
        });
        self.kick();
    }

    /// `cpu_exec_start`: the vCPU enters guest code. Waits while another
    /// thread is in an exclusive section it was not counted in.
    pub fn cpu_exec_start(&self) {
        self.running.store(true, Ordering::SeqCst);
        // SeqCst store then SeqCst load: either we see the pending
        // exclusive section, or start_exclusive sees us running.
        if PENDING_CPUS.load(Ordering::SeqCst) != 0 {
            let mut pending = EXCL.lock();
            if !self.has_waiter.load(Ordering::Relaxed) {
                // Not counted by the exclusive section: step aside until
                // it ends.
                self.running.store(false, Ordering::SeqCst);
                while *pending != 0 {
                    EXCL_RESUME.wait(&mut pending);
                }
                self.running.store(true, Ordering::SeqCst);
            }
            // Otherwise we are counted and release the waiter in
            // cpu_exec_end.
        }
    }

    /// `cpu_exec_end`: the vCPU left guest code; releases a waiting
    /// exclusive section that counted it.
    pub fn cpu_exec_end(&self) {
        self.running.store(false, Ordering::SeqCst);
        if PENDING_CPUS.load(Ordering::SeqCst) != 0 {
            let mut pending = EXCL.lock();
            if self.has_waiter.swap(false, Ordering::Relaxed) {
                *pending -= 1;
                PENDING_CPUS.store(*pending, Ordering::SeqCst);
                if *pending == 1 {
                    EXCL_COND.notify_all();
                }
            }
        }
    }

    /// `cpu_resume`.
    fn resume(&self) {
        self.stop.store(false, Ordering::Release);
        self.stopped.store(false, Ordering::Release);
        self.kick();
    }
}

/// `pending_cpus` (protected by `EXCL`, mirrored in `PENDING_CPUS` for the
/// lock-free fast path of `cpu_exec_start`/`end`): 0 when no exclusive
/// section is active, else 1 + the vCPUs it still waits for.
static EXCL: Mutex<usize> = Mutex::new(0);
static PENDING_CPUS: AtomicUsize = AtomicUsize::new(0);
/// `exclusive_cond`: the last counted vCPU left guest code.
static EXCL_COND: parking_lot::Condvar = parking_lot::Condvar::new();
/// `exclusive_resume`: the exclusive section ended.
static EXCL_RESUME: parking_lot::Condvar = parking_lot::Condvar::new();

/// `start_exclusive`: waits until no vCPU executes guest code (kicking the
/// ones that do) and keeps them out until [`end_exclusive`]. Must not be
/// called between `cpu_exec_start` and `cpu_exec_end`, nor with the BQL
/// held by a thread the vCPUs wait for.
pub fn start_exclusive() {
    let mut pending = EXCL.lock();
    // exclusive_idle: one exclusive section at a time.
    while *pending != 0 {
        EXCL_RESUME.wait(&mut pending);
    }
    *pending = 1;
    PENDING_CPUS.store(1, Ordering::SeqCst);
    let me = current_cpu();
    let mut running = 0;
    for c in all_cpus() {
        if me.as_ref().is_some_and(|m| Arc::ptr_eq(m, &c)) {
            continue;
        }
        if c.running.load(Ordering::SeqCst) {
            c.has_waiter.store(true, Ordering::Relaxed);
            running += 1;
            c.kick();
        }
    }
    *pending = running + 1;
    PENDING_CPUS.store(*pending, Ordering::SeqCst);
    while *pending > 1 {
        EXCL_COND.wait(&mut pending);
    }
}

/// `end_exclusive`: lets the vCPUs run guest code again.
pub fn end_exclusive() {
    let mut pending = EXCL.lock();
    *pending = 0;
    PENDING_CPUS.store(0, Ordering::SeqCst);
    EXCL_RESUME.notify_all();
}

/// `all_vcpus_paused`.
pub fn all_vcpus_paused() -> bool {
    CPUS.lock().iter().all(|c| c.is_stopped())
}

/// `pause_all_vcpus`: asks every vCPU to stop and waits (releasing the
/// BQL) until all have. Once it returns no vCPU executes guest code. A vCPU
/// thread that calls it stops itself at once (`cpu_stop_current`).
///
/// # Panics
/// Without the BQL.
pub fn pause_all_vcpus() {
    assert!(bql_locked(), "pause_all_vcpus needs the BQL");
    let me = current_cpu();
    for c in all_cpus() {
        if me.as_ref().is_some_and(|m| Arc::ptr_eq(m, &c)) {
            c.stop.store(false, Ordering::Release);
            c.stopped.store(true, Ordering::Release);
            c.exit_request.store(true, Ordering::Release);
        } else if !c.is_stopped() {
            c.stop.store(true, Ordering::Release);
            c.kick();
        }
    }
    // Like QEMU, kick again after every wake-up: a vCPU that missed the
    // first kick (e.g. it re-entered guest code) is asked once more.
    let mut first = true;
    PAUSE_COND.wait_while(|| {
        if !first {
            for c in all_cpus() {
                if !c.is_stopped() {
                    c.kick();
                }
            }
        }
        first = false;
        !all_vcpus_paused()
    });
}

/// `cpu_stop_current`: asks the calling vCPU to stop (it acknowledges at
/// its next `wait_io_event`) and to leave guest code. No-op outside a vCPU
/// thread.
pub fn cpu_stop_current() {
    if let Some(c) = current_cpu() {
        c.stop.store(true, Ordering::Release);
        c.exit_request.store(true, Ordering::Release);
        let hook = c.kick_hook.lock().clone();
        if let Some(h) = hook {
            h();
        }
    }
}

/// `resume_all_vcpus`: restarts every vCPU, but only while the VM is
/// running (QEMU checks `runstate_is_running()` there too): a reset while
/// paused or in prelaunch leaves the vCPUs stopped, as VIRTUAL time is.
pub fn resume_all_vcpus() {
    if !crate::runstate::runstate_is_running() {
        return;
    }
    for c in all_cpus() {
        c.resume();
    }
}
