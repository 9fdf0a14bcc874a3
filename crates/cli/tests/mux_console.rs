//! `-serial mon:stdio` and `-nographic` as a person uses them: ferrite on a
//! pseudo-terminal, a bare-metal echo program on the `virt` board's UART,
//! Ctrl-A c into the HMP monitor, commands typed there, Ctrl-A c back to
//! the guest, Ctrl-A x to quit. The same keys go to Debian's
//! `qemu-system-riscv64` (when installed) and the two transcripts must be
//! identical apart from the version in the monitor's banner.
//!
//! Nothing is timed: the test waits for the text it expects before typing
//! on (with a hang guard only).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const FERRITE: &str = env!("CARGO_BIN_EXE_ferrite");

/// A hang guard only; no test measures time.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// Echoes every byte the UART receives (NS16550A at 0x1000_0000: wait for
/// LSR.DR, read RBR, write THR).
const ECHO_PROGRAM: &str = r#"
    .section .text.init
    .globl _start
_start:
    li t0, 0x10000000
1:  lbu t1, 5(t0)
    andi t1, t1, 1
    beqz t1, 1b
    lbu t2, 0(t0)
    sb t2, 0(t0)
    j 1b
"#;

const LINKER_SCRIPT: &str =
    "ENTRY(_start)\nSECTIONS { . = 0x80000000; .text : { *(.text.init) *(.text*) } }\n";

