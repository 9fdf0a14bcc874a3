//! The command line as a typed configuration, with the checks QEMU makes
//! before it builds the machine (`qemu_init` in `system/vl.c`,
//! `machine_parse_smp_config` in `hw/core/machine-smp.c`, `parse_memory_options`).
//!
//! Board-specific properties (`-machine virt,aclint=on`) and device
//! properties are kept as parsed parameter lists; the board and the device
//! models validate them, because only they know which properties exist.

use crate::CliError;
use crate::options::{CmdOption, split_args};
use crate::opts::{Params, parse_keyval, parse_qemu_opts, parse_size, size_error};

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `-h` / `-help`: print [`crate::options::help_text`] and exit 0.
    Help,
    /// `-version`: print [`version_banner`] and exit 0.
    Version,
    /// `-machine help`: list the boards and exit 0.
    MachineHelp,
    /// `-d help`: list the log items and exit 0.
    LogHelp,
    /// Build and run a machine.
    Run(Box<VmConfig>),
}

/// The first lines of `-version` and `-help`.
pub fn version_banner() -> String {
    format!(
        "ferrite emulator version {} (QEMU 7.2 compatible)\n\
         Copyright (c) the ferrite developers",
        env!("CARGO_PKG_VERSION")
    )
}

/// `-accel tcg,thread=...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcgThreadMode {
    /// One host thread per vCPU (QEMU's MTTCG).
    Multi,
    /// All vCPUs round-robin on one thread.
    Single,
}

/// `-smp` after QEMU's topology computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmpConfig {
    /// vCPUs present at start.
    pub cpus: u32,
    /// Maximum vCPUs.
    pub max_cpus: u32,
    /// Sockets.
    pub sockets: u32,
    /// Cores per socket.
    pub cores: u32,
    /// Threads per core.
    pub threads: u32,
}

impl Default for SmpConfig {
    fn default() -> Self {
        SmpConfig {
            cpus: 1,
            max_cpus: 1,
            sockets: 1,
            cores: 1,
            threads: 1,
        }
    }
}

/// `-m [size=]S[,slots=N,maxmem=M]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Initial RAM in bytes; `None` means the board's default.
    pub size: Option<u64>,
    /// Hotplug slots.
    pub slots: u64,
    /// Maximum RAM including hotplugged memory.
    pub max_size: Option<u64>,
}

/// One `-device` (driver plus its properties, in order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// `driver=` (the implied first parameter).
    pub driver: String,
    /// The other properties, in command-line order.
    pub props: Params,
    /// The option as typed, for error messages (`-device foo`).
    pub location: String,
}

/// A parameter list with the option as typed, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptsConfig {
    /// Parameters in command-line order.
    pub params: Params,
    /// The option as typed (`-drive file=x,if=virtio`).
    pub location: String,
}

