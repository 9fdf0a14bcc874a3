//! The RISC-V `virt` board as QEMU 7.2 builds it (`hw/riscv/virt.c`,
//! `hw/riscv/boot.c`).
//!
//! Memory map (the `info mtree` names are QEMU's):
//!
//! | base | device |
//! | --- | --- |
//! | `0x0000_1000` | `riscv_virt_board.mrom`: reset vector + `fw_dynamic_info` |
//! | `0x0010_0000` | `riscv.sifive.test`: power-off / fail / reset finisher |
//! | `0x0010_1000` | `goldfish_rtc` (PLIC source 11, HOST clock) |
//! | `0x0200_0000` | `riscv.aclint.swi` (MSIP of every hart) |
//! | `0x0200_4000` | `riscv.aclint.mtimer` (MTIP, 10 MHz from the VIRTUAL clock) |
//! | `0x0c00_0000` | `riscv.sifive.plic`: contexts 2h (M, MEIP) and 2h+1 (S, SEIP) |
//! | `0x1000_0000` | `serial`: NS16550A UART0 (PLIC source 10) |
//! | `0x1000_1000 + n·0x1000` | `virtio-mmio` transport n (PLIC source 1 + n) |
//! | `0x8000_0000` | `riscv_virt_board.ram` |
//!
//! PCIe, fw_cfg, the flash banks and the platform bus are not modelled (and
//! not in the device tree; see `docs/divergences.md`).
//!
//! Boot follows QEMU 7.2: the firmware (`-bios`) goes to the start of RAM
//! (ELF by its program headers, anything else raw); the kernel to the next
//! 2 MiB boundary after it (ELF by its program headers, else raw, with a
//! Linux `Image` header checked and its `image_size` reserved); the initrd
//! `min(ram/2, 128 MiB)` after the kernel; the device tree in its 1 MiB
//! buffer below `min(RAM end, 3 GiB)`; the reset ROM jumps to the start of
//! RAM with `a0 = mhartid`, `a1 = fdt`, `a2 = &fw_dynamic_info`.
//!
//! Like QEMU's ROM blobs, everything loaded at build time is written again
//! by a machine reset ([`Virt::reset`]), with a fresh `rng-seed`; the rest of
//! RAM keeps its contents.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use ferrite_aio::ClockType;
use ferrite_hw::char::serial::{self, Serial};
use ferrite_hw::chardev::CharBackend;
use ferrite_hw::clock::HostClock;
use ferrite_hw::intc::aclint::{
    AclintMtimer, AclintSwi, MTIMER_REGION_NAME, MTIMER_SIZE, MtimeSource, SWI_REGION_NAME,
    SWI_SIZE,
};
use ferrite_hw::intc::plic::{self, Plic, SharedPlic};
use ferrite_hw::irq::{HartIrq, hart_irq_line, mip};
use ferrite_hw::misc::sifive_test::{self, ShutdownSink, SifiveTest};
use ferrite_hw::rtc::goldfish::{self, GoldfishRtc};
use ferrite_hw::virtio::blk::{BlockBackend, VirtioBlk};
use ferrite_hw::virtio::mmio::{self as vmmio, VirtioMmio};
use ferrite_hw::virtio::rng::{HostEntropy, VirtioRng};
use ferrite_hw::virtio::{GuestMemory, VirtioDevice};
use ferrite_memory::{AddressSpace, MEMTXATTRS_UNSPECIFIED, MemoryRegion};
use ferrite_riscv::Hart;
use parking_lot::Mutex;

use crate::boot::{self, FDT_BUFFER_SIZE, RESET_VECTOR};
use crate::glue::{AsPhysMemory, RamGuestMemory};
use crate::loader;
use crate::spike::BoardError;
use crate::vcpu::{HartIrqs, HartPlatform, VcpuThread};
use crate::virt_fdt::{
    self, RISCV_ISA, RTC_IRQ, TIMEBASE_FREQ, UART0_IRQ, VIRT_CLINT, VIRT_DRAM_BASE, VIRT_MROM,
    VIRT_PLIC, VIRT_RTC, VIRT_TEST, VIRT_UART0, VIRT_VIRTIO, VIRTIO_COUNT, VIRTIO_IRQ,
    VirtFdtConfig,
};
use ferrite_aio::main_loop::qemu_get_aio_context;
use ferrite_hw::adapt::{AioClock, AioTimer, mmio_region};

/// QEMU's default RAM size for `virt` (128 MiB).
pub const VIRT_DEFAULT_RAM: u64 = 128 << 20;
/// Harts this version of the board accepts (QEMU 7.2 allows 512; ferrite's
/// device tree and PLIC are built for any count, the limit is what has been
/// tried).
pub const VIRT_CPUS_MAX: u32 = 8;
/// Where Debian's `opensbi` package installs the firmware `-bios default` uses.
pub const DEBIAN_OPENSBI: &str = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin";
/// The same firmware as Debian's `qemu-system-data` ships it for QEMU.
pub const DEBIAN_QEMU_OPENSBI: &str = "/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin";
/// The `mmu-type` the device tree advertises (QEMU 7.2's default for rv64).
pub const MMU_TYPE: &str = "riscv,sv48";

