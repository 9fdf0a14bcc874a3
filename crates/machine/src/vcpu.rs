//! vCPU threads for the TCG accelerator (QEMU: `accel/tcg/tcg-accel-ops-mttcg.c`,
//! `tcg-accel-ops-rr.c`, `system/cpus.c`) and the board side of a hart: its
//! time base and Sstc timer ([`HartPlatform`]) and its interrupt lines
//! ([`HartIrqs`]).
//!
//! # Threads
//!
//! * **Main loop thread** (`qemu_main_loop`): timers (including each hart's
//!   Sstc `stimecmp` timer and the ACLINT `mtimecmp` timers), chardevs,
//!   the monitors, run-state changes (`vm_stop`/`vm_start`, reset). It
//!   holds the BQL except while it polls. It never touches a hart directly:
//!   it reaches one with [`VcpuHandle::with_hart`] (`run_on_cpu`), and
//!   wakes one through its [`IrqLines`] or [`VcpuCtl::kick`].
//! * **`-accel tcg,thread=multi`** (the default on a multi-core host): one
//!   thread per vCPU, "CPU n/TCG". It holds the BQL only outside guest
//!   code: around [`Hart::run`] and around the `wfi` sleep it releases it,
//!   so guest code of different harts runs in parallel and the BQL is
//!   taken only by MMIO dispatch to devices that need it (the memory API's
//!   `prepare_mmio_access`) and by the non-RAM fallback of an atomic.
//!   Between runs, with the BQL, it acknowledges stop requests and runs
//!   queued work ([`VcpuCtl::wait_io_event`]).
//! * **`-accel tcg,thread=single`**: one thread, "ALL CPUs/TCG", runs every
//!   vCPU in turn (QEMU's `rr_cpu_thread_fn`): each runnable hart until it
//!   halts in `wfi`, is kicked, or has run a slice of `RR_SLICE`
//!   instructions. A wake-up of any hart (an interrupt line, a kick) makes
//!   the running hart leave guest code, so the woken one gets its turn at
//!   once (QEMU's `rr_kick_vcpu_thread`). With no runnable hart the thread
//!   sleeps, without the BQL, until one is woken.
//!
//! Guest memory is shared by all harts: plain loads and stores are host
//! loads and stores, LR/SC and AMOs are host atomics (see
//! `ferrite_riscv::helpers`), and code-page invalidations and write
//! protection reach every hart's TB cache and TLB through
//! `ferrite_tcg::codesync`.
//!
//! # Lock order
//!
//! 1. The BQL (outermost, as in QEMU).
//! 2. A hart's `Mutex<Hart>`: taken only by the thread that runs the hart
//!    (around guest execution and in the halt wait, and by `with_hart`
//!    work, which runs on that thread). The thread may take the BQL while
//!    holding it (MMIO from guest code); nobody takes the hart lock while
//!    holding the BQL on another thread, which is why `with_hart` goes
//!    through `run_on_cpu` instead of locking.
//! 3. Leaf locks, never held across another lock: a hart's wake-up lock
//!    (`IrqLines`), the round-robin thread's wake-up lock, a
//!    [`HartPlatform`]'s timer slot, the `VcpuCtl` work queue, the
//!    `codesync` log, device mutexes (under the BQL).
//!
//! `cpu_stop_current` and kicks never block, so a device may call them from
//! guest code with any of these held.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use ferrite_aio::bql::bql_lock;
use ferrite_aio::cpus::VcpuCtl;
use ferrite_aio::main_loop::qemu_get_aio_context;
use ferrite_aio::{ClockType, QemuClock, Timer};
use ferrite_hw::intc::aclint::MtimeSource;
use ferrite_hw::irq::HartIrq;
use ferrite_riscv::cpu::PRV_M;
use ferrite_riscv::csr::{MSTATUS_MIE, MSTATUS_MPRV};
use ferrite_riscv::{Hart, IrqLines, Platform};
use ferrite_tcg::CpuExit;
use ferrite_tcg::exec::Executor;
use parking_lot::Mutex;

/// Instructions a hart runs before it looks at its control block again
/// (QEMU's TCG checks `exit_request` at every block; this only bounds how
/// long a stop request can wait when nothing else kicks the hart).
const BUDGET: u64 = 1 << 20;

