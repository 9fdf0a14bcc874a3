//! Monitors from the command line (QEMU: `system/vl.c`
//! `monitor_parse()`/`mon_init_func()`, `chardev/char.c`
//! `qemu_chr_parse_compat()`, `chardev/char-socket.c`).
//!
//! `-qmp SPEC`, `-monitor SPEC` and `-chardev ...,id=ID` plus
//! `-mon chardev=ID,mode=control|readline` become [`MonitorSpec`]s
//! ([`monitor_specs`]), which [`start_monitors`] turns into servers whose
//! commands run on the `ferrite-aio` main loop. The forms accepted:
//! `stdio`, `unix:PATH,server=on,wait=off`, `tcp:HOST:PORT,server=on,wait=off`
//! (also the legacy `server,nowait`), `none`; `-chardev socket` with
//! `path=` or `host=`/`port=`, and `-chardev stdio`. Errors use QEMU 7.2's
//! texts. Client-mode sockets (`server=off`) and `wait=on` (block at
//! start-up until a client connects) are refused with a clear message.

use std::sync::Arc;

use ferrite_aio::main_loop::qemu_system_shutdown_request;
use ferrite_aio::runstate::ShutdownCause;
use ferrite_hw::chardev::CharBackend;
use ferrite_hw::chardev::mux::{MuxEscape, MuxEvent, TERMINATED};
use ferrite_monitor::QmpCore;
use ferrite_monitor::hmp::to_crlf;
use ferrite_monitor::mux::MuxHmp;
use ferrite_monitor::server::{Dispatcher, MonitorMode, MonitorServer, SocketAddr};

use crate::CliError;
use crate::config::VmConfig;
use crate::opts::{parse_bool, parse_qemu_opts};

/// Where a monitor talks to its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorBackend {
    /// The process's stdin/stdout.
    Stdio,
    /// A listening socket.
    Socket(SocketAddr),
}

/// One monitor to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorSpec {
    /// QMP or HMP.
    pub mode: MonitorMode,
    /// Its transport.
    pub backend: MonitorBackend,
    /// The chardev's id (`compat_monitorN` for `-qmp`/`-monitor`).
    pub label: String,
    /// The chardev's `filename` as `info chardev` shows it.
    pub filename: String,
    /// The option as typed, for start-up errors.
    pub location: String,
}

/// The socket options of a compat spec or a `-chardev socket`.
struct SocketOpts {
    server: bool,
    wait: bool,
}

fn socket_opts(
    params: &[(String, String)],
    location: &str,
    allowed_extra: &[&str],
) -> Result<SocketOpts, CliError> {
    let mut o = SocketOpts {
        server: false,
        wait: true,
    };
    for (k, v) in params {
        match k.as_str() {
            "server" => o.server = parse_bool(k, v).map_err(|e| CliError::at(location, e))?,
            "wait" => o.wait = parse_bool(k, v).map_err(|e| CliError::at(location, e))?,
            "nodelay" | "telnet" | "websocket" | "reconnect" | "tight" | "abstract" => {}
            k if allowed_extra.contains(&k) => {}
            _ => return Err(CliError::at(location, format!("Invalid parameter '{k}'"))),
        }
    }
    Ok(o)
}

fn check_server(o: &SocketOpts, location: &str, what: &str) -> Result<(), CliError> {
    if !o.server {
        return Err(CliError::at(
            location,
            format!(
                "client sockets are not supported by this version of ferrite; listen with {what},server=on,wait=off"
            ),
        ));
    }
    if o.wait {
        return Err(CliError::at(
            location,
            format!(
                "waiting for a client at start-up (wait=on, the default) is not supported by this version of ferrite; use {what},server=on,wait=off"
            ),
        ));
    }
    Ok(())
}

