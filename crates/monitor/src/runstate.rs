//! The VM run state and QEMU's rules for the events its changes emit
//! (QEMU: `softmmu/runstate.c`, `softmmu/cpus.c:vm_stop()/vm_start()`,
//! `monitor/qmp-cmds.c:qmp_cont()`).
//!
//! [`RunState`] and [`ShutdownCause`] are the
//! event loop's (`ferrite_aio::runstate`). A board that drives its VM with
//! aio's `vm_start()`/`vm_stop()` connects them to QMP events with
//! [`connect_aio_run_state`]. [`VmRunState`] is a self-contained model of
//! the same rules (used by the fake machine), so that every monitor sees
//! the events QEMU 7.2 sends, with the same conditions:
//! - `stop` only changes state (and emits `STOP`) when running; in
//!   `prelaunch` it is a no-op and the state stays `prelaunch`;
//! - `cont` emits `RESUME` and enters `running`, unless already running
//!   (no event) or the state needs a reset (error "Resetting the Virtual
//!   Machine is required");
//! - a reset emits `RESET` and, when the VM was not running, leaves it in
//!   `prelaunch` (`main_loop_should_exit()`);
//! - a shutdown request emits `SHUTDOWN`; a powerdown request `POWERDOWN`.

use crate::error::QmpError;
use crate::events::{EventBus, QapiEvent, ShutdownCause};
use std::sync::{Arc, Mutex};

pub use ferrite_aio::runstate::RunState;

/// `runstate_needs_reset()`: states only a reset leaves.
pub fn runstate_needs_reset(state: RunState) -> bool {
    matches!(
        state,
        RunState::InternalError | RunState::Shutdown | RunState::GuestPanicked
    )
}

/// Run state plus the event bus it reports changes to.
pub struct VmRunState {
    state: Mutex<RunState>,
    bus: Arc<EventBus>,
}

impl VmRunState {
    /// Start in `initial` (`prelaunch` with `-S`, else `running` once the
    /// machine starts).
    pub fn new(initial: RunState, bus: Arc<EventBus>) -> Self {
        VmRunState {
            state: Mutex::new(initial),
            bus,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state.
    pub fn get(&self) -> RunState {
        *self.lock()
    }

    /// `runstate_is_running()`.
    pub fn is_running(&self) -> bool {
        self.get() == RunState::Running
    }

    /// `vm_stop(state)`: returns whether the VM was running (the caller
    /// then pauses its vCPUs). Emits `STOP` only in that case.
    pub fn vm_stop(&self, new_state: RunState) -> bool {
        let mut s = self.lock();
        if *s != RunState::Running {
            return false;
        }
        *s = new_state;
        drop(s);
        self.bus.emit(QapiEvent::Stop);
        true
    }

    /// `vm_start()`: returns whether the VM was started (the caller then
    /// resumes its vCPUs). `RESUME` is sent before the state changes, as in
    /// QEMU.
    pub fn vm_start(&self) -> bool {
        let mut s = self.lock();
        if *s == RunState::Running {
            return false;
        }
        self.bus.emit(QapiEvent::Resume);
        *s = RunState::Running;
        true
    }

    /// `qmp_cont()`'s checks, then [`VmRunState::vm_start`].
    pub fn cont(&self) -> Result<bool, QmpError> {
        let s = self.get();
        if runstate_needs_reset(s) {
            return Err(QmpError::generic(
                "Resetting the Virtual Machine is required",
            ));
        }
        match s {
            RunState::Suspended => Ok(false),
            RunState::FinishMigrate => Err(QmpError::generic("Migration is not finalized yet")),
            _ => Ok(self.vm_start()),
        }
    }

    /// Report a completed system reset (`qemu_system_reset()` plus the
    /// main loop's follow-up): emits `RESET` and drops a non-running VM to
    /// `prelaunch`.
    pub fn reset_done(&self, cause: ShutdownCause) {
        self.bus.emit(QapiEvent::Reset(cause));
        let mut s = self.lock();
        if !matches!(
            *s,
            RunState::Running | RunState::Inmigrate | RunState::FinishMigrate
        ) {
            *s = RunState::Prelaunch;
        }
    }

    /// `qemu_system_shutdown_request()`: emits `SHUTDOWN`.
    pub fn shutdown_requested(&self, cause: ShutdownCause) {
        self.bus.emit(QapiEvent::Shutdown(cause));
    }

    /// `qemu_system_powerdown_request()`: emits `POWERDOWN`.
    pub fn powerdown_requested(&self) {
        self.bus.emit(QapiEvent::Powerdown);
    }

    /// Set the state without events (e.g. `shutdown` with `-no-shutdown`).
    pub fn set(&self, state: RunState) {
        *self.lock() = state;
    }
}

/// Route the event loop's run-state changes (`ferrite_aio::runstate`) to
/// QMP events on `bus`, for boards that drive their VM with aio's
/// `vm_start()`/`vm_stop()` and main-loop shutdown requests instead of a
/// [`VmRunState`]:
/// - `RESUME`/`STOP` from a VM change-state handler registered at the
///   lowest priority, so `RESUME` precedes every other handler on start and
///   `STOP` follows them on stop, as QEMU orders its events around
///   `vm_state_notify()`;
/// - `SHUTDOWN` from a shutdown notifier (run by `main_loop_should_exit()`).
///
/// Call once per process (aio's shutdown notifiers cannot be removed); keep
/// the returned entry alive for as long as events should flow.
pub fn connect_aio_run_state(bus: Arc<EventBus>) -> ferrite_aio::runstate::VmChangeStateEntry {
    let b = bus.clone();
    ferrite_aio::runstate::add_shutdown_notifier(move |cause| {
        b.emit(QapiEvent::Shutdown(cause));
    });
    ferrite_aio::runstate::add_vm_change_state_handler(i32::MIN, move |running, _state| {
        bus.emit(if running {
            QapiEvent::Resume
        } else {
            QapiEvent::Stop
        });
    })
}