impl OptsConfig {
    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Everything the command line configures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmConfig {
    /// Machine type (`-machine type=`, default `spike` as on QEMU).
    pub machine: String,
    /// Other `-machine` properties, in order (validated by the board).
    pub machine_props: OptsConfig,
    /// `-cpu`.
    pub cpu: Option<String>,
    /// `-accel tcg,thread=`; `None` chooses by host core count.
    pub tcg_thread: Option<TcgThreadMode>,
    /// `-smp`, before the board's min/max check ([`check_smp_limits`]).
    pub smp: SmpConfig,
    /// `-m`.
    pub memory: MemoryConfig,
    /// `-name`.
    pub name: Option<String>,
    /// `-bios` (a path, `none` or `default`).
    pub bios: Option<String>,
    /// `-kernel`.
    pub kernel: Option<String>,
    /// `-initrd`.
    pub initrd: Option<String>,
    /// `-append`.
    pub append: Option<String>,
    /// `-dtb`.
    pub dtb: Option<String>,
    /// `-nographic`.
    pub nographic: bool,
    /// `-display` type (only `none` is supported).
    pub display: Option<String>,
    /// `-device`s in order (the first one takes the highest virtio-mmio slot).
    pub devices: Vec<DeviceConfig>,
    /// `-drive`s.
    pub drives: Vec<OptsConfig>,
    /// `-object`s (keyval; `qom-type` is the implied key).
    pub objects: Vec<OptsConfig>,
    /// `-chardev`s (`backend` is the implied key).
    pub chardevs: Vec<OptsConfig>,
    /// `-serial` arguments.
    pub serials: Vec<String>,
    /// `-global driver.property=value`, as (driver, property, value).
    pub globals: Vec<(String, String, String)>,
    /// `-monitor` arguments.
    pub monitors: Vec<String>,
    /// `-qmp` arguments.
    pub qmps: Vec<String>,
    /// `-mon`s (`chardev` is the implied key).
    pub mons: Vec<OptsConfig>,
    /// `-S`: start paused.
    pub start_paused: bool,
    /// `-no-reboot`.
    pub no_reboot: bool,
    /// `-no-shutdown`.
    pub no_shutdown: bool,
    /// `-d` items.
    pub log_items: Option<String>,
    /// `-D` file.
    pub log_file: Option<String>,
    /// Warnings to print before starting (QEMU prints them as it parses).
    pub warnings: Vec<String>,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            machine: "spike".into(),
            machine_props: OptsConfig {
                params: Vec::new(),
                location: String::new(),
            },
            cpu: None,
            tcg_thread: None,
            smp: SmpConfig::default(),
            memory: MemoryConfig {
                size: None,
                slots: 0,
                max_size: None,
            },
            name: None,
            bios: None,
            kernel: None,
            initrd: None,
            append: None,
            dtb: None,
            nographic: false,
            display: None,
            devices: Vec::new(),
            drives: Vec::new(),
            objects: Vec::new(),
            chardevs: Vec::new(),
            serials: Vec::new(),
            globals: Vec::new(),
            monitors: Vec::new(),
            qmps: Vec::new(),
            mons: Vec::new(),
            start_paused: false,
            no_reboot: false,
            no_shutdown: false,
            log_items: None,
            log_file: None,
            warnings: Vec::new(),
        }
    }
}

/// Parses `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Action, CliError> {
    let opts = split_args(args)?;
    let mut cfg = VmConfig::default();
    for o in &opts {
        match o.name {
            "h" => return Ok(Action::Help),
            "version" => return Ok(Action::Version),
            _ => {}
        }
    }
    for o in &opts {
        apply(&mut cfg, o)?;
    }
    if cfg.machine == "help" || cfg.machine == "?" {
        return Ok(Action::MachineHelp);
    }
    if matches!(cfg.log_items.as_deref(), Some("help") | Some("?")) {
        return Ok(Action::LogHelp);
    }
    if cfg.kernel.is_none() {
        if cfg.append.is_some() {
            return Err(CliError::plain("-append only allowed with -kernel option"));
        }
        if cfg.initrd.is_some() {
            return Err(CliError::plain("-initrd only allowed with -kernel option"));
        }
        if cfg.dtb.is_some() {
            return Err(CliError::plain("-dtb only allowed with -kernel option"));
        }
    }
    Ok(Action::Run(Box::new(cfg)))
}

fn arg(o: &CmdOption) -> &str {
    o.arg.as_deref().unwrap_or_default()
}

