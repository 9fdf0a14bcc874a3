//! Shared helpers for the monitor's integration tests.
#![allow(dead_code, unreachable_pub)]

use ferrite_monitor::events::EventBus;
use ferrite_monitor::json::JsonMessageParser;
use ferrite_monitor::machine::VersionInfo;
use ferrite_monitor::qmp::{OutputSink, QmpCore, QmpMonitor};
use ferrite_monitor::testing::FakeMachine;
use std::sync::{Arc, Mutex};

/// The version string of the QEMU the transcripts were recorded with.
pub fn oracle_version() -> VersionInfo {
    VersionInfo {
        major: 7,
        minor: 2,
        micro: 22,
        package: "Debian 1:7.2+dfsg-7+deb12u18+b3".into(),
    }
}

/// A fake machine named `testvm` with 1 MiB of RAM, and a core for it.
pub fn core() -> (Arc<FakeMachine>, Arc<QmpCore>) {
    let bus = EventBus::new();
    let m = FakeMachine::new(bus.clone(), Some("testvm"), 1 << 20);
    let core = Arc::new(QmpCore::new(m.clone(), bus, oracle_version()));
    (m, core)
}

/// Collects output lines.
#[derive(Default)]
pub struct Capture(pub Mutex<Vec<u8>>);

impl OutputSink for Capture {
    fn write_line(&self, line: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(line);
    }
}

impl Capture {
    pub fn take(&self) -> String {
        let v = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8(v).unwrap()
    }
}

/// An in-process QMP session (no socket): feeds bytes, runs every request
/// synchronously, returns what the client would read.
pub struct Session {
    pub mon: Arc<QmpMonitor>,
    pub out: Arc<Capture>,
    parser: JsonMessageParser,
}

impl Session {
    pub fn new(core: &Arc<QmpCore>) -> Self {
        let out = Arc::new(Capture::default());
        let mon = QmpMonitor::new(core.clone(), out.clone(), true);
        mon.client_connected();
        Session {
            mon,
            out,
            parser: JsonMessageParser::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> String {
        mask_timestamps(&self.send_raw(bytes))
    }

    /// Like `send`, timestamps left as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> String {
        for m in self.parser.feed_collect(bytes) {
            self.mon.handle(m);
        }
        self.out.take()
    }
}

/// Replace event timestamps by `S`/`U` so transcripts compare exactly.
pub fn mask_timestamps(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    let key = "{\"seconds\": ";
    while let Some(i) = rest.find(key) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find('}').expect("timestamp object ends");
        out.push_str("{\"seconds\": S, \"microseconds\": U}");
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}