fn assemble(dir: &Path) -> PathBuf {
    let s = dir.join("echo.S");
    let ld = dir.join("link.ld");
    let elf = dir.join("echo.elf");
    std::fs::write(&s, ECHO_PROGRAM).unwrap();
    std::fs::write(&ld, LINKER_SCRIPT).unwrap();
    let st = Command::new("riscv64-unknown-elf-gcc")
        .args(["-march=rv64gc", "-mabi=lp64", "-nostdlib", "-nostartfiles"])
        .arg("-T")
        .arg(&ld)
        .arg(&s)
        .arg("-o")
        .arg(&elf)
        .status()
        .expect("riscv64-unknown-elf-gcc is needed for this test (CI installs it)");
    assert!(st.success(), "assembling the echo program failed");
    elf
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

/// A process with its stdin, stdout and stderr on a new pseudo-terminal.
struct OnPty {
    child: Child,
    input: File,
    rx: mpsc::Receiver<Vec<u8>>,
    /// Everything the terminal showed so far.
    seen: Vec<u8>,
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
        // The parent's slave copies go with `cmd`, so reading the master
        // ends (EIO) once the child has exited.
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
        let t = OnPty {
            child,
            input,
            rx,
            seen: Vec::new(),
        };
        t.wait_for_raw_mode();
        t
    }

    /// Keys typed before the emulator puts the terminal in raw mode would
    /// be echoed by the line discipline itself: wait until echo is off
    /// (`tcgetattr` on the master reads the slave's settings).
    fn wait_for_raw_mode(&self) {
        use std::os::fd::AsRawFd;
        loop {
            // SAFETY: termios is plain data; all zeroes is a valid value.
            let mut t: libc::termios = unsafe { std::mem::zeroed() };
            // SAFETY: `t` is a valid out-parameter and the master
            // descriptor is open for the life of `self`.
            let r = unsafe { libc::tcgetattr(self.input.as_raw_fd(), &mut t) };
            assert_eq!(r, 0, "tcgetattr: {}", std::io::Error::last_os_error());
            if t.c_lflag & libc::ECHO == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn send(&mut self, keys: &[u8]) {
        self.input.write_all(keys).unwrap();
    }

    /// Reads until what arrived after byte `from` ends with `tail`.
    fn wait_for(&mut self, from: usize, tail: &[u8]) {
        while !self.seen[from..].ends_with(tail) {
            match self.rx.recv_timeout(HANG_GUARD) {
                Ok(chunk) => self.seen.extend(chunk),
                Err(_) => panic!(
                    "waiting for {:?}; the terminal shows {:?}",
                    String::from_utf8_lossy(tail),
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    /// Types `keys` and waits for the terminal to show `shown` after them.
    fn type_and_see(&mut self, keys: &[u8], shown: &[u8]) {
        let from = self.seen.len();
        self.send(keys);
        self.wait_for(from, shown);
    }

    /// Reads until the terminal closes, then reaps the process.
    fn finish(mut self) -> (Vec<u8>, ExitStatus) {
        while let Ok(chunk) = self.rx.recv_timeout(HANG_GUARD) {
            self.seen.extend(chunk);
        }
        let st = self.child.wait().unwrap();
        (std::mem::take(&mut self.seen), st)
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

/// readline's echo of `text` typed at an empty prompt, key by key.
fn echo(text: &str) -> String {
    let mut out = String::new();
    for i in 1..=text.len() {
        out += &"\x1b[D".repeat(i - 1);
        out += &text[..i];
        out += "\x1b[K";
    }
    out
}

/// The session, typed into `emu` (ferrite or QEMU) with `args`; returns
/// the transcript and the exit status.
fn session(emu: &str, args: &[&str], kernel: &Path, ctrl_c_to_guest: bool) -> (String, ExitStatus) {
    let mut cmd = Command::new(emu);
    cmd.args(["-M", "virt", "-m", "128", "-bios", "none", "-kernel"])
        .arg(kernel)
        .args(args);
    let mut t = OnPty::spawn(cmd);
    // The guest echoes, so a typed key shows once the guest runs.
    t.type_and_see(b"a", b"a");
    t.type_and_see(b"bc", b"bc");
    if ctrl_c_to_guest {
        // Ctrl-C is the guest's (signal=off on mon:stdio).
        t.type_and_see(b"\x03", b"\x03");
    }
    t.type_and_see(b"\x01c", b"(qemu) ");
    t.type_and_see(b"info status\r", b"(qemu) ");
    t.type_and_see(b"stop\r", b"(qemu) ");
    t.type_and_see(b"info status\r", b"(qemu) ");
    // Typed while the guest is stopped: the monitor's, not the guest's.
    t.type_and_see(b"xyz\r", b"(qemu) ");
    t.type_and_see(b"cont\r", b"(qemu) ");
    t.type_and_see(b"info status\r", b"(qemu) ");
    t.type_and_see(b"\x01c", b"\r\r\n");
    t.type_and_see(b"q", b"q");
    t.type_and_see(b"\x01h", b"C-a C-a  sends C-a\r\n\r");
    t.send(b"\x01x");
    let (seen, st) = t.finish();
    (String::from_utf8_lossy(&seen).into_owned(), st)
}

fn expected(version: &str, ctrl_c_to_guest: bool) -> String {
    let l = |s: &str| format!("{}\r\r\n", echo(s));
    let mut w = String::from(if ctrl_c_to_guest { "abc\x03" } else { "abc" });
    w += &format!("QEMU {version} monitor - type 'help' for more information\r\r\n(qemu) ");
    w += &l("info status");
    w += "VM status: running\r\r\n(qemu) ";
    w += &l("stop");
    w += "(qemu) ";
    w += &l("info status");
    w += "VM status: paused\r\r\n(qemu) ";
    w += &l("xyz");
    w += "unknown command: 'xyz'\r\r\n(qemu) ";
    w += &l("cont");
    w += "(qemu) ";
    w += &l("info status");
    w += "VM status: running\r\r\n(qemu) ";
    w += "\r\r\n";
    w += "q";
    w += "\r\n\rC-a h    print this help\r\n\r\
C-a x    exit emulator\r\n\r\
C-a s    save disk data back to file (if -snapshot)\r\n\r\
C-a t    toggle console timestamps\r\n\r\
C-a b    send break (magic sysrq)\r\n\r\
C-a c    switch between console and monitor\r\n\r\
C-a C-a  sends C-a\r\n\r";
    w += "QEMU: Terminated\r\n\r";
    w
}

fn have_gcc() -> bool {
    Command::new("riscv64-unknown-elf-gcc")
        .arg("--version")
        .output()
        .is_ok()
}

fn ferrite_version() -> String {
    let v = ferrite_monitor::machine::VersionInfo::ferrite();
    format!("{}.{}.{}", v.major, v.minor, v.micro)
}

#[test]
fn nographic_muxes_console_and_monitor() {
    if !have_gcc() {
        eprintln!("skipped: riscv64-unknown-elf-gcc not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path());
    let (seen, st) = session(FERRITE, &["-nographic"], &elf, true);
    assert_eq!(seen, expected(&ferrite_version(), true));
    assert!(st.success(), "{st:?}");
}

#[test]
fn serial_mon_stdio_with_a_qmp_socket_too() {
    if !have_gcc() {
        eprintln!("skipped: riscv64-unknown-elf-gcc not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path());
    let sock = dir.path().join("q.sock");
    let qmp = format!("unix:{},server=on,wait=off", sock.display());
    let (seen, st) = session(
        FERRITE,
        &["-display", "none", "-serial", "mon:stdio", "-qmp", &qmp],
        &elf,
        true,
    );
    assert_eq!(seen, expected(&ferrite_version(), true));
    assert!(st.success(), "{st:?}");
}

/// The same keys into QEMU 7.2 give the same transcript.
#[test]
fn same_session_on_qemu() {
    let qemu = "qemu-system-riscv64";
    let Ok(out) = Command::new(qemu).arg("--version").output() else {
        eprintln!("skipped: {qemu} not installed");
        return;
    };
    if !have_gcc() {
        eprintln!("skipped: riscv64-unknown-elf-gcc not installed");
        return;
    }
    // "QEMU emulator version 7.2.22 (Debian ...)"
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = text
        .split_whitespace()
        .nth(3)
        .expect("a version in qemu --version")
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path());
    let (seen, st) = session(qemu, &["-nographic"], &elf, true);
    assert_eq!(seen, expected(&version, true));
    assert!(st.success(), "{st:?}");
    let (seen, st) = session(qemu, SHARED_MUX, &elf, false);
    assert_eq!(seen, expected(&version, false));
    assert!(st.success(), "{st:?}");
}

/// `-chardev stdio,mux=on` shared by `-serial chardev:` and `-mon`.
const SHARED_MUX: &[&str] = &[
    "-display",
    "none",
    "-chardev",
    "stdio,id=c0,mux=on",
    "-serial",
    "chardev:c0",
    "-mon",
    "chardev=c0",
];

#[test]
fn chardev_stdio_mux_shared_by_serial_and_monitor() {
    if !have_gcc() {
        eprintln!("skipped: riscv64-unknown-elf-gcc not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path());
    let (seen, st) = session(FERRITE, SHARED_MUX, &elf, false);
    assert_eq!(seen, expected(&ferrite_version(), false));
    assert!(st.success(), "{st:?}");
}

/// `info chardev` names the mux and its stdio base as QEMU 7.2 does
/// (QEMU also lists `parallel0: filename=null`; ferrite's virt has no
/// parallel port).
#[test]
fn info_chardev_shows_the_mux() {
    if !have_gcc() {
        eprintln!("skipped: riscv64-unknown-elf-gcc not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path());
    let mut cmd = Command::new(FERRITE);
    cmd.args(["-M", "virt", "-m", "128", "-bios", "none", "-kernel"])
        .arg(&elf)
        .arg("-nographic");
    let mut t = OnPty::spawn(cmd);
    t.type_and_see(b"\x01c", b"(qemu) ");
    t.type_and_see(b"info chardev\r", b"(qemu) ");
    t.send(b"\x01x");
    let (seen, st) = t.finish();
    let seen = String::from_utf8_lossy(&seen).into_owned();
    assert!(
        seen.contains("\r\r\nserial0: filename=mux\r\r\nserial0-base: filename=stdio\r\r\n(qemu) "),
        "{seen:?}"
    );
    assert!(st.success(), "{st:?}");
}

/// With `-nographic` and a monitor of its own (`-qmp`), QEMU gives the
/// serial port plain stdio: Ctrl-A is the guest's, no mux.
#[test]
fn nographic_with_qmp_has_no_mux() {
    if !have_gcc() {
        eprintln!("skipped: riscv64-unknown-elf-gcc not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path());
    let sock = dir.path().join("q.sock");
    let qmp = format!("unix:{},server=on,wait=off", sock.display());
    let mut cmd = Command::new(FERRITE);
    cmd.args(["-M", "virt", "-m", "128", "-bios", "none", "-kernel"])
        .arg(&elf)
        .args(["-nographic", "-qmp", &qmp]);
    let mut t = OnPty::spawn(cmd);
    t.type_and_see(b"a", b"a");
    t.type_and_see(b"\x01c", b"\x01c");
    t.type_and_see(b"\x01x", b"\x01x");
    // Quit over QMP instead.
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    s.write_all(b"{\"execute\":\"qmp_capabilities\"}{\"execute\":\"quit\"}")
        .unwrap();
    let (seen, st) = t.finish();
    assert_eq!(String::from_utf8_lossy(&seen), "a\x01c\x01x");
    assert!(st.success(), "{st:?}");
}
