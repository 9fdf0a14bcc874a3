//! The monitor's view of a running board: [`BoardControl`] implements
//! `ferrite_monitor::MachineControl` for any board built from
//! [`VcpuThread`](crate::vcpu::VcpuThread)s, an [`AddressSpace`] and the
//! `ferrite-aio` main loop (QEMU: `monitor/qmp-cmds.c`, `softmmu/cpus.c`,
//! `softmmu/runstate.c`, `hw/core/machine-qmp-cmds.c`,
//! `target/riscv/cpu.c:riscv_cpu_dump_state`).
//!
//! - Run state is `ferrite_aio::runstate`'s: `stop` is `vm_stop(paused)`,
//!   `cont` is `vm_start()` after `qmp_cont()`'s checks. Both run in the
//!   main loop thread with the BQL held (the monitor's dispatcher runs
//!   there), so their `STOP`/`RESUME` events — sent from a VM change-state
//!   handler — precede the command's reply, as in QEMU.
//! - QEMU 7.2 answers `system_reset` and `quit` only after the main loop
//!   has acted on the request, so `RESET`/`SHUTDOWN` reach the client
//!   before `{"return": {}}` and a later command sees the reset done.
//!   Ferrite's dispatcher replies as soon as the command returns, so
//!   `system_reset` resets the machine itself (it runs in the main loop
//!   thread, as `main_loop_should_exit()` would) and `quit` sends
//!   `SHUTDOWN` itself before posting `qemu_system_shutdown_request()`;
//!   the main-loop hooks (reset handler, shutdown notifier) send the events
//!   for requests from elsewhere (the guest, a signal).
//! - vCPU state is reached through [`VcpuHandle::with_hart`] (QEMU's
//!   `run_on_cpu`), never by locking a hart from the main loop. Resets are
//!   the board's own (`BoardInfo::reset`); the control adds the `RESET`
//!   event and, for `system_reset`, QEMU's pause/resume around it.
//! - Memory reads for `pmemsave`/`xp` go through the system address
//!   space; `memsave`/`x` translate each page with the hart's MMU
//!   (`cpu_memory_rw_debug()`).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferrite_aio::bql::{bql_lock, bql_locked};
use ferrite_aio::cpus::{pause_all_vcpus, resume_all_vcpus};
use ferrite_aio::main_loop::{qemu_system_shutdown_request, set_system_reset_handler};
use ferrite_aio::runstate::{
    VmChangeStateEntry, add_shutdown_notifier, add_vm_change_state_handler, runstate_get,
    runstate_is_running, runstate_set, vm_start, vm_stop,
};
use ferrite_memory::mtree::{MtreeOptions, mtree_info};
use ferrite_memory::{AddressSpace, MEMTXATTRS_UNSPECIFIED};
use ferrite_monitor::QmpError;
use ferrite_monitor::events::{EventBus, QapiEvent, ShutdownCause};
use ferrite_monitor::machine::{
    BlockInfo, CpuInfoFast, MachineControl, MachineInfo, MemoryAccessError,
};
use ferrite_monitor::qobject::QDict;
use ferrite_monitor::qtree::QtreeBus;
use ferrite_monitor::runstate::{RunState, runstate_needs_reset};
use ferrite_riscv::Hart;
use ferrite_tcg::{Access, PAGE_MASK, PAGE_SIZE};
use parking_lot::Mutex;

use crate::vcpu::VcpuHandle;

/// What a board tells the monitor about itself.
pub struct BoardInfo {
    /// `-name`.
    pub name: Option<String>,
    /// QOM path prefix of the harts (`/machine/soc0/harts`): hart `i` is
    /// `{prefix}[i]`.
    pub hart_qom_prefix: String,
    /// The machine types this binary offers (`query-machines`).
    pub machines: Vec<MachineInfo>,
    /// The board's part of `qemu_system_reset()`, run with the vCPUs
    /// paused and the BQL held (e.g. `Spike::reset`, `Virt::reset`).
    pub reset: Arc<dyn Fn() + Send + Sync>,
    /// The board's devices as `info qtree` shows them (see
    /// [`crate::qtree`]); asked each time, so devices added at run time
    /// show up.
    pub qtree: Arc<dyn Fn() -> QtreeBus + Send + Sync>,
    /// The drives as `query-block` reports them, computed at each query
    /// (host allocation changes while the guest runs).
    pub block_devices: Arc<dyn Fn() -> Vec<BlockInfo> + Send + Sync>,
}

