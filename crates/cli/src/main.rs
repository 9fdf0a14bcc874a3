//! `ferrite`: the emulator binary (QEMU: `system/main.c`, `system/vl.c`).
//!
//! Parses a QEMU-style command line, builds the machine, starts the vCPUs
//! and runs the main loop until the guest or the user ends it. Errors are
//! printed as `ferrite: <message>` and exit with status 1, as QEMU does.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use ferrite_aio::log::{LOG_ITEMS, parse_log_items, set_log_filename, set_log_mask};
use ferrite_aio::main_loop::{
    qemu_init_main_loop, qemu_main_loop, qemu_set_fd_handler, qemu_system_shutdown_request,
};
use ferrite_aio::runstate::{ShutdownCause, vm_start};
use ferrite_cli::config::{self, Action, VmConfig, check_smp_limits, version_banner};
use ferrite_cli::monitors::{self, MonitorSpec, SerialInput, StdioMux};
use ferrite_cli::{CliError, options};
use ferrite_hw::chardev::terminal::enter_raw_mode;
use ferrite_hw::chardev::{CharBackend, FileBackend, NullBackend, WriterBackend};
use ferrite_machine::control::{BoardControl, BoardInfo, spike_machine_info, virt_machine_info};
use ferrite_machine::htif::HtifExit;
use ferrite_machine::spike::{SPIKE_CPUS_MAX, SPIKE_DEFAULT_RAM, Spike, SpikeConfig};
use ferrite_monitor::QmpCore;
use ferrite_monitor::events::EventBus;
use ferrite_monitor::machine::VersionInfo;
use std::os::fd::AsFd;

/// The machines `-machine help` lists.
const MACHINES: &[(&str, &str)] = &[
    ("spike", "RISC-V Spike board (default)"),
    ("virt", "RISC-V VirtIO board"),
];

/// The guest's requested exit status (HTIF exit, sifive_test fail code);
/// -1 until the guest asks. The first request wins: QEMU exits at once,
/// ferrite's vCPUs may run a little longer before the main loop stops them.
static EXIT_CODE: AtomicI32 = AtomicI32::new(-1);

fn guest_exit(code: i32) {
    let _ = EXIT_CODE.compare_exchange(-1, code, Ordering::SeqCst, Ordering::SeqCst);
    qemu_system_shutdown_request(ShutdownCause::GuestShutdown);
}

struct ExitToMainLoop;

