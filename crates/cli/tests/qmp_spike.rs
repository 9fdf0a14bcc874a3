//! The real `ferrite` binary driven over QMP: a bare-metal program on the
//! `spike` board, started with `-S` and a `-qmp unix:` socket.
//!
//! The guest programs are assembled here with `riscv64-unknown-elf-gcc`
//! (CI installs it). Nothing is timed: wherever the test waits for the
//! guest, it polls guest memory until the guest has visibly progressed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use ferrite_monitor::json::JsonMessageParser;
use ferrite_monitor::qobject::{QDict, QObject};

const FERRITE: &str = env!("CARGO_BIN_EXE_ferrite");

/// Stores 0x12345678 at `counter + 4`, then increments `counter` forever.
const LOOP_PROGRAM: &str = r#"
    .section .text.init
    .globl _start
_start:
    la t0, counter
    li t1, 0x12345678
    sw t1, 4(t0)
1:  lw t2, 0(t0)
    addi t2, t2, 1
    sw t2, 0(t0)
    j 1b
    .data
    .align 12
    .globl counter
counter: .word 0, 0
"#;

/// Exits through HTIF with status 0 (`tohost = 1`).
const EXIT_PROGRAM: &str = r#"
    .section .text.init
    .globl _start
_start:
    la t0, tohost
    li t1, 1
    sd t1, 0(t0)
1:  j 1b
    .data
    .align 6
    .globl tohost
tohost: .dword 0
    .align 6
    .globl fromhost
fromhost: .dword 0
"#;

const LINKER_SCRIPT: &str = "ENTRY(_start)\nSECTIONS { . = 0x80000000; .text : { *(.text.init) *(.text*) } . = ALIGN(0x1000); .data : { *(.data*) } }\n";

/// Where `counter` lands: the first page after the code.
const COUNTER: u64 = 0x8000_1000;

fn assemble(dir: &Path, name: &str, src: &str) -> PathBuf {
    let s = dir.join(format!("{name}.S"));
    let ld = dir.join("link.ld");
    let elf = dir.join(format!("{name}.elf"));
    std::fs::write(&s, src).unwrap();
    std::fs::write(&ld, LINKER_SCRIPT).unwrap();
    let st = Command::new("riscv64-unknown-elf-gcc")
        .args([
            "-march=rv64gc",
            "-mabi=lp64",
            "-nostdlib",
            "-nostartfiles",
            "-T",
        ])
        .arg(&ld)
        .arg(&s)
        .arg("-o")
        .arg(&elf)
        .status()
        .expect("riscv64-unknown-elf-gcc is needed for this test (CI installs it)");
    assert!(st.success(), "assembling {name} failed");
    elf
}

struct Vm {
    child: Child,
    sock: PathBuf,
}

impl Vm {
    fn start(kernel: &Path, sock: &Path, extra: &[&str]) -> Vm {
        let child = Command::new(FERRITE)
            .args(["-M", "spike", "-bios", "none", "-display", "none"])
            .arg("-kernel")
            .arg(kernel)
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", sock.display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting ferrite");
        Vm {
            child,
            sock: sock.to_owned(),
        }
    }

    /// Connects once the socket exists (or fails if ferrite exits first).
    fn connect(&mut self) -> Client {
        loop {
            if let Ok(s) = UnixStream::connect(&self.sock) {
                return Client::new(s);
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!("ferrite exited before its QMP socket appeared: {st}");
            }
            std::thread::yield_now();
        }
    }
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
    /// Events read while waiting for replies.
    events: Vec<QDict>,
}