/// The harts' interrupt lines, indexed by hart id, for the interrupt
/// controllers.
#[derive(Default)]
pub struct HartIrqs {
    lines: OnceLock<Vec<Arc<IrqLines>>>,
}

impl HartIrqs {
    /// Connects the harts (once, after they are created).
    pub fn connect(&self, lines: Vec<Arc<IrqLines>>) {
        assert!(self.lines.set(lines).is_ok(), "hart lines connected twice");
    }
}

impl HartIrq for HartIrqs {
    fn set_mip(&self, hart: usize, bit: u32, level: bool) {
        if let Some(l) = self.lines.get().and_then(|v| v.get(hart)) {
            l.set(1u64 << bit, level);
        }
    }
}

/// The board side of a hart: `time` from the ACLINT's `mtime`, and the
/// Sstc `stimecmp` deadline as a VIRTUAL-clock timer that kicks the hart.
pub struct HartPlatform {
    mtime: Arc<MtimeSource>,
    lines: OnceLock<Arc<IrqLines>>,
    timer: Mutex<Option<Timer>>,
    has_time: bool,
}

impl HartPlatform {
    /// A platform reading `mtime`, which the hart's `time` CSR also reads
    /// (QEMU's `virt`, which installs an rdtime function).
    pub fn new(mtime: Arc<MtimeSource>) -> Arc<Self> {
        Arc::new(HartPlatform {
            mtime,
            lines: OnceLock::new(),
            timer: Mutex::new(None),
            has_time: true,
        })
    }

    /// A platform whose `mtime` only the CLINT registers show: reading the
    /// `time` CSR is an illegal instruction, as on QEMU 7.2's `spike`,
    /// which installs no rdtime function.
    pub fn without_rdtime(mtime: Arc<MtimeSource>) -> Arc<Self> {
        Arc::new(HartPlatform {
            mtime,
            lines: OnceLock::new(),
            timer: Mutex::new(None),
            has_time: false,
        })
    }

    /// Connects the hart whose `stimecmp` this platform times.
    pub fn connect(&self, lines: Arc<IrqLines>) {
        let _ = self.lines.set(lines);
    }
}

impl Platform for HartPlatform {
    fn time(&self) -> u64 {
        self.mtime.read()
    }

    fn has_time(&self) -> bool {
        self.has_time
    }

    fn set_stimecmp_deadline(&self, _hartid: u64, deadline: Option<u64>) {
        let mut t = self.timer.lock();
        let Some(deadline) = deadline else {
            if let Some(t) = t.as_ref() {
                t.del();
            }
            return;
        };
        if t.is_none() {
            let lines = self.lines.get().cloned();
            *t = Some(Timer::new(
                &qemu_get_aio_context(),
                ClockType::Virtual,
                move || {
                    if let Some(l) = &lines {
                        l.kick();
                    }
                },
            ));
        }
        // The exact clock time at which `time` reaches the deadline: the
        // expiry only kicks the hart, which then sees STIP from `time`
        // itself, so the timer must never fire early (a kick that finds no
        // work would leave the hart asleep with no timer armed).
        let ns = if deadline <= self.mtime.read() {
            QemuClock::get_ns(ClockType::Virtual)
        } else {
            self.mtime.ns_at(deadline)
        };
        if let Some(t) = t.as_ref() {
            t.modify_ns(ns);
        }
    }
}

/// How vCPUs map to host threads (`-accel tcg,thread=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcgThreads {
    /// One host thread per vCPU, "CPU n/TCG" (QEMU's MTTCG, its default
    /// when the host has more than one core).
    Multi,
    /// One host thread, "ALL CPUs/TCG", runs every vCPU in turn (QEMU's
    /// round-robin `rr_cpu_thread_fn`).
    Single,
}

static TCG_SINGLE: AtomicBool = AtomicBool::new(false);

/// Chooses the thread mode for the vCPUs started after this call (the
/// accelerator is process-wide, as QEMU's `current_accel()`).
pub fn set_tcg_threads(mode: TcgThreads) {
    TCG_SINGLE.store(mode == TcgThreads::Single, Ordering::SeqCst);
}

/// The current thread mode ([`TcgThreads::Multi`] unless set).
pub fn tcg_threads() -> TcgThreads {
    if TCG_SINGLE.load(Ordering::SeqCst) {
        TcgThreads::Single
    } else {
        TcgThreads::Multi
    }
}

