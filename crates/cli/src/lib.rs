//! The `ferrite` command line, in QEMU's syntax (QEMU: `system/vl.c`,
//! `util/qemu-option.c`, `util/keyval.c`).
//!
//! Users and management tools write QEMU command lines, so ferrite accepts
//! them as QEMU 7.2 does and rejects bad ones with QEMU's messages:
//!
//! - [`options`]: the option table (`-machine`, `-m`, `-kernel`, ...), with
//!   one or two leading dashes, arguments always in the next word.
//! - [`opts`]: the two `key=value,...` dialects QEMU has — `QemuOpts`
//!   (`-m`, `-drive`, `-smp`, `-accel`, `-chardev`, ...: a bare `key` means
//!   `key=on`) and the stricter keyval parser (`-machine`, `-object`:
//!   a bare `key` is an error) — with implied keys and `,,` escaping, plus
//!   QEMU's size and boolean syntax.
//! - [`monitors`]: `-qmp`, `-monitor`, `-chardev` + `-mon` turned into
//!   QMP/HMP servers on the main loop.
//! - [`config`]: the parsed command line as a typed [`config::VmConfig`],
//!   with the cross-option checks QEMU makes before it builds a machine.
//! - [`devices`]: `-object iothread`, `-drive` and `-device` checked in
//!   QEMU's order and turned into the `virt` board's virtio devices.
//! - [`default_run`]: `ferrite` with no machine options boots the cached
//!   Debian guest through the same parser (and `--print-default-command`).
//! - [`guest_cmd`]: `ferrite guest fetch|path|list|seed`.
//!
//! Errors are [`CliError`]s whose `Display` is QEMU's text without the
//! program-name prefix; the binary prints `ferrite: <error>` and exits 1.

pub mod config;
pub mod default_run;
pub mod devices;
pub mod guest_cmd;
pub mod monitors;
pub mod options;
pub mod opts;

/// A command-line error, displayed exactly as QEMU 7.2 words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The option and argument the error is about (`-m 12x`), when QEMU
    /// prefixes its message with it.
    pub location: Option<String>,
    /// The message itself; may span several lines.
    pub message: String,
}

impl CliError {
    /// An error tied to the option that caused it.
    pub fn at(location: impl Into<String>, message: impl Into<String>) -> Self {
        CliError {
            location: Some(location.into()),
            message: message.into(),
        }
    }

    /// An error QEMU reports without naming the option.
    pub fn plain(message: impl Into<String>) -> Self {
        CliError {
            location: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CliError {}