/// `qemu_chr_parse_compat()` for the forms a monitor can use. `Ok(None)`
/// is `-monitor none` (no monitor; QEMU refuses `-qmp none`).
fn parse_compat(
    spec: &str,
    location: &str,
    allow_none: bool,
) -> Result<Option<(MonitorBackend, String)>, Vec<CliError>> {
    let not_valid = || {
        vec![
            CliError::at(location, format!("'{spec}' is not a valid char driver")),
            CliError::at(location, format!("parse error: {spec}")),
        ]
    };
    if spec == "none" && allow_none {
        return Ok(None);
    }
    if spec == "stdio" {
        return Ok(Some((MonitorBackend::Stdio, "stdio".into())));
    }
    let (main, rest) = match spec.find(',') {
        Some(i) => (&spec[..i], &spec[i + 1..]),
        None => (spec, ""),
    };
    let (params, _) = parse_qemu_opts(rest, None).map_err(|e| vec![CliError::at(location, e)])?;
    let (addr, what) = if let Some(p) = main.strip_prefix("unix:") {
        if p.is_empty() {
            return Err(vec![CliError::at(location, "Unable to parse FD number ")]);
        }
        (SocketAddr::Unix(p.into()), main)
    } else if let Some(hp) = main.strip_prefix("tcp:") {
        (SocketAddr::Tcp(hp.to_owned()), main)
    } else {
        return Err(not_valid());
    };
    let o = socket_opts(&params, location, &[])
        .map_err(|e| vec![e, CliError::at(location, format!("parse error: {spec}"))])?;
    check_server(&o, location, what).map_err(|e| vec![e])?;
    Ok(Some((
        MonitorBackend::Socket(addr),
        format!("{main},server=on"),
    )))
}