/// The default mode: multi-threaded when the host has more than one core,
/// as QEMU's `default_mttcg_enabled`.
pub fn default_tcg_threads() -> TcgThreads {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        TcgThreads::Multi
    } else {
        TcgThreads::Single
    }
}

/// What [`cpu_stop_current`] needs on a vCPU thread.
struct CurrentVcpu {
    held: Arc<AtomicBool>,
    lines: Arc<IrqLines>,
    ctl: Arc<VcpuCtl>,
}

thread_local! {
    static CURRENT: std::cell::RefCell<Option<CurrentVcpu>> = const { std::cell::RefCell::new(None) };
}

/// QEMU's `cpu_stop_current`: the vCPU running on the calling thread (a
/// device access from guest code) leaves guest code at the end of the
/// current block and runs no more guest code until a machine reset. A
/// device that ends the run (the test finisher) calls it so that the
/// guest cannot act after its request, as on QEMU. Does nothing on other
/// threads.
pub fn cpu_stop_current() {
    CURRENT.with(|c| {
        if let Some(c) = c.borrow().as_ref() {
            c.held.store(true, Ordering::SeqCst);
            // An idle thread sleeps; the kick makes it look at `held`.
            c.ctl.set_halted(true);
            c.lines.request_exit();
        }
    });
}

/// A running vCPU thread.
pub struct VcpuThread {
    handle: Option<JoinHandle<()>>,
    quit: Arc<AtomicBool>,
    reset: Arc<AtomicBool>,
    held: Arc<AtomicBool>,
    ctl: Arc<VcpuCtl>,
    lines: Arc<IrqLines>,
    hart: Arc<Mutex<Hart>>,
    thread_id: Arc<AtomicI64>,
    resetvec: u64,
}

/// A handle on a vCPU for the monitor and the reset path: its control
/// block, host thread id and a way to reach the hart's state safely.
///
/// The hart lives behind a mutex that only its own vCPU thread ever locks
/// (around guest execution and halt waits); everyone else reaches it with
/// [`VcpuHandle::with_hart`], which runs a closure *on the vCPU thread*
/// through `run_on_cpu`, i.e. while the thread is outside guest code and
/// has released that lock. Locking the hart from another thread while
/// holding the BQL could deadlock against a vCPU that holds the hart and
/// waits for the BQL in an MMIO access; this design cannot.
#[derive(Clone)]
pub struct VcpuHandle {
    index: usize,
    ctl: Arc<VcpuCtl>,
    lines: Arc<IrqLines>,
    hart: Arc<Mutex<Hart>>,
    thread_id: Arc<AtomicI64>,
    reset: Arc<AtomicBool>,
    resetvec: u64,
}

impl VcpuHandle {
    /// `cpu_index`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The host thread id (`gettid()`) of the vCPU thread, 0 until the
    /// thread has started.
    pub fn thread_id(&self) -> i64 {
        self.thread_id.load(Ordering::Acquire)
    }

    /// Runs `f` on the hart, on its vCPU thread, and returns its result
    /// (QEMU's `run_on_cpu`). The hart is first asked to leave guest code
    /// so that a running VM answers quickly; a reset requested while the
    /// VM was stopped is applied first, so `f` sees the state the hart
    /// will run from. Call with the BQL held, from a thread that is not a
    /// vCPU thread (the main loop); the BQL is released while waiting.
    pub fn with_hart<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Hart) -> R + Send + 'static,
    ) -> R {
        let slot = Arc::new(Mutex::new(None));
        let (h, s) = (self.hart.clone(), slot.clone());
        let (reset, resetvec) = (self.reset.clone(), self.resetvec);
        self.lines.request_exit();
        self.ctl.run_on_cpu(move || {
            let mut hart = h.lock();
            if reset.swap(false, Ordering::SeqCst) {
                reset_hart(&mut hart, resetvec);
            }
            let r = f(&mut hart);
            *s.lock() = Some(r);
        });
        let r = slot.lock().take();
        r.expect("run_on_cpu returned before the work ran")
    }
}

/// The per-vCPU pieces a vCPU thread works with.
#[derive(Clone)]
struct VcpuParts {
    ctl: Arc<VcpuCtl>,
    lines: Arc<IrqLines>,
    hart: Arc<Mutex<Hart>>,
    reset: Arc<AtomicBool>,
    held: Arc<AtomicBool>,
    thread_id: Arc<AtomicI64>,
    resetvec: u64,
}

