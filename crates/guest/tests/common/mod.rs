//! Helpers shared by the integration tests: finding the reference guest and
//! Debian's `qemu-system-riscv64`, and driving a guest's serial console.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ferrite_guest::GuestPaths;

/// A hang guard only (a boot normally finishes in well under a minute); no
/// test measures time.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// `shared/guests/riscv64` beside (or above) the repository, or
/// `FERRITE_REFERENCE_GUEST`.
pub fn reference_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERRITE_REFERENCE_GUEST") {
        return Some(PathBuf::from(p));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/guests/riscv64"))
        .find(|p| p.join("Image").is_file())
}

/// `qemu-system-riscv64` on `PATH`.
pub fn qemu() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("qemu-system-riscv64"))
            .find(|p| p.is_file())
    })
}

/// A QEMU process running a guest, killed if the test ends early.
pub struct Guest {
    child: Child,
    input: Box<dyn Write + Send>,
    rx: mpsc::Receiver<Vec<u8>>,
    /// Everything the console printed so far.
    pub seen: String,
}

impl Guest {
    fn command(qemu: &Path, p: &GuestPaths, append: &str) -> Command {
        let mut c = Command::new(qemu);
        c.args(["-M", "virt", "-m", "512", "-nographic", "-no-reboot"])
            .arg("-bios")
            .arg(&p.bios)
            .arg("-kernel")
            .arg(&p.kernel)
            .arg("-initrd")
            .arg(&p.initrd)
            .args(["-append", append])
            .stderr(Stdio::inherit());
        c
    }

    /// Boots `p` the way the reference guest is booted, console on pipes.
    pub fn boot(qemu: &Path, p: &GuestPaths, append: &str) -> Guest {
        let mut child = Self::command(qemu, p, append)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start qemu");
        let out = child.stdout.take().unwrap();
        let input = Box::new(child.stdin.take().unwrap());
        Self::with_console(child, input, out)
    }

    /// Boots `p` with the console on a pseudo-terminal, as a user's terminal
    /// would be (QEMU switches it to raw mode and handles Ctrl-A itself).
    pub fn boot_pty(qemu: &Path, p: &GuestPaths, append: &str) -> Guest {
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
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let child = Self::command(qemu, p, append)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave))
            .spawn()
            .expect("start qemu");
        // The parent's copies of the slave are closed now, so reads on the
        // master end (EIO) once QEMU exits.
        let master = File::from(master);
        let out = master.try_clone().unwrap();
        Self::with_console(child, Box::new(master), out)
    }

    fn with_console(
        child: Child,
        input: Box<dyn Write + Send>,
        mut out: impl Read + Send + 'static,
    ) -> Guest {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Guest {
            child,
            input,
            rx,
            seen: String::new(),
        }
    }

    /// Reads the console until `pattern` appears; false if the console
    /// closed (or hung) first.
    pub fn wait_for(&mut self, pattern: &str) -> bool {
        while !self.seen.contains(pattern) {
            match self.rx.recv_timeout(HANG_GUARD) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => return false,
            }
        }
        true
    }

    /// Types `text` on the console.
    pub fn send(&mut self, text: &str) {
        self.input.write_all(text.as_bytes()).unwrap();
        self.input.flush().unwrap();
    }

    /// Reads the console until it closes, then waits for QEMU to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        while let Ok(chunk) = self.rx.recv_timeout(HANG_GUARD) {
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Boots with `guest.poweroff` and checks the guest reports and powers off.
pub fn check_boot_and_poweroff(qemu: &Path, p: &GuestPaths) {
    let mut g = Guest::boot(qemu, p, "console=ttyS0 panic=-1 guest.poweroff");
    let status = g.wait_exit();
    let seen = &g.seen;
    assert!(seen.contains("GUEST-BOOTED uptime="), "{seen}");
    assert!(
        !seen.contains("could not load"),
        "a module failed to load:\n{seen}"
    );
    assert!(!seen.contains("Kernel panic"), "{seen}");
    assert!(status.success(), "qemu: {status}\n{seen}");
    // Powered off right after the marker: no shell was started.
    assert!(!seen.contains("guest:/#"), "{seen}");
}