/// `MachineInfo` of QEMU 7.2's `spike` machine.
pub fn spike_machine_info(is_default: bool) -> MachineInfo {
    MachineInfo {
        name: "spike".into(),
        alias: None,
        is_default,
        cpu_max: i64::from(crate::spike::SPIKE_CPUS_MAX),
        hotpluggable_cpus: false,
        numa_mem_supported: true,
        deprecated: false,
        default_cpu_type: Some("rv64-riscv-cpu".into()),
        default_ram_id: Some("riscv.spike.ram".into()),
    }
}

/// `MachineInfo` of QEMU 7.2's `virt` machine.
pub fn virt_machine_info(is_default: bool) -> MachineInfo {
    MachineInfo {
        name: "virt".into(),
        alias: None,
        is_default,
        cpu_max: 512,
        hotpluggable_cpus: false,
        numa_mem_supported: true,
        deprecated: false,
        default_cpu_type: Some("rv64-riscv-cpu".into()),
        default_ram_id: Some("riscv_virt_board.ram".into()),
    }
}

/// A board as the monitor sees it.
pub struct BoardControl {
    info: BoardInfo,
    space: AddressSpace,
    vcpus: Vec<VcpuHandle>,
    bus: Arc<EventBus>,
    /// `quit` was executed: the monitors shut down after its reply.
    exit: AtomicBool,
    /// The monitor already sent `SHUTDOWN` for the pending request.
    shutdown_event_sent: Arc<AtomicBool>,
    /// `info chardev` lines (`label: filename=...`), set by the CLI.
    chardevs: Mutex<Vec<(String, String)>>,
    _change_state: VmChangeStateEntry,
}

impl BoardControl {
    /// Connects a built board to the monitor's event `bus`: registers the
    /// VM change-state handler (`RESUME`/`STOP`), the shutdown notifier
    /// (`SHUTDOWN`) and the system reset handler (resets the harts, emits
    /// `RESET`). Call once per process, after
    /// `ferrite_aio::main_loop::qemu_init_main_loop()`.
    pub fn new(
        info: BoardInfo,
        space: AddressSpace,
        vcpus: Vec<VcpuHandle>,
        bus: Arc<EventBus>,
    ) -> Arc<Self> {
        let shutdown_event_sent = Arc::new(AtomicBool::new(false));
        let (b, sent) = (bus.clone(), shutdown_event_sent.clone());
        add_shutdown_notifier(move |cause| {
            if !sent.swap(false, Ordering::AcqRel) {
                b.emit(QapiEvent::Shutdown(cause));
            }
        });
        let b = bus.clone();
        // Lowest priority: RESUME before every other handler on start, STOP
        // after them on stop, as QEMU orders them around vm_state_notify().
        let change_state = add_vm_change_state_handler(i32::MIN, move |running, state| {
            if running {
                b.emit(QapiEvent::Resume);
            } else if state != RunState::Shutdown {
                // QEMU leaves the main loop on a shutdown request without
                // a STOP event (vm_shutdown() does not send one); aio's
                // main loop stops the VM with state `shutdown` first.
                b.emit(QapiEvent::Stop);
            }
        });
        let b = bus.clone();
        let reset = info.reset.clone();
        // Replaces a handler the board may have installed: it runs the
        // same board reset, then sends the event.
        set_system_reset_handler(move |cause| {
            // qemu_system_reset(): the machine's reset, then the RESET
            // event (not for subsystem resets).
            reset();
            if cause != ShutdownCause::SubsystemReset {
                b.emit(QapiEvent::Reset(cause));
            }
        });
        Arc::new(BoardControl {
            info,
            space,
            vcpus,
            bus,
            exit: AtomicBool::new(false),
            shutdown_event_sent,
            chardevs: Mutex::new(Vec::new()),
            _change_state: change_state,
        })
    }

    /// Sets what `info chardev` lists: `(label, filename)` pairs.
    pub fn set_chardevs(&self, list: Vec<(String, String)>) {
        *self.chardevs.lock() = list;
    }

    fn vcpu(&self, cpu: usize) -> Option<&VcpuHandle> {
        self.vcpus.iter().find(|v| v.index() == cpu)
    }
}

