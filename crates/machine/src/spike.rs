//! The `spike` board: the RISC-V ISA simulator's machine as QEMU 7.2 models
//! it (`hw/riscv/spike.c`), for bare-metal test programs.
//!
//! Memory map: the mask ROM with the reset vector at 0x1000, the HTIF
//! (at the program's `tohost`/`fromhost` symbols, else at 0x100_0000), the
//! CLINT (ACLINT MSWI + MTIMER) at 0x200_0000 and RAM at 0x8000_0000.
//!
//! Boot follows QEMU with `-bios none -kernel PROGRAM`: an ELF program is
//! loaded by its program headers (a file that is not ELF is copied raw to the
//! start of RAM), and the reset vector jumps to the start of RAM with
//! `a0 = mhartid`, `a1 =` the device tree.

use std::path::Path;
use std::sync::Arc;

use ferrite_hw::chardev::CharBackend;
use ferrite_hw::intc::aclint::{AclintMtimer, AclintSwi, MtimeSource};
use ferrite_hw::irq::{HartIrq, hart_irq_line};
use ferrite_memory::{AddressSpace, MEMTXATTRS_UNSPECIFIED, MemoryRegion};
use ferrite_riscv::Hart;
use parking_lot::Mutex;

use crate::boot::{self, FDT_BUFFER_SIZE, RESET_VECTOR};
use crate::fdt::Fdt;
use crate::glue::AsPhysMemory;
use crate::htif::{Htif, HtifExit};
use crate::loader;
use crate::vcpu::{HartIrqs, HartPlatform, VcpuThread};
use crate::virt_fdt::TIMEBASE_FREQ;
use ferrite_aio::ClockType;
use ferrite_aio::main_loop::qemu_get_aio_context;
use ferrite_hw::adapt::{AioClock, AioTimer, mmio_region};

/// Mask ROM (reset vector, device tree pointer).
pub const SPIKE_MROM: (u64, u64) = (0x1000, 0xf000);
/// Default HTIF base when the program has no `tohost`/`fromhost` symbols.
pub const SPIKE_HTIF: (u64, u64) = (0x100_0000, 0x1000);
/// CLINT.
pub const SPIKE_CLINT: (u64, u64) = (0x200_0000, 0x1_0000);
/// RAM.
pub const SPIKE_DRAM_BASE: u64 = 0x8000_0000;
/// Default RAM size (QEMU's machine default).
pub const SPIKE_DEFAULT_RAM: u64 = 128 << 20;
/// Maximum harts (`SPIKE_CPUS_MAX` in QEMU 7.2).
pub const SPIKE_CPUS_MAX: u32 = 8;

/// What the board needs from the command line.
pub struct SpikeConfig {
    /// RAM size.
    pub ram_size: u64,
    /// Harts.
    pub harts: u32,
    /// `-kernel`: the program to run.
    pub kernel: Option<String>,
    /// Console output (HTIF putchar).
    pub console: Arc<dyn CharBackend>,
    /// Where exit commands go.
    pub on_exit: Arc<dyn HtifExit>,
}

/// A built `spike` machine, ready to start.
pub struct Spike {
    /// The system address space.
    pub address_space: AddressSpace,
    /// The root of the memory tree (`system`).
    pub system: MemoryRegion,
    /// The vCPU threads.
    pub vcpus: Vec<VcpuThread>,
    /// The HTIF, for console input.
    pub htif: Option<Arc<Htif>>,
    /// Every image written at build time (program, device tree, reset
    /// ROM) as `(address, bytes)`: QEMU's ROM blobs, which a system reset
    /// copies into guest memory again (`rom_reset`).
    pub roms: Vec<(u64, Vec<u8>)>,
    mswi: Arc<Mutex<AclintSwi>>,
    mtimer: Arc<Mutex<AclintMtimer>>,
}

