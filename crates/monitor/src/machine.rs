//! The seam between the monitor and the machine: [`MachineControl`], which
//! the board implements, and the QAPI data types its queries return.
//!
//! The monitor never touches vCPUs or memory directly; every command goes
//! through this trait, so the protocol can be tested against a fake
//! machine and the board can implement it without knowing QMP.

use crate::error::QmpError;
use crate::events::ShutdownCause;
use crate::qobject::{QDict, QObject};
use crate::runstate::RunState;

/// QAPI `VersionInfo` (`query-version`, the greeting, `info version`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// Major version.
    pub major: i64,
    /// Minor version.
    pub minor: i64,
    /// Micro version.
    pub micro: i64,
    /// The package string (`--with-pkgversion`); printed right after the
    /// version number by `info version`.
    pub package: String,
}

impl VersionInfo {
    /// The version Ferrite reports: the QEMU release whose behaviour it
    /// follows (7.2.0), and itself as the package.
    pub fn ferrite() -> Self {
        VersionInfo {
            major: 7,
            minor: 2,
            micro: 0,
            package: format!(" (ferrite {})", env!("CARGO_PKG_VERSION")),
        }
    }

    /// The QAPI object.
    pub fn to_qdict(&self) -> QDict {
        let qemu = QDict::new()
            .with("major", self.major)
            .with("minor", self.minor)
            .with("micro", self.micro);
        QDict::new()
            .with("qemu", qemu)
            .with("package", self.package.as_str())
    }
}

/// QAPI `CpuInfoFast` (`query-cpus-fast`, `info cpus`).
#[derive(Clone, Debug, PartialEq)]
pub struct CpuInfoFast {
    /// The vCPU index.
    pub cpu_index: i64,
    /// QOM path, e.g. `/machine/soc0/harts[0]`.
    pub qom_path: String,
    /// Host thread id running the vCPU.
    pub thread_id: i64,
    /// `CpuInstanceProperties` (e.g. `{"core-id": 0}` on RISC-V `virt`).
    pub props: Option<QDict>,
    /// QAPI `SysEmuTarget`, e.g. `riscv64`.
    pub target: String,
}

impl CpuInfoFast {
    /// The QAPI object (members put in schema order, as QEMU's output
    /// visitor does; `QDict` order does the rest).
    pub fn to_qdict(&self) -> QDict {
        let mut d = QDict::new()
            .with("cpu-index", self.cpu_index)
            .with("qom-path", self.qom_path.as_str())
            .with("thread-id", self.thread_id);
        if let Some(p) = &self.props {
            d.put("props", p.clone());
        }
        d.put("target", self.target.as_str());
        d
    }
}

/// QAPI `MachineInfo` (`query-machines`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineInfo {
    /// Machine type name.
    pub name: String,
    /// Alias, if any.
    pub alias: Option<String>,
    /// Whether this is the default machine.
    pub is_default: bool,
    /// Maximum number of CPUs.
    pub cpu_max: i64,
    /// CPU hotplug support.
    pub hotpluggable_cpus: bool,
    /// NUMA memory support.
    pub numa_mem_supported: bool,
    /// Deprecated machine type.
    pub deprecated: bool,
    /// Default CPU type.
    pub default_cpu_type: Option<String>,
    /// Default RAM backend id.
    pub default_ram_id: Option<String>,
}

impl MachineInfo {
    /// The QAPI object.
    pub fn to_qdict(&self) -> QDict {
        let mut d = QDict::new().with("name", self.name.as_str());
        if let Some(a) = &self.alias {
            d.put("alias", a.as_str());
        }
        if self.is_default {
            d.put("is-default", true);
        }
        d.put("cpu-max", self.cpu_max);
        d.put("hotpluggable-cpus", self.hotpluggable_cpus);
        d.put("numa-mem-supported", self.numa_mem_supported);
        d.put("deprecated", self.deprecated);
        if let Some(t) = &self.default_cpu_type {
            d.put("default-cpu-type", t.as_str());
        }
        if let Some(r) = &self.default_ram_id {
            d.put("default-ram-id", r.as_str());
        }
        d
    }
}

