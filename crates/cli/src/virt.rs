//! Running the `virt` board from the command line (QEMU: the `virt` parts of
//! `system/vl.c`, the stdio chardev and its mux, `chardev/char-stdio.c`,
//! `chardev/char-mux.c`).
//!
//! The console is UART0 on the backend `-serial` names (`-nographic`
//! means `mon:stdio`). On stdio the host terminal is put in raw mode (and
//! restored on every exit path); input is read by a main-loop fd handler,
//! passed through the Ctrl-A escape decoder when the console is multiplexed
//! (`-nographic`, `mon:stdio`) and fed to the UART as fast as its receive
//! FIFO takes it (QEMU's `can_receive`/`receive` pair; the UART's
//! accept-input hook resumes the feed when the guest reads RBR).

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use ferrite_aio::main_loop::{
    qemu_bh_new, qemu_init_main_loop, qemu_main_loop, qemu_set_fd_handler,
    qemu_system_reset_request, qemu_system_shutdown_request, set_system_reset_handler,
};
use ferrite_aio::runstate::{ShutdownCause, vm_start};
use ferrite_cli::CliError;
use ferrite_cli::config::{VmConfig, check_smp_limits};
use ferrite_cli::monitors::{SerialInput, StdioConsole, StdioMux, stdio_console};
use ferrite_hw::char::serial::Serial;
use ferrite_hw::chardev::terminal::enter_raw_mode;
use ferrite_hw::chardev::{CharBackend, FileBackend, NullBackend, WriterBackend};
use ferrite_hw::misc::sifive_test::{ShutdownRequest, ShutdownSink};
use ferrite_machine::vcpu::cpu_stop_current;
use ferrite_machine::virt::{Firmware, VIRT_CPUS_MAX, VIRT_DEFAULT_RAM, Virt, VirtConfig};
use parking_lot::Mutex;

use crate::{EXIT_CODE, guest_exit};

/// The test finisher's requests as run-state changes (QEMU 7.2: pass and
/// fail call `exit()`, reset is `qemu_system_reset_request`, which
/// `-no-reboot` turns into a shutdown with status 0).
struct FinisherActions {
    no_reboot: bool,
}

impl ShutdownSink for FinisherActions {
    fn request(&self, req: ShutdownRequest) {
        // QEMU exits from inside the access (pass, fail) or stops the
        // vCPU (`cpu_stop_current` in `qemu_system_reset_request`): the
        // guest runs nothing after its request.
        cpu_stop_current();
        match req {
            ShutdownRequest::Poweroff => guest_exit(0),
            ShutdownRequest::Fail(code) => guest_exit(i32::from(code)),
            ShutdownRequest::Reset if self.no_reboot => {
                qemu_system_shutdown_request(ShutdownCause::GuestReset)
            }
            ShutdownRequest::Reset => qemu_system_reset_request(ShutdownCause::GuestReset),
        }
    }
}

/// The console's backend as `-serial`/`-nographic` chose it.
struct Console {
    out: Arc<dyn CharBackend>,
    /// Input from stdin (the stdio backend), muxed with a monitor or not.
    stdin: Option<StdioConsole>,
}

fn console(cfg: &VmConfig) -> Result<Console, CliError> {
    if let Some(kind) = stdio_console(cfg)? {
        return Ok(Console {
            out: Arc::new(WriterBackend::new(std::io::stdout())),
            stdin: Some(kind),
        });
    }
    match cfg.serials.first().map(String::as_str).unwrap_or("stdio") {
        "null" | "none" => Ok(Console {
            out: Arc::new(NullBackend),
            stdin: None,
        }),
        s if s.starts_with("file:") => {
            let path = &s[5..];
            let f = FileBackend::open(std::path::Path::new(path), false).map_err(|e| {
                CliError::at(
                    format!("-serial {s}"),
                    format!(
                        "could not open '{path}': {}",
                        ferrite_monitor::commands::strerror(&e)
                    ),
                )
            })?;
            Ok(Console {
                out: Arc::new(f),
                stdin: None,
            })
        }
        s => Err(CliError::at(
            format!("-serial {s}"),
            format!("'{s}' is not a valid char driver"),
        )),
    }
}

