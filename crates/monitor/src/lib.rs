//! QEMU's monitor for Ferrite: QMP and HMP.
//!
//! QEMU counterpart: `monitor/` (`qmp.c`, `qmp-cmds*.c`, `hmp*.c`,
//! `monitor.c`), `qapi/qmp-dispatch.c`, `qapi/qobject-input-visitor.c` and
//! `qobject/` (JSON and QObjects). See the crate README section in
//! `docs/` and the module docs below.
//!
//! Layers, bottom up:
//! - [`qobject`]: QEMU's value model, including `QDict`'s hash iteration
//!   order (which decides the member order of every reply).
//! - [`json`]: QEMU-compatible streaming JSON input (lexer, streamer,
//!   parser, with QEMU's limits, recovery and error texts) and output.

pub mod json;
pub mod qobject;
