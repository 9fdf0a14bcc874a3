//! The QMP protocol core: command registry, request dispatch and the
//! per-monitor session state (QEMU: `monitor/qmp.c`,
//! `qapi/qmp-dispatch.c`, `qapi/qmp-registry.c`,
//! `monitor/qmp-cmds-control.c`).
//!
//! Transport-independent: a [`QmpMonitor`] writes whole lines to an
//! [`OutputSink`] and is fed parsed requests by whoever reads the bytes
//! (see [`crate::server`]). The session follows QEMU 7.2:
//! - on connect the greeting `{"QMP": {"version": ..., "capabilities":
//!   ["oob"]}}` (`[]` when the transport cannot run OOB);
//! - capabilities negotiation mode: only `qmp_capabilities` exists; any
//!   other command gets `CommandNotFound` "Expecting capabilities
//!   negotiation with 'qmp_capabilities'"; events are not sent;
//! - command mode: every registered command; `qmp_capabilities` again gets
//!   `CommandNotFound` "Capabilities negotiation is already complete,
//!   command ignored";
//! - `exec-oob` is accepted only after `oob` was negotiated, and only for
//!   commands registered `allow_oob`;
//! - request checks in `QDict` order with QEMU's texts ("QMP input member
//!   'foo' is unexpected", ...), then argument checking ([`crate::qapi`]);
//! - replies `{"return": ...}` or `{"error": {"class", "desc"}}`, plus the
//!   request's `id` (any JSON value) when present; parse errors have none.

use crate::error::{ErrorClass, QmpError};
use crate::events::{EventBus, EventSink};
use crate::hmp::Hmp;
use crate::json::{JsonMessage, to_json};
use crate::machine::{MachineControl, VersionInfo};
use crate::qapi::{Member, check_args};
use crate::qobject::{QDict, QObject};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// A command implementation: gets the checked arguments, returns the
/// `return` value (`None` means `{}`, QEMU's default for commands without
/// `returns`).
pub type Handler =
    Arc<dyn Fn(&CommandContext<'_>, &QDict) -> Result<Option<QObject>, QmpError> + Send + Sync>;

/// One registered command (`QmpCommand`).
#[derive(Clone)]
pub struct CommandDef {
    /// The command name.
    pub name: String,
    /// Argument members in schema order.
    pub members: Vec<Member>,
    /// `'allow-oob': true` in the schema.
    pub allow_oob: bool,
    /// The implementation.
    pub handler: Handler,
}

/// The command table (`QmpCommandList`).
#[derive(Default, Clone)]
pub struct CommandRegistry {
    cmds: Vec<CommandDef>,
    index: HashMap<String, usize>,
}

impl CommandRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a command. Registering a name twice is a programming
    /// error and panics.
    pub fn register(
        &mut self,
        name: &str,
        members: Vec<Member>,
        allow_oob: bool,
        handler: impl Fn(&CommandContext<'_>, &QDict) -> Result<Option<QObject>, QmpError>
        + Send
        + Sync
        + 'static,
    ) {
        assert!(
            !self.index.contains_key(name),
            "QMP command {name} registered twice"
        );
        self.index.insert(name.to_owned(), self.cmds.len());
        self.cmds.push(CommandDef {
            name: name.to_owned(),
            members,
            allow_oob,
            handler: Arc::new(handler),
        });
    }

    /// `qmp_find_command()`.
    pub fn find(&self, name: &str) -> Option<&CommandDef> {
        self.index.get(name).map(|&i| &self.cmds[i])
    }

    /// All commands in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &CommandDef> {
        self.cmds.iter()
    }
}

/// Everything the commands of all monitors share.
pub struct QmpCore {
    /// The command table.
    pub registry: CommandRegistry,
    /// The machine.
    pub machine: Arc<dyn MachineControl>,
    /// The event bus monitors subscribe to.
    pub bus: Arc<EventBus>,
    /// What `query-version` and the greeting report.
    pub version: VersionInfo,
    /// HMP state shared by HMP monitors and `human-monitor-command`.
    pub hmp: Hmp,
}

impl QmpCore {
    /// A core with Ferrite's built-in commands registered.
    pub fn new(machine: Arc<dyn MachineControl>, bus: Arc<EventBus>, version: VersionInfo) -> Self {
        let mut registry = CommandRegistry::new();
        crate::commands::register_builtin(&mut registry);
        QmpCore {
            registry,
            machine,
            bus,
            version,
            hmp: Hmp::new(),
        }
    }
}

/// What a command handler can see.
pub struct CommandContext<'a> {
    /// The shared core.
    pub core: &'a QmpCore,
    /// The monitor the command came from.
    pub monitor: &'a QmpMonitor,
}