impl HtifExit for ExitToMainLoop {
    fn exit(&self, code: u32) {
        guest_exit(code as i32);
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("ferrite: {e}");
    ExitCode::from(1)
}

mod logbridge;
mod virt;

fn main() -> ExitCode {
    // `ferrite guest ...` and the default run (no machine options: the
    // cached guest's explicit command line) are decided before parsing.
    use ferrite_cli::default_run::{Start, start};
    let args = match start(std::env::args().skip(1).collect()) {
        Start::Run(args) => args,
        Start::Exit(code) => return code,
    };
    let cfg = match config::parse(&args) {
        Ok(Action::Help) => {
            print!("{}", options::help_text("ferrite"));
            return ExitCode::SUCCESS;
        }
        Ok(Action::Version) => {
            println!("{}", version_banner());
            return ExitCode::SUCCESS;
        }
        Ok(Action::MachineHelp) => {
            println!("Supported machines are:");
            for (name, desc) in MACHINES {
                println!("{name:<20} {desc}");
            }
            return ExitCode::SUCCESS;
        }
        Ok(Action::LogHelp) => {
            print_log_items();
            return ExitCode::SUCCESS;
        }
        Ok(Action::Run(cfg)) => cfg,
        Err(e) => return fail(e),
    };
    for w in &cfg.warnings {
        eprintln!("ferrite: {w}");
    }
    // `-device help`, `-device DRIVER,help`, `-object help`.
    if let Some(text) = ferrite_cli::devices::help_request(&cfg) {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    match run(&cfg) {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

fn print_log_items() {
    println!("Log items (comma separated):");
    for (_, name, help) in LOG_ITEMS {
        println!("{name:<15} {help}");
    }
}

fn setup_logging(cfg: &VmConfig) -> Result<(), CliError> {
    logbridge::install();
    if let Some(items) = &cfg.log_items {
        match parse_log_items(items) {
            Ok(m) => set_log_mask(m),
            Err(_) => {
                // QEMU prints the list and fails.
                print_log_items();
                return Err(CliError::plain(format!("-d {items}: invalid log item")));
            }
        }
    }
    if let Some(f) = &cfg.log_file {
        set_log_filename(std::path::Path::new(f)).map_err(|e| {
            CliError::at(format!("-D {f}"), format!("could not open log file: {e}"))
        })?;
    }
    Ok(())
}

/// The console backend for `-serial` (or `-nographic`'s default).
fn console_backend(cfg: &VmConfig) -> Result<Arc<dyn CharBackend>, CliError> {
    if monitors::stdio_console(cfg)?.is_some() {
        return Ok(Arc::new(WriterBackend::new(std::io::stdout())));
    }
    let spec = cfg.serials.first().map(String::as_str).unwrap_or("stdio");
    match spec {
        "null" | "none" => Ok(Arc::new(NullBackend)),
        s if s.starts_with("file:") => {
            let path = &s[5..];
            FileBackend::open(std::path::Path::new(path), false)
                .map(|b| Arc::new(b) as Arc<dyn CharBackend>)
                .map_err(|e| {
                    CliError::at(
                        format!("-serial {s}"),
                        format!("could not open '{path}': {e}"),
                    )
                })
        }
        s => Err(CliError::at(
            format!("-serial {s}"),
            format!("'{s}' is not a valid char driver"),
        )),
    }
}

fn run(cfg: &VmConfig) -> Result<ExitCode, CliError> {
    setup_logging(cfg)?;
    use ferrite_machine::vcpu::{TcgThreads, default_tcg_threads, set_tcg_threads};
    set_tcg_threads(match cfg.tcg_thread {
        Some(config::TcgThreadMode::Multi) => TcgThreads::Multi,
        Some(config::TcgThreadMode::Single) => TcgThreads::Single,
        None => default_tcg_threads(),
    });
    match cfg.machine.as_str() {
        "spike" => run_spike(cfg),
        "virt" => virt::run_virt(cfg),
        _ => Err(CliError::plain(
            "unsupported machine type\nUse -machine help to list supported machines",
        )),
    }
}

fn run_spike(cfg: &VmConfig) -> Result<ExitCode, CliError> {
    check_smp_limits(&cfg.smp, "spike", 1, SPIKE_CPUS_MAX)?;
    if cfg.smp.cpus > 1 {
        return Err(CliError::plain(format!(
            "-smp {}: this version of ferrite runs one hart on the spike board",
            cfg.smp.cpus
        )));
    }
    if let Some((k, _)) = cfg.machine_props.params.first() {
        return Err(CliError::plain(format!(
            "Property 'spike-machine.{k}' not found"
        )));
    }
    // spike has no virtio-mmio slots: -device finds no bus, as on QEMU.
    ferrite_cli::devices::check_no_devices(cfg)?;
    match cfg.bios.as_deref() {
        Some("none") => {}
        _ => {
            return Err(CliError::plain(
                "machine 'spike' needs -bios none in this version of ferrite (firmware loading is not supported on spike); run bare-metal programs with -bios none -kernel PROGRAM",
            ));
        }
    }
    let console = console_backend(cfg)?;
    let monitor_specs = monitor_specs_or_report(cfg)?;
    qemu_init_main_loop()
        .map_err(|e| CliError::plain(format!("cannot start the main loop: {e}")))?;
    let ram_size = cfg.memory.size.unwrap_or(SPIKE_DEFAULT_RAM);
    if let Some(k) = &cfg.kernel
        && let Err(e) = std::fs::metadata(k)
    {
        eprintln!("{k}: {}", ferrite_monitor::commands::strerror(&e));
        return Err(CliError::plain(format!("could not load kernel '{k}'")));
    }
    let spike = {
        let _bql = ferrite_aio::bql::bql_lock();
        Spike::build(SpikeConfig {
            ram_size,
            harts: cfg.smp.cpus,
            kernel: cfg.kernel.clone(),
            console: console.clone(),
            on_exit: Arc::new(ExitToMainLoop),
        })
        .map_err(|e| CliError::plain(e.to_string()))?
    };
    let spike = Arc::new(spike);
    let s = spike.clone();
    let monitors = start_board_monitors(
        cfg,
        &monitor_specs,
        board_info(cfg, Arc::new(move || s.reset())),
        &spike.address_space,
        spike.vcpus.iter().map(|v| v.handle()).collect(),
    )?;
    let _raw = match (monitors::stdio_console(cfg)?, &spike.htif) {
        (Some(kind), Some(htif)) => {
            setup_spike_stdin(htif.clone(), monitors.stdio_mux(kind, console.clone()));
            // mon:stdio passes Ctrl-C to the guest (QEMU sets signal=off).
            enter_raw_mode(std::io::stdin().as_fd(), kind.signals).unwrap_or_else(|e| {
                eprintln!("ferrite: warning: cannot put the terminal in raw mode: {e}");
                None
            })
        }
        _ => None,
    };
    if !cfg.start_paused {
        let _bql = ferrite_aio::bql::bql_lock();
        vm_start();
    }
    let cause = qemu_main_loop();
    monitors.shutdown();
    for v in &spike.vcpus {
        v.request_quit();
    }
    match cause {
        ShutdownCause::GuestShutdown => {
            let code = EXIT_CODE.load(Ordering::SeqCst).max(0);
            Ok(ExitCode::from((code & 0xff) as u8))
        }
        ShutdownCause::HostSignal => {
            if let Some((sig, pid)) = ferrite_aio::runstate::shutdown_signal_info() {
                eprintln!("ferrite: terminating on signal {sig} from pid {pid}");
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Reads stdin in the main loop into the HTIF console (QEMU's
/// `htif_recv`), through the Ctrl-A mux and its monitor for `mon:stdio`.
fn setup_spike_stdin(htif: Arc<ferrite_machine::htif::Htif>, mux: StdioMux) {
    let mux = parking_lot::Mutex::new(mux);
    let handler = move || {
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a local buffer of the given length from fd 0,
        // which stays open for the life of the process.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                // End of input: stop watching stdin, as QEMU's fd chardev
                // does at EOF.
                qemu_set_fd_handler(0, None, None);
            }
            return;
        }
        for input in mux.lock().feed(&buf[..n as usize]) {
            match input {
                SerialInput::Data(d) => htif.receive(&d),
                // HTIF has no break condition.
                SerialInput::Break => {}
            }
        }
    };
    qemu_set_fd_handler(0, Some(Arc::new(handler)), None);
}

/// The monitor configuration, with every error line QEMU would print.
pub(crate) fn monitor_specs_or_report(cfg: &VmConfig) -> Result<Vec<MonitorSpec>, CliError> {
    monitors::monitor_specs(cfg).map_err(|mut errs| {
        let last = errs.pop().expect("at least one error");
        for e in errs {
            eprintln!("ferrite: {e}");
        }
        last
    })
}

/// What `query-name`, `query-machines` and `query-cpus-fast` report.
pub(crate) fn board_info(cfg: &VmConfig, reset: Arc<dyn Fn() + Send + Sync>) -> BoardInfo {
    BoardInfo {
        name: cfg.name.clone(),
        hart_qom_prefix: "/machine/soc0/harts".into(),
        machines: MACHINES
            .iter()
            .map(|(m, _)| match *m {
                "virt" => virt_machine_info(false),
                _ => spike_machine_info(true),
            })
            .collect(),
        reset,
        qtree: {
            let harts = cfg.smp.cpus;
            if cfg.machine == "virt" {
                Arc::new(move || ferrite_machine::qtree::virt_qtree(harts, &[]))
            } else {
                Arc::new(move || ferrite_machine::qtree::spike_qtree(harts))
            }
        },
        // The board sets the drives it has (virt: -drive).
        block_devices: Arc::new(Vec::new),
    }
}

/// Connects the board to QMP/HMP and starts the monitors (call after the
/// board is built, before `vm_start`; with `-S` the VM then waits for
/// `cont`).
pub(crate) fn start_board_monitors(
    cfg: &VmConfig,
    specs: &[MonitorSpec],
    info: BoardInfo,
    space: &ferrite_memory::AddressSpace,
    vcpus: Vec<ferrite_machine::vcpu::VcpuHandle>,
) -> Result<monitors::Monitors, CliError> {
    let bus = EventBus::new();
    let control = BoardControl::new(info, space.clone(), vcpus, bus.clone());
    let mut chardevs: Vec<(String, String)> = specs
        .iter()
        .map(|s| (s.label.clone(), s.filename.clone()))
        .collect();
    // The serial port's chardev as QEMU names it: `serial0` for the
    // compat syntax (or the -chardev id), and a mux sits on a `-base`
    // chardev of its own.
    let serial = cfg.serials.first().map(String::as_str);
    let label = match serial.and_then(|s| s.strip_prefix("chardev:")) {
        Some(id) => id.to_owned(),
        None => "serial0".to_owned(),
    };
    // Without -serial and -nographic QEMU's serial port would be on a
    // graphical console, which ferrite does not have: nothing to list.
    let console = if serial.is_some() || cfg.nographic {
        monitors::stdio_console(cfg)?
    } else {
        None
    };
    match console {
        Some(k) if k.mux => {
            chardevs.push((label.clone(), "mux".into()));
            chardevs.push((format!("{label}-base"), "stdio".into()));
        }
        Some(_) => chardevs.push((label, "stdio".into())),
        None => {
            if let Some(s) = serial {
                chardevs.push((label, s.to_owned()));
            }
        }
    }
    control.set_chardevs(chardevs);
    let core = Arc::new(QmpCore::new(control, bus, VersionInfo::ferrite()));
    monitors::start_monitors(&core, specs)
}
