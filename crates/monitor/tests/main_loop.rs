//! In-band commands dispatched on the `ferrite-aio` main loop: they run in
//! the main loop thread with the BQL held, while `exec-oob` commands are
//! answered by the connection's I/O thread even when the main loop is busy.
//! A test binary of its own: the main loop is process-global.

mod common;
use ferrite_monitor::QmpCore;
use ferrite_monitor::events::EventBus;
use ferrite_monitor::server::{Dispatcher, MonitorMode, MonitorServer, SocketAddr};
use ferrite_monitor::testing::FakeMachine;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

#[test]
fn commands_run_on_the_main_loop_under_the_bql() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("main-loop".into())
        .spawn(move || {
            ferrite_aio::main_loop::qemu_init_main_loop().unwrap();
            tx.send(()).unwrap();
            ferrite_aio::main_loop::qemu_main_loop();
        })
        .unwrap();
    rx.recv().unwrap();

    let bus = EventBus::new();
    let m = FakeMachine::new(bus.clone(), Some("ml"), 4096);
    let mut core = QmpCore::new(m.clone(), bus, common::oracle_version());
    core.registry
        .register("x-where", vec![], false, |_ctx, _args| {
            let d = ferrite_monitor::QDict::new()
                .with("bql", ferrite_aio::bql::bql_locked())
                .with(
                    "thread",
                    std::thread::current().name().unwrap_or("").to_owned(),
                );
            Ok(Some(d.into()))
        });
    let core = Arc::new(core);
    let disp = Dispatcher::start_on_main_loop(core.clone());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ml.sock");
    let _srv = MonitorServer::start(
        core,
        disp.clone(),
        &SocketAddr::Unix(p.clone()),
        MonitorMode::Control,
    )
    .unwrap();

    let mut w = UnixStream::connect(&p).unwrap();
    let mut r = BufReader::new(w.try_clone().unwrap());
    let mut line = || {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        common::mask_timestamps(&l)
    };
    assert!(line().starts_with("{\"QMP\""));
    w.write_all(br#"{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}"#)
        .unwrap();
    assert_eq!(line(), "{\"return\": {}}\r\n");
    w.write_all(br#"{"execute":"x-where"}"#).unwrap();
    assert_eq!(
        line(),
        "{\"return\": {\"thread\": \"main-loop\", \"bql\": true}}\r\n"
    );
    // Busy main loop: `stop` blocks inside the main loop; OOB still answers.
    w.write_all(br#"{"execute":"cont"}"#).unwrap();
    assert!(line().contains("RESUME"));
    assert_eq!(line(), "{\"return\": {}}\r\n");
    let gate = m.block_next_stop();
    w.write_all(
        br#"{"execute":"stop","id":1}{"exec-oob":"yank","arguments":{"instances":[]},"id":2}"#,
    )
    .unwrap();
    assert_eq!(line(), "{\"return\": {}, \"id\": 2}\r\n");
    gate.send(()).unwrap();
    assert!(line().contains("STOP"));
    assert_eq!(line(), "{\"return\": {}, \"id\": 1}\r\n");
    // quit: reply, then the monitors shut down.
    w.write_all(br#"{"execute":"quit"}"#).unwrap();
    assert!(line().contains("SHUTDOWN"));
    assert_eq!(line(), "{\"return\": {}}\r\n");
    assert_eq!(line(), "");
    disp.wait_exit();
}