impl Client {
    fn new(s: UnixStream) -> Client {
        Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
            parser: JsonMessageParser::new(),
            events: Vec::new(),
        }
    }

    /// One line from the server as a dictionary; `None` at end of file.
    fn read(&mut self) -> Option<QDict> {
        let mut line = String::new();
        if self.r.read_line(&mut line).unwrap() == 0 {
            return None;
        }
        assert!(line.ends_with("\r\n"), "QMP lines end in CRLF: {line:?}");
        let mut msgs = self.parser.feed_collect(line.as_bytes());
        assert_eq!(msgs.len(), 1, "one JSON value per line: {line:?}");
        match msgs.pop().unwrap() {
            Ok(QObject::Dict(d)) => Some(d),
            other => panic!("not a JSON object: {other:?}"),
        }
    }

    /// Sends a command; returns the reply, keeping events seen before it.
    fn execute(&mut self, cmd: &str, args: Option<QDict>) -> QDict {
        let mut req = QDict::new().with("execute", cmd);
        if let Some(a) = args {
            req.put("arguments", a);
        }
        self.w
            .write_all(QObject::Dict(req).to_json().as_bytes())
            .unwrap();
        loop {
            let d = self.read().expect("connection closed before the reply");
            if d.contains_key("event") {
                self.events.push(d);
            } else {
                return d;
            }
        }
    }

    /// The `return` value of a command that must succeed.
    fn ok(&mut self, cmd: &str, args: Option<QDict>) -> QObject {
        let r = self.execute(cmd, args);
        match r.get("return") {
            Some(v) => v.clone(),
            None => panic!("{cmd} failed: {}", QObject::Dict(r).to_json()),
        }
    }

    fn hmp(&mut self, line: &str) -> String {
        let r = self.ok(
            "human-monitor-command",
            Some(QDict::new().with("command-line", line)),
        );
        r.as_str().expect("HMP output is a string").to_owned()
    }

    fn status(&mut self) -> String {
        let r = self.ok("query-status", None);
        let d = r.as_dict().unwrap();
        let running = d.get("running").and_then(QObject::as_bool).unwrap();
        let status = d.get("status").and_then(QObject::as_str).unwrap();
        assert_eq!(running, status == "running");
        status.to_owned()
    }

    /// The names of the events received so far (and forgets them).
    fn take_events(&mut self) -> Vec<String> {
        std::mem::take(&mut self.events)
            .iter()
            .map(|e| {
                let ts = e.get("timestamp").and_then(QObject::as_dict).unwrap();
                assert!(ts.contains_key("seconds") && ts.contains_key("microseconds"));
                e.get("event").and_then(QObject::as_str).unwrap().to_owned()
            })
            .collect()
    }

    /// `pmemsave` of `size` bytes at `addr`, read back from the file.
    fn pmemsave(&mut self, addr: u64, size: usize, file: &Path) -> Vec<u8> {
        self.ok(
            "pmemsave",
            Some(
                QDict::new()
                    .with("val", addr as i64)
                    .with("size", size as i64)
                    .with("filename", file.to_str().unwrap()),
            ),
        );
        std::fs::read(file).unwrap()
    }
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// The `info mtree` text of a spike built in this process from the same
/// program, as ferrite-memory renders it.
fn local_spike_mtree(kernel: &Path) -> String {
    use ferrite_hw::chardev::NullBackend;
    use ferrite_machine::htif::HtifExit;
    use ferrite_machine::spike::{SPIKE_DEFAULT_RAM, Spike, SpikeConfig};
    struct NoExit;
    impl HtifExit for NoExit {
        fn exit(&self, _code: u32) {}
    }
    ferrite_aio::main_loop::qemu_init_main_loop().unwrap();
    let _bql = ferrite_aio::bql::bql_lock();
    let _spike = Spike::build(SpikeConfig {
        ram_size: SPIKE_DEFAULT_RAM,
        harts: 1,
        kernel: Some(kernel.to_str().unwrap().to_owned()),
        console: Arc::new(NullBackend),
        on_exit: Arc::new(NoExit),
    })
    .unwrap();
    ferrite_memory::mtree::mtree_info(Default::default())
}

