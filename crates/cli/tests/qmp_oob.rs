//! Out-of-band QMP while the main loop is busy, as QEMU's own
//! `tests/qtest/qmp-test.c` provokes it: an in-band command blocks the
//! main loop deterministically (`pmemsave` to a FIFO nobody reads, which
//! blocks in `open()` until a reader comes), then an `exec-oob` command
//! must still be answered, by the monitor IOThread. A second monitor
//! socket still accepts its client and sends the greeting, but its
//! in-band request waits for the main loop. The same script runs against
//! `qemu-system-riscv64` (when installed) as the reference.
//!
//! Also: a client that never reads its replies cannot hold up another
//! client, and is disconnected once its backlog passes the limit.
//!
//! Nothing is timed: the test waits until the kernel reports the main
//! thread blocked in the FIFO's open (`/proc/PID/wchan`).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const FERRITE: &str = env!("CARGO_BIN_EXE_ferrite");
const QEMU: &str = "qemu-system-riscv64";

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(emu: &str, extra: &[&str], socks: &[&Path]) -> Running {
    let mut c = Command::new(emu);
    c.args(["-M", "virt", "-S", "-display", "none"]).args(extra);
    for s in socks {
        c.arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", s.display()));
    }
    Running(
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

struct Client {
    w: UnixStream,
    r: BufReader<UnixStream>,
}

impl Client {
    fn connect(vm: &mut Running, sock: &Path) -> Client {
        let s = loop {
            if let Ok(s) = UnixStream::connect(sock) {
                break s;
            }
            if let Some(st) = vm.0.try_wait().unwrap() {
                panic!("the emulator exited before its QMP socket appeared: {st}");
            }
            std::thread::yield_now();
        };
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    fn send(&mut self, json: &str) {
        // One write: after `quit` the server may close at once.
        self.w
            .write_all(format!("{json}\n").as_bytes())
            .unwrap_or_else(|e| panic!("sending {json}: {e}"));
    }

    /// The next line that is not an event.
    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            assert_ne!(self.r.read_line(&mut line).unwrap(), 0, "connection closed");
            if !line.contains("\"event\"") {
                return line.trim_end().to_owned();
            }
        }
    }
}

/// Waits until the kernel shows the main thread of `pid` waiting for a
/// FIFO's other end.
fn wait_main_thread_in_fifo_open(pid: u32) {
    let path = format!("/proc/{pid}/wchan");
    loop {
        let w = std::fs::read_to_string(&path).unwrap_or_default();
        if w == "wait_for_partner" {
            return;
        }
        std::thread::yield_now();
    }
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the call.
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(r, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

fn oob_while_main_loop_blocked(emu: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let mut vm = start(emu, extra, &[&a, &b]);
    let mut c1 = Client::connect(&mut vm, &a);
    assert!(c1.reply().contains("\"capabilities\": [\"oob\"]"));
    c1.send(r#"{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}"#);
    assert_eq!(c1.reply(), r#"{"return": {}}"#);
    c1.send(&format!(
        r#"{{"execute": "pmemsave", "arguments": {{"val": 4096, "size": 16, "filename": "{}"}}, "id": "slow"}}"#,
        fifo.display()
    ));
    wait_main_thread_in_fifo_open(vm.0.id());

    // The main loop is stuck; the monitor IOThread is not.
    c1.send(r#"{"exec-oob": "yank", "arguments": {"instances": []}, "id": "oob"}"#);
    assert_eq!(c1.reply(), r#"{"return": {}, "id": "oob"}"#);
    // An OOB command the server cannot run out of band is refused there
    // and then, too.
    c1.send(r#"{"exec-oob": "query-status", "id": "x"}"#);
    assert_eq!(
        c1.reply(),
        r#"{"id": "x", "error": {"class": "GenericError", "desc": "The command query-status does not support OOB"}}"#
    );
    // Another monitor accepts its client and greets it meanwhile.
    let mut c2 = Client::connect(&mut vm, &b);
    assert!(c2.reply().starts_with(r#"{"QMP": {"version": "#));
    c2.send(r#"{"execute": "qmp_capabilities", "id": "c2"}"#);

    // Unblock the main loop: pmemsave finishes, then the queued request.
    let mut data = Vec::new();
    std::fs::File::open(&fifo)
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    assert_eq!(data.len(), 16);
    assert_eq!(c1.reply(), r#"{"return": {}, "id": "slow"}"#);
    assert_eq!(c2.reply(), r#"{"return": {}, "id": "c2"}"#);
    c2.send(r#"{"execute": "quit"}"#);
    assert_eq!(c2.reply(), r#"{"return": {}}"#);
    assert!(vm.0.wait().unwrap().success());
}

#[test]
fn oob_is_answered_while_the_main_loop_is_blocked() {
    oob_while_main_loop_blocked(FERRITE, &["-bios", "none"]);
}

#[test]
fn qemu_answers_oob_while_the_main_loop_is_blocked() {
    if Command::new(QEMU).arg("--version").output().is_err() {
        eprintln!("skipped: {QEMU} not installed");
        return;
    }
    oob_while_main_loop_blocked(QEMU, &[]);
}

/// A client that sends requests with big replies and never reads them
/// does not hold up another client; once its unsent output passes the
/// limit it is disconnected.
#[test]
fn a_client_that_does_not_read_blocks_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let mut vm = start(FERRITE, &["-bios", "none"], &[&a, &b]);
    let mut slow = Client::connect(&mut vm, &a);
    slow.reply();
    slow.send(r#"{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}"#);
    slow.reply();
    // Each reply is about 2 MB of text; 40 of them far exceed the 16 MiB
    // backlog limit.
    for i in 0..40 {
        slow.send(&format!(
            r#"{{"execute": "human-monitor-command", "arguments": {{"command-line": "xp /65536xg 0x80000000"}}, "id": {i}}}"#
        ));
    }
    let mut fast = Client::connect(&mut vm, &b);
    fast.reply();
    fast.send(r#"{"execute": "qmp_capabilities"}"#);
    assert_eq!(fast.reply(), r#"{"return": {}}"#);
    for _ in 0..20 {
        fast.send(r#"{"execute": "query-status"}"#);
        assert_eq!(
            fast.reply(),
            r#"{"return": {"status": "prelaunch", "singlestep": false, "running": false}}"#
        );
    }
    // The slow client's connection ends: reading it reaches end of file
    // (or a reset, as requests it sent were never read) after at most the
    // backlog it was allowed.
    let mut sink = Vec::new();
    match slow.r.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert!(sink.len() < 40 * 2_000_000, "{} bytes", sink.len());
    fast.send(r#"{"execute": "quit"}"#);
    assert_eq!(fast.reply(), r#"{"return": {}}"#);
    assert!(vm.0.wait().unwrap().success());
}