/// Where a monitor's output goes: one call per complete line (the JSON
/// text followed by `\r\n`). Must not block for long; a transport queues.
pub trait OutputSink: Send + Sync {
    /// Queue one line for the client.
    fn write_line(&self, line: &[u8]);
}

/// One QMP monitor (QEMU's `MonitorQMP`): the session state of the client
/// currently connected to it.
pub struct QmpMonitor {
    core: Arc<QmpCore>,
    out: Arc<dyn OutputSink>,
    /// `capab_offered[QMP_CAPABILITY_OOB]`.
    offer_oob: bool,
    /// False in capabilities negotiation mode.
    negotiated: AtomicBool,
    /// `capab[QMP_CAPABILITY_OOB]`.
    oob_enabled: AtomicBool,
    /// Incremented for each new client, so requests of a client that went
    /// away are not executed for the next one.
    generation: AtomicU64,
}

/// QEMU's QMP capability names (`QMPCapability`).
const QMP_CAPABILITIES: &[&str] = &["oob"];

impl QmpMonitor {
    /// Create a monitor writing to `out` and subscribe it to the event bus.
    /// `offer_oob` says whether the transport can execute `exec-oob`
    /// commands out of band (QEMU offers it for monitors on an I/O thread).
    pub fn new(core: Arc<QmpCore>, out: Arc<dyn OutputSink>, offer_oob: bool) -> Arc<Self> {
        let mon = Arc::new(QmpMonitor {
            core: core.clone(),
            out,
            offer_oob,
            negotiated: AtomicBool::new(false),
            oob_enabled: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        });
        let weak: Weak<QmpMonitor> = Arc::downgrade(&mon);
        core.bus.subscribe(weak);
        mon
    }

    /// The shared core.
    pub fn core(&self) -> &Arc<QmpCore> {
        &self.core
    }

    /// A new client connected (`CHR_EVENT_OPENED`): back to negotiation
    /// mode, send the greeting. Returns the client's generation.
    pub fn client_connected(&self) -> u64 {
        let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.negotiated.store(false, Ordering::SeqCst);
        self.oob_enabled.store(false, Ordering::SeqCst);
        self.respond(&self.greeting());
        g
    }

    /// The client went away (`CHR_EVENT_CLOSED`): its queued requests are
    /// dropped and events stop.
    pub fn client_disconnected(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.negotiated.store(false, Ordering::SeqCst);
        self.oob_enabled.store(false, Ordering::SeqCst);
    }

    /// The current client generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether the monitor has left capabilities negotiation mode.
    pub fn is_negotiated(&self) -> bool {
        self.negotiated.load(Ordering::SeqCst)
    }

    /// `qmp_oob_enabled()`.
    pub fn oob_enabled(&self) -> bool {
        self.oob_enabled.load(Ordering::SeqCst)
    }

    /// The greeting (`qmp_greeting()`).
    pub fn greeting(&self) -> QDict {
        let caps: Vec<QObject> = if self.offer_oob {
            vec!["oob".into()]
        } else {
            vec![]
        };
        let qmp = QDict::new()
            .with("version", self.core.version.to_qdict())
            .with("capabilities", caps);
        QDict::new().with("QMP", qmp)
    }

    /// Send one response or event (`qmp_send_response()`): compact JSON
    /// and `\r\n`.
    pub fn respond(&self, rsp: &QDict) {
        let mut line = to_json(&QObject::Dict(rsp.clone())).into_bytes();
        line.extend_from_slice(b"\r\n");
        self.out.write_line(&line);
    }

    /// `qmp_is_oob()`: the request is to be run out of band (immediately,
    /// in the I/O thread) rather than queued for the main loop.
    pub fn is_oob_request(msg: &JsonMessage) -> bool {
        matches!(msg, Ok(QObject::Dict(d)) if d.contains_key("exec-oob") && !d.contains_key("execute"))
    }

    /// Dispatch a request and send the reply (`monitor_qmp_dispatch()` or,
    /// for a parse error, the dispatcher's error path).
    pub fn handle(&self, msg: JsonMessage) {
        let rsp = self.dispatch(msg);
        self.respond(&rsp);
    }

    /// Compute the reply to one request.
    pub fn dispatch(&self, msg: JsonMessage) -> QDict {
        let req = match msg {
            Ok(r) => r,
            Err(e) => return error_response(&QmpError::generic(e)),
        };
        let negotiating = !self.is_negotiated();
        let mut rsp = self.qmp_dispatch(&req, negotiating);
        if negotiating {
            // Provide a more useful error message (monitor_qmp_dispatch()).
            if let Some(QObject::Dict(err)) = rsp.get("error")
                && err.get("class").and_then(QObject::as_str) == Some("CommandNotFound")
            {
                let mut err = err.clone();
                err.remove("desc");
                err.put(
                    "desc",
                    "Expecting capabilities negotiation with 'qmp_capabilities'",
                );
                rsp.put("error", err);
            }
        }
        rsp
    }