#[test]
fn qmp_drives_a_running_spike() {
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path(), "loop", LOOP_PROGRAM);
    let sock = dir.path().join("qmp.sock");
    let mut vm = Vm::start(&elf, &sock, &["-S", "-name", "testvm"]);
    let mut c = vm.connect();

    // Greeting and negotiation.
    let g = c.read().unwrap();
    let qmp = g.get("QMP").and_then(QObject::as_dict).unwrap();
    let caps = qmp.get("capabilities").and_then(QObject::as_list).unwrap();
    assert_eq!(caps, [QObject::from("oob")]);
    let v = qmp.get("version").and_then(QObject::as_dict).unwrap();
    let qv = v.get("qemu").and_then(QObject::as_dict).unwrap();
    assert_eq!(
        qv.get("major")
            .and_then(QObject::as_num)
            .and_then(|n| n.as_i64()),
        Some(7)
    );
    assert_eq!(
        c.execute("qmp_capabilities", None).to_json_string(),
        "{\"return\": {}}"
    );

    // -S: prelaunch, the hart at the reset vector, nothing run yet.
    assert_eq!(c.status(), "prelaunch");
    let name = c.ok("query-name", None);
    assert_eq!(
        name.as_dict()
            .unwrap()
            .get("name")
            .and_then(QObject::as_str),
        Some("testvm")
    );
    let regs = c.hmp("info registers");
    assert!(
        regs.starts_with("\r\nCPU#0\r\n pc       0000000000001000\r\n"),
        "{regs:?}"
    );
    let mem = c.pmemsave(COUNTER, 8, &dir.path().join("m0.bin"));
    assert_eq!(mem, [0u8; 8], "the program has not run yet");

    // query-cpus-fast: one hart on its own thread.
    let cpus = c.ok("query-cpus-fast", None);
    let cpus = cpus.as_list().unwrap();
    assert_eq!(cpus.len(), 1);
    let cpu0 = cpus[0].as_dict().unwrap();
    assert_eq!(
        cpu0.get("qom-path").and_then(QObject::as_str),
        Some("/machine/soc0/harts[0]")
    );
    let tid = cpu0
        .get("thread-id")
        .and_then(QObject::as_num)
        .and_then(|n| n.as_i64())
        .unwrap();
    assert!(
        tid > 0 && tid != i64::from(vm.child.id()),
        "vCPU thread id {tid}"
    );

    // cont: RESUME before the reply, then the guest runs.
    c.ok("cont", None);
    assert_eq!(c.take_events(), ["RESUME"]);
    assert_eq!(c.status(), "running");
    loop {
        let m = c.pmemsave(COUNTER, 8, &dir.path().join("m1.bin"));
        if word(&m, 4) == 0x1234_5678 && word(&m, 0) > 0 {
            break;
        }
    }

    // stop: STOP, and guest memory no longer changes.
    c.ok("stop", None);
    assert_eq!(c.take_events(), ["STOP"]);
    assert_eq!(c.status(), "paused");
    assert_eq!(c.hmp("info status"), "VM status: paused\r\n");
    let a = c.pmemsave(COUNTER, 8, &dir.path().join("a.bin"));
    let regs = c.hmp("info registers");
    let b = c.pmemsave(COUNTER, 8, &dir.path().join("b.bin"));
    assert_eq!(a, b, "a stopped VM's memory does not change");
    assert_eq!(word(&a, 4), 0x1234_5678);
    // The hart is in the loop, t0 holds &counter, t1 the stored value.
    assert!(regs.contains(" x5/t0    0000000080001000"), "{regs}");
    assert!(regs.contains(" x6/t1    0000000012345678"), "{regs}");
    // xp and x show the same words (bare mode: virtual = physical).
    let expect = format!("0000000080001000: 0x{:08x} 0x12345678\r\n", word(&a, 0));
    assert_eq!(c.hmp("xp /2wx 0x80001000"), expect);
    assert_eq!(c.hmp("x /2wx 0x80001000"), expect);
    // memsave reads through the hart's MMU.
    c.ok(
        "memsave",
        Some(
            QDict::new()
                .with("val", COUNTER as i64)
                .with("size", 8i64)
                .with("filename", dir.path().join("v.bin").to_str().unwrap()),
        ),
    );
    assert_eq!(std::fs::read(dir.path().join("v.bin")).unwrap(), a);

    // cont again: the counter moves on from where it stopped.
    c.ok("cont", None);
    assert_eq!(c.take_events(), ["RESUME"]);
    loop {
        let m = c.pmemsave(COUNTER, 8, &dir.path().join("m2.bin"));
        if word(&m, 0) != word(&a, 0) {
            break;
        }
    }
    c.ok("stop", None);
    assert_eq!(c.take_events(), ["STOP"]);

    // info mtree is ferrite-memory's rendering of the same board.
    let mtree = c.hmp("info mtree");
    assert_eq!(mtree.replace("\r\n", "\n"), local_spike_mtree(&elf));
    assert!(mtree.contains("(prio 0, ram): riscv.spike.ram"), "{mtree}");
    let flat = c.hmp("info mtree -f");
    assert!(flat.starts_with("FlatView #0\r\n"), "{flat}");

    // system_reset of a stopped VM: RESET, back to prelaunch with the hart
    // at the reset vector and still stopped.
    c.ok("system_reset", None);
    assert_eq!(c.take_events(), ["RESET"]);
    assert_eq!(c.status(), "prelaunch");
    let regs = c.hmp("info registers");
    assert!(
        regs.starts_with("\r\nCPU#0\r\n pc       0000000000001000\r\n"),
        "{regs:?}"
    );
    // QEMU's riscv_cpu_reset leaves the GPRs alone.
    assert!(regs.contains(" x5/t0    0000000080001000"), "{regs}");
    // The program image is copied into RAM again (QEMU's rom_reset), so
    // its data is back to the initial zeros.
    let m = c.pmemsave(COUNTER, 8, &dir.path().join("r.bin"));
    assert_eq!(m, [0u8; 8]);

    // system_powerdown: only the event on spike (no power button).
    c.ok("system_powerdown", None);
    assert_eq!(c.take_events(), ["POWERDOWN"]);

    // Errors keep their QEMU classes.
    let e = c.execute("memsave", Some(QDict::new().with("val", 0i64)));
    let err = e.get("error").and_then(QObject::as_dict).unwrap();
    assert_eq!(
        err.get("class").and_then(QObject::as_str),
        Some("GenericError")
    );

    // quit: SHUTDOWN before the reply, then the connection closes and the
    // process exits 0, removing its socket.
    let r = c.execute("quit", None);
    assert!(r.contains_key("return"));
    let ev = c.events.pop().expect("SHUTDOWN before the reply");
    assert_eq!(ev.get("event").and_then(QObject::as_str), Some("SHUTDOWN"));
    let data = ev.get("data").and_then(QObject::as_dict).unwrap();
    assert_eq!(data.get("guest").and_then(QObject::as_bool), Some(false));
    assert_eq!(
        data.get("reason").and_then(QObject::as_str),
        Some("host-qmp-quit")
    );
    assert!(c.read().is_none(), "the server closes the connection");
    let st = vm.child.wait().unwrap();
    assert!(st.success(), "ferrite exited with {st}");
    assert!(!sock.exists(), "the socket file is removed at exit");
}

