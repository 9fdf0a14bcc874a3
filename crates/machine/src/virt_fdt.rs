//! The RISC-V `virt` board's memory map, interrupt numbers and device tree,
//! as QEMU 7.2 defines them (`hw/riscv/virt.c`, `include/hw/riscv/virt.h`).
//!
//! [`create_fdt`] builds the tree node by node in the order QEMU's
//! `create_fdt` does, so that with libfdt's prepend order (see [`crate::fdt`])
//! the blob decompiles to the same text as QEMU's, phandles included. The
//! nodes for devices ferrite does not emulate (PCIe host, CFI flash, fw_cfg,
//! the platform bus, the PMU) are left out so that Linux does not probe
//! hardware that is not there; `docs/divergences.md` lists them.

use crate::fdt::{Fdt, NodeId};

/// One entry of the memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemMapEntry {
    /// Guest physical base address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
}

const fn e(base: u64, size: u64) -> MemMapEntry {
    MemMapEntry { base, size }
}

/// Mask ROM holding the reset vector and `fw_dynamic_info`.
pub const VIRT_MROM: MemMapEntry = e(0x1000, 0xf000);
/// `sifive_test` finisher (power off, reboot).
pub const VIRT_TEST: MemMapEntry = e(0x10_0000, 0x1000);
/// goldfish RTC.
pub const VIRT_RTC: MemMapEntry = e(0x10_1000, 0x1000);
/// CLINT (ACLINT MSWI + MTIMER).
pub const VIRT_CLINT: MemMapEntry = e(0x200_0000, 0x1_0000);
/// PLIC (0x200000 + 2 contexts x 512 harts x 0x1000).
pub const VIRT_PLIC: MemMapEntry = e(0xc00_0000, 0x60_0000);
/// NS16550A UART0.
pub const VIRT_UART0: MemMapEntry = e(0x1000_0000, 0x100);
/// The first of the eight virtio-mmio transports (each 0x1000).
pub const VIRT_VIRTIO: MemMapEntry = e(0x1000_1000, 0x1000);
/// Number of virtio-mmio transports.
pub const VIRTIO_COUNT: u64 = 8;
/// Guest RAM.
pub const VIRT_DRAM_BASE: u64 = 0x8000_0000;

/// PLIC source of the UART.
pub const UART0_IRQ: u32 = 10;
/// PLIC source of the RTC.
pub const RTC_IRQ: u32 = 11;
/// PLIC source of the first virtio-mmio transport (`VIRTIO_IRQ + n`).
pub const VIRTIO_IRQ: u32 = 1;
/// Number of PLIC interrupt sources including source 0 (`VIRT_IRQCHIP_NUM_SOURCES`).
pub const PLIC_NUM_SOURCES: u32 = 96;
/// ACLINT/MTIMER frequency and the device tree's `timebase-frequency`.
pub const TIMEBASE_FREQ: u32 = 10_000_000;
/// NS16550A input clock.
pub const UART_CLOCK_FREQ: u32 = 3_686_400;

/// The `riscv,isa` string of ferrite's hart: QEMU 7.2's default without
/// the extensions ferrite does not implement (H, Zbc).
pub const RISCV_ISA: &str = "rv64imafdc_zicsr_zifencei_zihintpause_zba_zbb_zbs_sstc";

/// Hart-local interrupt numbers (`mip` bits) used in `interrupts-extended`.
const IRQ_M_SOFT: u32 = 3;
const IRQ_M_TIMER: u32 = 7;
const IRQ_S_EXT: u32 = 9;
const IRQ_M_EXT: u32 = 11;

/// What the device tree depends on.
#[derive(Clone, Debug)]
pub struct VirtFdtConfig {
    /// Guest RAM size in bytes.
    pub ram_size: u64,
    /// Number of harts.
    pub harts: u32,
    /// `riscv,isa` string (must start with `rv64ima` for Linux).
    pub isa: String,
    /// `mmu-type`, e.g. `riscv,sv48`.
    pub mmu_type: String,
    /// `/chosen/bootargs` (only with a kernel).
    pub bootargs: Option<String>,
    /// `/chosen/linux,initrd-start` and `-end`.
    pub initrd: Option<(u64, u64)>,
    /// `/chosen/rng-seed`: 32 bytes, fresh on every reset.
    pub rng_seed: [u8; 32],
}

