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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use ferrite_aio::bql::bql_lock;
use ferrite_aio::cpus::VcpuCtl;
use ferrite_aio::main_loop::qemu_get_aio_context;
use ferrite_aio::{ClockType, QemuClock, Timer};
use ferrite_hw::clock::Clock;
use ferrite_hw::intc::aclint::MtimeSource;
use ferrite_hw::irq::HartIrq;
use ferrite_riscv::{Hart, IrqLines, Platform};
use ferrite_tcg::CpuExit;
use parking_lot::Mutex;

/// Instructions a hart runs before it looks at its control block again
/// (QEMU's TCG checks `exit_request` at every block; this only bounds how
/// long a stop request can wait when nothing else kicks the hart).
const BUDGET: u64 = 1 << 20;

/// The VIRTUAL clock as the devices' time seam.
#[derive(Clone, Copy, Debug, Default)]
pub struct VirtualClock;

impl Clock for VirtualClock {
    fn get_ns(&self) -> i64 {
        QemuClock::get_ns(ClockType::Virtual)
    }
}

/// A `ferrite-hw` timer on the main loop's VIRTUAL clock.
pub struct MainLoopTimer(Timer);

impl MainLoopTimer {
    /// A timer that runs `cb` in the main loop when it expires.
    pub fn new(cb: impl Fn() + Send + Sync + 'static) -> Self {
        MainLoopTimer(Timer::new(&qemu_get_aio_context(), ClockType::Virtual, cb))
    }
}

impl ferrite_hw::clock::Timer for MainLoopTimer {
    fn modify(&mut self, expire_ns: i64) {
        self.0.modify_ns(expire_ns);
    }
    fn delete(&mut self) {
        self.0.del();
    }
}

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
}

impl HartPlatform {
    /// A platform reading `mtime`.
    pub fn new(mtime: Arc<MtimeSource>) -> Arc<Self> {
        Arc::new(HartPlatform {
            mtime,
            lines: OnceLock::new(),
            timer: Mutex::new(None),
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

/// A running vCPU thread.
pub struct VcpuThread {
    handle: Option<JoinHandle<()>>,
    quit: Arc<AtomicBool>,
    ctl: Arc<VcpuCtl>,
}

impl VcpuThread {
    /// Starts a thread for `hart` (stopped until `vm_start`).
    pub fn spawn(mut hart: Hart, index: usize) -> std::io::Result<VcpuThread> {
        let ctl = VcpuCtl::new(index);
        let lines = hart.irq_lines();
        // Every VcpuCtl::kick (pause_all_vcpus, run_on_cpu, ...) also makes
        // the hart leave guest code and wakes it from wfi (`cpu_exit`).
        ctl.set_kick_hook(Arc::new(move || lines.request_exit()));
        let quit = Arc::new(AtomicBool::new(false));
        let (c, q) = (ctl.clone(), quit.clone());
        let handle = std::thread::Builder::new()
            .name(format!("CPU {index}/TCG"))
            .spawn(move || vcpu_loop(&mut hart, &c, &q))?;
        Ok(VcpuThread {
            handle: Some(handle),
            quit,
            ctl,
        })
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

fn vcpu_loop(hart: &mut Hart, ctl: &Arc<VcpuCtl>, quit: &AtomicBool) {
    let mut bql = bql_lock();
    ctl.attach_current_thread(false);
    while !quit.load(Ordering::SeqCst) {
        if ctl.can_run() {
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
