//! Raw mode for the host terminal behind `-nographic` / `-serial stdio`
//! (QEMU: `qemu_chr_set_echo_stdio` and `term_exit` in `chardev/char-stdio.c`).
//!
//! [`enter_raw_mode`] switches a terminal to the mode QEMU uses: no echo, no
//! line editing, no input translation or flow control, 8-bit characters,
//! reads return as soon as one byte is there; output post-processing stays on
//! (so the guest's `\n` still returns the carriage); signals from the keyboard
//! (Ctrl-C) reach the guest unless `allow_signals` (QEMU's `signal=on`).
//!
//! The saved settings are restored on every exit path: when the returned
//! [`RawModeGuard`] is dropped (normal return and unwinding), by
//! [`restore_terminal`] (which the board calls before `exit` on signals), and
//! by an `atexit` handler for `std::process::exit` from anywhere.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Once;

use parking_lot::Mutex;
use rustix::termios::{
    ControlModes, InputModes, LocalModes, OptionalActions, OutputModes, SpecialCodeIndex, Termios,
    isatty, tcgetattr, tcsetattr,
};

/// The terminal to restore and its settings from before raw mode.
static SAVED: Mutex<Option<(OwnedFd, Termios)>> = Mutex::new(None);
static ATEXIT: Once = Once::new();

extern "C" fn restore_at_exit() {
    restore_terminal();
}

/// Restores the terminal saved by [`enter_raw_mode`], if any. Idempotent.
pub fn restore_terminal() {
    if let Some((fd, termios)) = SAVED.lock().take()
        && let Err(e) = tcsetattr(&fd, OptionalActions::Now, &termios)
    {
        log::warn!("cannot restore the terminal settings: {e}");
    }
}

/// Restores the terminal when dropped.
#[derive(Debug)]
#[must_use = "the terminal is restored when the guard is dropped"]
pub struct RawModeGuard(());

impl Drop for RawModeGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The settings QEMU applies to its stdio terminal, derived from `t`.
pub fn raw_settings(t: &Termios, allow_signals: bool) -> Termios {
    let mut t = t.clone();
    t.input_modes -= InputModes::IGNBRK
        | InputModes::BRKINT
        | InputModes::PARMRK
        | InputModes::ISTRIP
        | InputModes::INLCR
        | InputModes::IGNCR
        | InputModes::ICRNL
        | InputModes::IXON;
    t.output_modes |= OutputModes::OPOST;
    t.local_modes -=
        LocalModes::ECHO | LocalModes::ECHONL | LocalModes::ICANON | LocalModes::IEXTEN;
    if !allow_signals {
        t.local_modes -= LocalModes::ISIG;
    }
    t.control_modes -= ControlModes::CSIZE | ControlModes::PARENB;
    t.control_modes |= ControlModes::CS8;
    t.special_codes[SpecialCodeIndex::VMIN] = 1;
    t.special_codes[SpecialCodeIndex::VTIME] = 0;
    t
}

/// Puts terminal `fd` into QEMU's raw mode, remembering its settings for
/// [`restore_terminal`]. Returns `Ok(None)` if `fd` is not a terminal (a pipe
/// or file needs no mode change). Only one terminal is managed at a time.
pub fn enter_raw_mode(fd: impl AsFd, allow_signals: bool) -> io::Result<Option<RawModeGuard>> {
    let fd = fd.as_fd();
    if !isatty(fd) {
        return Ok(None);
    }
    let old = tcgetattr(fd)?;
    let mut saved = SAVED.lock();
    assert!(
        saved.is_none(),
        "enter_raw_mode: a terminal is already in raw mode"
    );
    // Keep our own descriptor so that restoring works whatever the caller does
    // with theirs.
    let own = fd.try_clone_to_owned()?;
    tcsetattr(fd, OptionalActions::Now, &raw_settings(&old, allow_signals))?;
    *saved = Some((own, old));
    drop(saved);
    ATEXIT.call_once(|| {
        // SAFETY: `restore_at_exit` is a plain `extern "C" fn()` that neither
        // unwinds nor calls `exit`; registering it has no other precondition.
        let rc = unsafe { libc::atexit(restore_at_exit) };
        if rc != 0 {
            log::warn!("cannot register the terminal restore handler");
        }
    });
    Ok(Some(RawModeGuard(())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

    fn pty_pair() -> (OwnedFd, std::fs::File) {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap();
        (master, slave)
    }

    // One test drives the whole life cycle: SAVED is process-global.
    #[test]
    fn raw_mode_is_applied_and_restored() {
        let (_master, slave) = pty_pair();
        let before = tcgetattr(&slave).unwrap();
        assert!(
            before
                .local_modes
                .contains(LocalModes::ECHO | LocalModes::ICANON)
        );

        let guard = enter_raw_mode(&slave, false)
            .unwrap()
            .expect("a pty is a terminal");
        let raw = tcgetattr(&slave).unwrap();
        assert!(
            !raw.local_modes
                .intersects(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG)
        );
        assert!(
            !raw.input_modes
                .intersects(InputModes::ICRNL | InputModes::IXON)
        );
        assert!(
            raw.output_modes.contains(OutputModes::OPOST),
            "\\n still returns the carriage"
        );
        assert_eq!(raw.special_codes[SpecialCodeIndex::VMIN], 1);
        drop(guard);
        let after = tcgetattr(&slave).unwrap();
        assert_eq!(after.local_modes, before.local_modes);
        assert_eq!(after.input_modes, before.input_modes);

        // restore_terminal() works on its own and is idempotent.
        let g = enter_raw_mode(&slave, true).unwrap().unwrap();
        assert!(
            tcgetattr(&slave)
                .unwrap()
                .local_modes
                .contains(LocalModes::ISIG),
            "signal=on"
        );
        restore_terminal();
        restore_terminal();
        assert_eq!(tcgetattr(&slave).unwrap().local_modes, before.local_modes);
        drop(g);

        // Not a terminal: nothing to do.
        let (r, _w) = rustix::pipe::pipe().unwrap();
        assert!(enter_raw_mode(&r, false).unwrap().is_none());
    }
}