/// The firmware `-bios` selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// `-bios none`: the reset ROM jumps straight to the start of RAM
    /// (where a bare-metal `-kernel` is expected).
    None,
    /// A firmware file.
    File(PathBuf),
}

impl Firmware {
    /// Resolves a `-bios` argument: `none`, a file, or `default`/absent
    /// (OpenSBI's `fw_dynamic.bin` where Debian installs it).
    pub fn from_arg(arg: Option<&str>) -> Result<Firmware, BoardError> {
        match arg {
            Some("none") => Ok(Firmware::None),
            Some("default") | None => {
                for p in [DEBIAN_OPENSBI, DEBIAN_QEMU_OPENSBI] {
                    if Path::new(p).is_file() {
                        return Ok(Firmware::File(PathBuf::from(p)));
                    }
                }
                Err(BoardError::Other(format!(
                    "unable to find the default firmware (OpenSBI fw_dynamic.bin) at {DEBIAN_OPENSBI} or {DEBIAN_QEMU_OPENSBI}; install Debian's 'opensbi' package (apt-get install opensbi), or give a file with -bios FILE, or use -bios none"
                )))
            }
            Some(f) => Ok(Firmware::File(PathBuf::from(f))),
        }
    }
}

/// What a virtio device plugged into a virtio-mmio slot is (QEMU:
/// `-device virtio-blk-device` / `virtio-rng-device`).
pub enum VirtioKind {
    /// virtio-blk on a disk image.
    Blk {
        /// The image (QEMU's `BlockBackend`).
        disk: Arc<dyn BlockBackend>,
        /// `readonly=on` on the drive.
        read_only: bool,
        /// The `serial` property (GET_ID).
        serial: String,
        /// Where the requests run: the main loop's context, or an
        /// IOThread's (`iothread=`).
        ctx: Arc<ferrite_aio::AioContext>,
    },
    /// virtio-rng on the host's entropy.
    Rng,
}

/// One `-device` for a virtio-mmio slot, in command-line order: the first
/// takes the highest slot, as on QEMU.
pub struct VirtioPlug {
    /// QEMU's type name (`virtio-blk-device`).
    pub driver: String,
    /// The `id=` property.
    pub id: Option<String>,
    /// The properties as `info qtree` shows them (name, value text).
    pub props: Vec<(String, String)>,
    /// The device.
    pub kind: VirtioKind,
}

/// An occupied virtio-mmio slot (for `info qtree` and `query-block`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtioSlot {
    /// Transport index n: base `0x1000_1000 + n·0x1000`, PLIC source
    /// `1 + n`, bus `virtio-mmio-bus.n`.
    pub index: usize,
    /// MMIO base of the transport.
    pub base: u64,
    /// PLIC source.
    pub irq: u32,
    /// QEMU's type name of the device.
    pub driver: String,
    /// The `id=` property.
    pub id: Option<String>,
    /// The device's properties (name, value text).
    pub props: Vec<(String, String)>,
    /// The QOM path QEMU gives the device (`/machine/peripheral/ID` or
    /// `/machine/peripheral-anon/device[N]`).
    pub qom_path: String,
}

/// What the board needs from the command line.
pub struct VirtConfig {
    /// RAM size in bytes.
    pub ram_size: u64,
    /// Number of harts.
    pub harts: u32,
    /// `-bios`.
    pub firmware: Firmware,
    /// `-kernel`.
    pub kernel: Option<String>,
    /// `-initrd`.
    pub initrd: Option<String>,
    /// `-append`.
    pub append: Option<String>,
    /// UART0's output.
    pub console: Arc<dyn CharBackend>,
    /// Where the test finisher's requests go.
    pub shutdown: Arc<dyn ShutdownSink>,
    /// Virtio devices, in `-device` order (at most [`VIRTIO_COUNT`]).
    pub virtio: Vec<VirtioPlug>,
}

/// Where things were put in guest memory (for logs and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootLayout {
    /// End of the firmware (the start of RAM with `-bios none`).
    pub firmware_end: u64,
    /// Kernel entry (0 without a kernel).
    pub kernel_entry: u64,
    /// Initrd start and end.
    pub initrd: Option<(u64, u64)>,
    /// Device tree address.
    pub fdt_addr: u64,
}

/// The devices a machine reset resets.
struct Devices {
    uart: Arc<Mutex<Serial>>,
    plic: SharedPlic,
    mswi: Arc<Mutex<AclintSwi>>,
    mtimer: Arc<Mutex<AclintMtimer>>,
    rtc: Arc<Mutex<GoldfishRtc>>,
    virtio: Vec<Arc<Mutex<VirtioMmio>>>,
}