const GPR_NAMES: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];
const FPR_NAMES: [&str; 32] = [
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2",
    "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9",
    "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
];

/// `riscv_cpu_dump_state()` in QEMU 7.2's layout, for a hart without the
/// H extension (so without the `V` line and the hypervisor CSRs QEMU
/// prints for its default CPU).
pub fn dump_hart_state(h: &Hart) -> String {
    let c = &h.cpu;
    let s = &c.csr;
    let mut out = String::new();
    let csrs: [(&str, u64); 17] = [
        ("pc", c.pc()),
        ("mhartid", s.mhartid),
        ("mstatus", s.mstatus_read()),
        ("mip", c.mip()),
        ("mie", s.mie),
        ("mideleg", s.mideleg),
        ("medeleg", s.medeleg),
        ("mtvec", s.mtvec),
        ("stvec", s.stvec),
        ("mepc", s.mepc),
        ("sepc", s.sepc),
        ("mcause", s.mcause),
        ("scause", s.scause),
        ("mtval", s.mtval),
        ("stval", s.stval),
        ("mscratch", s.mscratch),
        ("sscratch", s.sscratch),
    ];
    for (n, v) in csrs.iter().chain(std::iter::once(&("satp", s.satp))) {
        let _ = writeln!(out, " {n:<8} {v:016x}");
    }
    for (i, n) in GPR_NAMES.iter().enumerate() {
        let _ = write!(out, " {:<8} {:016x}", format!("x{i}/{n}"), c.x(i));
        if i % 4 == 3 {
            out.push('\n');
        }
    }
    for (i, n) in FPR_NAMES.iter().enumerate() {
        let _ = write!(out, " {:<8} {:016x}", format!("f{i}/{n}"), c.f(i));
        if i % 4 == 3 {
            out.push('\n');
        }
    }
    out
}

/// Reads guest-virtual memory as `cpu_memory_rw_debug()` does: page by
/// page, translated by the hart's MMU in its current data mode, then read
/// through the physical address space.
fn read_virtual_on_hart(
    h: &mut Hart,
    space: &AddressSpace,
    addr: u64,
    buf: &mut [u8],
) -> Result<(), MemoryAccessError> {
    let mut done = 0usize;
    let mut va = addr;
    while done < buf.len() {
        let in_page = (PAGE_SIZE - (va & !PAGE_MASK)) as usize;
        let l = in_page.min(buf.len() - done);
        let pa = ferrite_riscv::mmu::debug_translate(&mut h.cpu, va, Access::Read)
            .ok_or(MemoryAccessError)?;
        if !space
            .read(pa, MEMTXATTRS_UNSPECIFIED, &mut buf[done..done + l])
            .is_ok()
        {
            return Err(MemoryAccessError);
        }
        done += l;
        va = va.wrapping_add(l as u64);
    }
    Ok(())
}

impl MachineControl for BoardControl {
    fn run_state(&self) -> RunState {
        runstate_get()
    }

    fn stop(&self) -> Result<(), QmpError> {
        vm_stop(RunState::Paused);
        Ok(())
    }

    fn cont(&self) -> Result<(), QmpError> {
        // qmp_cont()
        let s = runstate_get();
        if runstate_needs_reset(s) {
            return Err(QmpError::generic(
                "Resetting the Virtual Machine is required",
            ));
        }
        match s {
            RunState::Suspended => Ok(()),
            RunState::FinishMigrate => Err(QmpError::generic("Migration is not finalized yet")),
            _ => {
                vm_start();
                Ok(())
            }
        }
    }

    fn system_reset(&self, cause: ShutdownCause) {
        // QEMU replies only after the main loop has reset the machine, so a
        // command after the reply sees the reset done. The dispatcher runs
        // in the main loop thread, so do here what main_loop_should_exit()
        // does for a reset request: pause the vCPUs, reset, send RESET,
        // resume them only if the VM runs, else drop it to prelaunch.
        let _bql = (!bql_locked()).then(bql_lock);
        pause_all_vcpus();
        (self.info.reset)();
        self.bus.emit(QapiEvent::Reset(cause));
        if runstate_is_running() {
            resume_all_vcpus();
        } else if !matches!(
            runstate_get(),
            RunState::Inmigrate | RunState::FinishMigrate
        ) {
            runstate_set(RunState::Prelaunch);
        }
    }

