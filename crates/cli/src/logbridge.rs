//! Routes the `log` crate's records from the device models to QEMU's log
//! (`-d`/`-D`): records with target `guest_errors` or `unimp` (what
//! `ferrite-hw` uses for QEMU's `LOG_GUEST_ERROR` and `LOG_UNIMP`) are
//! written when that item is enabled, as `qemu_log_mask` does; other
//! warnings and errors go to stderr, like QEMU's `warn_report` /
//! `error_report`; anything less severe is dropped.

use ferrite_aio::log::{LogMask, log_enabled, log_write};
use ferrite_hw::mmio::{GUEST_ERROR, UNIMP};

struct Bridge;

impl log::Log for Bridge {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        match m.target() {
            GUEST_ERROR => log_enabled(LogMask::GUEST_ERROR),
            UNIMP => log_enabled(LogMask::UNIMP),
            _ => m.level() <= log::Level::Warn,
        }
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        match r.target() {
            GUEST_ERROR | UNIMP => log_write(format_args!("{}\n", r.args())),
            _ => eprintln!(
                "ferrite: {}: {}",
                r.level().as_str().to_lowercase(),
                r.args()
            ),
        }
    }

    fn flush(&self) {}
}

static BRIDGE: Bridge = Bridge;

/// Installs the bridge (once; later calls do nothing).
pub(crate) fn install() {
    if log::set_logger(&BRIDGE).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}