    /// `qmp_dispatch()`.
    fn qmp_dispatch(&self, req: &QObject, negotiating: bool) -> QDict {
        let Some(dict) = req.as_dict() else {
            return error_response(&QmpError::generic("QMP input must be a JSON object"));
        };
        let id = dict.get("id").cloned();
        let mut rsp = match self.dispatch_checked(dict, negotiating) {
            Ok(ret) => QDict::new().with("return", ret.unwrap_or_else(|| QDict::new().into())),
            Err(e) => error_response(&e),
        };
        if let Some(id) = id {
            rsp.put("id", id);
        }
        rsp
    }

    fn dispatch_checked(
        &self,
        dict: &QDict,
        negotiating: bool,
    ) -> Result<Option<QObject>, QmpError> {
        let allow_oob = self.oob_enabled();
        // qmp_dispatch_check_obj(), walking members in QDict order.
        let mut exec_key: Option<&str> = None;
        for (name, value) in dict.iter() {
            match name {
                "execute" | "exec-oob" if name == "execute" || allow_oob => {
                    if !matches!(value, QObject::String(_)) {
                        return Err(QmpError::generic(format!(
                            "QMP input member '{name}' must be a string"
                        )));
                    }
                    if exec_key.is_some() {
                        return Err(QmpError::generic(
                            "QMP input member 'execute' clashes with 'exec-oob'",
                        ));
                    }
                    exec_key = Some(name);
                }
                "arguments" => {
                    if !matches!(value, QObject::Dict(_)) {
                        return Err(QmpError::generic(
                            "QMP input member 'arguments' must be an object",
                        ));
                    }
                }
                "id" => {}
                _ => {
                    return Err(QmpError::generic(format!(
                        "QMP input member '{name}' is unexpected"
                    )));
                }
            }
        }
        let Some(exec_key) = exec_key else {
            return Err(QmpError::generic("QMP input lacks member 'execute'"));
        };
        let oob = exec_key == "exec-oob";
        let command = dict.get(exec_key).and_then(QObject::as_str).unwrap_or("");
        // In negotiation mode the command list has qmp_capabilities only.
        let cmd = if negotiating && command != "qmp_capabilities" {
            None
        } else {
            self.core.registry.find(command)
        };
        let Some(cmd) = cmd else {
            return Err(QmpError::with_class(
                ErrorClass::CommandNotFound,
                format!("The command {command} has not been found"),
            ));
        };
        if oob && !cmd.allow_oob {
            return Err(QmpError::generic(format!(
                "The command {command} does not support OOB"
            )));
        }
        let empty = QDict::new();
        let args = match dict.get("arguments") {
            Some(QObject::Dict(a)) => a,
            _ => &empty,
        };
        check_args(&cmd.members, args)?;
        let ctx = CommandContext {
            core: &self.core,
            monitor: self,
        };
        (cmd.handler)(&ctx, args)
    }

    /// `qmp_qmp_capabilities()`: called by the `qmp_capabilities` handler.
    pub(crate) fn negotiate(&self, enable: &[String]) -> Result<(), QmpError> {
        if self.is_negotiated() {
            return Err(QmpError::with_class(
                ErrorClass::CommandNotFound,
                "Capabilities negotiation is already complete, command ignored",
            ));
        }
        let oob = enable.iter().any(|c| c == "oob");
        if oob && !self.offer_oob {
            return Err(QmpError::generic(
                "Capability 'oob' not available with this monitor",
            ));
        }
        debug_assert!(
            enable
                .iter()
                .all(|c| QMP_CAPABILITIES.contains(&c.as_str()))
        );
        self.oob_enabled.store(oob, Ordering::SeqCst);
        self.negotiated.store(true, Ordering::SeqCst);
        Ok(())
    }
}

impl EventSink for QmpMonitor {
    fn deliver(&self, event: &QDict) {
        // monitor_qapi_event_emit(): not to monitors still negotiating.
        if self.is_negotiated() {
            self.respond(event);
        }
    }
}

/// `qmp_error_response()`.
pub fn error_response(e: &QmpError) -> QDict {
    QDict::new().with("error", e.to_qdict())
}

/// The QMP capability enum values, for the `qmp_capabilities` schema.
pub(crate) fn capability_names() -> &'static [&'static str] {
    QMP_CAPABILITIES
}
