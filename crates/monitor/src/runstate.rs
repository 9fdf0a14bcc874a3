//! The VM run state and QEMU's rules for the events its changes emit
//! (QEMU: `softmmu/runstate.c`, `softmmu/cpus.c:vm_stop()/vm_start()`,
//! `monitor/qmp-cmds.c:qmp_cont()`).
//!
//! A board embeds a [`VmRunState`] and calls it from its `MachineControl`
//! implementation after pausing/resuming its vCPUs, so that every monitor
//! sees the events QEMU 7.2 sends, with the same conditions:
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

/// QEMU's `RunState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Stopped by the debugger.
    Debug,
    /// Waiting for an incoming migration.
    InMigrate,
    /// An internal error stopped the VM.
    InternalError,
    /// An I/O error paused the VM.
    IoError,
    /// Paused by `stop`.
    Paused,
    /// Paused after migration.
    PostMigrate,
    /// Not started yet (`-S`).
    Prelaunch,
    /// Finishing migration.
    FinishMigrate,
    /// Restoring a snapshot.
    RestoreVm,
    /// Running.
    Running,
    /// Saving a snapshot.
    SaveVm,
    /// Shut down (with `-no-shutdown`).
    Shutdown,
    /// Suspended (ACPI S3).
    Suspended,
    /// Stopped by a watchdog.
    Watchdog,
    /// The guest panicked.
    GuestPanicked,
    /// COLO.
    Colo,
}

impl RunState {
    /// The wire name (`RunState_str()`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Debug => "debug",
            RunState::InMigrate => "inmigrate",
            RunState::InternalError => "internal-error",
            RunState::IoError => "io-error",
            RunState::Paused => "paused",
            RunState::PostMigrate => "postmigrate",
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

    /// `runstate_needs_reset()`.
    pub fn needs_reset(self) -> bool {
        matches!(
            self,
            RunState::InternalError | RunState::Shutdown | RunState::GuestPanicked
        )
    }
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
        if s.needs_reset() {
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
            RunState::Running | RunState::InMigrate | RunState::FinishMigrate
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