/// Bytes from the host waiting for room in the UART's receive FIFO.
struct InputFeed {
    uart: Arc<Mutex<Serial>>,
    pending: Mutex<VecDeque<u8>>,
}

impl InputFeed {
    /// Moves as many pending bytes into the UART as it can take now.
    fn pump(&self) {
        let mut pending = self.pending.lock();
        let mut uart = self.uart.lock();
        loop {
            let n = uart.can_receive().min(pending.len());
            if n == 0 {
                break;
            }
            let chunk: Vec<u8> = pending.drain(..n).collect();
            uart.receive(&chunk);
        }
    }
}

/// Reads stdin in the main loop and routes it through the mux (escape
/// keys, the monitor when it has focus) to the UART.
fn setup_stdin(uart: &Arc<Mutex<Serial>>, mux: StdioMux) {
    let feed = Arc::new(InputFeed {
        uart: uart.clone(),
        pending: Mutex::new(VecDeque::new()),
    });
    let f = feed.clone();
    let bh = Arc::new(qemu_bh_new("serial-accept-input", move || f.pump()));
    let b = bh.clone();
    // Runs inside the guest's RBR read, with the UART locked: only wake
    // the main loop.
    uart.lock().set_accept_input(Box::new(move || b.schedule()));
    let mux = Mutex::new(mux);
    let handler = move || {
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a local buffer of the given length from fd 0,
        // which stays open for the life of the process.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                // End of input (or a broken stdin): stop watching it, as
                // QEMU's fd chardev does at EOF.
                qemu_set_fd_handler(0, None, None);
            }
            return;
        }
        for input in mux.lock().feed(&buf[..n as usize]) {
            match input {
                SerialInput::Data(d) => feed.pending.lock().extend(d),
                SerialInput::Break => feed.uart.lock().receive_break(),
            }
        }
        feed.pump();
    };
    qemu_set_fd_handler(0, Some(Arc::new(handler)), None);
}

fn check_options(cfg: &VmConfig) -> Result<(), CliError> {
    check_smp_limits(&cfg.smp, "virt", 1, VIRT_CPUS_MAX)?;
    if let Some((k, _)) = cfg.machine_props.params.first() {
        return Err(CliError::at(
            cfg.machine_props.location.clone(),
            format!("machine property '{k}' is not supported by ferrite's virt board"),
        ));
    }
    for (driver, prop, value) in &cfg.globals {
        let loc = format!("-global {driver}.{prop}={value}");
        match (driver.as_str(), prop.as_str(), value.as_str()) {
            ("virtio-mmio", "force-legacy", "false" | "off" | "no") => {}
            ("virtio-mmio", "force-legacy", _) => {
                return Err(CliError::at(
                    loc,
                    "legacy (version 1) virtio-mmio transports are not supported by ferrite; its transports are always version 2",
                ));
            }
            _ => {
                return Err(CliError::at(
                    loc,
                    "this property is not supported by ferrite",
                ));
            }
        }
    }
    if cfg.dtb.is_some() {
        return Err(CliError::plain(
            "-dtb is not supported by ferrite's virt board (it builds its own device tree)",
        ));
    }
    Ok(())
}

