//! Serve QMP (and optionally HMP) for the fake machine until `quit`.
//!
//! Used by `scripts/test.d/monitor.sh` to drive the monitor with QEMU's own
//! Python client (`qemu.qmp`, `qmp-shell`) before the `virt` board can run,
//! and by the latency benchmark.
//!
//! Usage: `fake_monitor -qmp unix:PATH[,server=on,wait=off] [-qmp ...]
//! [-monitor unix:PATH]`

use ferrite_monitor::QmpCore;
use ferrite_monitor::events::EventBus;
use ferrite_monitor::machine::VersionInfo;
use ferrite_monitor::server::{Dispatcher, MonitorMode, MonitorServer, parse_socket_addr};
use ferrite_monitor::testing::FakeMachine;
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bus = EventBus::new();
    let machine = FakeMachine::new(bus.clone(), Some("fake"), 1 << 20);
    let core = Arc::new(QmpCore::new(machine, bus, VersionInfo::ferrite()));
    let dispatcher = Dispatcher::start(core.clone());
    let mut servers = Vec::new();
    let mut it = args.iter();
    while let Some(opt) = it.next() {
        let mode = match opt.as_str() {
            "-qmp" => MonitorMode::Control,
            "-monitor" => MonitorMode::Readline,
            _ => {
                eprintln!("fake_monitor: unknown option {opt}");
                std::process::exit(1);
            }
        };
        let Some(addr) = it.next().and_then(|a| parse_socket_addr(a)) else {
            eprintln!("fake_monitor: {opt} needs unix:PATH or tcp:HOST:PORT");
            std::process::exit(1);
        };
        match MonitorServer::start(core.clone(), dispatcher.clone(), &addr, mode) {
            Ok(s) => servers.push(s),
            Err(e) => {
                eprintln!("fake_monitor: {e}");
                std::process::exit(1);
            }
        }
    }
    dispatcher.wait_exit();
    drop(servers);
}
