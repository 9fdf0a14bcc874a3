//! Run state and VM start/stop (`system/runstate.c`, `system/cpus.c`).
//!
//! The run state is changed only in the main loop thread; other threads
//! (vCPUs, signal handlers, QMP in an IOThread) post *requests* and notify
//! the main loop, which acts on them in [`main_loop_should_exit`]
//! (see [`crate::main_loop`]).
//!
//! [`vm_start`] / [`vm_stop`] drive the VIRTUAL clock: stopping freezes its
//! value and disables its timers (waiting for running callbacks); starting
//! resumes it from the frozen value. They pause and resume every vCPU
//! registered in [`crate::cpus`]; device models hook in through
//! [`add_vm_change_state_handler`].
//!
//! [`main_loop_should_exit`]: crate::main_loop::main_loop_should_exit

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use parking_lot::Mutex;

use crate::timer::{ClockType, QemuClock, cpu_disable_ticks, cpu_enable_ticks};

/// QEMU's `RunState` (QAPI names in [`RunState::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum RunState {
    Debug,
    Inmigrate,
    InternalError,
    IoError,
    Paused,
    Postmigrate,
    Prelaunch,
    FinishMigrate,
    RestoreVm,
    Running,
    SaveVm,
    Shutdown,
    Suspended,
    Watchdog,
    GuestPanicked,
    Colo,
}

impl RunState {
    /// The QAPI name (`query-status`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Debug => "debug",
            RunState::Inmigrate => "inmigrate",
            RunState::InternalError => "internal-error",
            RunState::IoError => "io-error",
            RunState::Paused => "paused",
            RunState::Postmigrate => "postmigrate",
            RunState::Prelaunch => "prelaunch",
            RunState::FinishMigrate => "finish-migrate",
            RunState::RestoreVm => "restore-vm",
            RunState::Running => "running",
            RunState::SaveVm => "save-vm",
            RunState::Shutdown => "shutdown",
            RunState::Suspended => "suspended",
            RunState::Watchdog => "watchdog",
            RunState::GuestPanicked => "guest-panicked",
            RunState::Colo => "colo",
        }
    }

    fn from_u32(v: u32) -> RunState {
        ALL_STATES[v as usize]
    }
}

const ALL_STATES: [RunState; 16] = [
    RunState::Debug,
    RunState::Inmigrate,
    RunState::InternalError,
    RunState::IoError,
    RunState::Paused,
    RunState::Postmigrate,
    RunState::Prelaunch,
    RunState::FinishMigrate,
    RunState::RestoreVm,
    RunState::Running,
    RunState::SaveVm,
    RunState::Shutdown,
    RunState::Suspended,
    RunState::Watchdog,
    RunState::GuestPanicked,
    RunState::Colo,
];

/// QEMU's `ShutdownCause`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ShutdownCause {
    None = 0,
    HostError,
    HostQmpQuit,
    HostQmpSystemReset,
    HostSignal,
    HostUi,
    GuestShutdown,
    GuestReset,
    GuestPanic,
    SubsystemReset,
    SnapshotLoad,
}

impl ShutdownCause {
    pub(crate) fn from_i32(v: i32) -> ShutdownCause {
        use ShutdownCause::*;
        [
            None,
            HostError,
            HostQmpQuit,
            HostQmpSystemReset,
            HostSignal,
            HostUi,
            GuestShutdown,
            GuestReset,
            GuestPanic,
            SubsystemReset,
            SnapshotLoad,
        ]
        .get(v as usize)
        .copied()
        .unwrap_or(None)
    }

    /// The QAPI name.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownCause::None => "none",
            ShutdownCause::HostError => "host-error",
            ShutdownCause::HostQmpQuit => "host-qmp-quit",
            ShutdownCause::HostQmpSystemReset => "host-qmp-system-reset",
            ShutdownCause::HostSignal => "host-signal",
            ShutdownCause::HostUi => "host-ui",
            ShutdownCause::GuestShutdown => "guest-shutdown",
            ShutdownCause::GuestReset => "guest-reset",
            ShutdownCause::GuestPanic => "guest-panic",
            ShutdownCause::SubsystemReset => "subsystem-reset",
            ShutdownCause::SnapshotLoad => "snapshot-load",
        }
    }
}

static CURRENT_STATE: AtomicU32 = AtomicU32::new(RunState::Prelaunch as u32);

/// `runstate_get`.
pub fn runstate_get() -> RunState {
    RunState::from_u32(CURRENT_STATE.load(Ordering::Acquire))
}

/// `runstate_check`.
pub fn runstate_check(state: RunState) -> bool {
    runstate_get() == state
}

/// `runstate_is_running`.
pub fn runstate_is_running() -> bool {
    runstate_check(RunState::Running)
}

/// `runstate_set`. (QEMU validates transitions against a table; Ferrite
/// accepts any transition, see docs/divergences.md.)
pub fn runstate_set(state: RunState) {
    CURRENT_STATE.store(state as u32, Ordering::Release);
}

type ChangeHandler = Arc<dyn Fn(bool, RunState) + Send + Sync>;

struct HandlerEntry {
    id: u64,
    priority: i32,
    cb: ChangeHandler,
}

static HANDLERS: Mutex<Vec<HandlerEntry>> = Mutex::new(Vec::new());
static NEXT_HANDLER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A registered VM change-state handler; dropping it unregisters.
#[derive(Debug)]
pub struct VmChangeStateEntry(u64);

impl Drop for VmChangeStateEntry {
    fn drop(&mut self) {
        HANDLERS.lock().retain(|h| h.id != self.0);
    }
}