impl VcpuParts {
    fn new(hart: Hart, index: usize) -> VcpuParts {
        let ctl = VcpuCtl::new(index);
        let lines = hart.irq_lines();
        // Every VcpuCtl::kick (pause_all_vcpus, run_on_cpu, ...) also makes
        // the hart leave guest code and wakes it from wfi (`cpu_exit`).
        let hook_lines = lines.clone();
        ctl.set_kick_hook(Arc::new(move || hook_lines.request_exit()));
        VcpuParts {
            ctl,
            lines,
            resetvec: hart.cpu.common.pc,
            hart: Arc::new(Mutex::new(hart)),
            reset: Arc::new(AtomicBool::new(false)),
            held: Arc::new(AtomicBool::new(false)),
            thread_id: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Makes this vCPU the calling thread's current one (for
    /// [`cpu_stop_current`]).
    fn make_current(&self) {
        CURRENT.with(|cur| {
            *cur.borrow_mut() = Some(CurrentVcpu {
                held: self.held.clone(),
                lines: self.lines.clone(),
                ctl: self.ctl.clone(),
            })
        });
    }

    fn thread(&self, handle: Option<JoinHandle<()>>, quit: Arc<AtomicBool>) -> VcpuThread {
        VcpuThread {
            handle,
            quit,
            reset: self.reset.clone(),
            held: self.held.clone(),
            ctl: self.ctl.clone(),
            lines: self.lines.clone(),
            hart: self.hart.clone(),
            thread_id: self.thread_id.clone(),
            resetvec: self.resetvec,
        }
    }
}

fn gettid() -> i64 {
    // SAFETY: gettid has no preconditions.
    i64::from(unsafe { libc::gettid() })
}

impl VcpuThread {
    /// Starts the vCPU threads for `harts` (hart `i` is vCPU `i`), in the
    /// mode [`set_tcg_threads`] chose: one thread each, or one round-robin
    /// thread for all. They are stopped until `vm_start`.
    pub fn spawn_all(harts: Vec<Hart>) -> std::io::Result<Vec<VcpuThread>> {
        match tcg_threads() {
            TcgThreads::Multi => harts
                .into_iter()
                .enumerate()
                .map(|(i, h)| VcpuThread::spawn(h, i))
                .collect(),
            TcgThreads::Single => spawn_rr(harts),
        }
    }

    /// Starts a thread for `hart` (stopped until `vm_start`). A reset puts
    /// the hart back at `hart.cpu.common.pc` as it is now (the reset vector).
    pub fn spawn(hart: Hart, index: usize) -> std::io::Result<VcpuThread> {
        let p = VcpuParts::new(hart, index);
        let quit = Arc::new(AtomicBool::new(false));
        let (c, q, r, h) = (p.ctl.clone(), quit.clone(), p.reset.clone(), p.held.clone());
        let (hh, t, resetvec) = (p.hart.clone(), p.thread_id.clone(), p.resetvec);
        let cur = p.clone();
        let handle = std::thread::Builder::new()
            .name(format!("CPU {index}/TCG"))
            .spawn(move || {
                t.store(gettid(), Ordering::Release);
                cur.make_current();
                vcpu_loop(&hh, resetvec, &c, &q, &r, &h)
            })?;
        Ok(p.thread(Some(handle), quit))
    }

    /// A handle for the monitor and reset code.
    pub fn handle(&self) -> VcpuHandle {
        VcpuHandle {
            index: self.ctl.index(),
            ctl: self.ctl.clone(),
            lines: self.lines.clone(),
            hart: self.hart.clone(),
            thread_id: self.thread_id.clone(),
            reset: self.reset.clone(),
            resetvec: self.resetvec,
        }
    }

    /// Resets the hart (QEMU's `cpu_reset` from `qemu_system_reset`): it
    /// returns to M-mode at the reset vector with its CSRs in their reset
    /// state and its translated code dropped. Called with the vCPUs paused;
    /// the thread performs the reset before it runs guest code again.
    pub fn request_reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
        self.held.store(false, Ordering::SeqCst);
        self.ctl.set_halted(false);
        self.kick();
    }

    /// The vCPU's control block.
    pub fn ctl(&self) -> &Arc<VcpuCtl> {
        &self.ctl
    }

    /// Makes the thread leave guest code at its next block boundary
    /// (QEMU's `qemu_cpu_kick`).
    pub fn kick(&self) {
        // The control block's kick hook does the hart's request_exit.
        self.ctl.kick();
    }

    /// Asks the thread to leave its loop at the next opportunity. The
    /// process normally ends without joining vCPU threads, as QEMU's does.
    pub fn request_quit(&self) {
        self.quit.store(true, Ordering::SeqCst);
        self.kick();
    }

    /// Waits for a thread that was asked to quit while running.
    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.ctl.unregister();
    }
}

