//! The host terminal is restored when the process exits through
//! `std::process::exit` while in raw mode (how `sifive_test` power-off and
//! `C-a x` end the emulator). The test re-runs its own binary as the child
//! that changes the terminal, and checks a pty's settings afterwards.

use std::os::fd::OwnedFd;
use std::process::Command;

use ferrite_hw::chardev::terminal::{enter_raw_mode, raw_settings};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

const CHILD: &str = "FERRITE_TERMINAL_CHILD";
const MODE: &str = "FERRITE_TERMINAL_CHILD_MODE";

fn run_child_if_asked() {
    let Ok(path) = std::env::var(CHILD) else {
        return;
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    if std::env::var(MODE).as_deref() == Ok("manual") {
        // The control: raw mode set by hand, never restored.
        let t = tcgetattr(&tty).unwrap();
        tcsetattr(&tty, OptionalActions::Now, &raw_settings(&t, false)).unwrap();
    } else {
        // Leak the guard: only the exit handler can restore the terminal now.
        std::mem::forget(enter_raw_mode(&tty, false).unwrap().unwrap());
    }
    std::process::exit(3);
}

fn child_exits_leaving(mode: &str) -> LocalModes {
    let master: OwnedFd = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap().into_string().unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&name)
        .unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "process_exit_restores_the_terminal",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &name)
        .env(MODE, mode)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3), "child ran and exited");
    tcgetattr(&slave).unwrap().local_modes
}

#[test]
fn process_exit_restores_the_terminal() {
    run_child_if_asked();
    let cooked = LocalModes::ECHO | LocalModes::ICANON;
    assert!(
        child_exits_leaving("guard").contains(cooked),
        "restored by the exit handler"
    );
    assert!(
        !child_exits_leaving("manual").intersects(cooked),
        "control: not restored without it"
    );
}