/// A built `virt` machine, ready to start.
pub struct Virt {
    /// The system address space.
    pub address_space: AddressSpace,
    /// The root of the memory tree (`system`).
    pub system: MemoryRegion,
    /// The vCPU threads.
    pub vcpus: Vec<VcpuThread>,
    /// UART0, for console input.
    pub uart: Arc<Mutex<Serial>>,
    /// Where images were placed.
    pub layout: BootLayout,
    /// The occupied virtio-mmio slots, in `-device` order.
    pub virtio_slots: Vec<VirtioSlot>,
    devices: Devices,
    /// Images to write again on reset (QEMU's ROM blobs).
    blobs: Vec<(u64, Vec<u8>)>,
    fdt_cfg: VirtFdtConfig,
}

fn read_file(what: &'static str, path: &str) -> Result<Vec<u8>, BoardError> {
    std::fs::read(path).map_err(|err| BoardError::Io {
        what,
        path: path.to_string(),
        err,
    })
}

/// A fresh 32-byte `rng-seed` from the host.
fn rng_seed() -> [u8; 32] {
    use std::io::Read;
    let mut seed = [0u8; 32];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed)) {
        Ok(()) => seed,
        Err(e) => {
            // The seed only adds entropy; the guest boots without it.
            log::warn!("cannot read /dev/urandom for the device tree's rng-seed: {e}");
            seed
        }
    }
}

/// A device timer on the main loop's `clock` whose expiry calls `f` on the
/// device, if it still exists.
fn device_timer<D: Send + 'static>(
    clock: ClockType,
    dev: &Weak<Mutex<D>>,
    f: impl Fn(&mut D) + Send + Sync + 'static,
) -> Box<dyn ferrite_hw::clock::Timer> {
    Box::new(AioTimer::new(
        &qemu_get_aio_context(),
        clock,
        dev.clone(),
        f,
    ))
}

/// Collects the images the board loads, checking each against RAM.
struct Loader {
    ram_size: u64,
    blobs: Vec<(u64, Vec<u8>)>,
}

impl Loader {
    fn ram_end(&self) -> u64 {
        VIRT_DRAM_BASE + self.ram_size
    }

    /// Records `data` for `addr`, with `mem_size` bytes (>= data) reserved.
    fn place(&mut self, what: &str, addr: u64, data: Vec<u8>, mem_size: u64) -> Result<(), String> {
        let size = mem_size.max(data.len() as u64);
        let end = addr.saturating_add(size);
        if addr < VIRT_DRAM_BASE || end > self.ram_end() {
            return Err(format!(
                "{what} does not fit in RAM: it needs {addr:#x}..{end:#x}, RAM is {VIRT_DRAM_BASE:#x}..{:#x} (use a larger -m)",
                self.ram_end()
            ));
        }
        if !data.is_empty() {
            self.blobs.push((addr, data));
        }
        Ok(())
    }

    /// Loads an ELF file by its program headers; returns (entry, high address).
    fn elf(&mut self, what: &str, data: &[u8]) -> Result<(u64, u64), String> {
        let img = loader::parse_elf(data).map_err(|e| format!("{what}: {e}"))?;
        for seg in &img.segments {
            self.place(what, seg.paddr, seg.data.clone(), seg.mem_size)?;
        }
        let high = img.high_addr().unwrap_or(VIRT_DRAM_BASE);
        Ok((img.entry, high))
    }
}