/// The monitors the command line asks for, in QEMU's creation order
/// (`-mon`s, then `-qmp`/`-monitor` in command-line order, as QEMU's
/// `monitor_parse()` turns those into `-mon`s). Each returned error is one
/// line QEMU would print; the caller prints all and exits 1.
pub fn monitor_specs(cfg: &VmConfig) -> Result<Vec<MonitorSpec>, Vec<CliError>> {
    let mut out = Vec::new();
    let mut stdio_used = false;
    let mut check_stdio = |b: &MonitorBackend, loc: &str| -> Result<(), Vec<CliError>> {
        if *b == MonitorBackend::Stdio {
            if stdio_used {
                return Err(vec![CliError::at(
                    loc,
                    "cannot use stdio by multiple character devices",
                )]);
            }
            stdio_used = true;
        }
        Ok(())
    };
    // -chardev ids must be unique.
    for (i, c) in cfg.chardevs.iter().enumerate() {
        let Some(id) = c.get("id") else {
            return Err(vec![CliError::at(&c.location, "chardev: no id specified")]);
        };
        if cfg.chardevs[..i].iter().any(|p| p.get("id") == Some(id)) {
            return Err(vec![CliError::at(
                &c.location,
                format!("Duplicate ID '{id}' for chardev"),
            )]);
        }
    }
    for m in &cfg.mons {
        let loc = m.location.as_str();
        let Some(id) = m.get("chardev") else {
            return Err(vec![CliError::at(loc, "Parameter 'chardev' is missing")]);
        };
        let mode = match m.get("mode").unwrap_or("readline") {
            "readline" => MonitorMode::Readline,
            "control" => MonitorMode::Control,
            v => {
                return Err(vec![CliError::at(
                    loc,
                    format!("Parameter 'mode' does not accept value '{v}'"),
                )]);
            }
        };
        if let Some((k, _)) = m
            .params
            .iter()
            .find(|(k, _)| !matches!(k.as_str(), "chardev" | "mode" | "pretty"))
        {
            return Err(vec![CliError::at(loc, format!("Invalid parameter '{k}'"))]);
        }
        let Some(c) = cfg.chardevs.iter().find(|c| c.get("id") == Some(id)) else {
            return Err(vec![CliError::at(
                loc,
                format!("chardev \"{id}\" not found"),
            )]);
        };
        let cloc = c.location.as_str();
        if cfg.serials.first().and_then(|s| s.strip_prefix("chardev:")) == Some(id) {
            // -serial chardev:ID and -mon chardev=ID: only a mux can
            // carry both.
            if shared_mux_chardev(cfg) != Some(id) {
                return Err(vec![CliError::plain(format!("Device '{id}' is in use"))]);
            }
            if mode == MonitorMode::Control {
                return Err(vec![CliError::at(
                    loc,
                    "QMP on a multiplexed stdio chardev is not supported by this version of ferrite; use -qmp with a socket",
                )]);
            }
            // The HMP monitor is the mux's second front end (StdioMux),
            // not a server of its own.
            continue;
        }
        let (backend, filename) = match c.get("backend").unwrap_or("") {
            "stdio" => (MonitorBackend::Stdio, "stdio".to_owned()),
            "socket" => {
                let rest: Vec<(String, String)> = c
                    .params
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "backend" | "id"))
                    .cloned()
                    .collect();
                let o = socket_opts(&rest, cloc, &["path", "host", "port"]).map_err(|e| vec![e])?;
                let (addr, main) = match (c.get("path"), c.get("host"), c.get("port")) {
                    (Some(p), _, _) => (SocketAddr::Unix(p.into()), format!("unix:{p}")),
                    (None, h, Some(port)) => {
                        let h = h.unwrap_or("");
                        (
                            SocketAddr::Tcp(format!("{h}:{port}")),
                            format!("tcp:{h}:{port}"),
                        )
                    }
                    _ => {
                        return Err(vec![CliError::at(cloc, "Unable to parse FD number ")]);
                    }
                };
                check_server(&o, cloc, &main).map_err(|e| vec![e])?;
                (MonitorBackend::Socket(addr), format!("{main},server=on"))
            }
            b @ ("null" | "file" | "pipe" | "pty" | "udp" | "ringbuf" | "memory" | "mux"
            | "serial" | "tty" | "parallel" | "vc" | "msmouse" | "braille" | "testdev"
            | "spicevmc" | "spiceport" | "qemu-vdagent" | "dbus") => {
                return Err(vec![CliError::at(
                    cloc,
                    format!(
                        "chardev backend '{b}' cannot carry a monitor in this version of ferrite (use socket or stdio)"
                    ),
                )]);
            }
            b => {
                return Err(vec![CliError::at(
                    cloc,
                    format!("'{b}' is not a valid char driver name"),
                )]);
            }
        };
        check_stdio(&backend, cloc)?;
        out.push(MonitorSpec {
            mode,
            backend,
            label: id.to_owned(),
            filename,
            location: loc.to_owned(),
        });
    }
    // QEMU numbers the chardevs of -monitor and -qmp together
    // (compat_monitor0, compat_monitor1, ...) in command-line order; the
    // config keeps the two lists apart, so -monitor comes first here.
    let mut n = 0;
    let compat = cfg
        .monitors
        .iter()
        .map(|s| (s, MonitorMode::Readline, "-monitor"))
        .chain(cfg.qmps.iter().map(|s| (s, MonitorMode::Control, "-qmp")));
    for (spec, mode, opt) in compat {
        let loc = format!("{opt} {spec}");
        let Some((backend, filename)) = parse_compat(spec, &loc, mode == MonitorMode::Readline)?
        else {
            continue;
        };
        check_stdio(&backend, &loc)?;
        out.push(MonitorSpec {
            mode,
            backend,
            label: format!("compat_monitor{n}"),
            filename,
            location: loc,
        });
        n += 1;
    }
    // QEMU creates the serial chardev after the monitors', so a serial
    // port on stdio is the one refused.
    if out.iter().any(|m| m.backend == MonitorBackend::Stdio) {
        let serial = cfg.serials.first().map(String::as_str);
        match serial {
            Some(s @ ("stdio" | "mon:stdio")) => {
                let loc = format!("-serial {s}");
                return Err(vec![
                    CliError::at(&loc, "cannot use stdio by multiple character devices"),
                    CliError::at(
                        &loc,
                        format!("could not connect serial device to character backend '{s}'"),
                    ),
                ]);
            }
            None if cfg.nographic => {
                return Err(vec![
                    CliError::plain("cannot use stdio by multiple character devices"),
                    CliError::plain("could not connect serial device to character backend 'stdio'"),
                ]);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The console's stdio backend as `-serial`/`-nographic` choose it
/// (QEMU: `qemu_chr_parse_compat()` and `vl.c`'s `-nographic` defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StdioConsole {
    /// The Ctrl-A mux sits between the terminal and the front ends.
    pub mux: bool,
    /// An HMP monitor shares the mux (Ctrl-A c reaches it).
    pub monitor: bool,
    /// Ctrl-C ends the emulator (`signal=on`) instead of reaching the
    /// guest.
    pub signals: bool,
}

impl StdioConsole {
    /// `-serial stdio`: the terminal is the serial port's alone.
    pub const PLAIN: StdioConsole = StdioConsole {
        mux: false,
        monitor: false,
        signals: true,
    };
    /// `-serial mon:stdio`, and `-nographic` without a monitor option:
    /// serial port and HMP monitor on the Ctrl-A mux; Ctrl-C goes to the
    /// guest (QEMU sets `signal=off` for the `mon:` syntax).
    pub const MON_STDIO: StdioConsole = StdioConsole {
        mux: true,
        monitor: true,
        signals: false,
    };
}

/// The `-chardev stdio,...` with this `id`, if there is one.
fn stdio_chardev<'a>(cfg: &'a VmConfig, id: &str) -> Option<&'a crate::config::OptsConfig> {
    cfg.chardevs
        .iter()
        .find(|c| c.get("id") == Some(id) && c.get("backend") == Some("stdio"))
}

