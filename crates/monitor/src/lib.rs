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
//! - [`qtree`]: the device tree a board describes for `info qtree`.
//! - [`hmp`]: the human monitor and `human-monitor-command`.
//! - [`readline`]: QEMU's line editor for HMP on a raw terminal.
//! - [`mux`]: the `-serial mon:stdio` multiplexer's escape keys and the
//!   monitor's focus behaviour.
//! - [`server`]: the transports: socket monitors on the monitor IOThread,
//!   stdio monitors on threads, in-band commands dispatched on the main
//!   loop.
//! - [`testing`]: a fake machine implementing `MachineControl`, for tests.

//! # Example
//!
//! A QMP session over any transport: the board implements
//! [`MachineControl`]; a transport creates a [`QmpMonitor`] per socket,
//! feeds it what the client sends and forwards its lines.
//!
//! ```
//! use ferrite_monitor::events::EventBus;
//! use ferrite_monitor::json::JsonMessageParser;
//! use ferrite_monitor::machine::VersionInfo;
//! use ferrite_monitor::qmp::{OutputSink, QmpCore, QmpMonitor};
//! use ferrite_monitor::testing::FakeMachine;
//! use std::sync::{Arc, Mutex};
//!
//! #[derive(Default)]
//! struct Lines(Mutex<Vec<String>>);
//! impl OutputSink for Lines {
//!     fn write_line(&self, line: &[u8]) {
//!         self.0.lock().unwrap().push(String::from_utf8_lossy(line).into_owned());
//!     }
//! }
//!
//! let bus = EventBus::new();
//! let machine = FakeMachine::new(bus.clone(), Some("vm0"), 4096);
//! let core = Arc::new(QmpCore::new(machine, bus, VersionInfo::ferrite()));
//! let out = Arc::new(Lines::default());
//! let mon = QmpMonitor::new(core, out.clone(), false);
//! mon.client_connected(); // sends the greeting
//! let mut parser = JsonMessageParser::new();
//! for msg in parser.feed_collect(br#"{"execute": "qmp_capabilities"}
//!                                    {"execute": "query-name", "id": 1}"#) {
//!     mon.handle(msg);
//! }
//! let lines = out.0.lock().unwrap();
//! assert!(lines[0].starts_with(r#"{"QMP": {"version": "#));
//! assert_eq!(lines[1], "{\"return\": {}}\r\n");
//! assert_eq!(lines[2], "{\"return\": {\"name\": \"vm0\"}, \"id\": 1}\r\n");
//! ```

pub mod commands;
pub mod error;
pub mod events;
pub mod hmp;
pub mod json;
pub mod machine;
pub mod mux;
pub mod qapi;
pub mod qmp;
pub mod qobject;
pub mod qtree;
pub mod readline;
pub mod runstate;
pub mod server;
pub mod testing;

pub use error::{ErrorClass, QmpError};
pub use machine::MachineControl;
pub use qmp::{QmpCore, QmpMonitor};
pub use qobject::{QDict, QObject};