/// QAPI `BlockInfo` (`query-block`, `info block`), for drives without
/// inserted media plus an opaque `inserted` object for the block layer.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockInfo {
    /// Device (drive) name.
    pub device: String,
    /// qdev id or QOM path of the attached device.
    pub qdev: Option<String>,
    /// Always `unknown` in QEMU 7.2.
    pub ty: String,
    /// Removable media.
    pub removable: bool,
    /// Media locked.
    pub locked: bool,
    /// Tray open (only for devices with a tray).
    pub tray_open: Option<bool>,
    /// `BlockDeviceInfo` of the inserted medium, if any.
    pub inserted: Option<QDict>,
    /// `io-status` (`ok`, `failed`, `nospace`), for devices that report
    /// I/O errors (virtio-blk).
    pub io_status: Option<String>,
}

impl BlockInfo {
    /// The QAPI object.
    pub fn to_qdict(&self) -> QDict {
        let mut d = QDict::new().with("device", self.device.as_str());
        if let Some(q) = &self.qdev {
            d.put("qdev", q.as_str());
        }
        d.put("type", self.ty.as_str());
        d.put("removable", self.removable);
        d.put("locked", self.locked);
        if let Some(i) = &self.inserted {
            d.put("inserted", i.clone());
        }
        if let Some(t) = self.tray_open {
            d.put("tray_open", t);
        }
        if let Some(s) = &self.io_status {
            d.put("io-status", s.as_str());
        }
        d
    }
}

/// Why a memory access for the monitor failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryAccessError;

/// What the monitor needs from the machine. Implemented by the board;
/// every method is called with no monitor locks held, on the thread that
/// runs monitor commands (the main loop once `ferrite-aio` provides it).
pub trait MachineControl: Send + Sync {
    /// The current run state (`query-status`, `info status`).
    fn run_state(&self) -> RunState;
    /// Whether single-step mode is on.
    fn singlestep(&self) -> bool {
        false
    }
    /// `stop`: pause the VM (see [`crate::runstate::VmRunState::vm_stop`]).
    fn stop(&self) -> Result<(), QmpError>;
    /// `cont`: resume the VM.
    fn cont(&self) -> Result<(), QmpError>;
    /// `system_reset`: reset the machine with the given cause.
    fn system_reset(&self, cause: ShutdownCause);
    /// `system_powerdown`: request an ACPI-style power-button press.
    fn system_powerdown(&self);
    /// `quit` and friends: request shutdown of the emulator. The SHUTDOWN
    /// event must be emitted before this returns (QEMU 7.2 sends it before
    /// the reply to `quit`); the process exits when the main loop next
    /// checks [`MachineControl::exit_requested`].
    fn request_shutdown(&self, cause: ShutdownCause);
    /// Whether the main loop should exit (`main_loop_should_exit()`).
    fn exit_requested(&self) -> bool;
    /// The `-name` of the VM.
    fn name(&self) -> Option<String>;
    /// vCPUs (`query-cpus-fast`).
    fn cpus(&self) -> Vec<CpuInfoFast>;
    /// Machine types (`query-machines`).
    fn machines(&self) -> Vec<MachineInfo>;
    /// Block devices (`query-block`).
    fn block_devices(&self) -> Vec<BlockInfo>;
    /// Read guest-physical memory through the system address space
    /// (`address_space_read()`), failing if any byte is not backed.
    fn read_physical(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryAccessError>;
    /// Read guest-virtual memory through vCPU `cpu`'s MMU
    /// (`cpu_memory_rw_debug()`).
    fn read_virtual(&self, cpu: usize, addr: u64, buf: &mut [u8]) -> Result<(), MemoryAccessError>;
    /// Text for HMP `info` commands the board owns (`registers`, `mtree`,
    /// `qtree`, `chardev`, `iothreads`, ...). `args` are the words after the
    /// command name. `None` means the board does not provide it.
    fn hmp_info(&self, what: &str, args: &[&str], cpu: usize) -> Option<String> {
        let _ = (what, args, cpu);
        None
    }
    /// Look up a register for HMP expressions (`$pc`); QEMU 7.2 has no
    /// RISC-V monitor registers, so the default finds none.
    fn register_value(&self, cpu: usize, name: &str) -> Option<u64> {
        let _ = (cpu, name);
        None
    }
}

/// Turn a list of QAPI objects into a `QList`.
pub fn qlist<T>(items: &[T], f: impl Fn(&T) -> QDict) -> QObject {
    QObject::List(items.iter().map(|i| QObject::Dict(f(i))).collect())
}
