//! HMP, the human monitor (QEMU: `monitor/hmp.c`, `monitor/misc.c`,
//! `monitor/hmp-cmds.c`, `hmp-commands.hx`, `hmp-commands-info.hx`).
//!
//! Reproduced from QEMU 7.2:
//! - command names end at whitespace or `/` (`xp/2x 0x1000` works);
//!   aliases (`stop|s`, `cont|c`, `quit|q`, `help|?`);
//! - `info` dispatches to a sub-table; `info` alone lists it;
//! - errors: `unknown command: 'info nosuch'`, `stop|s: extraneous
//!   characters at the end of line`, each argument error followed by
//!   `Try "help xp" for more information`;
//! - the `/fmt` argument (`/[count][format][size]`, formats `o d u x c i`,
//!   sizes `b h w g L`) with the *process-wide* sticky default format and
//!   size QEMU keeps in globals (shared by every HMP monitor and
//!   `human-monitor-command`);
//! - address expressions (`+ - * / % & | ^ ~ ( )`, `'c'` constants,
//!   `$reg`, numbers as C `strtoull(.., 0)`) with QEMU's error texts;
//! - `x`/`xp` output byte for byte, including the `c` format quirk
//!   (line length and byte count use the size *before* `c` forces bytes);
//! - `info status`, `info version`, `info name`, `info cpus`,
//!   `info block`, `help` line formats.
//!
//! Output uses `\n`; [`to_crlf`] converts as QEMU's `monitor_puts()` does
//! for QMP's `human-monitor-command` and for socket/stdio monitors.

use crate::events::ShutdownCause;
use crate::qmp::QmpCore;
use crate::qobject::QObject;
use crate::runstate::RunState;
use std::fmt::Write;
use std::sync::Mutex;

/// Convert `\n` to `\r\n` (`monitor_puts()`).
pub fn to_crlf(s: &str) -> String {
    s.replace('\n', "\r\n")
}

/// HMP state shared by all HMP monitors: the sticky `/fmt` defaults
/// (`default_fmt_format`, `default_fmt_size`).
pub struct Hmp {
    fmt_defaults: Mutex<(u8, i64)>,
}

impl Default for Hmp {
    fn default() -> Self {
        Self::new()
    }
}