impl Virt {
    /// Builds the machine: memory map, devices, images, harts (stopped).
    /// Must be called with the BQL held, after the main loop is set up.
    pub fn build(cfg: VirtConfig) -> Result<Virt, BoardError> {
        assert!(cfg.harts >= 1, "virt: at least one hart");
        if cfg.virtio.len() > VIRTIO_COUNT as usize {
            return Err(BoardError::Other(format!(
                "the virt board has {VIRTIO_COUNT} virtio-mmio slots; {} virtio devices were given",
                cfg.virtio.len()
            )));
        }
        ferrite_memory::ram::set_tcg_enabled(true);
        let n = cfg.harts as usize;

        // Images first: a bad file must fail before anything runs.
        let mut ld = Loader {
            ram_size: cfg.ram_size,
            blobs: Vec::new(),
        };
        let mut layout = BootLayout {
            firmware_end: VIRT_DRAM_BASE,
            ..Default::default()
        };
        if let Firmware::File(path) = &cfg.firmware {
            let p = path.display().to_string();
            let data = read_file("firmware", &p)?;
            let what = format!("firmware '{p}'");
            layout.firmware_end = if loader::is_elf(&data) {
                ld.elf(&what, &data)
                    .map_err(|e| BoardError::Other(format!("could not load {e}")))?
                    .1
            } else {
                let end = VIRT_DRAM_BASE + data.len() as u64;
                ld.place(&what, VIRT_DRAM_BASE, data, 0)
                    .map_err(BoardError::Other)?;
                end
            };
        }
        let mut kernel_end = layout.firmware_end;
        if let Some(k) = &cfg.kernel {
            let data = read_file("kernel", k)?;
            let what = format!("kernel '{k}'");
            if loader::is_elf(&data) {
                let (entry, high) = ld
                    .elf(&what, &data)
                    .map_err(|e| BoardError::Other(format!("could not load {e}")))?;
                layout.kernel_entry = entry;
                kernel_end = high;
            } else {
                let start = boot::kernel_start(layout.firmware_end);
                let mut reserve = data.len() as u64;
                if let Some(h) = loader::parse_image_header(&data) {
                    if h.flags & 1 != 0 {
                        return Err(BoardError::Other(format!(
                            "could not load kernel '{k}': its Image header says it is a big-endian kernel"
                        )));
                    }
                    if h.image_size != 0 && h.image_size < data.len() as u64 {
                        return Err(BoardError::Other(format!(
                            "could not load kernel '{k}': malformed Image header (image_size {:#x} is smaller than the file, {:#x} bytes)",
                            h.image_size,
                            data.len()
                        )));
                    }
                    reserve = reserve.max(h.image_size);
                }
                ld.place(&what, start, data, reserve)
                    .map_err(BoardError::Other)?;
                layout.kernel_entry = start;
                kernel_end = start + reserve;
            }
        }
        if let Some(i) = &cfg.initrd {
            let data = read_file("initrd", i)?;
            // QEMU 7.2 counts from the kernel entry; a kernel whose Image
            // header reserves more than that gap pushes the initrd up.
            let mut start = boot::initrd_start(layout.kernel_entry, cfg.ram_size);
            if start < kernel_end {
                start = boot::align_up(kernel_end, boot::ALIGN_2M);
            }
            let end = start + data.len() as u64;
            ld.place(&format!("initrd '{i}'"), start, data, 0)
                .map_err(BoardError::Other)?;
            layout.initrd = Some((start, end));
        }
        layout.fdt_addr = boot::fdt_address(VIRT_DRAM_BASE, cfg.ram_size, FDT_BUFFER_SIZE as u64);
        if let Some((_, end)) = layout.initrd
            && end > layout.fdt_addr
        {
            return Err(BoardError::Other(format!(
                "the initrd ends at {end:#x}, above the device tree at {:#x}: not enough RAM (use a larger -m)",
                layout.fdt_addr
            )));
        }
        let fdt_cfg = VirtFdtConfig {
            ram_size: cfg.ram_size,
            harts: cfg.harts,
            isa: RISCV_ISA.to_string(),
            mmu_type: MMU_TYPE.to_string(),
            bootargs: cfg
                .append
                .clone()
                .filter(|a| !a.is_empty() && cfg.kernel.is_some()),
            initrd: layout.initrd,
            rng_seed: [0; 32],
        };

        // Memory.
        let system = MemoryRegion::new_container("system", u64::MAX);
        let ram = MemoryRegion::new_ram("riscv_virt_board.ram", cfg.ram_size).map_err(|e| {
            BoardError::Other(format!(
                "cannot set up guest memory 'riscv_virt_board.ram': {e}"
            ))
        })?;
        system.add_subregion(VIRT_DRAM_BASE, &ram);
        let mrom = MemoryRegion::new_rom("riscv_virt_board.mrom", VIRT_MROM.size).map_err(|e| {
            BoardError::Other(format!("cannot set up 'riscv_virt_board.mrom': {e}"))
        })?;
        system.add_subregion(VIRT_MROM.base, &mrom);
        let space = AddressSpace::new(&system, "memory");

        // The harts first, so that the interrupt lines are connected before
        // any device sets a level (the MTIMER raises MTIP at reset).
        let mtime = MtimeSource::new(
            Arc::new(AioClock(ClockType::Virtual)),
            u64::from(TIMEBASE_FREQ),
        );
        let mem = AsPhysMemory::new(space.clone());
        let mut harts = Vec::new();
        for h in 0..n {
            let platform = HartPlatform::new(mtime.clone());
            let mut hart = Hart::new(mem.clone(), platform.clone(), h as u64);
            hart.cpu.common.pc = RESET_VECTOR;
            platform.connect(hart.irq_lines());
            harts.push(hart);
        }
        let harts_irq = Arc::new(HartIrqs::default());
        harts_irq.connect(harts.iter().map(Hart::irq_lines).collect());
        let hirq: Arc<dyn HartIrq> = harts_irq.clone();

        // sifive_test.
        let test = Arc::new(Mutex::new(SifiveTest::new(cfg.shutdown.clone())));
        system.add_subregion(
            VIRT_TEST.base,
            &mmio_region(sifive_test::REGION_NAME, sifive_test::REGION_SIZE, &test),
        );

        // PLIC: M and S contexts for every hart.
        let plic: SharedPlic = Arc::new(Mutex::new(Plic::new_virt(n, &hirq)));
        system.add_subregion(
            VIRT_PLIC.base,
            &mmio_region(plic::REGION_NAME, VIRT_PLIC.size, &plic),
        );

        // goldfish RTC on the HOST clock.
        let rtc = Arc::new_cyclic(|me| {
            Mutex::new(GoldfishRtc::new(
                Arc::new(HostClock),
                device_timer(ClockType::Host, me, GoldfishRtc::alarm_cb),
                Plic::input(&plic, RTC_IRQ),
            ))
        });
        system.add_subregion(
            VIRT_RTC.base,
            &mmio_region(goldfish::REGION_NAME, goldfish::REGION_SIZE, &rtc),
        );

        // CLINT: MSWI and MTIMER.
        let msip = (0..n).map(|h| hart_irq_line(&hirq, h, mip::MSIP)).collect();
        let mswi = Arc::new(Mutex::new(AclintSwi::new_mswi(msip)));
        system.add_subregion(
            VIRT_CLINT.base,
            &mmio_region(SWI_REGION_NAME, SWI_SIZE, &mswi),
        );
        let mtip: Vec<_> = (0..n).map(|h| hart_irq_line(&hirq, h, mip::MTIP)).collect();
        let mtimer = Arc::new_cyclic(|me: &Weak<Mutex<AclintMtimer>>| {
            let timers = (0..n)
                .map(|h| device_timer(ClockType::Virtual, me, move |t| t.mtimer_cb(h)))
                .collect();
            Mutex::new(AclintMtimer::new(mtime.clone(), mtip, timers))
        });
        system.add_subregion(
            VIRT_CLINT.base + SWI_SIZE,
            &mmio_region(MTIMER_REGION_NAME, MTIMER_SIZE, &mtimer),
        );

        // UART0.
        let uart = Arc::new_cyclic(|me| {
            Mutex::new(Serial::new(
                Plic::input(&plic, UART0_IRQ),
                cfg.console.clone(),
                Arc::new(AioClock(ClockType::Virtual)),
                device_timer(ClockType::Virtual, me, Serial::fifo_timeout_cb),
                serial::VIRT_BAUDBASE,
                0,
            ))
        });
        let uart_size = uart.lock().region_size();
        debug_assert!(uart_size <= VIRT_UART0.size);
        system.add_subregion(
            VIRT_UART0.base,
            &mmio_region(serial::REGION_NAME, uart_size, &uart),
        );

        // virtio-mmio transports. QEMU creates them from the highest
        // address down and plugs each -device into the first free bus, so
        // the first device sits in the highest slot.
        let gmem: Arc<dyn GuestMemory> = Arc::new(RamGuestMemory::new(
            space.clone(),
            VIRT_DRAM_BASE,
            cfg.ram_size,
        ));
        let mut plugs: Vec<Option<VirtioPlug>> = (0..VIRTIO_COUNT).map(|_| None).collect();
        let mut virtio_slots = Vec::new();
        let mut anon = 0;
        for (k, plug) in cfg.virtio.into_iter().enumerate() {
            let index = VIRTIO_COUNT as usize - 1 - k;
            let qom_path = match &plug.id {
                Some(id) => format!("/machine/peripheral/{id}"),
                None => {
                    anon += 1;
                    format!("/machine/peripheral-anon/device[{}]", anon - 1)
                }
            };
            virtio_slots.push(VirtioSlot {
                index,
                base: VIRT_VIRTIO.base + index as u64 * VIRT_VIRTIO.size,
                irq: VIRTIO_IRQ + index as u32,
                driver: plug.driver.clone(),
                id: plug.id.clone(),
                props: plug.props.clone(),
                qom_path,
            });
            plugs[index] = Some(plug);
        }
        let mut virtio = Vec::new();
        for (i, plug) in plugs.into_iter().enumerate() {
            let device: Option<Box<dyn VirtioDevice>> = match plug.map(|p| p.kind) {
                None => None,
                Some(VirtioKind::Rng) => {
                    let entropy = HostEntropy::open().map_err(|e| {
                        BoardError::Other(format!(
                            "virtio-rng: cannot open the host's /dev/urandom: {e}"
                        ))
                    })?;
                    // Served from a main-loop bottom half, as QEMU's
                    // rng-builtin backend does.
                    Some(Box::new(
                        VirtioRng::new(gmem.clone(), Box::new(entropy))
                            .with_context(&qemu_get_aio_context()),
                    ))
                }
                Some(VirtioKind::Blk {
                    disk,
                    read_only,
                    serial,
                    ctx,
                }) => Some(Box::new(VirtioBlk::new(
                    gmem.clone(),
                    disk,
                    read_only,
                    &serial,
                    ctx,
                ))),
            };
            let t = Arc::new(Mutex::new(VirtioMmio::new(
                device,
                Plic::input(&plic, VIRTIO_IRQ + i as u32),
                gmem.clone(),
            )));
            system.add_subregion(
                VIRT_VIRTIO.base + i as u64 * VIRT_VIRTIO.size,
                &mmio_region(vmmio::REGION_NAME, vmmio::REGION_SIZE, &t),
            );
            virtio.push(t);
        }

        // The reset ROM: jump to the start of RAM (the firmware, or with
        // -bios none whatever the kernel put there).
        let rom = boot::reset_rom(VIRT_DRAM_BASE, layout.fdt_addr, layout.kernel_entry);
        ld.blobs.push((RESET_VECTOR, rom));

        // The harts run, each on its own thread, stopped until vm_start.
        let vcpus = VcpuThread::spawn_all(harts)
            .map_err(|e| BoardError::Other(format!("cannot start vCPU thread: {e}")))?;

        let virt = Virt {
            address_space: space,
            system,
            vcpus,
            uart: uart.clone(),
            layout,
            virtio_slots,
            devices: Devices {
                uart,
                plic,
                mswi,
                mtimer,
                rtc,
                virtio,
            },
            blobs: ld.blobs,
            fdt_cfg,
        };
        virt.load_images();
        Ok(virt)
    }

