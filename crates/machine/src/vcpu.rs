//! vCPU threads for the TCG accelerator (QEMU: `accel/tcg/tcg-accel-ops-mttcg.c`,
//! `system/cpus.c`) and the board side of a hart: its time base and Sstc
//! timer ([`HartPlatform`]) and its interrupt lines ([`HartIrqs`]).
//!
//! Each hart runs on its own thread. The thread holds the BQL only while it
//! is outside guest code: between blocks of guest execution it acknowledges
//! stop requests and runs queued work through its [`VcpuCtl`], exactly the
//! loop `ferrite_aio::cpus` describes. A hart that executes `wfi` sleeps
//! (without the BQL) until an interrupt is pending or the thread is kicked;
//! `VcpuCtl::kick` reaches guest code through the hart's exit request.

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
        let now_ns = QemuClock::get_ns(ClockType::Virtual);
        let now = self.mtime.read();
        let ns = if deadline <= now {
            now_ns
        } else {
            let ticks = u128::from(deadline - now);
            let delta = ticks * 1_000_000_000 / u128::from(self.mtime.freq().max(1));
            now_ns.saturating_add(i64::try_from(delta).unwrap_or(i64::MAX))
        };
        if let Some(t) = t.as_ref() {
            t.modify_ns(ns);
        }
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

impl VcpuThread {
    /// Starts a thread for `hart` (stopped until `vm_start`). A reset puts
    /// the hart back at `hart.cpu.common.pc` as it is now (the reset vector).
    pub fn spawn(hart: Hart, index: usize) -> std::io::Result<VcpuThread> {
        let ctl = VcpuCtl::new(index);
        let lines = hart.irq_lines();
        // Every VcpuCtl::kick (pause_all_vcpus, run_on_cpu, ...) also makes
        // the hart leave guest code and wakes it from wfi (`cpu_exit`).
        let hook_lines = lines.clone();
        ctl.set_kick_hook(Arc::new(move || hook_lines.request_exit()));
        let quit = Arc::new(AtomicBool::new(false));
        let reset = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicBool::new(false));
        let (c, q, r) = (ctl.clone(), quit.clone(), reset.clone());
        let (h, l) = (held.clone(), lines.clone());
        let resetvec = hart.cpu.common.pc;
        let hart = Arc::new(Mutex::new(hart));
        let thread_id = Arc::new(AtomicI64::new(0));
        let (hh, t) = (hart.clone(), thread_id.clone());
        let handle = std::thread::Builder::new()
            .name(format!("CPU {index}/TCG"))
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                t.store(i64::from(unsafe { libc::gettid() }), Ordering::Release);
                CURRENT.with(|cur| {
                    *cur.borrow_mut() = Some(CurrentVcpu {
                        held: h.clone(),
                        lines: l,
                        ctl: c.clone(),
                    })
                });
                vcpu_loop(&hh, resetvec, &c, &q, &r, &h)
            })?;
        Ok(VcpuThread {
            handle: Some(handle),
            quit,
            reset,
            held,
            ctl,
            lines,
            hart,
            thread_id,
            resetvec,
        })
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