#[test]
fn guest_shutdown_is_reported_to_qmp_clients() {
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path(), "exit", EXIT_PROGRAM);
    let sock = dir.path().join("qmp.sock");
    let mut vm = Vm::start(&elf, &sock, &["-S"]);
    let mut c = vm.connect();
    c.read().unwrap();
    c.ok("qmp_capabilities", None);
    c.ok("cont", None);
    assert_eq!(c.take_events(), ["RESUME"]);
    // The guest exits through HTIF: SHUTDOWN (guest: true), no STOP, then
    // the connection closes.
    let ev = c.read().expect("SHUTDOWN event");
    assert_eq!(ev.get("event").and_then(QObject::as_str), Some("SHUTDOWN"));
    let data = ev.get("data").and_then(QObject::as_dict).unwrap();
    assert_eq!(data.get("guest").and_then(QObject::as_bool), Some(true));
    assert_eq!(
        data.get("reason").and_then(QObject::as_str),
        Some("guest-shutdown")
    );
    assert!(c.read().is_none());
    assert!(vm.child.wait().unwrap().success());
}

/// What QEMU's readline echoes for `cmd` typed at an empty prompt and
/// Enter: every key redraws the line.
fn hmp_echo(cmd: &str) -> String {
    let mut out = String::new();
    for i in 1..=cmd.len() {
        out += &"\x1b[D".repeat(i - 1);
        out += &cmd[..i];
        out += "\x1b[K";
    }
    out + "\r\n"
}