/// QEMU 7.2's `riscv_cpu_reset` on a system reset: M-mode at the reset
/// vector, `mstatus.MIE`/`MPRV` and `mcause` cleared, the LR reservation
/// dropped, the TLB flushed. Everything else (GPRs, `mscratch`, `mie`,
/// `mcounteren`, `menvcfg`, PMP, ...) keeps its value, as on QEMU, whose
/// reset leaves the rest of the CPU state alone. The translated code is
/// dropped as well (the images are written again).
fn reset_hart(hart: &mut Hart, pc: u64) {
    let c = &mut hart.cpu;
    c.priv_ = PRV_M;
    c.csr.mstatus &= !(MSTATUS_MIE | MSTATUS_MPRV);
    c.csr.mcause = 0;
    c.reservation = None;
    c.pending = None;
    c.common.pc = pc;
    c.common.tlb_flush();
    hart.exec = Executor::new();
}

fn vcpu_loop(
    hart: &Mutex<Hart>,
    resetvec: u64,
    ctl: &Arc<VcpuCtl>,
    quit: &AtomicBool,
    reset: &AtomicBool,
    held: &AtomicBool,
) {
    let mut bql = bql_lock();
    ctl.attach_current_thread(false);
    while !quit.load(Ordering::SeqCst) {
        if reset.swap(false, Ordering::SeqCst) {
            reset_hart(&mut hart.lock(), resetvec);
        }
        if ctl.can_run() && !held.load(Ordering::SeqCst) {
            // The hart is locked only here and in the halt wait, never
            // across `wait_io_event`, where `VcpuHandle::with_hart` work
            // runs (on this thread) and locks it itself.
            let mut hart = hart.lock();
            let exit = bql.unlocked(|| hart.run(BUDGET));
            ctl.clear_exit_request();
            if exit == CpuExit::Halted {
                // wfi: sleep until an interrupt is pending, or a kick
                // (every VcpuCtl::kick runs the hook installed in `spawn`,
                // which ends this wait through the hart's exit request).
                // One wait: it returns on a pending interrupt or on the exit
                // request (which stays set until the next `run` consumes
                // it, so a kick just before the wait is not lost).
                bql.unlocked(|| {
                    if !ctl.exit_requested() && !quit.load(Ordering::SeqCst) {
                        hart.wait_for_interrupt(None);
                    }
                });
            }
        }
        if ctl.exit_requested() {
            // A kick while the hart was not in guest code.
            ctl.clear_exit_request();
        }
        ctl.wait_io_event();
    }
}

/// Instructions the round-robin thread runs on one vCPU before it moves to
/// the next (its time slice; see docs/divergences.md).
const RR_SLICE: u64 = 1 << 18;

/// State shared by the round-robin thread and the harts' wakers.
struct RrShared {
    /// Something happened that may make a vCPU runnable (QEMU's shared
    /// `halt_cond` under RR).
    woken: parking_lot::Mutex<bool>,
    cond: parking_lot::Condvar,
    /// The vCPU in guest code now (`rr_current_cpu`), `usize::MAX` if none.
    current: std::sync::atomic::AtomicUsize,
    lines: Vec<Arc<IrqLines>>,
}

impl RrShared {
    /// Hart `hart` was woken or kicked: wake the thread if it sleeps, and
    /// make the vCPU it is running, if another, leave guest code so the
    /// woken one gets its turn (QEMU's `rr_kick_vcpu_thread` exits the
    /// current CPU; the running hart itself sees its own request at its
    /// next block boundary).
    fn wake(&self, hart: usize) {
        let cur = self.current.load(Ordering::SeqCst);
        if cur != hart
            && let Some(l) = self.lines.get(cur)
        {
            l.cpu_exit();
        }
        *self.woken.lock() = true;
        self.cond.notify_all();
    }
}