    /// The device tree blob as the guest gets it (a fresh `rng-seed` each
    /// call), in QEMU's 1 MiB buffer.
    pub fn dtb(&self) -> Vec<u8> {
        let mut c = self.fdt_cfg.clone();
        c.rng_seed = rng_seed();
        virt_fdt::create_fdt(&c).to_dtb(FDT_BUFFER_SIZE)
    }

    /// Writes the loaded images, the device tree and the reset ROM into
    /// guest memory (QEMU's `rom_reset`).
    fn load_images(&self) {
        for (addr, data) in &self.blobs {
            let _ = self
                .address_space
                .write_rom(*addr, MEMTXATTRS_UNSPECIFIED, data);
        }
        let _ =
            self.address_space
                .write_rom(self.layout.fdt_addr, MEMTXATTRS_UNSPECIFIED, &self.dtb());
    }

    /// Tears the machine down: asks the vCPU threads to quit, empties the
    /// address space and takes the regions out of the memory graph, so
    /// that a new machine can be built in the same process (RAM block names
    /// are global, as in QEMU). A vCPU that was never started stays parked
    /// in its thread (it holds no region once the address space is empty).
    pub fn destroy(&mut self) {
        for v in &self.vcpus {
            v.request_quit();
        }
        self.address_space.destroy();
        for r in self.system.subregions() {
            r.unparent();
        }
    }

