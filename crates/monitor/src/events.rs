//! Asynchronous QMP events and the bus that fans them out to every QMP
//! monitor (QEMU: `monitor/qmp.c:monitor_qapi_event_emit()`,
//! `qapi/qmp-event.c`).
//!
//! An event is `{"timestamp": {"seconds": S, "microseconds": US},
//! "event": NAME, "data": {...}}`; events without data have no `data`
//! member (QEMU 7.2: `STOP`, `RESUME`, `POWERDOWN`). Events are delivered
//! synchronously, in emission order, to every registered sink; a QMP
//! monitor drops them while it is still in capabilities negotiation, as
//! QEMU does. Emitting from inside a command handler therefore puts the
//! event on the wire before the command's reply (QEMU 7.2 replies to
//! `cont` with `RESUME` first, then `{"return": {}}`).

use crate::qobject::QDict;
use std::sync::{Arc, Mutex, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

/// QEMU's `ShutdownCause` (the `reason` member of `SHUTDOWN`/`RESET`),
/// shared with the event loop's run-state code.
pub use ferrite_aio::runstate::ShutdownCause;

/// QEMU's `shutdown_caused_by_guest()`: the `guest` member.
pub fn shutdown_caused_by_guest(cause: ShutdownCause) -> bool {
    matches!(
        cause,
        ShutdownCause::GuestShutdown | ShutdownCause::GuestReset | ShutdownCause::GuestPanic
    )
}

/// The events Ferrite emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QapiEvent {
    /// The VM stopped.
    Stop,
    /// The VM resumed.
    Resume,
    /// The VM was reset.
    Reset(ShutdownCause),
    /// The VM is shutting down.
    Shutdown(ShutdownCause),
    /// A power-button press was requested.
    Powerdown,
}

impl QapiEvent {
    /// The event name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            QapiEvent::Stop => "STOP",
            QapiEvent::Resume => "RESUME",
            QapiEvent::Reset(_) => "RESET",
            QapiEvent::Shutdown(_) => "SHUTDOWN",
            QapiEvent::Powerdown => "POWERDOWN",
        }
    }

    /// The `data` member, if the event has one.
    pub fn data(&self) -> Option<QDict> {
        match *self {
            QapiEvent::Reset(c) | QapiEvent::Shutdown(c) => Some(
                QDict::new()
                    .with("guest", shutdown_caused_by_guest(c))
                    .with("reason", c.as_str()),
            ),
            _ => None,
        }
    }
}

/// Build the wire form of an event, timestamped now
/// (`qmp_event_build_dict()`).
pub fn build_event(name: &str, data: Option<QDict>) -> QDict {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ts = QDict::new()
        .with("seconds", now.as_secs() as i64)
        .with("microseconds", i64::from(now.subsec_micros()));
    let mut d = QDict::new().with("event", name).with("timestamp", ts);
    if let Some(data) = data {
        d.put("data", data);
    }
    d
}

/// Something that receives events: a QMP monitor.
pub trait EventSink: Send + Sync {
    /// Deliver one built event. Must not block for long: it runs on the
    /// emitting thread (the main loop in QEMU's design).
    fn deliver(&self, event: &QDict);
}

/// Fans events out to every live sink, in registration order.
#[derive(Default)]
pub struct EventBus {
    sinks: Mutex<Vec<Weak<dyn EventSink>>>,
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Register a sink; it is dropped from the bus when its last `Arc`
    /// goes away.
    pub fn subscribe(&self, sink: Weak<dyn EventSink>) {
        let mut sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        sinks.retain(|s| s.strong_count() > 0);
        sinks.push(sink);
    }

    /// Emit a typed event.
    pub fn emit(&self, event: QapiEvent) {
        self.emit_raw(event.name(), event.data());
    }

    /// Emit an event by name with optional data.
    pub fn emit_raw(&self, name: &str, data: Option<QDict>) {
        let ev = build_event(name, data);
        // Deliver under the lock so that two emitters cannot interleave
        // their events differently on different monitors.
        let sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        for s in sinks.iter().filter_map(Weak::upgrade) {
            s.deliver(&ev);
        }
    }

    /// Number of live sinks.
    pub fn sink_count(&self) -> usize {
        let sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        sinks.iter().filter(|s| s.strong_count() > 0).count()
    }
}
