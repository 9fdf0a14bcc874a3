//! Serve QMP (and optionally HMP) for the fake machine until `quit`.
//!
//! Used by `scripts/test.d/monitor.sh` to drive the monitor with QEMU's own
//! Python client (`qemu.qmp`, `qmp-shell`) before the `virt` board can run,
//! and by the latency benchmark.
//!
//! Usage: `fake_monitor -qmp unix:PATH[,server=on,wait=off] [-qmp ...]
//! [-monitor unix:PATH|tcp:HOST:PORT|stdio]`

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
    // Commands run on the aio main loop in this thread, as in the emulator.
    if let Err(e) = ferrite_aio::main_loop::qemu_init_main_loop() {
        eprintln!("fake_monitor: cannot create the main loop: {e}");
        std::process::exit(1);
    }
    let dispatcher = Dispatcher::start_on_main_loop(core.clone());
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
        let spec = it.next().map(String::as_str).unwrap_or("");
        let started = if spec == "stdio" {
            MonitorServer::start_stdio(core.clone(), dispatcher.clone(), mode)
        } else {
            let Some(addr) = parse_socket_addr(spec) else {
                eprintln!("fake_monitor: {opt} needs stdio, unix:PATH or tcp:HOST:PORT");
                std::process::exit(1);
            };
            MonitorServer::start(core.clone(), dispatcher.clone(), &addr, mode)
        };
        match started {
            Ok(s) => servers.push(s),
            Err(e) => {
                eprintln!("fake_monitor: {e}");
                std::process::exit(1);
            }
        }
    }
    // When a monitor asks to quit, end the main loop the way QEMU does.
    let d = dispatcher.clone();
    std::thread::spawn(move || {
        d.wait_exit();
        ferrite_aio::main_loop::qemu_system_shutdown_request(
            ferrite_aio::runstate::ShutdownCause::HostQmpQuit,
        );
    });
    ferrite_aio::main_loop::qemu_main_loop();
    drop(servers);
}