/// One HMP command table entry (`HMPCommand`).
struct HmpCommand {
    /// Name with aliases, e.g. `stop|s`.
    name: &'static str,
    /// The parameter synopsis for `help`.
    params: &'static str,
    /// One-line help.
    help: &'static str,
    /// Argument parsing and execution.
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Help,
    Info,
    NoArgs(fn(&QmpCore, &mut String)),
    MemDump {
        physical: bool,
    },
    /// An `info` subcommand: takes the rest of the line as words.
    InfoItem(&'static str),
}

const COMMANDS: &[HmpCommand] = &[
    HmpCommand {
        name: "cont|c",
        params: "",
        help: "resume emulation",
        kind: Kind::NoArgs(|core, out| {
            if let Err(e) = core.machine.cont() {
                let _ = writeln!(out, "Error: {}", e.desc);
            }
        }),
    },
    HmpCommand {
        name: "help|?",
        params: "[cmd]",
        help: "show the help",
        kind: Kind::Help,
    },
    HmpCommand {
        name: "info",
        params: "[subcommand]",
        help: "show various information about the system state",
        kind: Kind::Info,
    },
    HmpCommand {
        name: "quit|q",
        params: "",
        help: "quit the emulator",
        kind: Kind::NoArgs(|core, _| core.machine.request_shutdown(ShutdownCause::HostQmpQuit)),
    },
    HmpCommand {
        name: "stop|s",
        params: "",
        help: "stop emulation",
        kind: Kind::NoArgs(|core, out| {
            if let Err(e) = core.machine.stop() {
                let _ = writeln!(out, "Error: {}", e.desc);
            }
        }),
    },
    HmpCommand {
        name: "system_powerdown",
        params: "",
        help: "send system power down event",
        kind: Kind::NoArgs(|core, _| core.machine.system_powerdown()),
    },
    HmpCommand {
        name: "system_reset",
        params: "",
        help: "reset the system",
        kind: Kind::NoArgs(|core, _| core.machine.system_reset(ShutdownCause::HostQmpSystemReset)),
    },
    HmpCommand {
        name: "x",
        params: "/fmt addr",
        help: "virtual memory dump starting at 'addr'",
        kind: Kind::MemDump { physical: false },
    },
    HmpCommand {
        name: "xp",
        params: "/fmt addr",
        help: "physical memory dump starting at 'addr'",
        kind: Kind::MemDump { physical: true },
    },
];

const INFO_COMMANDS: &[HmpCommand] = &[
    HmpCommand {
        name: "block",
        params: "[-n] [-v] [device]",
        help: "show info of one block device or all block devices (-n: show named nodes; -v: show details)",
        kind: Kind::InfoItem("block"),
    },
    HmpCommand {
        name: "chardev",
        params: "",
        help: "show the character devices",
        kind: Kind::InfoItem("chardev"),
    },
    HmpCommand {
        name: "cpus",
        params: "",
        help: "show infos for each CPU",
        kind: Kind::InfoItem("cpus"),
    },
    HmpCommand {
        name: "iothreads",
        params: "",
        help: "show iothreads",
        kind: Kind::InfoItem("iothreads"),
    },
    HmpCommand {
        name: "mtree",
        params: "[-f][-d][-o][-D]",
        help: "show memory tree (-f: dump flat view for address spaces;-d: dump dispatch tree, valid with -f only);-o: dump region owners/parents;-D: dump disabled regions",
        kind: Kind::InfoItem("mtree"),
    },
    HmpCommand {
        name: "name",
        params: "",
        help: "show the current VM name",
        kind: Kind::InfoItem("name"),
    },
    HmpCommand {
        name: "qtree",
        params: "",
        help: "show device tree",
        kind: Kind::InfoItem("qtree"),
    },
    HmpCommand {
        name: "registers",
        params: "[-a|vcpu]",
        help: "show the cpu registers (-a: show register info for all cpus; vcpu: specific vCPU to query; show the current CPU's registers if no argument is specified)",
        kind: Kind::InfoItem("registers"),
    },
    HmpCommand {
        name: "status",
        params: "",
        help: "show the current VM status (running|paused)",
        kind: Kind::InfoItem("status"),
    },
    HmpCommand {
        name: "version",
        params: "",
        help: "show the version of QEMU",
        kind: Kind::InfoItem("version"),
    },
];

/// One argument of an `info` item, in QEMU's `args_type` terms.
#[derive(Clone, Copy)]
enum InfoArg {
    /// `name:-c`: an optional flag `-c`.
    Flag(char),
    /// `name:B?`: an optional word (a block device name).
    OptWord,
    /// `name:i?`: an optional integer expression.
    OptInt,
}

/// The arguments each `info` item takes (from `hmp-commands-info.hx`).
fn info_args(item: &str) -> &'static [InfoArg] {
    use InfoArg::*;
    match item {
        "mtree" => &[Flag('f'), Flag('d'), Flag('o'), Flag('D')],
        "block" => &[Flag('n'), Flag('v'), OptWord],
        "registers" => &[Flag('a'), OptInt],
        _ => &[],
    }
}

fn matches_name(table_name: &str, name: &str) -> bool {
    table_name.split('|').any(|n| n == name)
}