/// Builds and runs a `virt` machine until the guest or the user ends it.
pub(crate) fn run_virt(cfg: &VmConfig) -> Result<ExitCode, CliError> {
    check_options(cfg)?;
    let firmware =
        Firmware::from_arg(cfg.bios.as_deref()).map_err(|e| CliError::plain(e.to_string()))?;
    for (what, f) in [
        ("kernel", cfg.kernel.as_ref()),
        ("initrd", cfg.initrd.as_ref()),
    ] {
        if let Some(f) = f
            && let Err(e) = std::fs::metadata(f)
        {
            return Err(CliError::plain(format!(
                "could not load {what} '{f}': {}",
                ferrite_monitor::commands::strerror(&e)
            )));
        }
    }
    if let Firmware::File(p) = &firmware
        && let Err(e) = std::fs::metadata(p)
    {
        return Err(CliError::plain(format!(
            "unable to load the firmware '{}': {}",
            p.display(),
            ferrite_monitor::commands::strerror(&e)
        )));
    }
    // -object, -drive, -device: checked and images opened before anything
    // starts (QEMU's order and messages).
    let device_plan = ferrite_cli::devices::plan(cfg)?;
    let con = console(cfg)?;
    let monitor_specs = crate::monitor_specs_or_report(cfg)?;
    qemu_init_main_loop()
        .map_err(|e| CliError::plain(format!("cannot start the main loop: {e}")))?;
    let (virtio, _iothreads) = device_plan.realize()?;
    let virt = {
        let _bql = ferrite_aio::bql::bql_lock();
        Virt::build(VirtConfig {
            ram_size: cfg.memory.size.unwrap_or(VIRT_DEFAULT_RAM),
            harts: cfg.smp.cpus,
            firmware,
            kernel: cfg.kernel.clone(),
            initrd: cfg.initrd.clone(),
            append: cfg.append.clone(),
            console: con.out.clone(),
            shutdown: Arc::new(FinisherActions {
                no_reboot: cfg.no_reboot,
            }),
            virtio,
        })
        .map_err(|e| CliError::plain(e.to_string()))?
    };
    let virt = Arc::new(virt);
    let v = virt.clone();
    set_system_reset_handler(move |_| v.reset());
    let v = virt.clone();
    let mut info = crate::board_info(cfg, Arc::new(move || v.reset()));
    let drives = device_plan.drives.clone();
    info.block_devices = Arc::new(move || ferrite_cli::devices::query_block(&drives));
    let (harts, virtio) = (
        cfg.smp.cpus,
        ferrite_cli::devices::qtree_virtio(
            &device_plan,
            ferrite_machine::virt_fdt::VIRTIO_COUNT as usize,
        ),
    );
    info.qtree = Arc::new(move || ferrite_machine::qtree::virt_qtree(harts, &virtio));
    let monitors = crate::start_board_monitors(
        cfg,
        &monitor_specs,
        info,
        &virt.address_space,
        virt.vcpus.iter().map(|v| v.handle()).collect(),
    )?;

    // Raw mode only once nothing else can fail; the guard restores the
    // terminal on return, the terminal module's atexit hook on exit().
    let _raw = if let Some(kind) = con.stdin {
        setup_stdin(&virt.uart, monitors.stdio_mux(kind, con.out.clone()));
        // mon:stdio passes Ctrl-C to the guest (QEMU sets signal=off).
        enter_raw_mode(std::io::stdin().as_fd(), kind.signals).unwrap_or_else(|e| {
            eprintln!("ferrite: warning: cannot put the terminal in raw mode: {e}");
            None
        })
    } else {
        None
    };
    if !cfg.start_paused {
        let _bql = ferrite_aio::bql::bql_lock();
        vm_start();
    }
    let cause = qemu_main_loop();
    monitors.shutdown();
    for v in &virt.vcpus {
        v.request_quit();
    }
    match cause {
        ShutdownCause::GuestShutdown => {
            let code = EXIT_CODE.load(Ordering::SeqCst).max(0);
            Ok(ExitCode::from((code & 0xff) as u8))
        }
        ShutdownCause::HostSignal => {
            drop(_raw);
            if let Some((sig, pid)) = ferrite_aio::runstate::shutdown_signal_info() {
                eprintln!("ferrite: terminating on signal {sig} from pid {pid}");
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
