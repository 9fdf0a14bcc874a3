//! QEMU's monitor for Ferrite: QMP and HMP.
//!
//! QEMU counterpart: `monitor/` (`qmp.c`, `qmp-cmds*.c`, `hmp*.c`,
//! `monitor.c`), `qapi/qmp-dispatch.c`, `qapi/qobject-input-visitor.c`,
//! `qobject/` (JSON and QObjects) and the QAPI schema (`qapi/*.json`).
//!
//! Layers, bottom up:
//! - [`qobject`]: QEMU's value model, including `QDict`'s hash iteration
//!   order (which decides the member order of every reply).
//! - [`json`]: QEMU-compatible streaming JSON input (lexer, streamer,
//!   parser, with QEMU's limits, recovery and error texts) and output.
//! - [`error`], [`qapi`]: error classes and QAPI-style argument checking.
//! - [`events`], [`runstate`]: the event bus feeding every QMP monitor and
//!   QEMU's run-state rules for `STOP`/`RESUME`/`RESET`/`SHUTDOWN`/
//!   `POWERDOWN`.
//! - [`machine`]: [`machine::MachineControl`], the seam the board
//!   implements, and the QAPI data types of the queries.
//! - [`qmp`]: command registry, dispatch, and the per-monitor session
//!   (greeting, capabilities negotiation, `execute`/`exec-oob`, `id`).
//! - [`commands`]: the built-in commands.
//! - [`hmp`]: the human monitor and `human-monitor-command`.
//! - [`server`]: an interim blocking Unix-socket transport (one thread per
//!   connection plus one dispatcher thread standing in for the main loop)
//!   until `ferrite-aio`'s main loop and IOThreads land.
//! - [`testing`]: a fake machine implementing `MachineControl`, for tests.

pub mod commands;
pub mod error;
pub mod events;
pub mod hmp;
pub mod json;
pub mod machine;
pub mod qapi;
pub mod qmp;
pub mod qobject;
pub mod runstate;
pub mod server;
pub mod testing;

pub use error::{ErrorClass, QmpError};
pub use machine::MachineControl;
pub use qmp::{QmpCore, QmpMonitor};
pub use qobject::{QDict, QObject};