/// `qemu_add_vm_change_state_handler_prio`: `cb(running, state)` runs on
/// every start (in increasing priority order) and stop (decreasing order).
pub fn add_vm_change_state_handler(
    priority: i32,
    cb: impl Fn(bool, RunState) + Send + Sync + 'static,
) -> VmChangeStateEntry {
    let id = NEXT_HANDLER.fetch_add(1, Ordering::Relaxed);
    HANDLERS.lock().push(HandlerEntry {
        id,
        priority,
        cb: Arc::new(cb),
    });
    VmChangeStateEntry(id)
}

fn vm_state_notify(running: bool, state: RunState) {
    let mut hs: Vec<(i32, u64, ChangeHandler)> = HANDLERS
        .lock()
        .iter()
        .map(|h| (h.priority, h.id, Arc::clone(&h.cb)))
        .collect();
    hs.sort_by_key(|h| (h.0, h.1));
    if !running {
        hs.reverse();
    }
    for (_, _, cb) in hs {
        cb(running, state);
    }
}

/// `vm_start`: resumes VIRTUAL time (from its frozen value), enables the
/// VIRTUAL clock, sets `running` and resumes the vCPUs. No-op if running.
/// Call with the BQL held, from the main loop thread.
pub fn vm_start() {
    if runstate_is_running() {
        return;
    }
    cpu_enable_ticks();
    runstate_set(RunState::Running);
    vm_state_notify(true, RunState::Running);
    QemuClock::enable(ClockType::Virtual, true);
    crate::cpus::resume_all_vcpus();
}

/// `vm_stop` / `do_vm_stop` (BQL held): pauses the vCPUs, freezes VIRTUAL time,
/// disables the VIRTUAL clock (waiting for its running callbacks), sets
/// `state` and notifies handlers. If not running, only sets `state`.
///
/// From a vCPU thread (one with a [`current_cpu`](crate::cpus::current_cpu))
/// it does what QEMU's does there: it posts a vmstop request for the main
/// loop and stops only the calling vCPU (`cpu_stop_current`); the main
/// loop then stops the VM.
///
/// Order: the vCPUs are paused *before* VIRTUAL time is frozen (QEMU
/// freezes ticks first, then waits for the vCPUs), so no vCPU ever runs
/// with a frozen clock; see docs/divergences.md.
///
/// # Panics
/// From inside a VIRTUAL timer callback (it would deadlock); use
/// [`qemu_system_vmstop_request`](crate::main_loop::qemu_system_vmstop_request).
pub fn vm_stop(state: RunState) {
    if crate::cpus::current_cpu().is_some() {
        crate::main_loop::qemu_system_vmstop_request(state);
        crate::cpus::cpu_stop_current();
        return;
    }
    if !runstate_is_running() {
        runstate_set(state);
        return;
    }
    crate::cpus::pause_all_vcpus();
    cpu_disable_ticks();
    QemuClock::enable(ClockType::Virtual, false);
    runstate_set(state);
    vm_state_notify(false, state);
}

pub(crate) static SHUTDOWN_REQUESTED: AtomicI32 = AtomicI32::new(0);
pub(crate) static RESET_REQUESTED: AtomicI32 = AtomicI32::new(0);
/// vmstop request: RunState index + 1, 0 = none.
pub(crate) static VMSTOP_REQUESTED: AtomicU32 = AtomicU32::new(0);
/// Signal number of a SIGINT/SIGTERM/SIGHUP, 0 = none.
pub(crate) static SHUTDOWN_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The sender's pid of that signal (`siginfo.si_pid`).
pub(crate) static SHUTDOWN_PID: AtomicI32 = AtomicI32::new(0);
/// The last host signal that caused a shutdown, as (signal, pid).
pub(crate) static KILLED_BY: Mutex<Option<(i32, i32)>> = Mutex::new(None);
static SHUTDOWN_ACTION_PAUSE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The host signal (and sender pid, 0 if unknown) that caused the last
/// shutdown, for the CLI's "terminating on signal N from pid P" report
/// (`qemu_kill_report`).
pub fn shutdown_signal_info() -> Option<(i32, i32)> {
    *KILLED_BY.lock()
}

/// `-action shutdown=pause` / `-no-shutdown`: a shutdown request stops the
/// VM (state `shutdown`) instead of ending the main loop.
pub fn set_shutdown_action_pause(pause: bool) {
    SHUTDOWN_ACTION_PAUSE.store(pause, Ordering::Release);
}

pub(crate) fn shutdown_action_pause() -> bool {
    SHUTDOWN_ACTION_PAUSE.load(Ordering::Acquire)
}

type ShutdownNotifier = Arc<dyn Fn(ShutdownCause) + Send + Sync>;
static SHUTDOWN_NOTIFIERS: Mutex<Vec<ShutdownNotifier>> = Mutex::new(Vec::new());

/// `qemu_register_shutdown_notifier`: `cb(cause)` runs in the main loop for
/// every shutdown request (before the loop exits or the VM pauses); the QMP
/// monitor emits its `SHUTDOWN` event from here.
pub fn add_shutdown_notifier(cb: impl Fn(ShutdownCause) + Send + Sync + 'static) {
    SHUTDOWN_NOTIFIERS.lock().push(Arc::new(cb));
}

pub(crate) fn notify_shutdown(cause: ShutdownCause) {
    let ns: Vec<_> = SHUTDOWN_NOTIFIERS.lock().clone();
    for n in ns {
        n(cause);
    }
}

/// `qemu_shutdown_requested_get`.
pub fn shutdown_requested() -> ShutdownCause {
    ShutdownCause::from_i32(SHUTDOWN_REQUESTED.load(Ordering::Acquire))
}

pub(crate) fn vmstop_state(v: u32) -> RunState {
    RunState::from_u32(v - 1)
}
