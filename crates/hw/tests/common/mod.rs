//! Shared by the differential test suites: Debian's QEMU 7.2 driven over
//! its qtest protocol.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub const QEMU: &str = "qemu-system-riscv64";

/// Whether QEMU is installed. If it is not, the caller skips its test with
/// a notice, unless `FERRITE_REQUIRE_QEMU=1` (CI), which makes this panic.
pub fn qemu_available() -> bool {
    let found = Command::new(QEMU)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("FERRITE_REQUIRE_QEMU").as_deref() != Ok("1"),
            "{QEMU} not found but FERRITE_REQUIRE_QEMU=1"
        );
        eprintln!("note: {QEMU} not installed; differential test skipped");
    }
    found
}

/// QEMU under qtest.
pub struct Qemu {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Levels of the intercepted IRQ lines, by index.
    pub levels: [bool; 16],
}

impl Qemu {
    /// Starts `qemu-system-riscv64 ARGS -qtest stdio`.
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(QEMU)
            .args(args)
            .args([
                "-qtest", "stdio", "-display", "none", "-monitor", "none", "-serial", "none",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn qemu");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
            levels: [false; 16],
        }
    }

    /// Sends one qtest command and returns its reply, recording IRQ events.
    pub fn cmd(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        loop {
            let mut reply = String::new();
            assert!(
                self.stdout.read_line(&mut reply).unwrap() > 0,
                "qemu exited during {line}"
            );
            let reply = reply.trim_end();
            if let Some(rest) = reply.strip_prefix("IRQ ") {
                let (what, n) = rest.split_once(' ').unwrap();
                let n: usize = n.parse().unwrap();
                self.levels[n] = what == "raise";
                continue;
            }
            return reply.to_string();
        }
    }

    /// Sends `line` and waits for QEMU to exit; returns its exit status.
    pub fn exit_status_after(mut self, line: &str) -> Option<i32> {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        self.child.wait().unwrap().code()
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