fn find<'a>(table: &'a [HmpCommand], name: &str) -> Option<&'a HmpCommand> {
    table.iter().find(|c| matches_name(c.name, name))
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Split off a command name: skip spaces, read to whitespace or `/`
/// (`get_command_name()`).
fn command_name(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
    let end = s
        .bytes()
        .position(|b| b == b'/' || is_space(b))
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// An argument error: the message lines, then "Try help".
struct ArgError(String);

impl Hmp {
    /// Fresh state: format `x`, size 4 (QEMU's initial defaults).
    pub fn new() -> Self {
        Hmp {
            fmt_defaults: Mutex::new((b'x', 4)),
        }
    }

    /// Run one command line and return its output (`\n` line endings).
    /// `cpu` is the monitor's current CPU (`None` = the first).
    pub fn run_line(&self, core: &QmpCore, line: &str, cpu: Option<usize>) -> String {
        let mut out = String::new();
        let (name, rest) = command_name(line);
        if name.is_empty() {
            return out;
        }
        let Some(cmd) = find(COMMANDS, name) else {
            let _ = writeln!(out, "unknown command: '{name}'");
            return out;
        };
        let cpu = cpu.unwrap_or(0);
        match cmd.kind {
            Kind::Info => {
                let (item, rest2) = command_name(rest);
                if item.is_empty() {
                    help_dump(&mut out, INFO_COMMANDS, Some("info"));
                    return out;
                }
                let Some(sub) = find(INFO_COMMANDS, item) else {
                    let _ = writeln!(out, "unknown command: 'info {item}'");
                    return out;
                };
                let Kind::InfoItem(what) = sub.kind else {
                    unreachable!("info table holds only info items")
                };
                if let Err(ArgError(msg)) = self.info(core, &mut out, what, rest2, cpu) {
                    out.push_str(&msg);
                    let _ = writeln!(out, "Try \"help info {item}\" for more information");
                }
            }
            Kind::Help => {
                let arg = rest.trim_matches(|c: char| c.is_ascii() && is_space(c as u8));
                help_cmd(&mut out, arg);
            }
            Kind::NoArgs(f) => {
                if !rest.bytes().all(is_space) {
                    let _ = writeln!(
                        out,
                        "{}: extraneous characters at the end of line",
                        cmd.name
                    );
                    let _ = writeln!(out, "Try \"help {name}\" for more information");
                    return out;
                }
                f(core, &mut out);
            }
            Kind::MemDump { physical } => match self.parse_dump_args(core, rest, cpu, cmd.name) {
                Ok((count, format, size, addr)) => {
                    memory_dump(core, &mut out, count, format, size, addr, physical, cpu)
                }
                Err(ArgError(msg)) => {
                    out.push_str(&msg);
                    let _ = writeln!(out, "Try \"help {name}\" for more information");
                }
            },
            Kind::InfoItem(_) => unreachable!("top-level table holds no info items"),
        }
        out
    }

    /// Parse `fmt:/,addr:l` (`monitor_parse_arguments()`).
    fn parse_dump_args(
        &self,
        core: &QmpCore,
        rest: &str,
        cpu: usize,
        cmd_name: &str,
    ) -> Result<(i64, u8, i64, u64), ArgError> {
        let b = rest.as_bytes();
        let mut p = 0;
        while p < b.len() && is_space(b[p]) {
            p += 1;
        }
        let mut defaults = self.fmt_defaults.lock().unwrap_or_else(|e| e.into_inner());
        let (count, format, size);
        if b.get(p) == Some(&b'/') {
            p += 1;
            // QEMU's count is a C `int`.
            let mut c = 1i32;
            if b.get(p).is_some_and(u8::is_ascii_digit) {
                c = 0;
                while let Some(d) = b.get(p).filter(|d| d.is_ascii_digit()) {
                    c = c.wrapping_mul(10).wrapping_add((d - b'0') as i32);
                    p += 1;
                }
            }
            let mut sz = -1i64;
            let mut fmt: Option<u8> = None;
            loop {
                match b.get(p) {
                    Some(&f @ (b'o' | b'd' | b'u' | b'x' | b'i' | b'c')) => fmt = Some(f),
                    Some(b'b') => sz = 1,
                    Some(b'h') => sz = 2,
                    Some(b'w') => sz = 4,
                    Some(b'g' | b'L') => sz = 8,
                    _ => break,
                }
                p += 1;
            }
            if let Some(&ch) = b.get(p).filter(|&&ch| !is_space(ch)) {
                return Err(ArgError(format!(
                    "invalid char in format: '{}'\n",
                    ch as char
                )));
            }
            let f = fmt.unwrap_or(defaults.0);
            if f != b'i' {
                if sz < 0 {
                    sz = defaults.1;
                }
                defaults.1 = sz;
            }
            defaults.0 = f;
            count = c as i64;
            format = f;
            size = sz;
        } else {
            count = 1;
            format = defaults.0;
            size = if format != b'i' { defaults.1 } else { -1 };
        }
        drop(defaults);
        while p < b.len() && is_space(b[p]) {
            p += 1;
        }
        let mut ev = ExprParser {
            s: b,
            p,
            core,
            cpu,
            depth: 0,
        };
        let addr = ev.get_expr().map_err(ArgError)?;
        let mut p = ev.p;
        while p < b.len() && is_space(b[p]) {
            p += 1;
        }
        if p < b.len() {
            return Err(ArgError(format!(
                "{cmd_name}: extraneous characters at the end of line\n"
            )));
        }
        Ok((count, format, size, addr))
    }

    /// `monitor_parse_arguments()` for an `info` item: flags in table
    /// order (`-f` must come before `-d`, as in QEMU), then optional
    /// values; returns them as words (`-f`, `dev0`, `3`).
    fn parse_info_args(
        &self,
        core: &QmpCore,
        name: &str,
        rest: &str,
        cpu: usize,
    ) -> Result<Vec<String>, ArgError> {
        let spec = info_args(name);
        let b = rest.as_bytes();
        let mut p = 0;
        let mut out = Vec::new();
        let skip = |p: &mut usize| {
            while *p < b.len() && is_space(b[*p]) {
                *p += 1;
            }
        };
        for (i, arg) in spec.iter().enumerate() {
            skip(&mut p);
            match *arg {
                InfoArg::Flag(c) => {
                    if b.get(p) != Some(&b'-') {
                        continue;
                    }
                    let ch = b.get(p + 1).copied().unwrap_or(0) as char;
                    if ch == c {
                        p += 2;
                        out.push(format!("-{c}"));
                        continue;
                    }
                    // is_valid_option(): a later flag of this item?
                    let later = spec[i + 1..]
                        .iter()
                        .any(|a| matches!(a, InfoArg::Flag(f) if *f == ch));
                    if !later {
                        return Err(ArgError(format!("{name}: unsupported option -{ch}\n")));
                    }
                }
                InfoArg::OptWord => {
                    let start = p;
                    while p < b.len() && !is_space(b[p]) {
                        p += 1;
                    }
                    if p > start {
                        out.push(rest[start..p].to_owned());
                    }
                }
                InfoArg::OptInt => {
                    if p < b.len() {
                        let mut ev = ExprParser {
                            s: b,
                            p,
                            core,
                            cpu,
                            depth: 0,
                        };
                        out.push(ev.get_expr().map_err(ArgError)?.to_string());
                        p = ev.p;
                    }
                }
            }
        }
        skip(&mut p);
        if p < b.len() {
            return Err(ArgError(format!(
                "{name}: extraneous characters at the end of line\n"
            )));
        }
        Ok(out)
    }

    fn info(
        &self,
        core: &QmpCore,
        out: &mut String,
        what: &str,
        rest: &str,
        cpu: usize,
    ) -> Result<(), ArgError> {
        let words = self.parse_info_args(core, what, rest, cpu)?;
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let m = &core.machine;
        match what {
            "status" => {
                let st = m.run_state();
                let running = st == RunState::Running;
                let _ = write!(
                    out,
                    "VM status: {}{}",
                    if running { "running" } else { "paused" },
                    if m.singlestep() {
                        " (single step mode)"
                    } else {
                        ""
                    }
                );
                if !running && st != RunState::Paused {
                    let _ = write!(out, " ({})", st.as_str());
                }
                out.push('\n');
            }
            "version" => {
                let v = &core.version;
                let _ = writeln!(out, "{}.{}.{}{}", v.major, v.minor, v.micro, v.package);
            }
            "name" => {
                if let Some(n) = m.name() {
                    let _ = writeln!(out, "{n}");
                }
            }
            "cpus" => {
                for c in m.cpus() {
                    let active = if c.cpu_index == cpu as i64 { '*' } else { ' ' };
                    let _ = writeln!(
                        out,
                        "{active} CPU #{}: thread_id={}",
                        c.cpu_index, c.thread_id
                    );
                }
            }
            "block" => {
                // No named block nodes exist, so `-n` lists nothing.
                if words.contains(&"-n") {
                    return Ok(());
                }
                let device = words.iter().find(|w| !w.starts_with('-'));
                for (i, b) in m.block_devices().iter().enumerate() {
                    if device.is_some_and(|d| *d != b.device) {
                        continue;
                    }
                    // QEMU separates entries by their place in the whole
                    // list, so `info block DEV` starts with a blank line
                    // unless DEV is the first drive.
                    if i > 0 {
                        out.push('\n');
                    }
                    out.push_str(&b.device);
                    match &b.inserted {
                        Some(ins) => {
                            let s = |k: &str| {
                                ins.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned()
                            };
                            let node = s("node-name");
                            if !node.is_empty() {
                                let _ = write!(out, " ({node})");
                            }
                            let ro = ins.get("ro").and_then(|v| v.as_bool()) == Some(true);
                            let _ = writeln!(
                                out,
                                ": {} ({}{})",
                                s("file"),
                                s("drv"),
                                if ro { ", read-only" } else { "" }
                            );
                        }
                        None => out.push_str(": [not inserted]\n"),
                    }
                    if let Some(q) = &b.qdev {
                        let _ = writeln!(out, "    Attached to:      {q}");
                    }
                    if b.removable {
                        let _ = writeln!(
                            out,
                            "    Removable device: {}locked, tray {}",
                            if b.locked { "" } else { "not " },
                            if b.tray_open == Some(true) {
                                "open"
                            } else {
                                "closed"
                            }
                        );
                    }
                    if let Some(QObject::Dict(c)) = b.inserted.as_ref().and_then(|i| i.get("cache"))
                    {
                        let flag = |k: &str| c.get(k).and_then(|v| v.as_bool()) == Some(true);
                        let _ = writeln!(
                            out,
                            "    Cache mode:       {}{}{}",
                            if flag("writeback") {
                                "writeback"
                            } else {
                                "writethrough"
                            },
                            if flag("direct") { ", direct" } else { "" },
                            if flag("no-flush") {
                                ", ignore flushes"
                            } else {
                                ""
                            }
                        );
                    }
                }
            }
            _ => match m.hmp_info(what, &words, cpu) {
                Some(text) => out.push_str(&text),
                None => {
                    let _ = writeln!(out, "info {what}: not provided by this machine");
                }
            },
        }
        Ok(())
    }
}

fn help_dump(out: &mut String, table: &[HmpCommand], prefix: Option<&str>) {
    for c in table {
        if let Some(p) = prefix {
            let _ = write!(out, "{p} ");
        }
        let _ = writeln!(out, "{} {} -- {}", c.name, c.params, c.help);
    }
}

/// `help [cmd [sub]]`.
fn help_cmd(out: &mut String, arg: &str) {
    let words: Vec<&str> = arg.split_ascii_whitespace().collect();
    match words.as_slice() {
        [] => help_dump(out, COMMANDS, None),
        [name, rest @ ..] => match find(COMMANDS, name) {
            Some(c) if matches!(c.kind, Kind::Info) => match rest.first() {
                None => help_dump(out, INFO_COMMANDS, Some("info")),
                Some(sub) => match find(INFO_COMMANDS, sub) {
                    Some(s) => help_dump(out, std::slice::from_ref(s), Some("info")),
                    None => {
                        let _ = writeln!(out, "unknown command: 'info {sub}'");
                    }
                },
            },
            Some(c) => help_dump(out, std::slice::from_ref(c), None),
            None => {
                let _ = writeln!(out, "unknown command: '{name}'");
            }
        },
    }
}

/// The HMP expression evaluator (`get_expr()` and friends).
struct ExprParser<'a> {
    s: &'a [u8],
    p: usize,
    core: &'a QmpCore,
    cpu: usize,
    depth: usize,
}