/// Reads HMP output up to and including the next `(qemu) ` prompt.
fn hmp_until_prompt(r: &mut BufReader<UnixStream>) -> String {
    let mut out = Vec::new();
    while !out.ends_with(b"(qemu) ") {
        let mut b = [0u8; 1];
        assert_eq!(std::io::Read::read(r, &mut b).unwrap(), 1, "HMP closed");
        out.push(b[0]);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn hmp_socket_and_qmp_socket_drive_the_same_machine() {
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path(), "loop", LOOP_PROGRAM);
    let sock = dir.path().join("qmp.sock");
    let hsock = dir.path().join("hmp.sock");
    let mut vm = Vm::start(
        &elf,
        &sock,
        &[
            "-S",
            "-monitor",
            &format!("unix:{},server=on,wait=off", hsock.display()),
        ],
    );
    let mut c = vm.connect();
    c.read().unwrap();
    c.ok("qmp_capabilities", None);
    let h = UnixStream::connect(&hsock).expect("the HMP socket exists once QMP's does");
    let mut hw = h.try_clone().unwrap();
    let mut hr = BufReader::new(h);
    assert_eq!(
        hmp_until_prompt(&mut hr),
        "QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) "
    );
    // HMP commands change the state QMP reports, and QMP gets the events.
    hw.write_all(b"cont\n").unwrap();
    assert_eq!(hmp_until_prompt(&mut hr), hmp_echo("cont") + "(qemu) ");
    assert_eq!(c.status(), "running");
    assert_eq!(c.take_events(), ["RESUME"]);
    hw.write_all(b"stop\n").unwrap();
    assert_eq!(hmp_until_prompt(&mut hr), hmp_echo("stop") + "(qemu) ");
    assert_eq!(c.status(), "paused");
    assert_eq!(c.take_events(), ["STOP"]);
    hw.write_all(b"info status\n").unwrap();
    assert_eq!(
        hmp_until_prompt(&mut hr),
        hmp_echo("info status") + "VM status: paused\r\n(qemu) "
    );
    hw.write_all(b"info chardev\n").unwrap();
    let chardevs = hmp_until_prompt(&mut hr);
    assert_eq!(
        chardevs,
        format!(
            "{}compat_monitor0: filename=unix:{},server=on\r\ncompat_monitor1: filename=unix:{},server=on\r\n(qemu) ",
            hmp_echo("info chardev"),
            hsock.display(),
            sock.display()
        )
    );
    // HMP quit ends the process; QMP sees SHUTDOWN and the close.
    hw.write_all(b"quit\n").unwrap();
    let ev = c.read().expect("SHUTDOWN event");
    assert_eq!(ev.get("event").and_then(QObject::as_str), Some("SHUTDOWN"));
    let data = ev.get("data").and_then(QObject::as_dict).unwrap();
    assert_eq!(
        data.get("reason").and_then(QObject::as_str),
        Some("host-qmp-quit")
    );
    assert!(c.read().is_none());
    assert!(vm.child.wait().unwrap().success());
}

/// Requests queued behind `quit` (possible with `oob`, which lets a client
/// pipeline up to 8) are discarded at exit without holding the process.
#[test]
fn requests_pipelined_after_quit_do_not_hold_the_exit() {
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path(), "loop", LOOP_PROGRAM);
    let sock = dir.path().join("qmp.sock");
    let mut vm = Vm::start(&elf, &sock, &["-S"]);
    let mut c = vm.connect();
    c.read().unwrap();
    c.ok(
        "qmp_capabilities",
        Some(QDict::new().with("enable", QObject::List(vec!["oob".into()]))),
    );
    c.w.write_all(br#"{"execute":"quit"}{"execute":"query-status"}{"execute":"query-status"}"#)
        .unwrap();
    while c.read().is_some() {}
    assert!(vm.child.wait().unwrap().success());
}

#[test]
fn bad_monitor_socket_is_reported_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let elf = assemble(dir.path(), "loop", LOOP_PROGRAM);
    let out = Command::new(FERRITE)
        .args([
            "-M", "spike", "-bios", "none", "-display", "none", "-kernel",
        ])
        .arg(&elf)
        .args(["-qmp", "unix:/nonexistent/dir/x.sock,server=on,wait=off"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // QEMU 7.2's text, with ferrite's program name.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ferrite: -qmp unix:/nonexistent/dir/x.sock,server=on,wait=off: \
         Failed to bind socket to /nonexistent/dir/x.sock: No such file or directory\n"
    );
}

trait ToJsonString {
    fn to_json_string(&self) -> String;
}

impl ToJsonString for QDict {
    fn to_json_string(&self) -> String {
        QObject::Dict(self.clone()).to_json()
    }
}