fn opt_bool(c: &crate::config::OptsConfig, key: &str, default: bool) -> Result<bool, CliError> {
    match c.get(key) {
        Some(v) => parse_bool(key, v).map_err(|e| CliError::at(&c.location, e)),
        None => Ok(default),
    }
}

/// The `-chardev stdio,mux=on,id=ID` that `-serial chardev:ID` and a
/// `-mon chardev=ID` share, if the command line sets that up.
fn shared_mux_chardev(cfg: &VmConfig) -> Option<&str> {
    let id = cfg.serials.first()?.strip_prefix("chardev:")?;
    let c = stdio_chardev(cfg, id)?;
    let mux = opt_bool(c, "mux", false).unwrap_or(false);
    (mux && cfg.mons.iter().any(|m| m.get("chardev") == Some(id))).then_some(id)
}

/// How the console uses stdio, if it does: `-serial` as given (`stdio`,
/// `mon:stdio`, or `chardev:ID` naming a `-chardev stdio` — with
/// `mux=on` and a `-mon chardev=ID` the monitor shares the mux), else
/// `-nographic`'s default — `mon:stdio` unless the command line configures
/// a monitor itself (QEMU clears `default_monitor` for `-monitor`, `-qmp`
/// and `-mon`), then plain `stdio`. Without `-nographic` and `-serial`
/// QEMU would open a graphical console; ferrite has none and uses the
/// terminal, like `-serial stdio`.
pub fn stdio_console(cfg: &VmConfig) -> Result<Option<StdioConsole>, CliError> {
    Ok(match cfg.serials.first().map(String::as_str) {
        Some("stdio") => Some(StdioConsole::PLAIN),
        Some("mon:stdio") => Some(StdioConsole::MON_STDIO),
        Some(s) if s.starts_with("chardev:") => {
            let id = &s["chardev:".len()..];
            let Some(c) = stdio_chardev(cfg, id) else {
                return Ok(None);
            };
            Some(StdioConsole {
                mux: opt_bool(c, "mux", false)?,
                monitor: shared_mux_chardev(cfg).is_some(),
                // -chardev syntax: signal=on unless said otherwise.
                signals: opt_bool(c, "signal", true)?,
            })
        }
        Some(_) => None,
        None if cfg.nographic
            && cfg.monitors.is_empty()
            && cfg.qmps.is_empty()
            && cfg.mons.is_empty() =>
        {
            Some(StdioConsole::MON_STDIO)
        }
        None => Some(StdioConsole::PLAIN),
    })
}

/// What the terminal sends to the serial front end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerialInput {
    /// Bytes for the UART's receive path.
    Data(Vec<u8>),
    /// `C-a b`: a break condition (Linux's magic SysRq).
    Break,
}

/// The terminal side of `-serial mon:stdio` (QEMU: `chardev/char-mux.c`
/// with the HMP monitor of `monitor/hmp.c` as the second front end).
///
/// Input goes through the Ctrl-A decoder; `C-a c` moves the focus between
/// the serial port and the monitor, `C-a h` prints the help, `C-a x` quits,
/// `C-a b` sends a break to the serial port. While the monitor has focus,
/// what is typed goes to QEMU's line editor (echo included, the terminal
/// being raw) and each line runs as an HMP command right here, in the main
/// loop thread with the BQL held, as QEMU's `monitor_read()` does. Output of
/// both front ends goes to the terminal, whoever has focus.
pub struct StdioMux {
    /// None for a plain console: QEMU's stdio chardev without a mux passes
    /// Ctrl-A through.
    escape: Option<MuxEscape>,
    out: Arc<dyn CharBackend>,
    monitor: Option<(Arc<QmpCore>, MuxHmp)>,
    monitor_focus: bool,
}