/// Deepest nesting of parentheses and unary operators the evaluator
/// follows. QEMU recurses without a bound (a long enough line from
/// `human-monitor-command` overflows its stack); Ferrite refuses instead.
const MAX_EXPR_DEPTH: usize = 1000;

type EResult = Result<u64, String>;

impl ExprParser<'_> {
    fn cur(&self) -> u8 {
        self.s.get(self.p).copied().unwrap_or(0)
    }

    fn skip_spaces(&mut self) {
        while self.p < self.s.len() && is_space(self.s[self.p]) {
            self.p += 1;
        }
    }

    fn get_expr(&mut self) -> EResult {
        let v = self.sum()?;
        self.skip_spaces();
        Ok(v)
    }

    fn sum(&mut self) -> EResult {
        let mut v = self.prod()?;
        loop {
            let op = self.cur();
            if op != b'+' && op != b'-' {
                return Ok(v);
            }
            self.p += 1;
            let v2 = self.prod()?;
            v = if op == b'+' {
                v.wrapping_add(v2)
            } else {
                v.wrapping_sub(v2)
            };
        }
    }

    fn prod(&mut self) -> EResult {
        let mut v = self.logic()?;
        loop {
            let op = self.cur();
            if !matches!(op, b'*' | b'/' | b'%') {
                return Ok(v);
            }
            self.p += 1;
            let v2 = self.logic()?;
            v = match op {
                b'*' => v.wrapping_mul(v2),
                _ if v2 == 0 => return Err("division by zero\n".into()),
                // QEMU divides int64_t values.
                b'/' => (v as i64).wrapping_div(v2 as i64) as u64,
                _ => (v as i64).wrapping_rem(v2 as i64) as u64,
            };
        }
    }

    fn logic(&mut self) -> EResult {
        let mut v = self.unary()?;
        loop {
            let op = self.cur();
            if !matches!(op, b'&' | b'|' | b'^') {
                return Ok(v);
            }
            self.p += 1;
            let v2 = self.unary()?;
            v = match op {
                b'&' => v & v2,
                b'|' => v | v2,
                _ => v ^ v2,
            };
        }
    }

    fn unary(&mut self) -> EResult {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            return Err("expression too deeply nested\n".into());
        }
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> EResult {
        let v = match self.cur() {
            b'+' => {
                self.p += 1;
                self.unary()?
            }
            b'-' => {
                self.p += 1;
                self.unary()?.wrapping_neg()
            }
            b'~' => {
                self.p += 1;
                !self.unary()?
            }
            b'(' => {
                self.p += 1;
                let v = self.sum()?;
                if self.cur() != b')' {
                    return Err("')' expected\n".into());
                }
                self.p += 1;
                v
            }
            b'\'' => {
                self.p += 1;
                if self.cur() == 0 {
                    return Err("character constant expected\n".into());
                }
                let c = self.cur() as u64;
                self.p += 1;
                if self.cur() != b'\'' {
                    return Err("missing terminating ' character\n".into());
                }
                self.p += 1;
                c
            }
            b'$' => {
                self.p += 1;
                let start = self.p;
                while self.p < self.s.len()
                    && (self.s[self.p].is_ascii_alphanumeric()
                        || self.s[self.p] == b'_'
                        || self.s[self.p] == b'.')
                {
                    self.p += 1;
                }
                let name = String::from_utf8_lossy(&self.s[start..self.p]).into_owned();
                match self.core.machine.register_value(self.cpu, &name) {
                    Some(v) => v,
                    None => return Err("unknown register\n".into()),
                }
            }
            0 => return Err("unexpected end of expression\n".into()),
            c => {
                let (v, n) = strtoull0(&self.s[self.p..]).map_err(|_| "number too large\n")?;
                if n == 0 {
                    return Err(format!("invalid char '{}' in expression\n", c as char));
                }
                self.p += n;
                v
            }
        };
        self.skip_spaces();
        Ok(v)
    }
}

