//! Protocol tests over real sockets: the interim threaded transport with the
//! fake machine.

mod common;
use common::{core, mask_timestamps};
use ferrite_monitor::QmpCore;
use ferrite_monitor::events::QapiEvent;
use ferrite_monitor::server::{Dispatcher, MonitorMode, MonitorServer, SocketAddr};
use ferrite_monitor::testing::FakeMachine;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;

struct Env {
    _dir: tempfile::TempDir,
    m: Arc<FakeMachine>,
    core: Arc<QmpCore>,
    disp: Arc<Dispatcher>,
}

impl Env {
    fn new() -> Env {
        let (m, core) = core();
        let disp = Dispatcher::start(core.clone());
        Env {
            _dir: tempfile::tempdir().unwrap(),
            m,
            core,
            disp,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self._dir.path().join(name)
    }

    fn qmp_server(&self, name: &str) -> (MonitorServer, PathBuf) {
        let p = self.path(name);
        let s = MonitorServer::start(
            self.core.clone(),
            self.disp.clone(),
            &SocketAddr::Unix(p.clone()),
            MonitorMode::Control,
        )
        .unwrap();
        (s, p)
    }
}

/// A line-oriented QMP test client.
struct Client {
    w: UnixStream,
    r: BufReader<UnixStream>,
}

impl Client {
    fn connect(p: &PathBuf) -> Client {
        let w = UnixStream::connect(p).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Client { w, r }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        mask_timestamps(&l)
    }

    fn send(&mut self, s: &str) {
        self.w.write_all(s.as_bytes()).unwrap();
    }

    fn cmd(&mut self, s: &str) -> String {
        self.send(s);
        self.line()
    }

    fn negotiate(&mut self, oob: bool) {
        let g = self.line();
        assert!(g.starts_with("{\"QMP\": "), "{g}");
        let req = if oob {
            r#"{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}"#
        } else {
            r#"{"execute":"qmp_capabilities"}"#
        };
        assert_eq!(self.cmd(req), "{\"return\": {}}\r\n");
    }

    fn at_eof(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0) | Err(_))
    }
}

const RESUME: &str =
    "{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"RESUME\"}\r\n";
const STOP: &str =
    "{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"STOP\"}\r\n";
const OK: &str = "{\"return\": {}}\r\n";

