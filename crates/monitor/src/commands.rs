//! Ferrite's built-in QMP commands, with the argument schemas of QEMU 7.2's
//! `qapi/*.json` (QEMU: `monitor/qmp-cmds.c`, `monitor/qmp-cmds-control.c`,
//! `softmmu/cpus.c`, `hw/core/machine-qmp-cmds.c`, `util/yank.c`).

use crate::error::{ErrorClass, QmpError};
use crate::events::ShutdownCause;
use crate::machine::qlist;
use crate::qapi::{ArgType, ArgsExt, Member, check_args_at};
use crate::qmp::{CommandContext, CommandRegistry, capability_names};
use crate::qobject::{QDict, QObject};
use std::io::Write;

/// `strerror()` text of an I/O error, without Rust's " (os error N)", as
/// QEMU words its messages (used by the boards and the command line too).
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn no_args(
    reg: &mut CommandRegistry,
    name: &str,
    f: impl Fn(&CommandContext<'_>) -> Result<Option<QObject>, QmpError> + Send + Sync + 'static,
) {
    reg.register(name, vec![], false, move |ctx, _| f(ctx));
}

/// Chunk size QEMU's `pmemsave`/`memsave` loops use.
const SAVE_CHUNK: usize = 1024;

fn check_cpu_index(ctx: &CommandContext<'_>, idx: Option<i64>) -> Result<usize, QmpError> {
    let idx = idx.unwrap_or(0);
    let n = ctx.core.machine.cpus().len();
    match usize::try_from(idx) {
        Ok(i) if i < n => Ok(i),
        _ => Err(QmpError::generic(
            "Parameter 'cpu-index' expects a CPU number",
        )),
    }
}

fn open_for_save(filename: &str) -> Result<std::fs::File, QmpError> {
    std::fs::File::create(filename)
        .map_err(|e| QmpError::generic(format!("Could not open '{filename}': {}", strerror(&e))))
}

fn check_size(size: i64) -> Result<usize, QmpError> {
    // QEMU 7.2 mishandles a negative size (its chunk length becomes
    // huge); Ferrite refuses it instead (docs/divergences.md).
    usize::try_from(size).map_err(|_| QmpError::generic(format!("Invalid size {size} specified")))
}

/// Register every command this crate implements.
pub fn register_builtin(reg: &mut CommandRegistry) {
    reg.register(
        "qmp_capabilities",
        vec![Member::optional(
            "enable",
            ArgType::List(Box::new(ArgType::Enum(capability_names()))),
        )],
        true,
        |ctx, args| {
            let enable: Vec<String> = args
                .get("enable")
                .and_then(QObject::as_list)
                .unwrap_or(&[])
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            ctx.monitor.negotiate(&enable)?;
            Ok(None)
        },
    );
    no_args(reg, "query-version", |ctx| {
        Ok(Some(ctx.core.version.to_qdict().into()))
    });
    no_args(reg, "query-commands", |ctx| {
        let list: Vec<QObject> = ctx
            .core
            .registry
            .iter()
            .map(|c| QDict::new().with("name", c.name.as_str()).into())
            .collect();
        Ok(Some(list.into()))
    });
    no_args(reg, "query-name", |ctx| {
        let mut d = QDict::new();
        if let Some(n) = ctx.core.machine.name() {
            d.put("name", n);
        }
        Ok(Some(d.into()))
    });
    no_args(reg, "query-status", |ctx| {
        let m = &ctx.core.machine;
        let state = m.run_state();
        let d = QDict::new()
            .with("running", state == crate::runstate::RunState::Running)
            .with("singlestep", m.singlestep())
            .with("status", state.as_str());
        Ok(Some(d.into()))
    });
    no_args(reg, "query-cpus-fast", |ctx| {
        Ok(Some(qlist(&ctx.core.machine.cpus(), |c| c.to_qdict())))
    });
    no_args(reg, "query-machines", |ctx| {
        Ok(Some(qlist(&ctx.core.machine.machines(), |m| m.to_qdict())))
    });
    no_args(reg, "query-block", |ctx| {
        Ok(Some(qlist(&ctx.core.machine.block_devices(), |b| {
            b.to_qdict()
        })))
    });
    no_args(reg, "stop", |ctx| ctx.core.machine.stop().map(|_| None));
    no_args(reg, "cont", |ctx| ctx.core.machine.cont().map(|_| None));
    no_args(reg, "system_reset", |ctx| {
        ctx.core
            .machine
            .system_reset(ShutdownCause::HostQmpSystemReset);
        Ok(None)
    });
    no_args(reg, "system_powerdown", |ctx| {
        ctx.core.machine.system_powerdown();
        Ok(None)
    });
    no_args(reg, "quit", |ctx| {
        ctx.core
            .machine
            .request_shutdown(ShutdownCause::HostQmpQuit);
        Ok(None)
    });
    let save_members = || {
        vec![
            Member::required("val", ArgType::Int),
            Member::required("size", ArgType::Int),
            Member::required("filename", ArgType::Str),
        ]
    };
    reg.register("pmemsave", save_members(), false, |ctx, args| {
        let addr = args.int("val").unwrap_or(0) as u64;
        let size = args.int("size").unwrap_or(0);
        let filename = args.str("filename").unwrap_or("");
        let mut f = open_for_save(filename)?;
        let mut left = check_size(size)?;
        let mut addr = addr;
        let mut buf = [0u8; SAVE_CHUNK];
        while left > 0 {
            let l = left.min(SAVE_CHUNK);
            // cpu_physical_memory_read() ignores errors; unbacked memory
            // reads as zeros.
            if ctx.core.machine.read_physical(addr, &mut buf[..l]).is_err() {
                buf[..l].fill(0);
            }
            f.write_all(&buf[..l])
                .map_err(|_| QmpError::generic("An IO error has occurred"))?;
            addr = addr.wrapping_add(l as u64);
            left -= l;
        }
        Ok(None)
    });
    let mut memsave_members = save_members();
    memsave_members.push(Member::optional("cpu-index", ArgType::Int));
    reg.register("memsave", memsave_members, false, |ctx, args| {
        let orig_addr = args.int("val").unwrap_or(0);
        let size = args.int("size").unwrap_or(0);
        let filename = args.str("filename").unwrap_or("");
        let cpu = check_cpu_index(ctx, args.int("cpu-index"))?;
        let mut f = open_for_save(filename)?;
        let mut left = check_size(size)?;
        let mut addr = orig_addr as u64;
        let mut buf = [0u8; SAVE_CHUNK];
        while left > 0 {
            let l = left.min(SAVE_CHUNK);
            if ctx
                .core
                .machine
                .read_virtual(cpu, addr, &mut buf[..l])
                .is_err()
            {
                return Err(QmpError::generic(format!(
                    "Invalid addr 0x{:016x}/size {size} specified",
                    orig_addr as u64
                )));
            }
            f.write_all(&buf[..l])
                .map_err(|_| QmpError::generic("An IO error has occurred"))?;
            addr = addr.wrapping_add(l as u64);
            left -= l;
        }
        Ok(None)
    });
    reg.register(
        "human-monitor-command",
        vec![
            Member::required("command-line", ArgType::Str),
            Member::optional("cpu-index", ArgType::Int),
        ],
        false,
        |ctx, args| {
            let cpu = match args.int("cpu-index") {
                Some(i) => Some(check_cpu_index(ctx, Some(i))?),
                None => None,
            };
            let line = args.str("command-line").unwrap_or("");
            let out = ctx.core.hmp.run_line(ctx.core, line, cpu);
            Ok(Some(QObject::String(crate::hmp::to_crlf(&out))))
        },
    );
    reg.register(
        "yank",
        vec![Member::required(
            "instances",
            ArgType::List(Box::new(ArgType::Object)),
        )],
        true,
        |_ctx, args| {
            // YankInstance is a union on 'type'; check each like the
            // visitor, then look it up. Ferrite registers no yank
            // instances yet, so any well-formed instance is not found.
            let list = args
                .get("instances")
                .and_then(QObject::as_list)
                .unwrap_or(&[]);
            for (i, inst) in list.iter().enumerate() {
                let QObject::Dict(d) = inst else { continue };
                let prefix = format!("instances[{i}].");
                let ty = ArgType::Enum(&["block-node", "chardev", "migration"]);
                check_args_at(&[Member::required("type", ty)], &only(d, "type"), &prefix)?;
                let variant: &[Member] = match d.get("type").and_then(QObject::as_str) {
                    Some("block-node") => &[
                        Member::required("type", ArgType::Str),
                        Member::required("node-name", ArgType::Str),
                    ],
                    Some("chardev") => &[
                        Member::required("type", ArgType::Str),
                        Member::required("id", ArgType::Str),
                    ],
                    _ => &[Member::required("type", ArgType::Str)],
                };
                check_args_at(variant, d, &prefix)?;
            }
            if !list.is_empty() {
                return Err(QmpError::with_class(
                    ErrorClass::DeviceNotFound,
                    "Instance not found",
                ));
            }
            Ok(None)
        },
    );
}

/// A dictionary with just `key` (if present).
fn only(d: &QDict, key: &str) -> QDict {
    let mut o = QDict::new();
    if let Some(v) = d.get(key) {
        o.put(key, v.clone());
    }
    o
}