fn apply(cfg: &mut VmConfig, o: &CmdOption) -> Result<(), CliError> {
    let loc = o.location();
    let at = |m: String| CliError::at(loc.clone(), m);
    match o.name {
        "machine" => {
            let params = parse_keyval(arg(o), Some("type")).map_err(at)?;
            for (k, v) in params {
                if k == "type" {
                    cfg.machine = v;
                } else {
                    cfg.machine_props.params.push((k, v));
                }
            }
            cfg.machine_props.location = loc;
        }
        "cpu" => cfg.cpu = Some(arg(o).to_string()),
        "accel" => {
            let (params, w) = parse_qemu_opts(arg(o), Some("accel")).map_err(at)?;
            cfg.warnings
                .extend(w.into_iter().map(|w| format!("{loc}: warning: {w}")));
            for (k, v) in params {
                match k.as_str() {
                    "accel" => {
                        if v != "tcg" {
                            return Err(at(format!("invalid accelerator {v}")));
                        }
                    }
                    "thread" => {
                        cfg.tcg_thread = Some(match v.as_str() {
                            "multi" => TcgThreadMode::Multi,
                            "single" => TcgThreadMode::Single,
                            _ => return Err(at(format!("Invalid 'thread' setting {v}"))),
                        })
                    }
                    _ => return Err(at(format!("Invalid parameter '{k}'"))),
                }
            }
        }
        "smp" => cfg.smp = parse_smp(arg(o), &mut cfg.warnings)?,
        "m" => cfg.memory = parse_memory(arg(o), &loc, &mut cfg.warnings)?,
        "name" => {
            let (params, _) = parse_qemu_opts(arg(o), Some("guest")).map_err(at)?;
            for (k, v) in params {
                match k.as_str() {
                    "guest" => cfg.name = Some(v),
                    "process" | "debug-threads" => {}
                    _ => return Err(at(format!("Invalid parameter '{k}'"))),
                }
            }
        }
        "bios" => cfg.bios = Some(arg(o).to_string()),
        "kernel" => cfg.kernel = Some(arg(o).to_string()),
        "initrd" => cfg.initrd = Some(arg(o).to_string()),
        "append" => cfg.append = Some(arg(o).to_string()),
        "dtb" => cfg.dtb = Some(arg(o).to_string()),
        "nographic" => cfg.nographic = true,
        "display" => {
            let (params, _) = parse_qemu_opts(arg(o), Some("type")).map_err(at)?;
            let ty = params
                .iter()
                .find(|(k, _)| k == "type")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            if ty != "none" {
                return Err(at(format!("Parameter 'type' does not accept value '{ty}'")));
            }
            cfg.display = Some(ty);
        }
        "device" => {
            let (mut params, w) = parse_qemu_opts(arg(o), Some("driver")).map_err(at)?;
            cfg.warnings
                .extend(w.into_iter().map(|w| format!("{loc}: warning: {w}")));
            let driver = match params.iter().position(|(k, _)| k == "driver") {
                Some(i) => params.remove(i).1,
                None => return Err(at("Parameter 'driver' is missing".into())),
            };
            cfg.devices.push(DeviceConfig {
                driver,
                props: params,
                location: loc,
            });
        }
        "drive" => {
            let (params, w) = parse_qemu_opts(arg(o), None).map_err(at)?;
            cfg.warnings
                .extend(w.into_iter().map(|w| format!("{loc}: warning: {w}")));
            cfg.drives.push(OptsConfig {
                params,
                location: loc,
            });
        }
        "object" => {
            let params = parse_keyval(arg(o), Some("qom-type")).map_err(at)?;
            let oc = OptsConfig {
                params,
                location: loc,
            };
            if oc.get("id").is_none() && oc.get("qom-type") != Some("help") {
                return Err(CliError::at(oc.location, "Parameter 'id' is missing"));
            }
            cfg.objects.push(oc);
        }
        "chardev" => {
            let (params, _) = parse_qemu_opts(arg(o), Some("backend")).map_err(at)?;
            cfg.chardevs.push(OptsConfig {
                params,
                location: loc,
            });
        }
        "mon" => {
            let (params, _) = parse_qemu_opts(arg(o), Some("chardev")).map_err(at)?;
            cfg.mons.push(OptsConfig {
                params,
                location: loc,
            });
        }
        "serial" => cfg.serials.push(arg(o).to_string()),
        "global" => cfg.globals.push(parse_global(arg(o)).map_err(at)?),
        "monitor" => cfg.monitors.push(arg(o).to_string()),
        "qmp" => cfg.qmps.push(arg(o).to_string()),
        "S" => cfg.start_paused = true,
        "no-reboot" => cfg.no_reboot = true,
        "no-shutdown" => cfg.no_shutdown = true,
        "d" => cfg.log_items = Some(arg(o).to_string()),
        "D" => cfg.log_file = Some(arg(o).to_string()),
        other => unreachable!("option -{other} is in the table but not handled"),
    }
    Ok(())
}

/// `-global driver.property=value` (QEMU's `qemu_global_option`; the
/// `driver=,property=,value=` form is not accepted).
fn parse_global(s: &str) -> Result<(String, String, String), String> {
    let (lhs, value) = s
        .split_once('=')
        .ok_or_else(|| "Invalid -global option: expected driver.property=value".to_string())?;
    match lhs.rsplit_once('.') {
        Some((driver, prop)) if !driver.is_empty() && !prop.is_empty() => {
            Ok((driver.to_string(), prop.to_string(), value.to_string()))
        }
        _ => Err("Invalid -global option: expected driver.property=value".to_string()),
    }
}