    /// Machine reset (QEMU's `qemu_system_reset`), with the vCPUs paused:
    /// every device back to its reset state, the images and device tree
    /// written again, every hart back at the reset vector. The rest of RAM
    /// keeps its contents.
    pub fn reset(&self) {
        let d = &self.devices;
        d.uart.lock().reset();
        d.rtc.lock().reset();
        for t in &d.virtio {
            t.lock().reset();
        }
        d.mswi.lock().reset();
        d.mtimer.lock().reset();
        d.plic.lock().reset();
        self.load_images();
        for v in &self.vcpus {
            v.request_reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdt::Fdt;
    use ferrite_hw::chardev::BufferBackend;
    use ferrite_hw::misc::sifive_test::RecordingSink;
    use ferrite_memory::Endian;

    /// RAM block names are global: one machine at a time.
    static ONE_MACHINE: Mutex<()> = Mutex::new(());

    /// A machine that stops its vCPUs when the test is done with it.
    struct TestVirt(
        Virt,
        #[allow(dead_code)] parking_lot::MutexGuard<'static, ()>,
    );

    impl std::ops::Deref for TestVirt {
        type Target = Virt;
        fn deref(&self) -> &Virt {
            &self.0
        }
    }

    impl Drop for TestVirt {
        fn drop(&mut self) {
            self.0.destroy();
        }
    }

    fn build(
        ram: u64,
        kernel: Option<&Path>,
        initrd: Option<&Path>,
    ) -> Result<(TestVirt, Arc<RecordingSink>), BoardError> {
        build_with(ram, kernel, initrd, Vec::new())
    }

    fn build_with(
        ram: u64,
        kernel: Option<&Path>,
        initrd: Option<&Path>,
        virtio: Vec<VirtioPlug>,
    ) -> Result<(TestVirt, Arc<RecordingSink>), BoardError> {
        crate::test_util::init();
        let guard = ONE_MACHINE.lock();
        let sink = RecordingSink::new();
        let _bql = ferrite_aio::bql::bql_lock();
        let v = Virt::build(VirtConfig {
            ram_size: ram,
            harts: 1,
            firmware: Firmware::None,
            kernel: kernel.map(|p| p.display().to_string()),
            initrd: initrd.map(|p| p.display().to_string()),
            append: Some("console=ttyS0".into()),
            console: Arc::new(BufferBackend::new()),
            shutdown: sink.clone(),
            virtio,
        })?;
        Ok((TestVirt(v, guard), sink))
    }

    fn ld32(v: &Virt, a: u64) -> u64 {
        let (val, r) = v
            .address_space
            .ld(a, 4, Endian::Little, MEMTXATTRS_UNSPECIFIED);
        assert!(r.is_ok(), "load at {a:#x}");
        val
    }

    #[test]
    fn empty_virtio_transports_read_as_qemus() {
        let (v, _) = build(128 << 20, None, None).unwrap();
        for i in 0..8u64 {
            let base = 0x1000_1000 + i * 0x1000;
            assert_eq!(ld32(&v, base), 0x7472_6976, "magic at {base:#x}");
            assert_eq!(ld32(&v, base + 4), 2, "version");
            assert_eq!(ld32(&v, base + 8), 0, "device id");
            assert_eq!(ld32(&v, base + 0xc), 0x554d_4551, "vendor");
        }
    }

    /// The first device takes the highest slot (QEMU: virtio-mmio-bus.7 at
    /// 0x10008000, PLIC source 8), the next one the slot below.
    #[test]
    fn devices_fill_slots_from_the_top() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("d.img");
        std::fs::write(&img, vec![0u8; 3 * 512]).unwrap();
        let disk = Arc::new(ferrite_hw::virtio::blk::RawFile::open(&img, true).unwrap());
        let ctx = ferrite_aio::AioContext::new("test-blk").unwrap();
        let plugs = vec![
            VirtioPlug {
                driver: "virtio-blk-device".into(),
                id: Some("disk".into()),
                props: vec![("drive".into(), "d0".into())],
                kind: VirtioKind::Blk {
                    disk,
                    read_only: true,
                    serial: "s".into(),
                    ctx,
                },
            },
            VirtioPlug {
                driver: "virtio-rng-device".into(),
                id: None,
                props: Vec::new(),
                kind: VirtioKind::Rng,
            },
        ];
        let (v, _) = build_with(128 << 20, None, None, plugs).unwrap();
        assert_eq!(ld32(&v, 0x1000_8008), 2, "virtio-blk at 0x10008000");
        assert_eq!(ld32(&v, 0x1000_7008), 4, "virtio-rng at 0x10007000");
        for i in 0..6u64 {
            assert_eq!(ld32(&v, 0x1000_1008 + i * 0x1000), 0, "slot {i} empty");
        }
        // capacity in sectors; VIRTIO_BLK_F_RO offered
        assert_eq!(ld32(&v, 0x1000_8100), 3);
        assert_ne!(ld32(&v, 0x1000_8010) & (1 << 5), 0);
        // A machine reset resets the transports and their devices.
        for base in [0x1000_8000u64, 0x1000_7000] {
            let r = v
                .address_space
                .st(base + 0x70, 3, 4, Endian::Little, MEMTXATTRS_UNSPECIFIED);
            assert!(r.is_ok());
            assert_eq!(ld32(&v, base + 0x70), 3);
        }
        {
            let _bql = ferrite_aio::bql::bql_lock();
            v.reset();
        }
        assert_eq!(ld32(&v, 0x1000_8070), 0, "virtio-blk status after reset");
        assert_eq!(ld32(&v, 0x1000_7070), 0, "virtio-rng status after reset");
        assert_eq!(
            v.virtio_slots
                .iter()
                .map(|s| (s.index, s.base, s.irq, s.qom_path.as_str()))
                .collect::<Vec<_>>(),
            [
                (7, 0x1000_8000, 8, "/machine/peripheral/disk"),
                (6, 0x1000_7000, 7, "/machine/peripheral-anon/device[0]")
            ]
        );
    }

    #[test]
    fn reset_rom_and_fdt_without_kernel() {
        let (v, _) = build(512 << 20, None, None).unwrap();
        assert_eq!(v.layout.fdt_addr, 0x9fe0_0000);
        assert_eq!(ld32(&v, 0x1000), 0x0000_0297);
        assert_eq!(ld32(&v, 0x1018), 0x8000_0000);
        assert_eq!(ld32(&v, 0x1020), 0x9fe0_0000);
        assert_eq!(ld32(&v, 0x1028), 0x4942_534f);
        assert_eq!(ld32(&v, 0x1038), 0, "next_addr without a kernel");
        // The DTB is in RAM, in a 1 MiB buffer, and parses.
        let mut blob = vec![0u8; FDT_BUFFER_SIZE];
        let _ = v
            .address_space
            .read(0x9fe0_0000, MEMTXATTRS_UNSPECIFIED, &mut blob);
        assert_eq!(&blob[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
        assert_eq!(u32::from_be_bytes(blob[4..8].try_into().unwrap()), 1 << 20);
        let fdt = Fdt::from_dtb(&blob).unwrap();
        let chosen = fdt.lookup("/chosen").unwrap();
        assert!(
            fdt.prop(chosen, "bootargs").is_none(),
            "no kernel, no bootargs"
        );
        assert_eq!(fdt.prop(chosen, "rng-seed").map(<[u8]>::len), Some(32));
    }

    #[test]
    fn image_kernel_and_initrd_placement() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("Image");
        let mut img = vec![0u8; 0x1000];
        img[0x10..0x18].copy_from_slice(&0x10_0000u64.to_le_bytes()); // image_size
        img[0x38..0x3c].copy_from_slice(b"RSC\x05");
        img[0x100] = 0xaa;
        std::fs::write(&k, &img).unwrap();
        let i = dir.path().join("initrd");
        std::fs::write(&i, [1u8, 2, 3, 4, 5]).unwrap();
        let (v, _) = build(512 << 20, Some(&k), Some(&i)).unwrap();
        // -bios none: the kernel goes to the start of RAM.
        assert_eq!(v.layout.kernel_entry, 0x8000_0000);
        assert_eq!(v.layout.initrd, Some((0x8800_0000, 0x8800_0005)));
        assert_eq!(ld32(&v, 0x8000_0100), 0xaa);
        assert_eq!(ld32(&v, 0x8800_0000), 0x0403_0201);
        assert_eq!(ld32(&v, 0x1038), 0x8000_0000, "next_addr");
        let mut blob = vec![0u8; FDT_BUFFER_SIZE];
        let _ = v
            .address_space
            .read(v.layout.fdt_addr, MEMTXATTRS_UNSPECIFIED, &mut blob);
        let fdt = Fdt::from_dtb(&blob).unwrap();
        let chosen = fdt.lookup("/chosen").unwrap();
        assert_eq!(fdt.prop(chosen, "bootargs"), Some(&b"console=ttyS0\0"[..]));
        assert_eq!(
            fdt.prop(chosen, "linux,initrd-start"),
            Some(&0x8800_0000u32.to_be_bytes()[..])
        );
        assert_eq!(
            fdt.prop(chosen, "linux,initrd-end"),
            Some(&0x8800_0005u32.to_be_bytes()[..])
        );
    }

    #[test]
    fn bad_images_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("Image");
        // image_size smaller than the file: malformed.
        let mut img = vec![0u8; 0x1000];
        img[0x10..0x18].copy_from_slice(&0x10u64.to_le_bytes());
        img[0x38..0x3c].copy_from_slice(b"RSC\x05");
        std::fs::write(&k, &img).unwrap();
        let e = build(128 << 20, Some(&k), None).err().unwrap().to_string();
        assert!(e.contains("malformed Image header"), "{e}");
        // Bigger than RAM.
        img[0x10..0x18].copy_from_slice(&(1u64 << 30).to_le_bytes());
        std::fs::write(&k, &img).unwrap();
        let e = build(128 << 20, Some(&k), None).err().unwrap().to_string();
        assert!(e.contains("does not fit in RAM"), "{e}");
        let e = build(128 << 20, Some(&dir.path().join("missing")), None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("missing"), "{e}");
    }

    #[test]
    fn finisher_reports_to_the_sink_and_reset_reloads_images() {
        let (v, sink) = build(128 << 20, None, None).unwrap();
        let st = |val: u64| {
            let r = v
                .address_space
                .st(0x10_0000, val, 4, Endian::Little, MEMTXATTRS_UNSPECIFIED);
            assert!(r.is_ok());
        };
        st(0x5555);
        st((42 << 16) | 0x3333);
        st(0x7777);
        use ferrite_hw::misc::sifive_test::ShutdownRequest as R;
        assert_eq!(sink.take(), vec![R::Poweroff, R::Fail(42), R::Reset]);
        // RAM keeps its contents across a reset; the DTB is written again.
        let _ = v
            .address_space
            .write(0x8000_0000, MEMTXATTRS_UNSPECIFIED, &[0x5a]);
        let _ = v
            .address_space
            .write(v.layout.fdt_addr, MEMTXATTRS_UNSPECIFIED, &[0; 4]);
        {
            let _bql = ferrite_aio::bql::bql_lock();
            v.reset();
        }
        assert_eq!(ld32(&v, 0x8000_0000) & 0xff, 0x5a);
        assert_eq!(ld32(&v, v.layout.fdt_addr), 0xedfe_0dd0);
    }
}