/// A board-construction error, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// A file could not be read.
    #[error("could not load {what} '{path}': {}", ferrite_monitor::commands::strerror(.err))]
    Io {
        /// What the file is for (`kernel`, `firmware`, `initrd`).
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// The kernel could not be loaded.
    #[error("could not load kernel '{0}'")]
    Kernel(String, #[source] Option<loader::LoadError>),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// The device tree QEMU 7.2's spike passes in `a1` (`create_fdt` in spike.c),
/// reduced to what the board has: memory, harts, CLINT and HTIF.
fn spike_fdt(ram_size: u64, harts: u32) -> Fdt {
    let mut f = Fdt::new();
    let root = f.root();
    f.set_prop_str(root, "model", "ucbbar,spike-bare,qemu");
    f.set_prop_str(root, "compatible", "ucbbar,spike-bare-dev");
    f.set_prop_u32(root, "#size-cells", 2);
    f.set_prop_u32(root, "#address-cells", 2);
    let htif = f.add_path("/htif").expect("root exists");
    f.set_prop_str(htif, "compatible", "ucb,htif0");
    let soc = f.add_path("/soc").expect("root exists");
    f.set_prop_empty(soc, "ranges");
    f.set_prop_str(soc, "compatible", "simple-bus");
    f.set_prop_u32(soc, "#size-cells", 2);
    f.set_prop_u32(soc, "#address-cells", 2);
    let cpus = f.add_path("/cpus").expect("root exists");
    f.set_prop_u32(cpus, "timebase-frequency", TIMEBASE_FREQ);
    f.set_prop_u32(cpus, "#size-cells", 0);
    f.set_prop_u32(cpus, "#address-cells", 1);
    let mut intc = Vec::new();
    for h in (0..harts).rev() {
        let ph = f.alloc_phandle();
        let cpu = f.add_path(&format!("/cpus/cpu@{h}")).expect("cpus exists");
        f.set_prop_str(cpu, "mmu-type", "riscv,sv48");
        f.set_prop_str(cpu, "riscv,isa", crate::virt_fdt::RISCV_ISA);
        f.set_prop_str(cpu, "compatible", "riscv");
        f.set_prop_str(cpu, "status", "okay");
        f.set_prop_u32(cpu, "reg", h);
        f.set_prop_str(cpu, "device_type", "cpu");
        f.set_prop_u32(cpu, "phandle", ph);
        let iph = f.alloc_phandle();
        let ic = f
            .add_path(&format!("/cpus/cpu@{h}/interrupt-controller"))
            .expect("cpu exists");
        f.set_prop_u32(ic, "phandle", iph);
        f.set_prop_str(ic, "compatible", "riscv,cpu-intc");
        f.set_prop_empty(ic, "interrupt-controller");
        f.set_prop_u32(ic, "#interrupt-cells", 1);
        intc.push(iph);
    }
    intc.reverse();
    let mem = f
        .add_path(&format!("/memory@{SPIKE_DRAM_BASE:x}"))
        .expect("root exists");
    f.set_prop_u64s(mem, "reg", &[SPIKE_DRAM_BASE, ram_size]);
    f.set_prop_str(mem, "device_type", "memory");
    let clint = f
        .add_path(&format!("/soc/clint@{:x}", SPIKE_CLINT.0))
        .expect("soc exists");
    f.set_prop_strings(clint, "compatible", &["sifive,clint0", "riscv,clint0"]);
    f.set_prop_u64s(clint, "reg", &[SPIKE_CLINT.0, SPIKE_CLINT.1]);
    let cells: Vec<u32> = intc.iter().flat_map(|&p| [p, 3, p, 7]).collect();
    f.set_prop_cells(clint, "interrupts-extended", &cells);
    f.add_path("/chosen").expect("root exists");
    f
}

fn io_err(path: &str, err: std::io::Error) -> BoardError {
    BoardError::Io {
        what: "kernel",
        path: path.to_string(),
        err,
    }
}

impl Spike {
    /// Builds the machine: memory map, devices, program, harts (stopped).
    pub fn build(cfg: SpikeConfig) -> Result<Spike, BoardError> {
        ferrite_memory::ram::set_tcg_enabled(true);
        let system = MemoryRegion::new_container("system", u64::MAX);
        let ram = MemoryRegion::new_ram("riscv.spike.ram", cfg.ram_size).map_err(|e| {
            BoardError::Other(format!("cannot set up guest memory 'riscv.spike.ram': {e}"))
        })?;
        system.add_subregion(SPIKE_DRAM_BASE, &ram);
        let mrom = MemoryRegion::new_rom("riscv.spike.mrom", SPIKE_MROM.1)
            .map_err(|e| BoardError::Other(format!("cannot set up 'riscv.spike.mrom': {e}")))?;
        system.add_subregion(SPIKE_MROM.0, &mrom);
        let space = AddressSpace::new(&system, "memory");
        let mut roms: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut write_rom = |addr: u64, data: &[u8]| {
            space.write_rom(addr, MEMTXATTRS_UNSPECIFIED, data);
            roms.push((addr, data.to_vec()));
        };

        // The program.
        let mut tohost = None;
        let mut fromhost = None;
        if let Some(k) = &cfg.kernel {
            let data = std::fs::read(k).map_err(|e| io_err(k, e))?;
            if loader::is_elf(&data) {
                let img =
                    loader::parse_elf(&data).map_err(|e| BoardError::Kernel(k.clone(), Some(e)))?;
                for seg in &img.segments {
                    let end = seg.paddr.saturating_add(seg.mem_size);
                    let ram_end = SPIKE_DRAM_BASE + cfg.ram_size;
                    if seg.paddr < SPIKE_DRAM_BASE || end > ram_end {
                        return Err(BoardError::Other(format!(
                            "could not load kernel '{k}': segment at {:#x}..{end:#x} is outside RAM ({SPIKE_DRAM_BASE:#x}..{ram_end:#x})",
                            seg.paddr
                        )));
                    }
                    write_rom(seg.paddr, &seg.data);
                }
                tohost = img.symbols.get("tohost").copied();
                fromhost = img.symbols.get("fromhost").copied();
            } else {
                if data.len() as u64 > cfg.ram_size {
                    return Err(BoardError::Kernel(k.clone(), None));
                }
                write_rom(SPIKE_DRAM_BASE, &data);
            }
        }

        // HTIF at the program's symbols, or QEMU's default base.
        let (base, to_off, from_off) = match (tohost, fromhost) {
            (Some(t), Some(f)) => {
                let base = t.min(f);
                (base, t - base, f - base)
            }
            _ => (SPIKE_HTIF.0, 8, 0),
        };
        let size = to_off.max(from_off) + 8;
        let htif = Arc::new(Htif::new(
            to_off,
            from_off,
            cfg.console.clone(),
            cfg.on_exit.clone(),
        ));
        let htif_mr = MemoryRegion::new_io(
            "riscv.htif.uart",
            size,
            htif.clone(),
            ferrite_memory::OpsDesc::new(),
        );
        system.add_subregion_overlap(base, &htif_mr, 1);

        // The harts first, so that the interrupt lines are connected before
        // the MTIMER raises MTIP at reset.
        let harts_irq = Arc::new(HartIrqs::default());
        let hirq: Arc<dyn HartIrq> = harts_irq.clone();
        let mtime = MtimeSource::new(
            Arc::new(AioClock(ClockType::Virtual)),
            u64::from(TIMEBASE_FREQ),
        );
        let n = cfg.harts as usize;
        let mem = AsPhysMemory::new(space.clone());
        let mut harts = Vec::new();
        for h in 0..n {
            let platform = HartPlatform::without_rdtime(mtime.clone());
            let mut hart = Hart::new(mem.clone(), platform.clone(), h as u64);
            hart.cpu.common.pc = RESET_VECTOR;
            platform.connect(hart.irq_lines());
            harts.push(hart);
        }
        harts_irq.connect(harts.iter().map(Hart::irq_lines).collect());

        // CLINT: MSWI and MTIMER for every hart.
        let msip = (0..n)
            .map(|h| hart_irq_line(&hirq, h, 3))
            .collect::<Vec<_>>();
        let mswi = Arc::new(Mutex::new(AclintSwi::new_mswi(msip)));
        system.add_subregion(
            SPIKE_CLINT.0,
            &mmio_region("riscv.aclint.swi", 0x4000, &mswi),
        );
        let mtip: Vec<_> = (0..n).map(|h| hart_irq_line(&hirq, h, 7)).collect();
        let mtimer = Arc::new_cyclic(|me: &std::sync::Weak<Mutex<AclintMtimer>>| {
            let ctx = qemu_get_aio_context();
            let timers = (0..n)
                .map(|h| {
                    Box::new(AioTimer::new(
                        &ctx,
                        ClockType::Virtual,
                        me.clone(),
                        move |t| t.mtimer_cb(h),
                    )) as Box<dyn ferrite_hw::clock::Timer>
                })
                .collect();
            Mutex::new(AclintMtimer::new(mtime.clone(), mtip, timers))
        });
        system.add_subregion(
            SPIKE_CLINT.0 + 0x4000,
            &mmio_region("riscv.aclint.mtimer", 0x8000, &mtimer),
        );

        // Device tree and reset vector.
        let fdt = spike_fdt(cfg.ram_size, cfg.harts);
        let fdt_addr = boot::fdt_address(SPIKE_DRAM_BASE, cfg.ram_size, FDT_BUFFER_SIZE as u64);
        let blob = fdt.to_dtb(0);
        write_rom(fdt_addr, &blob);
        let rom = boot::reset_rom(SPIKE_DRAM_BASE, fdt_addr, 0);
        write_rom(RESET_VECTOR, &rom);

        // Harts, each on its own thread.
        let vcpus = VcpuThread::spawn_all(harts)
            .map_err(|e| BoardError::Other(format!("cannot start vCPU thread: {e}")))?;
        Ok(Spike {
            address_space: space,
            system,
            vcpus,
            htif: Some(htif),
            roms,
            mswi,
            mtimer,
        })
    }
}

impl Spike {
    /// Machine reset (QEMU's `qemu_system_reset`), with the vCPUs paused:
    /// the ACLINT back to its reset state, the images written again
    /// (`rom_reset`), every hart back at the reset vector. The rest of RAM
    /// keeps its contents.
    pub fn reset(&self) {
        self.mswi.lock().reset();
        self.mtimer.lock().reset();
        for (addr, data) in &self.roms {
            let _ = self
                .address_space
                .write_rom(*addr, MEMTXATTRS_UNSPECIFIED, data);
        }
        for v in &self.vcpus {
            v.request_reset();
        }
    }
}

/// Checks a program file before building (for clear command-line errors).
pub fn check_kernel(path: &Path) -> Result<(), BoardError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| io_err(&path.display().to_string(), e))
}
