//! The devices on Ferrite's real memory API and event loop, through
//! `ferrite_hw::adapt`: guest accesses through an `AddressSpace` reach the
//! registers with the right access rules, virtio devices use guest RAM
//! through the address space, and the ACLINT's comparator fires from an
//! `AioContext` timer on the VIRTUAL clock.

use std::sync::Arc;

use ferrite_aio::{AioContext, ClockType};
use ferrite_hw::adapt::{AddressSpaceMemory, AioClock, AioTimer, mmio_region};
use ferrite_hw::char::serial::{self, Serial, VIRT_BAUDBASE};
use ferrite_hw::chardev::BufferBackend;
use ferrite_hw::clock::{FakeClock, FakeTimer, Timer};
use ferrite_hw::intc::aclint::{AclintMtimer, MTIME, MTIMECMP, MtimeSource, TIMEBASE_FREQ};
use ferrite_hw::intc::plic::{self, Plic, SharedPlic};
use ferrite_hw::irq::{HartIrq, IrqProbe, MipProbe, hart_irq_line, mip};
use ferrite_hw::mmio::MmioDevice;
use ferrite_hw::virtio::mmio::{self as vmmio, VirtioMmio};
use ferrite_hw::virtio::rng::{HostEntropy, VirtioRng};
use ferrite_hw::virtio::{GuestMemory, VirtioDevice};
use ferrite_memory::mtree::MtreeOptions;
use ferrite_memory::{AddressSpace, MEMTXATTRS_UNSPECIFIED as ATTRS, MemTxResult, MemoryRegion};
use parking_lot::Mutex;

struct Machine {
    space: AddressSpace,
    out: BufferBackend,
    harts: Arc<MipProbe>,
    _plic: SharedPlic,
}

/// A slice of `virt`: RAM, the PLIC and the UART, in one address space.
fn machine(name: &str) -> Machine {
    let root = MemoryRegion::new_container(name, u64::MAX);
    let ram = MemoryRegion::new_ram(&format!("{name}.ram"), 1 << 20).unwrap();
    root.add_subregion(0x8000_0000, &ram);
    let harts = MipProbe::new(1);
    let h: Arc<dyn HartIrq> = harts.clone();
    let plic: SharedPlic = Arc::new(Mutex::new(Plic::new_virt(1, &h)));
    root.add_subregion(
        0xc00_0000,
        &mmio_region(plic::REGION_NAME, plic::region_size(2), &plic),
    );
    let out = BufferBackend::new();
    let uart = Arc::new(Mutex::new(Serial::new(
        Plic::input(&plic, 10),
        Arc::new(out.clone()),
        Arc::new(FakeClock::new(0)),
        Box::new(FakeTimer::new()),
        VIRT_BAUDBASE,
        0,
    )));
    let size = uart.lock().region_size();
    root.add_subregion(0x1000_0000, &mmio_region(serial::REGION_NAME, size, &uart));
    Machine {
        space: AddressSpace::new(&root, name),
        out,
        harts,
        _plic: plic,
    }
}

fn readb(s: &AddressSpace, addr: u64) -> (u8, MemTxResult) {
    let mut b = [0u8];
    let r = s.read(addr, ATTRS, &mut b);
    (b[0], r)
}

#[test]
fn guest_accesses_reach_the_devices_with_their_access_rules() {
    let m = machine("adapt-mmio");
    // UART: LSR after reset, a byte out through THR.
    assert_eq!(readb(&m.space, 0x1000_0005), (0x60, MemTxResult::OK));
    assert!(m.space.write(0x1000_0000, ATTRS, b"!").is_ok());
    assert_eq!(m.out.take(), b"!");
    // Past the UART's 8 bytes nothing answers.
    assert!(!readb(&m.space, 0x1000_0008).1.is_ok());
    // PLIC: 32-bit only; a 16-bit access is rejected before the device.
    assert!(
        m.space
            .write(0xc00_0028, ATTRS, &7u32.to_le_bytes())
            .is_ok()
    );
    let mut w = [0u8; 4];
    assert!(m.space.read(0xc00_0028, ATTRS, &mut w).is_ok());
    assert_eq!(u32::from_le_bytes(w), 7);
    let mut h = [0u8; 2];
    assert!(!m.space.read(0xc00_0028, ATTRS, &mut h).is_ok());
    // A UART interrupt reaches hart 0's SEIP through the PLIC.
    assert!(
        m.space
            .write(0xc00_2080, ATTRS, &(1u32 << 10).to_le_bytes())
            .is_ok()
    );
    assert!(m.space.write(0x1000_0001, ATTRS, &[0x02]).is_ok());
    assert!(m.harts.bit(0, mip::SEIP));
    // The regions show in `info mtree` under QEMU's names and sizes.
    let tree = ferrite_memory::mtree::mtree_info_for(
        std::slice::from_ref(&m.space),
        MtreeOptions::default(),
    );
    assert!(
        tree.contains("0000000010000000-0000000010000007 (prio 0, i/o): serial"),
        "{tree}"
    );
    assert!(
        tree.contains("000000000c000000-000000000c201fff (prio 0, i/o): riscv.sifive.plic"),
        "{tree}"
    );
}

