//! `stop`/`cont` over QMP while every hart of a multi-hart `virt` machine
//! is busy (issue 8): while stopped no hart runs and the VIRTUAL clock does
//! not advance; after `cont` every hart runs again. Both TCG thread modes.
//!
//! The guest is a bare-metal program (`-bios none`) assembled here with
//! `riscv64-unknown-elf-gcc` (CI installs it): every hart loops forever,
//! incrementing its own counter and storing the `time` CSR next to it.
//! Nothing is timed against a fixed bound: the VIRTUAL time that passes
//! over the stop is compared with the host time the machine was running.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrite_monitor::json::JsonMessageParser;
use ferrite_monitor::qobject::{QDict, QObject};

const FERRITE: &str = env!("CARGO_BIN_EXE_ferrite");

/// Hart `h` owns 16 bytes at `slots + 16 * h`: a counter and the last
/// `time` it read.
const PROGRAM: &str = r#"
    .section .text.init
    .globl _start
_start:
    csrr a0, mhartid
    la t0, slots
    slli t1, a0, 4
    add t0, t0, t1
1:  ld t2, 0(t0)
    addi t2, t2, 1
    sd t2, 0(t0)
    rdtime t3
    sd t3, 8(t0)
    j 1b
    .data
    .align 12
    .globl slots
slots: .zero 128
"#;

const LINKER_SCRIPT: &str = "ENTRY(_start)\nSECTIONS { . = 0x80000000; .text : { *(.text.init) *(.text*) } . = ALIGN(0x1000); .data : { *(.data*) } }\n";

/// Where `slots` lands: the first page after the code.
const SLOTS: u64 = 0x8000_1000;
/// The `time` CSR frequency of the virt board (its `timebase-frequency`).
const TIMEBASE_HZ: u64 = 10_000_000;

fn assemble(dir: &Path) -> PathBuf {
    let s = dir.join("smp.S");
    let ld = dir.join("link.ld");
    let elf = dir.join("smp.elf");
    std::fs::write(&s, PROGRAM).unwrap();
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
    assert!(st.success(), "assembling the test program failed");
    elf
}

struct Vm {
    child: Child,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    w: UnixStream,
    r: BufReader<UnixStream>,
    parser: JsonMessageParser,
}

impl Client {
    fn read(&mut self) -> QDict {
        let mut line = String::new();
        assert!(
            self.r.read_line(&mut line).unwrap() > 0,
            "QMP connection closed"
        );
        match self.parser.feed_collect(line.as_bytes()).pop() {
            Some(Ok(QObject::Dict(d))) => d,
            other => panic!("not a JSON object: {other:?}"),
        }
    }

    fn ok(&mut self, cmd: &str, args: Option<QDict>) -> QObject {
        let mut req = QDict::new().with("execute", cmd);
        if let Some(a) = args {
            req.put("arguments", a);
        }
        self.w
            .write_all(QObject::Dict(req).to_json().as_bytes())
            .unwrap();
        loop {
            let d = self.read();
            if d.contains_key("event") {
                continue;
            }
            match d.get("return") {
                Some(v) => return v.clone(),
                None => panic!("{cmd} failed: {}", QObject::Dict(d).to_json()),
            }
        }
    }

    fn status(&mut self) -> String {
        let r = self.ok("query-status", None);
        let d = r.as_dict().unwrap();
        d.get("status")
            .and_then(QObject::as_str)
            .unwrap()
            .to_owned()
    }

    /// `(counter, time)` of each of `n` harts.
    fn slots(&mut self, n: usize, file: &Path) -> Vec<(u64, u64)> {
        self.ok(
            "pmemsave",
            Some(
                QDict::new()
                    .with("val", SLOTS as i64)
                    .with("size", (16 * n) as i64)
                    .with("filename", file.to_str().unwrap()),
            ),
        );
        let b = std::fs::read(file).unwrap();
        let q = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        (0..n).map(|h| (q(16 * h), q(16 * h + 8))).collect()
    }
}

fn start(elf: &Path, dir: &Path, harts: usize, accel: &str) -> (Vm, Client) {
    let sock = dir.join("qmp.sock");
    let mut child = Command::new(FERRITE)
        .args(["-M", "virt", "-bios", "none", "-display", "none"])
        .args(["-smp", &harts.to_string(), "-accel", accel])
        .arg("-kernel")
        .arg(elf)
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", sock.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting ferrite");
    let s = loop {
        if let Ok(s) = UnixStream::connect(&sock) {
            break s;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("ferrite exited before its QMP socket appeared: {st}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut c = Client {
        r: BufReader::new(s.try_clone().unwrap()),
        w: s,
        parser: JsonMessageParser::new(),
    };
    c.read(); // greeting
    c.ok("qmp_capabilities", None);
    (Vm { child }, c)
}

/// Polls until every hart's counter has passed the one in `since`.
fn wait_all_progress(c: &mut Client, since: &[(u64, u64)], file: &Path) -> Vec<(u64, u64)> {
    loop {
        let now = c.slots(since.len(), file);
        if now.iter().zip(since).all(|(a, b)| a.0 > b.0) {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stop_cont_keeps_virtual_time(harts: usize, accel: &str) {
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path());
    let (_vm, mut c) = start(&elf, dir.path(), harts, accel);
    let f = dir.path().join("slots.bin");
    assert_eq!(c.status(), "running");

    // Every hart runs.
    let zero = vec![(0, 0); harts];
    wait_all_progress(&mut c, &zero, &f);

    c.ok("stop", None);
    assert_eq!(c.status(), "paused");
    let a = c.slots(harts, &f);
    // Stopped for a while: no hart moves, `time` stands still.
    let stopped_for = Duration::from_millis(600);
    std::thread::sleep(stopped_for);
    let a2 = c.slots(harts, &f);
    assert_eq!(a, a2, "{harts} harts, {accel}: a hart ran while stopped");

    let t0 = Instant::now();
    c.ok("cont", None);
    assert_eq!(c.status(), "running");
    let b = wait_all_progress(&mut c, &a, &f);
    let ran_for = t0.elapsed();

    // VIRTUAL time over the stop: at most the host time the machine ran
    // after `cont` (the hart's last `time` before the stop is the stopped
    // clock's value). Had the clock kept going while stopped, it would be
    // at least `stopped_for` more.
    for h in 0..harts {
        let virt_ns = (b[h].1 - a[h].1) * (1_000_000_000 / TIMEBASE_HZ);
        let limit = ran_for + stopped_for / 2;
        assert!(
            Duration::from_nanos(virt_ns) < limit,
            "{harts} harts, {accel}: hart {h}'s time advanced {virt_ns} ns over a \
             {stopped_for:?} stop, running {ran_for:?} after cont"
        );
    }
    c.ok("quit", None);
}

#[test]
fn stop_cont_two_harts_multi_threaded() {
    stop_cont_keeps_virtual_time(2, "tcg,thread=multi");
}

#[test]
fn stop_cont_four_harts_multi_threaded() {
    stop_cont_keeps_virtual_time(4, "tcg,thread=multi");
}

#[test]
fn stop_cont_two_harts_round_robin() {
    stop_cont_keeps_virtual_time(2, "tcg,thread=single");
}

#[test]
fn stop_cont_four_harts_round_robin() {
    stop_cont_keeps_virtual_time(4, "tcg,thread=single");
}