fn parse_memory(s: &str, loc: &str, warnings: &mut Vec<String>) -> Result<MemoryConfig, CliError> {
    let (params, _) = parse_qemu_opts(s, Some("size")).map_err(|m| CliError::at(loc, m))?;
    let mut mem = MemoryConfig {
        size: None,
        slots: 0,
        max_size: None,
    };
    let mut slots_given = false;
    for (k, v) in params {
        match k.as_str() {
            "size" => {
                let (sz, w) =
                    parse_size(&v, 1 << 20).ok_or_else(|| CliError::at(loc, size_error("size")))?;
                if let Some(w) = w {
                    warnings.push(format!("warning: {w}"));
                }
                // QEMU treats `-m 0` as "the board's default", as if no
                // size had been given.
                mem.size = (sz != 0).then_some(sz);
            }
            "maxmem" => {
                let (sz, _) =
                    parse_size(&v, 1).ok_or_else(|| CliError::at(loc, size_error("maxmem")))?;
                mem.max_size = Some(sz);
            }
            "slots" => {
                mem.slots = v
                    .parse()
                    .map_err(|_| CliError::at(loc, "Parameter 'slots' expects a number"))?;
                slots_given = true;
            }
            _ => return Err(CliError::at(loc, format!("Invalid parameter '{k}'"))),
        }
    }
    if slots_given && mem.max_size.is_none() {
        return Err(CliError::plain("slots specified but no max-size"));
    }
    if let (Some(max), Some(sz)) = (mem.max_size, mem.size) {
        if max < sz {
            return Err(CliError::plain(format!(
                "invalid value of -m option maxmem: maximum memory size (0x{max:x}) must be at least the initial memory size (0x{sz:x})"
            )));
        }
        if !slots_given {
            return Err(CliError::plain("maxmem specified but no slots"));
        }
    }
    Ok(mem)
}

/// `-smp` with QEMU 7.2's topology rules (cores are preferred over sockets
/// when values are missing, as on unversioned machines).
fn parse_smp(s: &str, warnings: &mut Vec<String>) -> Result<SmpConfig, CliError> {
    let (params, _) = parse_qemu_opts(s, Some("cpus")).map_err(CliError::plain)?;
    let mut v = [None::<u32>; 7];
    const KEYS: [&str; 7] = [
        "cpus", "maxcpus", "sockets", "dies", "clusters", "cores", "threads",
    ];
    for (k, val) in params {
        let Some(i) = KEYS.iter().position(|n| *n == k) else {
            return Err(CliError::plain(format!(
                "Parameter 'smp.{k}' is unexpected"
            )));
        };
        let n: u32 = val
            .parse()
            .map_err(|_| CliError::plain(format!("Parameter 'smp.{k}' expects integer")))?;
        v[i] = Some(n);
    }
    if v.contains(&Some(0)) {
        warnings.push(
            "warning: Deprecated CPU topology (considered invalid): CPU topology parameters must be greater than zero"
                .into(),
        );
    }
    let g = |i: usize| u64::from(v[i].unwrap_or(0));
    let (cpus, mut maxcpus, mut sockets, dies, clusters, mut cores, mut threads) =
        (g(0), g(1), g(2), g(3).max(1), g(4).max(1), g(5), g(6));
    if v[3].is_some_and(|d| d > 1) {
        return Err(CliError::plain(
            "dies not supported by this machine's CPU topology",
        ));
    }
    if v[4].is_some_and(|c| c > 1) {
        return Err(CliError::plain(
            "clusters not supported by this machine's CPU topology",
        ));
    }
    if cpus == 0 && maxcpus == 0 {
        sockets = sockets.max(1);
        cores = cores.max(1);
        threads = threads.max(1);
    } else {
        maxcpus = if maxcpus > 0 { maxcpus } else { cpus };
        // Since QEMU 6.2, missing values prefer cores over sockets.
        if cores == 0 {
            sockets = sockets.max(1);
            threads = threads.max(1);
            cores = maxcpus / sockets.saturating_mul(threads);
        } else if sockets == 0 {
            threads = threads.max(1);
            sockets = maxcpus / cores.saturating_mul(threads);
        }
        if threads == 0 {
            // Only reachable with sockets and cores given; both are > 0 here
            // unless the division above produced 0, which the product check
            // below reports.
            threads = maxcpus
                .checked_div(sockets.saturating_mul(cores))
                .unwrap_or(0);
        }
    }
    let total = sockets
        .saturating_mul(dies)
        .saturating_mul(clusters)
        .saturating_mul(cores)
        .saturating_mul(threads);
    let maxcpus = if maxcpus > 0 { maxcpus } else { total };
    let cpus = if cpus > 0 { cpus } else { maxcpus };
    if total != maxcpus {
        return Err(CliError::plain(format!(
            "Invalid CPU topology: product of the hierarchy must match maxcpus: sockets ({sockets}) * cores ({cores}) * threads ({threads}) != maxcpus ({maxcpus})"
        )));
    }
    if maxcpus < cpus {
        return Err(CliError::plain(format!(
            "Invalid CPU topology: maxcpus must be equal to or greater than smp: sockets ({sockets}) * cores ({cores}) * threads ({threads}) == maxcpus ({maxcpus}) < smp_cpus ({cpus})"
        )));
    }
    // Every value is at most `maxcpus`, which came from a u32.
    let n = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
    Ok(SmpConfig {
        cpus: n(cpus),
        max_cpus: n(maxcpus),
        sockets: n(sockets),
        cores: n(cores),
        threads: n(threads),
    })
}