#[test]
fn greeting_negotiation_and_every_command() {
    let env = Env::new();
    let (_srv, p) = env.qmp_server("qmp.sock");
    let mut c = Client::connect(&p);
    assert_eq!(
        c.line(),
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n"
    );
    assert!(
        c.cmd(r#"{"execute":"query-status"}"#)
            .contains("Expecting capabilities negotiation")
    );
    assert_eq!(c.cmd(r#"{"execute":"qmp_capabilities"}"#), OK);
    assert!(
        c.cmd(r#"{"execute":"query-version"}"#)
            .starts_with("{\"return\": {\"qemu\"")
    );
    assert!(
        c.cmd(r#"{"execute":"query-commands"}"#)
            .contains("{\"name\": \"memsave\"}")
    );
    assert_eq!(
        c.cmd(r#"{"execute":"query-name"}"#),
        "{\"return\": {\"name\": \"testvm\"}}\r\n"
    );
    assert!(
        c.cmd(r#"{"execute":"query-status"}"#)
            .contains("\"prelaunch\"")
    );
    assert!(
        c.cmd(r#"{"execute":"query-cpus-fast"}"#)
            .contains("\"qom-path\": \"/machine/soc0/harts[0]\"")
    );
    assert!(
        c.cmd(r#"{"execute":"query-machines"}"#)
            .contains("\"name\": \"virt\"")
    );
    assert_eq!(
        c.cmd(r#"{"execute":"query-block"}"#),
        "{\"return\": []}\r\n"
    );
    assert_eq!(c.cmd(r#"{"execute":"stop"}"#), OK);
    c.send(r#"{"execute":"cont"}"#);
    assert_eq!(c.line(), RESUME);
    assert_eq!(c.line(), OK);
    c.send(r#"{"execute":"stop"}"#);
    assert_eq!(c.line(), STOP);
    assert_eq!(c.line(), OK);
    c.send(r#"{"execute":"system_reset"}"#);
    assert!(c.line().contains("\"event\": \"RESET\""));
    assert_eq!(c.line(), OK);
    c.send(r#"{"execute":"system_powerdown"}"#);
    assert!(c.line().contains("\"event\": \"POWERDOWN\""));
    assert_eq!(c.line(), OK);
    let f = env.path("dump");
    let fs = f.to_str().unwrap();
    assert_eq!(
        c.cmd(&format!(
            r#"{{"execute":"pmemsave","arguments":{{"val":4096,"size":8,"filename":"{fs}"}}}}"#
        )),
        OK
    );
    assert_eq!(
        std::fs::read(&f).unwrap(),
        [0x97, 0x02, 0, 0, 0x13, 0x86, 0x82, 0x02]
    );
    assert_eq!(
        c.cmd(&format!(
            r#"{{"execute":"memsave","arguments":{{"val":4100,"size":4,"filename":"{fs}"}}}}"#
        )),
        OK
    );
    assert_eq!(std::fs::read(&f).unwrap(), [0x13, 0x86, 0x82, 0x02]);
    assert_eq!(
        c.cmd(
            r#"{"execute":"human-monitor-command","arguments":{"command-line":"xp /4x 0x1000"}}"#
        ),
        "{\"return\": \"0000000000001000: 0x00000297 0x02828613 0xf1402573 0x0202b583\\r\\n\"}\r\n"
    );
    assert_eq!(
        c.cmd(r#"{"execute":"nosuch","id":{"x":[1]}}"#),
        "{\"id\": {\"x\": [1]}, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nosuch has not been found\"}}\r\n"
    );
    c.send(r#"{"execute":"quit","id":"bye"}"#);
    assert!(c.line().contains("\"reason\": \"host-qmp-quit\""));
    assert_eq!(c.line(), "{\"return\": {}, \"id\": \"bye\"}\r\n");
    assert!(c.at_eof(), "quit closes the connection");
    env.disp.wait_exit();
}

#[test]
fn two_monitors_see_events_in_order() {
    let env = Env::new();
    let (_s1, p1) = env.qmp_server("a.sock");
    let (_s2, p2) = env.qmp_server("b.sock");
    let mut a = Client::connect(&p1);
    let mut b = Client::connect(&p2);
    a.negotiate(false);
    b.negotiate(false);
    a.send(r#"{"execute":"cont"}"#);
    assert_eq!(a.line(), RESUME);
    assert_eq!(a.line(), OK);
    b.send(r#"{"execute":"stop","id":1}"#);
    // b's own events come before b's reply; a sees the same events.
    assert_eq!(b.line(), RESUME);
    assert_eq!(b.line(), STOP);
    assert_eq!(b.line(), "{\"return\": {}, \"id\": 1}\r\n");
    assert_eq!(a.line(), STOP);
    env.m.runstate.vm_start();
    env.core.bus.emit(QapiEvent::Stop);
    for c in [&mut a, &mut b] {
        assert_eq!(c.line(), RESUME);
        assert_eq!(c.line(), STOP);
    }
}

#[test]
fn one_client_at_a_time_per_socket_like_qemu() {
    let env = Env::new();
    let (_s, p) = env.qmp_server("one.sock");
    let mut a = Client::connect(&p);
    a.negotiate(false);
    let mut b = Client::connect(&p);
    // b waits in the backlog; a keeps working.
    assert!(a.cmd(r#"{"execute":"query-name"}"#).contains("testvm"));
    drop(a);
    // Now b is accepted, greeted, and starts in negotiation mode.
    b.negotiate(false);
    assert!(b.cmd(r#"{"execute":"query-status"}"#).contains("prelaunch"));
}

#[test]
fn disconnect_mid_command_then_reconnect() {
    let env = Env::new();
    let (_s, p) = env.qmp_server("dc.sock");
    let mut a = Client::connect(&p);
    a.negotiate(false);
    a.send(r#"{"execute":"cont"}"#);
    assert_eq!(a.line(), RESUME);
    assert_eq!(a.line(), OK);
    let gate = env.m.block_next_stop();
    a.send(r#"{"execute":"stop","id":"lost"}"#);
    drop(a);
    let mut b = Client::connect(&p);
    gate.send(()).unwrap();
    // The old command completed for the old client; b sees a fresh
    // greeting and nothing of a's reply.
    let g = b.line();
    assert!(g.starts_with("{\"QMP\""), "{g}");
    assert_eq!(b.cmd(r#"{"execute":"qmp_capabilities"}"#), OK);
    assert_eq!(
        b.cmd(r#"{"execute":"query-status","id":2}"#),
        "{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": false}, \"id\": 2}\r\n"
    );
}

#[test]
fn oob_command_answered_while_main_loop_busy() {
    let env = Env::new();
    let (_s, p) = env.qmp_server("oob.sock");
    let mut a = Client::connect(&p);
    a.negotiate(true);
    a.send(r#"{"execute":"cont"}"#);
    assert_eq!(a.line(), RESUME);
    assert_eq!(a.line(), OK);
    let gate = env.m.block_next_stop();
    a.send(r#"{"execute":"stop","id":"slow"}"#);
    a.send(r#"{"execute":"query-name","id":"queued"}"#);
    a.send(r#"{"exec-oob":"yank","arguments":{"instances":[]},"id":"fast"}"#);
    // The dispatcher is stuck in `stop`, yet the OOB reply arrives.
    assert_eq!(a.line(), "{\"return\": {}, \"id\": \"fast\"}\r\n");
    gate.send(()).unwrap();
    assert_eq!(a.line(), STOP);
    assert_eq!(a.line(), "{\"return\": {}, \"id\": \"slow\"}\r\n");
    assert_eq!(
        a.line(),
        "{\"return\": {\"name\": \"testvm\"}, \"id\": \"queued\"}\r\n"
    );
}

#[test]
fn oversized_message_is_refused_and_connection_survives() {
    let env = Env::new();
    let (_s, p) = env.qmp_server("big.sock");
    let mut a = Client::connect(&p);
    a.negotiate(false);
    let mut w = a.w.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        w.write_all(b"{\"execute\":\"query-name\",\"id\":\"")
            .unwrap();
        for _ in 0..65 {
            w.write_all(&chunk).unwrap();
        }
        w.write_all(b"\"}\r\n").unwrap();
    });
    assert_eq!(
        a.line(),
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token size limit exceeded\"}}\r\n"
    );
    writer.join().unwrap();
    // The tail of the string is lexed afresh: a keyword, then `"}`.
    // Resynchronise like a QMP client would, with 0xFF.
    a.send("\u{0}");
    let mut l = a.line();
    while !l.contains("stray") {
        l = a.line();
    }
    a.w.write_all(b"\xff{\"execute\":\"query-name\",\"id\":\"after\"}")
        .unwrap();
    let mut l = a.line();
    while !l.contains("\"after\"") {
        l = a.line();
    }
    assert_eq!(
        l,
        "{\"return\": {\"name\": \"testvm\"}, \"id\": \"after\"}\r\n"
    );
}

#[test]
fn stuck_client_is_dropped_without_blocking_others() {
    let env = Env::new();
    let (_s1, p1) = env.qmp_server("stuck.sock");
    let (_s2, p2) = env.qmp_server("live.sock");
    let mut stuck = Client::connect(&p1);
    stuck.negotiate(false);
    let mut live = Client::connect(&p2);
    live.negotiate(false);
    let (batch, batches) = (10_000, 30);
    let n = batch * batches;
    let (ack_tx, ack_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for _ in 0..batches {
            for _ in 0..batch {
                assert_eq!(live.line(), STOP);
            }
            ack_tx.send(()).unwrap();
        }
        live
    });
    // The stuck client never reads: its queue overflows and it is cut off,
    // while emission (the main loop) never blocks. The live client is
    // allowed to catch up after each batch so only the stuck one lags.
    for _ in 0..batches {
        for _ in 0..batch {
            env.core.bus.emit(QapiEvent::Stop);
        }
        ack_rx.recv().unwrap();
    }
    let mut live = reader.join().unwrap();
    assert!(live.cmd(r#"{"execute":"query-name"}"#).contains("testvm"));
    // Drain what the stuck client got before being dropped; it ends in EOF.
    let mut sink = Vec::new();
    let _ = stuck.r.read_to_end(&mut sink);
    assert!(sink.len() < n * 80, "stuck client was cut off");
}

#[test]
fn socket_paths_like_qemu() {
    let env = Env::new();
    // An existing file at the path is replaced, as QEMU does.
    let p = env.path("taken.sock");
    std::fs::write(&p, b"not a socket").unwrap();
    let (_s, p2) = env.qmp_server("taken.sock");
    assert_eq!(p, p2);
    let mut c = Client::connect(&p);
    c.negotiate(false);
    // What cannot be removed or created is a clear start-up error, worded
    // as QEMU 7.2 words it.
    let start = |path: &PathBuf| {
        MonitorServer::start(
            env.core.clone(),
            env.disp.clone(),
            &SocketAddr::Unix(path.clone()),
            MonitorMode::Control,
        )
        .err()
        .unwrap()
        .to_string()
    };
    let dir = env.path("dir.sock");
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(
        start(&dir),
        format!("Failed to unlink socket {}: Is a directory", dir.display())
    );
    let bad = env.path("no/such/dir.sock");
    assert_eq!(
        start(&bad),
        format!(
            "Failed to bind socket to {}: No such file or directory",
            bad.display()
        )
    );
}

#[test]
fn tcp_and_hmp_servers() {
    let env = Env::new();
    let tcp = MonitorServer::start(
        env.core.clone(),
        env.disp.clone(),
        &SocketAddr::Tcp("127.0.0.1:0".into()),
        MonitorMode::Control,
    )
    .unwrap();
    let port = tcp.tcp_port().unwrap();
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    assert!(l.starts_with("{\"QMP\""));

    let hp = env.path("hmp.sock");
    let _hmp = MonitorServer::start(
        env.core.clone(),
        env.disp.clone(),
        &SocketAddr::Unix(hp.clone()),
        MonitorMode::Readline,
    )
    .unwrap();
    let mut h = UnixStream::connect(&hp).unwrap();
    let mut buf = vec![0u8; 256];
    let mut got = Vec::new();
    while !got.ends_with(b"(qemu) ") {
        let n = h.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) "
    );
    // Two commands in one write: QEMU's readline echoes the second only
    // after the first has run (the monitor is suspended meanwhile).
    h.write_all(b"info status\ninfo status\n").unwrap();
    let mut got = String::new();
    while got.matches("(qemu) ").count() < 2 {
        let n = h.read(&mut buf).unwrap();
        got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    let echo: String = (1..="info status".len())
        .map(|i| format!("{}{}\x1b[K", "\x1b[D".repeat(i - 1), &"info status"[..i]))
        .collect();
    let one = format!("{echo}\r\nVM status: paused (prelaunch)\r\n(qemu) ");
    assert_eq!(got, format!("{one}{one}"));
}

#[test]
fn shutdown_works_after_the_socket_path_is_gone() {
    let env = Env::new();
    let (srv, p) = env.qmp_server("gone.sock");
    std::fs::remove_file(&p).unwrap();
    // Must return: the accept thread is woken without connecting to the path.
    srv.shutdown();
}