/// C `strtoull(s, &end, 0)` for the digits at the start of `s` (no sign or
/// leading space: the caller handled those). Returns the value and bytes
/// used (0 if none); `Err` on overflow.
fn strtoull0(s: &[u8]) -> Result<(u64, usize), ()> {
    let (radix, start) =
        if s.len() >= 3 && s[0] == b'0' && (s[1] | 0x20) == b'x' && s[2].is_ascii_hexdigit() {
            (16, 2)
        } else if s.first() == Some(&b'0') {
            (8, 0)
        } else {
            (10, 0)
        };
    let mut v: u64 = 0;
    let mut p = start;
    let mut overflow = false;
    while let Some(d) = s.get(p).and_then(|&c| (c as char).to_digit(radix)) {
        match v
            .checked_mul(radix as u64)
            .and_then(|x| x.checked_add(d as u64))
        {
            Some(n) => v = n,
            None => overflow = true,
        }
        p += 1;
    }
    if overflow {
        return Err(());
    }
    Ok((v, p))
}

fn monitor_printc(out: &mut String, c: u8) {
    out.push('\'');
    match c {
        b'\'' => out.push_str("\\'"),
        b'\\' => out.push_str("\\\\"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        32..=126 => out.push(c as char),
        _ => {
            let _ = write!(out, "\\x{c:02x}");
        }
    }
    out.push('\'');
}

/// Most bytes one `x`/`xp` dumps.
pub const MAX_DUMP: i64 = 1 << 20;

/// `memory_dump()`.
#[allow(clippy::too_many_arguments)]
fn memory_dump(
    core: &QmpCore,
    out: &mut String,
    count: i64,
    format: u8,
    size: i64,
    addr: u64,
    physical: bool,
    cpu: usize,
) {
    if format == b'i' {
        // Ferrite's monitor has no disassembler yet (docs/divergences.md).
        let _ = writeln!(out, "Disassembly is not supported by ferrite");
        return;
    }
    let mut wsize = size;
    // Ferrite stops after MAX_DUMP bytes (QEMU has no limit, and a huge
    // count would print gigabytes); see docs/divergences.md.
    let mut len = wsize.wrapping_mul(count).min(MAX_DUMP);
    let line_size: i64 = if wsize == 1 { 8 } else { 16 };
    let max_digits: usize = match format {
        b'o' => (wsize as usize * 8).div_ceil(3),
        b'u' | b'd' => (wsize as usize * 8 * 10).div_ceil(33),
        b'c' => {
            wsize = 1;
            0
        }
        _ => wsize as usize * 8 / 4,
    };
    let mut addr = addr;
    let mut buf = [0u8; 16];
    while len > 0 {
        let _ = write!(out, "{addr:016x}:");
        let l = len.min(line_size) as usize;
        let ok = if physical {
            core.machine.read_physical(addr, &mut buf[..l])
        } else {
            core.machine.read_virtual(cpu, addr, &mut buf[..l])
        };
        if ok.is_err() {
            out.push_str(" Cannot access memory\n");
            break;
        }
        let mut i = 0;
        while i < l {
            let w = wsize as usize;
            let mut bytes = [0u8; 8];
            let n = w.min(l - i);
            bytes[..n].copy_from_slice(&buf[i..i + n]);
            // Little-endian target loads (ldub/lduw/ldl/ldq).
            let v = u64::from_le_bytes(bytes)
                & if w >= 8 {
                    u64::MAX
                } else {
                    (1u64 << (w * 8)) - 1
                };
            out.push(' ');
            match format {
                b'o' => {
                    let s = if v == 0 {
                        "0".to_string()
                    } else {
                        format!("0{v:o}")
                    };
                    let _ = write!(out, "{s:>max_digits$}");
                }
                b'u' => {
                    let _ = write!(out, "{v:>max_digits$}");
                }
                b'd' => {
                    let _ = write!(out, "{:>max_digits$}", v as i64);
                }
                b'c' => monitor_printc(out, v as u8),
                _ => {
                    let _ = write!(out, "0x{v:0max_digits$x}");
                }
            }
            i += w;
        }
        out.push('\n');
        addr = addr.wrapping_add(l as u64);
        len -= l as i64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoull_like_c() {
        assert_eq!(strtoull0(b"0x1000+"), Ok((0x1000, 6)));
        assert_eq!(strtoull0(b"010"), Ok((8, 3)));
        assert_eq!(strtoull0(b"0"), Ok((0, 1)));
        assert_eq!(strtoull0(b"0x"), Ok((0, 1)));
        assert_eq!(strtoull0(b"zz"), Ok((0, 0)));
        assert_eq!(strtoull0(b"99999999999999999999999"), Err(()));
    }

    #[test]
    fn command_names() {
        assert_eq!(command_name("  xp/2x 1"), ("xp", "/2x 1"));
        assert_eq!(command_name("info status"), ("info", " status"));
        assert_eq!(command_name(""), ("", ""));
    }
}