/// The board's limits, checked once the machine type is known.
pub fn check_smp_limits(
    smp: &SmpConfig,
    machine: &str,
    min: u32,
    max: u32,
) -> Result<(), CliError> {
    if smp.cpus < min {
        return Err(CliError::plain(format!(
            "Invalid SMP CPUs {}. The min CPUs supported by machine '{machine}' is {min}",
            smp.cpus
        )));
    }
    if smp.max_cpus > max {
        return Err(CliError::plain(format!(
            "Invalid SMP CPUs {}. The max CPUs supported by machine '{machine}' is {max}",
            smp.max_cpus
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(v: &[&str]) -> Result<VmConfig, String> {
        let args: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        match parse(&args) {
            Ok(Action::Run(c)) => Ok(*c),
            Ok(a) => panic!("unexpected action {a:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn typical_linux_command_line() {
        let c = run(&[
            "-M",
            "virt",
            "-m",
            "512",
            "-nographic",
            "-bios",
            "fw_dynamic.bin",
            "-kernel",
            "Image",
            "-initrd",
            "initramfs.cpio.gz",
            "-append",
            "console=ttyS0 panic=-1",
            "-drive",
            "file=disk.img,if=none,id=d0,format=raw",
            "-device",
            "virtio-blk-device,drive=d0",
            "-object",
            "iothread,id=io0",
            "-smp",
            "2",
            "-no-reboot",
        ])
        .unwrap();
        assert_eq!(c.machine, "virt");
        assert_eq!(c.memory.size, Some(512 << 20));
        assert_eq!(
            run(&["-m", "0"]).unwrap().memory.size,
            None,
            "-m 0 = default"
        );
        assert_eq!(c.kernel.as_deref(), Some("Image"));
        assert_eq!(c.devices[0].driver, "virtio-blk-device");
        assert_eq!(c.devices[0].props, vec![("drive".into(), "d0".into())]);
        assert_eq!(c.drives[0].get("id"), Some("d0"));
        assert_eq!(c.objects[0].get("qom-type"), Some("iothread"));
        assert_eq!(c.smp.cpus, 2);
        assert!(c.no_reboot && c.nographic);
    }

    #[test]
    fn global_options() {
        let c = run(&["-global", "virtio-mmio.force-legacy=false"]).unwrap();
        assert_eq!(
            c.globals,
            vec![(
                "virtio-mmio".to_string(),
                "force-legacy".to_string(),
                "false".to_string()
            )]
        );
        for bad in ["virtio-mmio", "force-legacy=false", ".x=1", "a.=1"] {
            let e = run(&["-global", bad]).unwrap_err();
            assert!(
                e.starts_with(&format!("-global {bad}: Invalid -global")),
                "{e}"
            );
        }
    }

    /// Each message as printed by `qemu-system-riscv64` 7.2 (after its
    /// program-name prefix) for the same arguments.
    #[test]
    fn errors_match_qemu() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["-m", "12x"],
                "-m 12x: Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.",
            ),
            (
                &["-m", "size="],
                "-m size=: Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.",
            ),
            (&["-m", "1G,foo=3"], "-m 1G,foo=3: Invalid parameter 'foo'"),
            (&["-m", "1G,slots=2"], "slots specified but no max-size"),
            (&["-smp", "2x"], "Parameter 'smp.cpus' expects integer"),
            (&["-smp", "foo=1"], "Parameter 'smp.foo' is unexpected"),
            (
                &["-smp", "1,threads=x"],
                "Parameter 'smp.threads' expects integer",
            ),
            (
                &["-smp", "cpus=2,sockets=3"],
                "Invalid CPU topology: product of the hierarchy must match maxcpus: sockets (3) * cores (0) * threads (1) != maxcpus (2)",
            ),
            (
                &["-smp", "cpus=2,maxcpus=1"],
                "Invalid CPU topology: maxcpus must be equal to or greater than smp: sockets (1) * cores (1) * threads (1) == maxcpus (1) < smp_cpus (2)",
            ),
            (
                &["-machine", "virt,aclint"],
                "-machine virt,aclint: Expected '=' after parameter 'aclint'",
            ),
            (
                &["-machine", "virt,,x"],
                "-machine virt,,x: Invalid parameter ''",
            ),
            (
                &["-M", "virt", "-append", "x"],
                "-append only allowed with -kernel option",
            ),
            (
                &["-M", "virt", "-initrd", "/etc/hostname"],
                "-initrd only allowed with -kernel option",
            ),
            (&["-accel", "kvm"], "-accel kvm: invalid accelerator kvm"),
            (
                &["-accel", "tcg,thread=bogus"],
                "-accel tcg,thread=bogus: Invalid 'thread' setting bogus",
            ),
            (
                &["-object", "iothread"],
                "-object iothread: Parameter 'id' is missing",
            ),
            (
                &["-display", "bogus"],
                "-display bogus: Parameter 'type' does not accept value 'bogus'",
            ),
        ];
        for (args, msg) in cases {
            assert_eq!(run(args).unwrap_err(), *msg, "{args:?}");
        }
    }

    #[test]
    fn smp_topologies() {
        let s = |a: &str| run(&["-smp", a]).unwrap().smp;
        assert_eq!(s("4").cpus, 4);
        assert_eq!(s("4").cores, 4, "cores preferred over sockets");
        let t = s("cpus=4,sockets=2");
        assert_eq!((t.sockets, t.cores, t.threads), (2, 2, 1));
        let t = s("2,cores=2");
        assert_eq!((t.cpus, t.sockets, t.cores), (2, 1, 2));
        let t = s("sockets=2,cores=2,threads=2");
        assert_eq!((t.cpus, t.max_cpus), (8, 8));
        let t = s("2,maxcpus=4");
        assert_eq!((t.cpus, t.max_cpus), (2, 4));
        assert_eq!(
            check_smp_limits(&s("9"), "spike", 1, 8)
                .unwrap_err()
                .to_string(),
            "Invalid SMP CPUs 9. The max CPUs supported by machine 'spike' is 8"
        );
    }

    #[test]
    fn actions() {
        let a = |v: &[&str]| parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        assert_eq!(a(&["-h"]), Action::Help);
        assert_eq!(a(&["-M", "virt", "--help"]), Action::Help);
        assert_eq!(a(&["-version"]), Action::Version);
        assert_eq!(a(&["-machine", "help"]), Action::MachineHelp);
        assert_eq!(a(&["-d", "help"]), Action::LogHelp);
        assert_eq!(run(&[]).unwrap().machine, "spike");
    }

    proptest::proptest! {
        /// Any topology either fails with a message or satisfies QEMU's
        /// invariants; none panics (values up to u32::MAX).
        #[test]
        fn smp_never_panics(c in 0u32..=u32::MAX, s in 0u32..=u32::MAX, co in 0u32..5, t in 0u32..5, m in 0u32..20) {
            let arg = format!("cpus={c},sockets={s},cores={co},threads={t},maxcpus={m}");
            if let Ok(cfg) = run(&["-smp", &arg]) {
                let p = cfg.smp;
                proptest::prop_assert!(p.cpus <= p.max_cpus);
                proptest::prop_assert_eq!(
                    u64::from(p.sockets) * u64::from(p.cores) * u64::from(p.threads),
                    u64::from(p.max_cpus)
                );
            }
        }
    }
}
