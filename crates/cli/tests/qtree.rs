//! `info qtree` on ferrite's boards against QEMU 7.2's, both asked through
//! QMP's `human-monitor-command`. QEMU's tree holds devices ferrite does
//! not model (listed in docs/divergences.md); those blocks are taken out of
//! QEMU's text, and ferrite's virtio-mmio transports are version 2
//! (`force-legacy = false`); everything else must match byte for byte.
//!
//! Skipped (with the reason printed) when `qemu-system-riscv64` is not
//! installed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use ferrite_monitor::json::JsonMessageParser;
use ferrite_monitor::qobject::QObject;

const FERRITE: &str = env!("CARGO_BIN_EXE_ferrite");
const QEMU: &str = "qemu-system-riscv64";

/// Devices of QEMU's boards that ferrite does not have.
const NOT_MODELLED: &[&str] = &[
    "fw_cfg_mem",
    "cfi.pflash01",
    "platform-bus-device",
    "gpex-pcihost",
];

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `emu` paused with a QMP socket, returns `info qtree`, quits.
fn qtree(emu: &str, args: &[&str], sock: &Path) -> String {
    let mut child = Running(
        Command::new(emu)
            .args(args)
            .args(["-S", "-display", "none", "-qmp"])
            .arg(format!("unix:{},server=on,wait=off", sock.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let s = loop {
        if let Ok(s) = UnixStream::connect(sock) {
            break s;
        }
        if let Some(st) = child.0.try_wait().unwrap() {
            panic!("{emu} exited before its QMP socket appeared: {st}");
        }
        std::thread::yield_now();
    };
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut parser = JsonMessageParser::new();
    w.write_all(
        b"{\"execute\": \"qmp_capabilities\"}\n\
          {\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"info qtree\"}, \"id\": \"t\"}\n",
    )
    .unwrap();
    let text = loop {
        let mut line = String::new();
        assert_ne!(r.read_line(&mut line).unwrap(), 0, "{emu} closed QMP");
        let Some(Ok(QObject::Dict(d))) = parser.feed_collect(line.as_bytes()).pop() else {
            panic!("not a JSON object: {line}");
        };
        if d.get("id").and_then(|v| v.as_str()) == Some("t") {
            break d
                .get("return")
                .and_then(|v| v.as_str())
                .unwrap_or_else(|| panic!("info qtree failed: {line}"))
                .to_owned();
        }
    };
    w.write_all(b"{\"execute\": \"quit\"}\n").unwrap();
    let _ = child.0.wait();
    text
}

/// QEMU's text without the top-level device blocks ferrite lacks, and with
/// ferrite's virtio-mmio version.
fn comparable(qemu: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in qemu.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("  dev: ") {
            let ty = rest.split(',').next().unwrap_or("");
            skipping = NOT_MODELLED.contains(&ty);
        }
        if !skipping {
            out.push_str(&line.replace("force-legacy = true", "force-legacy = false"));
        }
    }
    out
}

fn have_qemu() -> bool {
    if Command::new(QEMU).arg("--version").output().is_err() {
        eprintln!("skipped: {QEMU} not installed");
        return false;
    }
    true
}

fn compare(args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let ours = qtree(FERRITE, args, &dir.path().join("f.sock"));
    let theirs = qtree(QEMU, args, &dir.path().join("q.sock"));
    assert!(theirs.contains("riscv.aclint.mtimer"), "{theirs}");
    assert_eq!(ours, comparable(&theirs), "QEMU's full text:\n{theirs}");
}

#[test]
fn virt_qtree_matches_qemu() {
    if have_qemu() {
        compare(&["-M", "virt"]);
    }
}

#[test]
fn virt_smp2_qtree_matches_qemu() {
    if have_qemu() {
        compare(&["-M", "virt", "-smp", "2"]);
    }
}

#[test]
fn spike_qtree_matches_qemu() {
    if have_qemu() {
        // QEMU's spike needs no program to start paused; ferrite's wants
        // -bios none.
        let dir = tempfile::tempdir().unwrap();
        let ours = qtree(
            FERRITE,
            &["-M", "spike", "-bios", "none"],
            &dir.path().join("f.sock"),
        );
        let theirs = qtree(QEMU, &["-M", "spike"], &dir.path().join("q.sock"));
        assert_eq!(ours, comparable(&theirs));
    }
}