#[test]
fn address_space_memory_is_guest_ram_only() {
    let m = machine("adapt-ram");
    let mem = AddressSpaceMemory(m.space.clone());
    assert!(mem.is_ram(0x8000_0000, 1 << 20));
    assert!(mem.is_ram(0x8000_0000 + (1 << 20) - 1, 1));
    assert!(
        !mem.is_ram(0x8000_0000 + (1 << 20) - 1, 2),
        "runs past the end of RAM"
    );
    assert!(!mem.is_ram(0x1000_0000, 1), "MMIO is not RAM");
    assert!(!mem.is_ram(0x7fff_ffff, 2), "starts in a hole");
    assert!(!mem.is_ram(u64::MAX, 2), "wraps");
    mem.write(0x8000_1000, b"ferrite").unwrap();
    let mut b = [0u8; 7];
    mem.read(0x8000_1000, &mut b).unwrap();
    assert_eq!(&b, b"ferrite");
    assert!(
        mem.write(0x1000_0000, b"x").is_err(),
        "no DMA into the UART"
    );
    assert!(m.out.contents().is_empty());
}

#[test]
fn virtio_rng_serves_requests_in_real_guest_ram() {
    let m = machine("adapt-virtio");
    let mem: Arc<dyn GuestMemory> = Arc::new(AddressSpaceMemory(m.space.clone()));
    let rng = VirtioRng::new(mem.clone(), Box::new(HostEntropy::open().unwrap()));
    let features = rng.device_features();
    let irq = IrqProbe::new();
    let mut t = VirtioMmio::new(Some(Box::new(rng)), irq.line(), mem.clone());
    let (desc, avail, used, data) = (
        0x8000_0000u64,
        0x8000_1000u64,
        0x8000_2000u64,
        0x8000_8000u64,
    );
    for (off, v) in [
        (vmmio::STATUS, 0),
        (vmmio::STATUS, 3),
        (vmmio::DRIVER_FEATURES_SEL, 1),
        (vmmio::DRIVER_FEATURES, features >> 32),
        (vmmio::DRIVER_FEATURES_SEL, 0),
        (vmmio::DRIVER_FEATURES, features & 0xffff_ffff),
        (vmmio::STATUS, 0xb),
        (vmmio::QUEUE_NUM, 8),
        (vmmio::QUEUE_DESC_LOW, desc),
        (vmmio::QUEUE_AVAIL_LOW, avail),
        (vmmio::QUEUE_USED_LOW, used),
        (vmmio::QUEUE_READY, 1),
        (vmmio::STATUS, 0xf),
    ] {
        t.write(off, 4, v);
    }
    assert_eq!(t.read(vmmio::STATUS, 4), 0xf);
    let mut d = [0u8; 16];
    d[0..8].copy_from_slice(&data.to_le_bytes());
    d[8..12].copy_from_slice(&32u32.to_le_bytes());
    d[12..14].copy_from_slice(&2u16.to_le_bytes());
    mem.write(desc, &d).unwrap();
    mem.write(avail + 2, &1u16.to_le_bytes()).unwrap();
    t.write(vmmio::QUEUE_NOTIFY, 4, 0);
    let mut u = [0u8; 10];
    mem.read(used + 2, &mut u).unwrap();
    assert_eq!(u16::from_le_bytes([u[0], u[1]]), 1, "used.idx");
    assert_eq!(
        u32::from_le_bytes(u[6..10].try_into().unwrap()),
        32,
        "used length"
    );
    assert!(irq.level());
}

#[test]
fn mtimer_fires_from_an_aio_timer_on_the_virtual_clock() {
    // What vm_start does for time: VIRTUAL runs and its timers are enabled.
    ferrite_aio::timer::cpu_enable_ticks();
    ferrite_aio::QemuClock::enable(ClockType::Virtual, true);
    let ctx = AioContext::new("adapt-aclint").unwrap();
    let harts = MipProbe::new(1);
    let h: Arc<dyn HartIrq> = harts.clone();
    let time = MtimeSource::new(Arc::new(AioClock(ClockType::Virtual)), TIMEBASE_FREQ);
    let mtimer = Arc::new_cyclic(|weak| {
        let timer = AioTimer::new(
            &ctx,
            ClockType::Virtual,
            weak.clone(),
            |m: &mut AclintMtimer| m.mtimer_cb(0),
        );
        Mutex::new(AclintMtimer::new(
            time.clone(),
            vec![hart_irq_line(&h, 0, mip::MTIP)],
            vec![Box::new(timer) as Box<dyn Timer>],
        ))
    });
    // Reset leaves mtimecmp at 0: MTIP pending. Arm 50 us ahead instead.
    assert!(harts.bit(0, mip::MTIP));
    let now = mtimer.lock().read(MTIME, 8);
    mtimer.lock().write(MTIMECMP, 8, now + 500);
    assert!(!harts.bit(0, mip::MTIP));
    // The event loop runs the timer when the VIRTUAL clock gets there. A
    // REALTIME watchdog only keeps a broken build from hanging the suite.
    let gave_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let g = gave_up.clone();
    let watchdog = ferrite_aio::Timer::new(&ctx, ClockType::Realtime, move || {
        g.store(true, std::sync::atomic::Ordering::SeqCst)
    });
    watchdog.modify_ns(AioContext::now_ns() + 30_000_000_000);
    ctx.poll_while(|| {
        !harts.bit(0, mip::MTIP) && !gave_up.load(std::sync::atomic::Ordering::SeqCst)
    });
    assert!(harts.bit(0, mip::MTIP), "the comparator timer never fired");
    assert!(
        time.read() >= now + 500,
        "fired no earlier than the comparator"
    );
    assert_eq!(mtimer.lock().timecmp(0), now + 500);
}
