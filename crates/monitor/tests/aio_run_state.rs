//! QMP events from the event loop's run state (`ferrite_aio::runstate`).
//! A test binary of its own: aio's run state is process-global.

mod common;
use common::Capture;
use ferrite_aio::bql::with_bql;
use ferrite_aio::runstate::{RunState, vm_start, vm_stop};
use ferrite_monitor::events::EventBus;
use ferrite_monitor::machine::VersionInfo;
use ferrite_monitor::qmp::{QmpCore, QmpMonitor};
use ferrite_monitor::runstate::connect_aio_run_state;
use ferrite_monitor::testing::FakeMachine;
use std::sync::Arc;

#[test]
fn vm_start_and_stop_emit_resume_and_stop() {
    let bus = EventBus::new();
    let _entry = connect_aio_run_state(bus.clone());
    let m = FakeMachine::new(bus.clone(), None, 4096);
    let core = Arc::new(QmpCore::new(m, bus, VersionInfo::ferrite()));
    let out = Arc::new(Capture::default());
    let mon = QmpMonitor::new(core, out.clone(), false);
    mon.client_connected();
    let mut p = ferrite_monitor::json::JsonMessageParser::new();
    for msg in p.feed_collect(br#"{"execute":"qmp_capabilities"}"#) {
        mon.handle(msg);
    }
    out.take();
    with_bql(vm_start);
    with_bql(|| vm_stop(RunState::Paused));
    // Stopping a stopped VM changes the state only: no event.
    with_bql(|| vm_stop(RunState::Paused));
    let events = common::mask_timestamps(&out.take());
    assert_eq!(
        events,
        "{\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"RESUME\"}\r\n\
         {\"timestamp\": {\"seconds\": S, \"microseconds\": U}, \"event\": \"STOP\"}\r\n"
    );
}
