//! The README's first command, end to end: `ferrite` with no options, the
//! cache seeded from `shared/guests/riscv64`, the console on a
//! pseudo-terminal as a user's terminal would be. It boots to the shell's
//! prompt, runs a command, and `poweroff` ends ferrite with status 0.
//!
//! The same command line is also booted on Debian's `qemu-system-riscv64`
//! as the reference.
//!
//! Skipped (with the reason printed) when the reference guest (or QEMU) is
//! missing, or when this build's `virt` board cannot run yet.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use ferrite_cli::default_run::default_command;
use ferrite_guest::GuestPaths;
use std::sync::mpsc;
use std::time::Duration;

/// A hang guard only; no test measures time.
const HANG_GUARD: Duration = Duration::from_secs(600);

fn reference_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERRITE_REFERENCE_GUEST") {
        return Some(PathBuf::from(p));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/guests/riscv64"))
        .find(|p| p.join("Image").is_file())
}

/// `(master, slave)` of a new pseudo-terminal.
fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the valid locals; the
    // name, termios and winsize arguments may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here only.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

struct Console {
    rx: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Console {
    /// Reads until `pattern` appears; false if the console closed first.
    fn wait_for(&mut self, pattern: &str) -> bool {
        while !self.seen.contains(pattern) {
            match self.rx.recv_timeout(HANG_GUARD) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => return false,
            }
        }
        true
    }
}

/// A process with its stdin, stdout and stderr on a new pseudo-terminal.
struct OnPty {
    child: Child,
    input: File,
    con: Console,
}

impl OnPty {
    fn spawn(mut cmd: Command) -> OnPty {
        let (master, slave) = openpty();
        let child = cmd
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap();
        // The parent's copies of the slave are closed now (`cmd` is
        // consumed), so reading the master ends (EIO) once the child exits.
        drop(cmd);
        let input = File::from(master);
        let mut out = input.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        OnPty {
            child,
            input,
            con: Console {
                rx,
                seen: String::new(),
            },
        }
    }

    fn send(&mut self, text: &str) {
        self.input.write_all(text.as_bytes()).unwrap();
    }

    /// At the shell prompt: runs a command, then `poweroff`; returns the
    /// exit status.
    fn use_shell_and_power_off(&mut self) -> ExitStatus {
        assert!(
            !self.con.seen.contains("could not load"),
            "{}",
            self.con.seen
        );
        assert!(
            self.con.seen.contains("Leave with `poweroff`"),
            "{}",
            self.con.seen
        );
        self.send("echo answer=$((6*7))\n");
        assert!(self.con.wait_for("answer=42"), "{}", self.con.seen);
        self.send("poweroff\n");
        // Read until the console closes: the child has exited.
        while let Ok(chunk) = self.con.rx.recv_timeout(HANG_GUARD) {
            self.con.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        self.child.wait().unwrap()
    }
}

impl Drop for OnPty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A temporary cache seeded from the reference guest.
fn seeded() -> Option<(tempfile::TempDir, PathBuf, GuestPaths)> {
    let Some(from) = reference_dir() else {
        eprintln!("skipped: shared/guests/riscv64 not found (set FERRITE_REFERENCE_GUEST)");
        return None;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cache_home = tmp.path().join("cache");
    let guest_dir = cache_home.join("ferrite/guests/riscv64");
    let paths = ferrite_guest::seed_from_dir(&from, Some(&guest_dir)).unwrap();
    Some((tmp, cache_home, paths))
}

/// `ferrite` with no options, on a pty, at the shell prompt; `None` (with
/// the reason printed) if the test cannot run here.
fn default_run_at_prompt() -> Option<(tempfile::TempDir, OnPty)> {
    let (tmp, cache_home, _) = seeded()?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrite"));
    cmd.env("XDG_CACHE_HOME", &cache_home)
        .env_remove("FERRITE_DEBIAN_MIRROR");
    let mut g = OnPty::spawn(cmd);
    let prompt = g.con.wait_for("guest:/# ");
    if !prompt && g.con.seen.contains("machine 'virt' cannot run yet") {
        eprintln!(
            "skipped: this build's virt board cannot run yet:\n{}",
            g.con.seen
        );
        return None;
    }
    assert!(prompt, "no shell prompt:\n{}", g.con.seen);
    assert!(
        g.con
            .seen
            .contains("ferrite: booting the cached Debian guest"),
        "{}",
        g.con.seen
    );
    Some((tmp, g))
}

#[test]
fn default_run_boots_to_a_shell_and_powers_off() {
    let Some((_tmp, mut g)) = default_run_at_prompt() else {
        return;
    };
    let status = g.use_shell_and_power_off();
    assert!(status.success(), "ferrite: {status}\n{}", g.con.seen);
}

/// The README's other way out: Ctrl-A x stops the emulator at once.
#[test]
fn default_run_ends_on_ctrl_a_x() {
    let Some((_tmp, mut g)) = default_run_at_prompt() else {
        return;
    };
    g.send("\x01x");
    while let Ok(chunk) = g.con.rx.recv_timeout(HANG_GUARD) {
        g.con.seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let status = g.child.wait().unwrap();
    assert!(status.success(), "ferrite: {status}\n{}", g.con.seen);
}

/// The default command line's options, given to Debian's
/// `qemu-system-riscv64`, boot the same guest to the same shell: the
/// reference for what the default run must do.
#[test]
fn default_command_boots_on_qemu() {
    let Some(qemu) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("qemu-system-riscv64"))
            .find(|p| p.is_file())
    }) else {
        eprintln!("skipped: qemu-system-riscv64 is not installed");
        return;
    };
    let Some((_tmp, _, paths)) = seeded() else {
        return;
    };
    let mut cmd = Command::new(qemu);
    cmd.args(default_command(&paths, &[]));
    let mut g = OnPty::spawn(cmd);
    assert!(
        g.con.wait_for("guest:/# "),
        "no shell prompt:\n{}",
        g.con.seen
    );
    let status = g.use_shell_and_power_off();
    assert!(status.success(), "qemu: {status}\n{}", g.con.seen);
}