impl StdioMux {
    /// Bytes from the terminal: acts on escapes and monitor input, and
    /// returns what the serial port receives.
    pub fn feed(&mut self, data: &[u8]) -> Vec<SerialInput> {
        let mut serial = Vec::new();
        let events = match &mut self.escape {
            Some(e) => e.feed(data),
            None => return vec![SerialInput::Data(data.to_vec())],
        };
        for ev in events {
            match ev {
                MuxEvent::Data(d) if self.monitor_focus => self.monitor_input(&d),
                MuxEvent::Data(d) => serial.push(SerialInput::Data(d)),
                MuxEvent::Help => {
                    if let Some(e) = &self.escape {
                        self.out.write(&e.help_text());
                    }
                }
                MuxEvent::Quit => {
                    self.out.write(TERMINATED.as_bytes());
                    qemu_system_shutdown_request(ShutdownCause::HostQmpQuit);
                }
                // The monitor has no use for a break.
                MuxEvent::Break if self.monitor_focus => {}
                MuxEvent::Break => serial.push(SerialInput::Break),
                MuxEvent::SwitchFocus => self.switch_focus(),
                // No timestamps or -snapshot disks in this version.
                MuxEvent::ToggleTimestamps | MuxEvent::CommitDisks => {}
            }
        }
        serial
    }

    /// Whether the monitor has the focus.
    pub fn monitor_has_focus(&self) -> bool {
        self.monitor_focus
    }

    /// `mux_set_focus()`: `CHR_EVENT_MUX_OUT` to the front end losing
    /// focus, `CHR_EVENT_MUX_IN` to the one gaining it. A mux without a
    /// monitor has one front end and nothing to switch.
    fn switch_focus(&mut self) {
        let Some((core, hmp)) = &mut self.monitor else {
            return;
        };
        let text = if self.monitor_focus {
            hmp.focus_out().to_owned()
        } else {
            let v = &core.version;
            hmp.focus_in(&format!("{}.{}.{}", v.major, v.minor, v.micro))
        };
        self.monitor_focus = !self.monitor_focus;
        self.out.write(text.as_bytes());
    }

    fn monitor_input(&mut self, data: &[u8]) {
        let Some((core, hmp)) = &mut self.monitor else {
            return;
        };
        for &b in data {
            let mut echo = Vec::new();
            let line = hmp.input(b, &mut echo);
            if !echo.is_empty() {
                self.out.write(&echo);
            }
            let Some(line) = line else {
                continue;
            };
            let mut reply = to_crlf(&core.hmp.run_line(core, &line, None));
            // After `quit` the monitor prints no prompt.
            if !core.machine.exit_requested() {
                reply.push_str("(qemu) ");
                hmp.prompt_shown();
            }
            self.out.write(reply.as_bytes());
        }
    }
}

/// The running monitors.
pub struct Monitors {
    core: Arc<QmpCore>,
    dispatcher: Arc<Dispatcher>,
    servers: Vec<MonitorServer>,
}

/// Starts every monitor on the main loop (which must be initialised).
/// A socket that cannot be bound is reported with QEMU's text.
pub fn start_monitors(core: &Arc<QmpCore>, specs: &[MonitorSpec]) -> Result<Monitors, CliError> {
    let dispatcher = Dispatcher::start_on_main_loop(core.clone());
    let mut servers = Vec::new();
    for s in specs {
        let started = match &s.backend {
            MonitorBackend::Stdio => {
                MonitorServer::start_stdio(core.clone(), dispatcher.clone(), s.mode)
            }
            MonitorBackend::Socket(addr) => {
                MonitorServer::start(core.clone(), dispatcher.clone(), addr, s.mode)
            }
        };
        match started {
            Ok(srv) => servers.push(srv),
            Err(e) => {
                dispatcher.exit();
                return Err(CliError::at(&s.location, e.to_string()));
            }
        }
    }
    Ok(Monitors {
        core: core.clone(),
        dispatcher,
        servers,
    })
}