/// Adds a property holding a 32- or 64-bit address as one cell when it fits,
/// as QEMU's `qemu_fdt_setprop_sized_cells` does for initrd addresses in
/// `/chosen` (`#address-cells` there is 2, but QEMU writes one cell below
/// 4 GiB and Linux reads either).
fn set_addr(fdt: &mut Fdt, node: NodeId, name: &str, v: u64) {
    match u32::try_from(v) {
        Ok(v32) => fdt.set_prop_u32(node, name, v32),
        Err(_) => fdt.set_prop_u64(node, name, v),
    }
}

fn add(fdt: &mut Fdt, path: &str) -> NodeId {
    fdt.add_path(path)
        .unwrap_or_else(|e| panic!("virt device tree: {e} (adding {path})"))
}

/// Builds the `virt` device tree.
pub fn create_fdt(cfg: &VirtFdtConfig) -> Fdt {
    assert!(cfg.harts >= 1, "a virt machine has at least one hart");
    let mut fdt = Fdt::new();
    let root = fdt.root();
    fdt.set_prop_str(root, "model", "riscv-virtio,qemu");
    fdt.set_prop_str(root, "compatible", "riscv-virtio");
    fdt.set_prop_u32(root, "#size-cells", 2);
    fdt.set_prop_u32(root, "#address-cells", 2);

    let soc = add(&mut fdt, "/soc");
    fdt.set_prop_empty(soc, "ranges");
    fdt.set_prop_str(soc, "compatible", "simple-bus");
    fdt.set_prop_u32(soc, "#size-cells", 2);
    fdt.set_prop_u32(soc, "#address-cells", 2);

    // create_fdt_socket_cpus: harts in reverse so that, prepended, they read
    // in ascending order; each gets a cpu and an intc phandle.
    let cpus = add(&mut fdt, "/cpus");
    fdt.set_prop_u32(cpus, "timebase-frequency", TIMEBASE_FREQ);
    fdt.set_prop_u32(cpus, "#size-cells", 0);
    fdt.set_prop_u32(cpus, "#address-cells", 1);
    add(&mut fdt, "/cpus/cpu-map");
    add(&mut fdt, "/cpus/cpu-map/cluster0");
    let mut intc = vec![0u32; cfg.harts as usize];
    for hart in (0..cfg.harts).rev() {
        let cpu_phandle = fdt.alloc_phandle();
        let path = format!("/cpus/cpu@{hart}");
        let cpu = add(&mut fdt, &path);
        fdt.set_prop_str(cpu, "mmu-type", &cfg.mmu_type);
        fdt.set_prop_str(cpu, "riscv,isa", &cfg.isa);
        fdt.set_prop_str(cpu, "compatible", "riscv");
        fdt.set_prop_str(cpu, "status", "okay");
        fdt.set_prop_u32(cpu, "reg", hart);
        fdt.set_prop_str(cpu, "device_type", "cpu");
        fdt.set_prop_u32(cpu, "phandle", cpu_phandle);

        let intc_phandle = fdt.alloc_phandle();
        intc[hart as usize] = intc_phandle;
        let ic = add(&mut fdt, &format!("{path}/interrupt-controller"));
        fdt.set_prop_u32(ic, "phandle", intc_phandle);
        fdt.set_prop_str(ic, "compatible", "riscv,cpu-intc");
        fdt.set_prop_empty(ic, "interrupt-controller");
        fdt.set_prop_u32(ic, "#interrupt-cells", 1);

        let core = add(&mut fdt, &format!("/cpus/cpu-map/cluster0/core{hart}"));
        fdt.set_prop_u32(core, "cpu", cpu_phandle);
    }

    // create_fdt_socket_memory
    let mem = add(&mut fdt, &format!("/memory@{VIRT_DRAM_BASE:x}"));
    fdt.set_prop_u64s(mem, "reg", &[VIRT_DRAM_BASE, cfg.ram_size]);
    fdt.set_prop_str(mem, "device_type", "memory");

    // create_fdt_socket_clint
    let clint = add(&mut fdt, &format!("/soc/clint@{:x}", VIRT_CLINT.base));
    fdt.set_prop_strings(clint, "compatible", &["sifive,clint0", "riscv,clint0"]);
    fdt.set_prop_u64s(clint, "reg", &[VIRT_CLINT.base, VIRT_CLINT.size]);
    let cells: Vec<u32> = intc
        .iter()
        .flat_map(|&p| [p, IRQ_M_SOFT, p, IRQ_M_TIMER])
        .collect();
    fdt.set_prop_cells(clint, "interrupts-extended", &cells);

    // create_fdt_socket_plic
    let plic_phandle = fdt.alloc_phandle();
    let plic = add(&mut fdt, &format!("/soc/plic@{:x}", VIRT_PLIC.base));
    fdt.set_prop_u32(plic, "#interrupt-cells", 1);
    fdt.set_prop_u32(plic, "#address-cells", 0);
    fdt.set_prop_strings(plic, "compatible", &["sifive,plic-1.0.0", "riscv,plic0"]);
    fdt.set_prop_empty(plic, "interrupt-controller");
    let cells: Vec<u32> = intc
        .iter()
        .flat_map(|&p| [p, IRQ_M_EXT, p, IRQ_S_EXT])
        .collect();
    fdt.set_prop_cells(plic, "interrupts-extended", &cells);
    fdt.set_prop_u64s(plic, "reg", &[VIRT_PLIC.base, VIRT_PLIC.size]);
    fdt.set_prop_u32(plic, "riscv,ndev", PLIC_NUM_SOURCES);
    fdt.set_prop_u32(plic, "phandle", plic_phandle);

    // create_fdt_virtio: transports in ascending order, so that they read
    // highest-address-first (Linux's virtio0 is 0x10008000).
    for n in 0..VIRTIO_COUNT {
        let base = VIRT_VIRTIO.base + n * VIRT_VIRTIO.size;
        let v = add(&mut fdt, &format!("/soc/virtio_mmio@{base:x}"));
        fdt.set_prop_str(v, "compatible", "virtio,mmio");
        fdt.set_prop_u64s(v, "reg", &[base, VIRT_VIRTIO.size]);
        fdt.set_prop_u32(v, "interrupt-parent", plic_phandle);
        fdt.set_prop_u32(v, "interrupts", VIRTIO_IRQ + n as u32);
    }

    // create_fdt_reset
    let test_phandle = fdt.alloc_phandle();
    let test = add(&mut fdt, &format!("/soc/test@{:x}", VIRT_TEST.base));
    fdt.set_prop_strings(
        test,
        "compatible",
        &["sifive,test1", "sifive,test0", "syscon"],
    );
    fdt.set_prop_u64s(test, "reg", &[VIRT_TEST.base, VIRT_TEST.size]);
    fdt.set_prop_u32(test, "phandle", test_phandle);
    for (name, value) in [("reboot", 0x7777u32), ("poweroff", 0x5555)] {
        let n = add(&mut fdt, &format!("/{name}"));
        fdt.set_prop_str(n, "compatible", &format!("syscon-{name}"));
        fdt.set_prop_u32(n, "regmap", test_phandle);
        fdt.set_prop_u32(n, "offset", 0);
        fdt.set_prop_u32(n, "value", value);
    }

    // create_fdt_uart (and /chosen, whose stdout-path it sets)
    let chosen = add(&mut fdt, "/chosen");
    let uart_path = format!("/soc/serial@{:x}", VIRT_UART0.base);
    let uart = add(&mut fdt, &uart_path);
    fdt.set_prop_str(uart, "compatible", "ns16550a");
    fdt.set_prop_u64s(uart, "reg", &[VIRT_UART0.base, VIRT_UART0.size]);
    fdt.set_prop_u32(uart, "clock-frequency", UART_CLOCK_FREQ);
    fdt.set_prop_u32(uart, "interrupt-parent", plic_phandle);
    fdt.set_prop_u32(uart, "interrupts", UART0_IRQ);
    fdt.set_prop_str(chosen, "stdout-path", &uart_path);

    // create_fdt_rtc
    let rtc = add(&mut fdt, &format!("/soc/rtc@{:x}", VIRT_RTC.base));
    fdt.set_prop_str(rtc, "compatible", "google,goldfish-rtc");
    fdt.set_prop_u64s(rtc, "reg", &[VIRT_RTC.base, VIRT_RTC.size]);
    fdt.set_prop_u32(rtc, "interrupt-parent", plic_phandle);
    fdt.set_prop_u32(rtc, "interrupts", RTC_IRQ);

    // The kernel command line, the seed and the initrd (create_fdt, then
    // riscv_load_initrd).
    if let Some(args) = &cfg.bootargs {
        fdt.set_prop_str(chosen, "bootargs", args);
    }
    fdt.set_prop(chosen, "rng-seed", cfg.rng_seed.to_vec());
    if let Some((start, end)) = cfg.initrd {
        set_addr(&mut fdt, chosen, "linux,initrd-start", start);
        set_addr(&mut fdt, chosen, "linux,initrd-end", end);
    }
    fdt
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes QEMU 7.2 emits for devices ferrite does not model
    /// (docs/divergences.md).
    const NOT_EMULATED: &[&str] = &[
        "/soc/pci@30000000",
        "/flash@20000000",
        "/fw-cfg@10100000",
        "/platform-bus@4000000",
        "/pmu",
    ];

    /// Flattens a tree into (path, property list) in blob order, dropping
    /// the nodes ferrite does not emulate and normalising what may differ:
    /// rng-seed is random (compare its length) and riscv,isa names the CPU's
    /// extensions (compared separately).
    /// (node path, [(property, value)]) in blob order.
    type Flat = Vec<(String, Vec<(String, Vec<u8>)>)>;

    fn flatten(f: &Fdt) -> Flat {
        fn walk(f: &Fdt, n: NodeId, path: String, out: &mut Flat) {
            if NOT_EMULATED.contains(&path.as_str()) {
                return;
            }
            let props = f
                .props(n)
                .map(|p| {
                    let v = match p.name.as_str() {
                        "rng-seed" => vec![p.value.len() as u8],
                        "riscv,isa" => b"<isa>".to_vec(),
                        _ => p.value.clone(),
                    };
                    (p.name.clone(), v)
                })
                .collect();
            out.push((path.clone(), props));
            for c in f.children(n) {
                let p = if path == "/" {
                    format!("/{}", f.name(c))
                } else {
                    format!("{path}/{}", f.name(c))
                };
                walk(f, c, p, out);
            }
        }
        let mut out = Vec::new();
        walk(f, f.root(), "/".into(), &mut out);
        out
    }

    fn ours(ram: u64, harts: u32, kernel: bool) -> Fdt {
        create_fdt(&VirtFdtConfig {
            ram_size: ram,
            harts,
            isa: "rv64imafdc_zicsr_zifencei_zihintpause_zba_zbb_zbs_sstc".into(),
            mmu_type: "riscv,sv48".into(),
            bootargs: kernel.then(|| "console=ttyS0 panic=-1 guest.poweroff".into()),
            initrd: kernel.then_some((0x8820_0000, 0x883c_ec24)),
            rng_seed: [7; 32],
        })
    }

    fn assert_same(ours: &Fdt, theirs: &Fdt) {
        let a = flatten(ours);
        let b = flatten(theirs);
        let paths_a: Vec<_> = a.iter().map(|(p, _)| p.as_str()).collect();
        let paths_b: Vec<_> = b.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths_a, paths_b, "same nodes in the same order");
        for ((path, pa), (_, pb)) in a.iter().zip(b.iter()) {
            assert_eq!(pa, pb, "properties of {path}");
        }
    }

    /// Against QEMU 7.2's own tree for `-m 512 -kernel -initrd -append`.
    #[test]
    fn matches_qemu_oracle_with_kernel() {
        let dir = crate::test_util::shared_dir();
        let blob =
            std::fs::read(dir.join("spec/oracles/riscv-virt-512m-kernel-initrd.dtb")).unwrap();
        let theirs = Fdt::from_dtb(&blob).unwrap();
        assert_same(&ours(512 << 20, 1, true), &theirs);
    }

    /// Against the tree the installed QEMU dumps for several hart counts:
    /// phandle numbering, cpu-map and the per-hart interrupts-extended lists.
    #[test]
    fn matches_live_qemu_for_smp() {
        for harts in [1u32, 2, 4] {
            let tmp = std::env::temp_dir()
                .join(format!("ferrite-virt-{}-{harts}.dtb", std::process::id()));
            let st = std::process::Command::new("qemu-system-riscv64")
                .arg("-M")
                .arg(format!("virt,dumpdtb={}", tmp.display()))
                .args(["-m", "1G", "-smp", &harts.to_string(), "-display", "none"])
                .output()
                .expect("qemu-system-riscv64 (Debian package qemu-system-misc) must be installed");
            assert!(
                st.status.success(),
                "{}",
                String::from_utf8_lossy(&st.stderr)
            );
            let blob = std::fs::read(&tmp).unwrap();
            let _ = std::fs::remove_file(&tmp);
            let theirs = Fdt::from_dtb(&blob).unwrap();
            assert_same(&ours(1 << 30, harts, false), &theirs);
        }
    }

    #[test]
    fn isa_string_and_sizes() {
        let f = ours(512 << 20, 1, false);
        let cpu = f.lookup("/cpus/cpu@0").unwrap();
        assert!(f.prop(cpu, "riscv,isa").unwrap().starts_with(b"rv64ima"));
        let mem = f.lookup("/memory@80000000").unwrap();
        assert_eq!(
            f.prop(mem, "reg").unwrap(),
            &[0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0][..]
        );
        // Fits QEMU's 1 MiB buffer with plenty to spare for OpenSBI's edits.
        assert!(f.to_dtb(0).len() < 16 << 10);
    }
}