/// Starts the single round-robin thread for all `harts`.
fn spawn_rr(harts: Vec<Hart>) -> std::io::Result<Vec<VcpuThread>> {
    let parts: Vec<VcpuParts> = harts
        .into_iter()
        .enumerate()
        .map(|(i, h)| VcpuParts::new(h, i))
        .collect();
    let shared = Arc::new(RrShared {
        woken: parking_lot::Mutex::new(false),
        cond: parking_lot::Condvar::new(),
        current: std::sync::atomic::AtomicUsize::new(usize::MAX),
        lines: parts.iter().map(|p| p.lines.clone()).collect(),
    });
    for (i, p) in parts.iter().enumerate() {
        let s = Arc::downgrade(&shared);
        p.lines.set_waker(Arc::new(move || {
            if let Some(s) = s.upgrade() {
                s.wake(i);
            }
        }));
    }
    let quit = Arc::new(AtomicBool::new(false));
    let (ps, q) = (parts.clone(), quit.clone());
    let handle = std::thread::Builder::new()
        .name("ALL CPUs/TCG".to_string())
        .spawn(move || {
            let tid = gettid();
            for p in &ps {
                p.thread_id.store(tid, Ordering::Release);
            }
            rr_loop(&ps, &q, &shared)
        })?;
    let mut handle = Some(handle);
    Ok(parts
        .iter()
        .map(|p| p.thread(handle.take(), quit.clone()))
        .collect())
}

/// QEMU's `rr_cpu_thread_fn`: runs every runnable vCPU in turn, each until
/// it halts, is kicked, or has used its slice; handles stop requests and
/// queued work for all of them; sleeps (without the BQL) while none can
/// run.
fn rr_loop(cpus: &[VcpuParts], quit: &AtomicBool, shared: &RrShared) {
    let mut bql = bql_lock();
    for c in cpus {
        c.ctl.attach_rr_thread();
    }
    // Halted in wfi (this thread's view; `ctl.halted` mirrors it).
    let mut wfi = vec![false; cpus.len()];
    while !quit.load(Ordering::SeqCst) {
        for (i, c) in cpus.iter().enumerate() {
            if quit.load(Ordering::SeqCst) {
                break;
            }
            if c.reset.swap(false, Ordering::SeqCst) {
                reset_hart(&mut c.hart.lock(), c.resetvec);
                wfi[i] = false;
            }
            if !c.ctl.can_run() || c.held.load(Ordering::SeqCst) {
                continue;
            }
            let mut hart = c.hart.lock();
            if wfi[i] && !c.ctl.is_halted() {
                // Reset (perhaps applied by `with_hart` work) clears the
                // halt: the hart starts again at the reset vector.
                wfi[i] = false;
            }
            if wfi[i] {
                if !hart.cpu.has_work() {
                    continue;
                }
                wfi[i] = false;
                c.ctl.set_halted(false);
            }
            c.ctl.attach_rr_thread();
            c.make_current();
            shared.current.store(i, Ordering::SeqCst);
            let exit = bql.unlocked(|| hart.run(RR_SLICE));
            shared.current.store(usize::MAX, Ordering::SeqCst);
            c.ctl.clear_exit_request();
            if exit == CpuExit::Halted {
                wfi[i] = true;
                c.ctl.set_halted(true);
            }
        }
        // Stop requests and queued work of every vCPU (the hart locks are
        // free here: `VcpuHandle::with_hart` work takes them itself).
        for c in cpus {
            c.ctl.wait_io_event_common();
        }
        // Sleep while nothing can run (QEMU: all_cpu_threads_idle, then
        // the wait on the shared halt_cond). The check runs under the
        // wake-up lock, and every wake-up takes it, so none is lost.
        bql.unlocked(|| {
            let mut woken = shared.woken.lock();
            loop {
                if std::mem::take(&mut *woken) || quit.load(Ordering::SeqCst) {
                    return;
                }
                let runnable = cpus.iter().enumerate().any(|(i, c)| {
                    if c.reset.load(Ordering::SeqCst) {
                        return true;
                    }
                    if !c.ctl.thread_is_idle() {
                        // Queued work, a stop request, or running.
                        return true;
                    }
                    c.ctl.can_run()
                        && !c.held.load(Ordering::SeqCst)
                        && wfi[i]
                        && c.hart.lock().cpu.has_work()
                });
                if runnable {
                    return;
                }
                shared.cond.wait(&mut woken);
            }
        });
    }
}