impl Monitors {
    /// Whether no monitor was configured.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The terminal side of a stdio console writing to `out`: the Ctrl-A
    /// mux (with an HMP monitor on it) or input passed straight through,
    /// as `kind` says.
    pub fn stdio_mux(&self, kind: StdioConsole, out: Arc<dyn CharBackend>) -> StdioMux {
        let monitor = (kind.mux && kind.monitor).then(|| (self.core.clone(), MuxHmp::new()));
        StdioMux {
            escape: kind.mux.then(MuxEscape::default),
            out,
            monitor,
            monitor_focus: false,
        }
    }

    /// Ends every monitor after the main loop has exited: sends what is
    /// queued (e.g. the reply to `quit`, the `SHUTDOWN` event), closes the
    /// connections and removes the socket files.
    pub fn shutdown(self) {
        self.dispatcher.exit();
        for s in self.servers {
            s.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Action, parse};

    fn cfg(args: &[&str]) -> VmConfig {
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&a) {
            Ok(Action::Run(c)) => *c,
            other => panic!("unexpected parse result {other:?}"),
        }
    }

    fn errs(args: &[&str]) -> Vec<String> {
        monitor_specs(&cfg(args))
            .expect_err("should fail")
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn qmp_and_monitor_specs() {
        let c = cfg(&[
            "-monitor",
            "stdio",
            "-qmp",
            "unix:/tmp/a.sock,server=on,wait=off",
            "-qmp",
            "tcp:127.0.0.1:0,server,nowait",
        ]);
        let s = monitor_specs(&c).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].mode, MonitorMode::Readline);
        assert_eq!(s[0].backend, MonitorBackend::Stdio);
        assert_eq!(s[0].label, "compat_monitor0");
        assert_eq!(s[1].mode, MonitorMode::Control);
        assert_eq!(
            s[1].backend,
            MonitorBackend::Socket(SocketAddr::Unix("/tmp/a.sock".into()))
        );
        assert_eq!(s[1].filename, "unix:/tmp/a.sock,server=on");
        assert_eq!(
            s[2].backend,
            MonitorBackend::Socket(SocketAddr::Tcp("127.0.0.1:0".into()))
        );
        assert_eq!(s[2].label, "compat_monitor2");
    }

    #[test]
    fn chardev_and_mon() {
        let c = cfg(&[
            "-chardev",
            "socket,id=c0,path=/tmp/c0.sock,server=on,wait=off",
            "-mon",
            "chardev=c0,mode=control",
            "-chardev",
            "socket,id=c1,host=127.0.0.1,port=0,server=on,wait=off",
            "-mon",
            "c1",
        ]);
        let s = monitor_specs(&c).unwrap();
        assert_eq!(s[0].mode, MonitorMode::Control);
        assert_eq!(s[0].label, "c0");
        assert_eq!(
            s[0].backend,
            MonitorBackend::Socket(SocketAddr::Unix("/tmp/c0.sock".into()))
        );
        assert_eq!(s[1].mode, MonitorMode::Readline);
        assert_eq!(s[1].filename, "tcp:127.0.0.1:0,server=on");
        assert!(
            monitor_specs(&cfg(&["-monitor", "none"]))
                .unwrap()
                .is_empty()
        );
    }

    /// The texts are QEMU 7.2's (qemu-system-riscv64 -M spike ...).
    #[test]
    fn qemu_error_texts() {
        assert_eq!(
            errs(&["-qmp", "foo:bar"]),
            [
                "-qmp foo:bar: 'foo:bar' is not a valid char driver",
                "-qmp foo:bar: parse error: foo:bar"
            ]
        );
        assert_eq!(
            errs(&["-qmp", "none"]),
            [
                "-qmp none: 'none' is not a valid char driver",
                "-qmp none: parse error: none"
            ]
        );
        assert_eq!(
            errs(&["-qmp", "unix:/tmp/q.sock,server=on,wait=off,bogus=1"]),
            [
                "-qmp unix:/tmp/q.sock,server=on,wait=off,bogus=1: Invalid parameter 'bogus'",
                "-qmp unix:/tmp/q.sock,server=on,wait=off,bogus=1: parse error: unix:/tmp/q.sock,server=on,wait=off,bogus=1"
            ]
        );
        assert_eq!(
            errs(&["-mon", "chardev=nope"]),
            ["-mon chardev=nope: chardev \"nope\" not found"]
        );
        assert_eq!(
            errs(&["-mon", "mode=control"]),
            ["-mon mode=control: Parameter 'chardev' is missing"]
        );
        assert_eq!(
            errs(&[
                "-chardev",
                "socket,id=c0,path=/tmp/c0.sock,server=on,wait=off",
                "-mon",
                "chardev=c0,mode=bogus"
            ]),
            ["-mon chardev=c0,mode=bogus: Parameter 'mode' does not accept value 'bogus'"]
        );
        assert_eq!(
            errs(&["-chardev", "socket,id=c0", "-mon", "c0"]),
            ["-chardev socket,id=c0: Unable to parse FD number "]
        );
        assert_eq!(
            errs(&["-chardev", "socket,path=/tmp/x"]),
            ["-chardev socket,path=/tmp/x: chardev: no id specified"]
        );
        assert_eq!(
            errs(&["-chardev", "bogus,id=x", "-mon", "x"]),
            ["-chardev bogus,id=x: 'bogus' is not a valid char driver name"]
        );
        assert_eq!(
            errs(&[
                "-chardev",
                "socket,id=c0,path=/tmp/a,server=on,wait=off",
                "-chardev",
                "socket,id=c0,path=/tmp/b,server=on,wait=off"
            ]),
            ["-chardev socket,id=c0,path=/tmp/b,server=on,wait=off: Duplicate ID 'c0' for chardev"]
        );
        assert_eq!(
            errs(&["-monitor", "stdio", "-qmp", "stdio"]),
            ["-qmp stdio: cannot use stdio by multiple character devices"]
        );
        assert_eq!(
            errs(&["-serial", "mon:stdio", "-monitor", "stdio"]),
            [
                "-serial mon:stdio: cannot use stdio by multiple character devices",
                "-serial mon:stdio: could not connect serial device to character backend 'mon:stdio'"
            ]
        );
        assert_eq!(
            errs(&["-nographic", "-monitor", "stdio"]),
            [
                "cannot use stdio by multiple character devices",
                "could not connect serial device to character backend 'stdio'"
            ]
        );
        assert_eq!(
            errs(&["-qmp", "unix:"]),
            ["-qmp unix:: Unable to parse FD number "]
        );
    }

    #[test]
    fn stdio_mux_chardev_shared_by_serial_and_monitor() {
        let c = cfg(&[
            "-chardev",
            "stdio,id=c0,mux=on",
            "-serial",
            "chardev:c0",
            "-mon",
            "chardev=c0",
        ]);
        assert!(monitor_specs(&c).unwrap().is_empty());
        assert_eq!(
            stdio_console(&c).unwrap(),
            Some(StdioConsole {
                mux: true,
                monitor: true,
                signals: true
            })
        );
        let c = cfg(&[
            "-chardev",
            "stdio,id=c0,mux=on,signal=off",
            "-serial",
            "chardev:c0",
        ]);
        assert_eq!(
            stdio_console(&c).unwrap(),
            Some(StdioConsole {
                mux: true,
                monitor: false,
                signals: false
            })
        );
        assert_eq!(
            errs(&[
                "-chardev",
                "stdio,id=c0",
                "-serial",
                "chardev:c0",
                "-mon",
                "chardev=c0"
            ]),
            ["Device 'c0' is in use"]
        );
        let e = errs(&[
            "-chardev",
            "stdio,id=c0,mux=on",
            "-serial",
            "chardev:c0",
            "-mon",
            "chardev=c0,mode=control",
        ]);
        assert!(e[0].contains("QMP on a multiplexed stdio chardev"), "{e:?}");
        assert_eq!(
            stdio_console(&cfg(&[
                "-nographic",
                "-qmp",
                "unix:/tmp/q,server=on,wait=off"
            ]))
            .unwrap(),
            Some(StdioConsole::PLAIN)
        );
        assert_eq!(
            stdio_console(&cfg(&["-nographic"])).unwrap(),
            Some(StdioConsole::MON_STDIO)
        );
    }

    #[test]
    fn unsupported_socket_modes_are_refused_clearly() {
        let e = errs(&["-qmp", "unix:/tmp/q.sock"]);
        assert!(e[0].contains("client sockets are not supported"), "{e:?}");
        let e = errs(&["-qmp", "unix:/tmp/q.sock,server=on"]);
        assert!(e[0].contains("wait=on"), "{e:?}");
    }
}