    fn system_powerdown(&self) {
        // The boards have no power button device: QEMU only sends the
        // event (no ACPI/GPIO listener is registered on spike).
        self.bus.emit(QapiEvent::Powerdown);
    }

    fn request_shutdown(&self, cause: ShutdownCause) {
        self.shutdown_event_sent.store(true, Ordering::Release);
        self.bus.emit(QapiEvent::Shutdown(cause));
        self.exit.store(true, Ordering::SeqCst);
        qemu_system_shutdown_request(cause);
    }

    fn exit_requested(&self) -> bool {
        self.exit.load(Ordering::SeqCst)
    }

    fn name(&self) -> Option<String> {
        self.info.name.clone()
    }

    fn cpus(&self) -> Vec<CpuInfoFast> {
        self.vcpus
            .iter()
            .map(|v| CpuInfoFast {
                cpu_index: v.index() as i64,
                qom_path: format!("{}[{}]", self.info.hart_qom_prefix, v.index()),
                thread_id: v.thread_id(),
                props: Some(QDict::new().with("core-id", v.index() as i64)),
                target: "riscv64".into(),
            })
            .collect()
    }

    fn machines(&self) -> Vec<MachineInfo> {
        self.info.machines.clone()
    }

    fn block_devices(&self) -> Vec<BlockInfo> {
        (self.info.block_devices)()
    }

    fn read_physical(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryAccessError> {
        if self.space.read(addr, MEMTXATTRS_UNSPECIFIED, buf).is_ok() {
            Ok(())
        } else {
            Err(MemoryAccessError)
        }
    }

    fn read_virtual(&self, cpu: usize, addr: u64, buf: &mut [u8]) -> Result<(), MemoryAccessError> {
        let v = self.vcpu(cpu).ok_or(MemoryAccessError)?;
        let space = self.space.clone();
        let len = buf.len();
        let r = v.with_hart(move |h| {
            let mut data = vec![0u8; len];
            read_virtual_on_hart(h, &space, addr, &mut data).map(|_| data)
        })?;
        buf.copy_from_slice(&r);
        Ok(())
    }

    fn hmp_info(&self, what: &str, args: &[&str], cpu: usize) -> Option<String> {
        match what {
            "registers" => {
                // hmp_info_registers(): `-a` dumps every vCPU, an index
                // that one, otherwise the monitor's current vCPU.
                let all = args.contains(&"-a");
                let chosen: Vec<&VcpuHandle> = if all {
                    self.vcpus.iter().collect()
                } else {
                    let idx = match args.iter().find(|a| !a.starts_with('-')) {
                        Some(n) => n.parse::<i64>().unwrap_or(-1),
                        None => cpu as i64,
                    };
                    match usize::try_from(idx).ok().and_then(|i| self.vcpu(i)) {
                        Some(v) => vec![v],
                        None => return Some(format!("CPU#{idx} not available\n")),
                    }
                };
                let mut out = String::new();
                for v in chosen {
                    let _ = write!(out, "\nCPU#{}\n", v.index());
                    out.push_str(&v.with_hart(|h| dump_hart_state(h)));
                }
                Some(out)
            }
            "mtree" => {
                let opts = MtreeOptions {
                    flatview: args.contains(&"-f"),
                    owner: args.contains(&"-o"),
                    disabled: args.contains(&"-D"),
                    dispatch: args.contains(&"-d"),
                };
                Some(mtree_info(opts))
            }
            "chardev" => {
                let mut out = String::new();
                for (label, filename) in self.chardevs.lock().iter() {
                    let _ = writeln!(out, "{label}: filename={filename}");
                }
                Some(out)
            }
            "qtree" => Some((self.info.qtree)().print()),
            "iothreads" => {
                // QEMU's hmp_info_iothreads(); ferrite has no aio-max-batch
                // (no Linux AIO or io_uring submission batching), which is
                // 0, QEMU's default, here.
                let mut out = String::new();
                for t in ferrite_aio::IoThread::all() {
                    let (max_ns, grow, shrink) = t.ctx().poll_params();
                    let _ = write!(
                        out,
                        "{}:\n  thread_id={}\n  poll-max-ns={max_ns}\n  poll-grow={grow}\n  \
                         poll-shrink={shrink}\n  aio-max-batch=0\n",
                        t.id(),
                        t.native_thread_id()
                    );
                }
                Some(out)
            }
            _ => None,
        }
    }
}
