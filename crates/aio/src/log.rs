//! QEMU's debug log (`util/log.c`): the `-d` categories and the `-D` file.
//!
//! A category check is one relaxed atomic load, cheap enough for the vCPU
//! loop and MMIO paths; formatting only happens when the category is on.
//! Output goes to the file set with [`set_log_filename`] (QEMU's `-D`), or to
//! stderr.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

/// The `-d` log categories, as bits of the log mask (QEMU's `CPU_LOG_*` and
/// `LOG_*` constants; the bit values are ours).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogMask(pub u32);

impl LogMask {
    /// `in_asm`: show target assembly code for each compiled TB.
    pub const IN_ASM: LogMask = LogMask(1 << 0);
    /// `int`: show interrupts and exceptions.
    pub const INT: LogMask = LogMask(1 << 1);
    /// `exec`: show trace before each executed TB.
    pub const EXEC: LogMask = LogMask(1 << 2);
    /// `mmu`: log MMU-related activities.
    pub const MMU: LogMask = LogMask(1 << 3);
    /// `guest_errors`: log when the guest OS does something invalid.
    pub const GUEST_ERROR: LogMask = LogMask(1 << 4);
    /// `unimp`: log unimplemented functionality.
    pub const UNIMP: LogMask = LogMask(1 << 5);
    /// `cpu`: show CPU registers before entering a TB.
    pub const CPU: LogMask = LogMask(1 << 6);
    /// `op`: show the IR generated for each TB.
    pub const OP: LogMask = LogMask(1 << 7);

    /// Whether any bit of `other` is in `self`.
    pub const fn intersects(self, other: LogMask) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for LogMask {
    type Output = LogMask;
    fn bitor(self, rhs: LogMask) -> LogMask {
        LogMask(self.0 | rhs.0)
    }
}

/// The categories `-d` accepts, with QEMU's names and help texts, in the
/// order `-d help` prints them.
pub const LOG_ITEMS: &[(LogMask, &str, &str)] = &[
    (
        LogMask::IN_ASM,
        "in_asm",
        "show target assembly code for each compiled TB",
    ),
    (LogMask::OP, "op", "show micro ops for each compiled TB"),
    (
        LogMask::INT,
        "int",
        "show interrupts/exceptions in short format",
    ),
    (
        LogMask::EXEC,
        "exec",
        "show trace before each executed TB (lots of logs)",
    ),
    (
        LogMask::CPU,
        "cpu",
        "show CPU registers before entering a TB (lots of logs)",
    ),
    (LogMask::MMU, "mmu", "log MMU-related activities"),
    (
        LogMask::GUEST_ERROR,
        "guest_errors",
        "log when the guest OS does something invalid (eg accessing a\nnon-existent register)",
    ),
    (LogMask::UNIMP, "unimp", "log unimplemented functionality"),
];

static MASK: AtomicU32 = AtomicU32::new(0);
static FILE: Mutex<Option<File>> = Mutex::new(None);

/// Error from [`parse_log_items`]: the named category does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLogItem(pub String);

impl std::fmt::Display for UnknownLogItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown log item '{}' (try '-d help')", self.0)
    }
}

impl std::error::Error for UnknownLogItem {}

/// Parses a `-d` argument such as `in_asm,int` (QEMU's
/// `qemu_str_to_log_mask`). `all` selects every category.
pub fn parse_log_items(s: &str) -> Result<LogMask, UnknownLogItem> {
    let mut mask = 0;
    for item in s.split(',').filter(|i| !i.is_empty()) {
        if item == "all" {
            mask |= LOG_ITEMS.iter().fold(0, |m, (b, _, _)| m | b.0);
            continue;
        }
        match LOG_ITEMS.iter().find(|(_, name, _)| *name == item) {
            Some((bit, _, _)) => mask |= bit.0,
            None => return Err(UnknownLogItem(item.to_owned())),
        }
    }
    Ok(LogMask(mask))
}

/// Sets the active categories (QEMU's `qemu_set_log`).
pub fn set_log_mask(mask: LogMask) {
    MASK.store(mask.0, Ordering::Relaxed);
}

/// The active categories.
pub fn log_mask() -> LogMask {
    LogMask(MASK.load(Ordering::Relaxed))
}

/// Whether any of `mask`'s categories is on (QEMU's `qemu_loglevel_mask`).
#[inline]
pub fn log_enabled(mask: LogMask) -> bool {
    MASK.load(Ordering::Relaxed) & mask.0 != 0
}

/// Sends log output to `path` instead of stderr (QEMU's `-D`). The file is
/// created or truncated.
pub fn set_log_filename(path: &std::path::Path) -> std::io::Result<()> {
    let f = File::create(path)?;
    *FILE.lock() = Some(f);
    Ok(())
}

/// Writes pre-formatted text to the log. Use [`qemu_log_mask!`](crate::qemu_log_mask)
/// rather than calling this directly.
pub fn log_write(args: std::fmt::Arguments<'_>) {
    let mut file = FILE.lock();
    // Log output is best effort, as in QEMU: a full disk must not stop the
    // guest.
    match file.as_mut() {
        Some(f) => {
            let _ = f.write_fmt(args);
        }
        None => {
            let _ = std::io::stderr().lock().write_fmt(args);
        }
    }
}

/// Logs a line if any of the given categories is enabled (QEMU's
/// `qemu_log_mask`). The text is formatted only when it will be written.
///
/// ```
/// use ferrite_aio::{qemu_log_mask, log::LogMask};
/// qemu_log_mask!(LogMask::GUEST_ERROR, "bad register offset {:#x}\n", 0x40);
/// ```
#[macro_export]
macro_rules! qemu_log_mask {
    ($mask:expr, $($arg:tt)*) => {
        if $crate::log::log_enabled($mask) {
            $crate::log::log_write(format_args!($($arg)*));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_items() {
        assert_eq!(
            parse_log_items("in_asm,int").unwrap(),
            LogMask::IN_ASM | LogMask::INT
        );
        assert_eq!(
            parse_log_items("guest_errors").unwrap(),
            LogMask::GUEST_ERROR
        );
        assert_eq!(
            parse_log_items("in_asm,bogus"),
            Err(UnknownLogItem("bogus".into()))
        );
        let all = parse_log_items("all").unwrap();
        for (bit, _, _) in LOG_ITEMS {
            assert!(all.intersects(*bit));
        }
    }
}
