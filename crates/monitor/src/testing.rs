//! A fake machine implementing [`MachineControl`], for the monitor's tests
//! and for anyone testing code that drives the monitor before the `virt`
//! board is runnable.
//!
//! It models what the monitor can observe of QEMU 7.2's `virt` machine at
//! start-up with `-S`: one hart, the run state rules of
//! [`VmRunState`], a small mask ROM at `0x1000` holding the bytes QEMU
//! places there (so `xp` output can be compared with QEMU's), RAM at
//! `0x8000_0000`, and nothing mapped elsewhere. Virtual reads are
//! identity-mapped (the hart is in bare mode at reset). It is a test
//! double, not an emulator: vCPUs never run.

use crate::error::QmpError;
use crate::events::{EventBus, ShutdownCause};
use crate::machine::{BlockInfo, CpuInfoFast, MachineControl, MachineInfo, MemoryAccessError};
use crate::qobject::QDict;
use crate::runstate::{RunState, VmRunState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// The first 40 bytes of QEMU 7.2's `virt` reset vector ROM at `0x1000`
/// as `xp` showed them for a 1-hart machine without firmware
/// (`xp /20xb 0x1000`, `xp /3xg 0x1000`).
pub const VIRT_MROM_HEAD: [u8; 40] = [
    0x97, 0x02, 0x00, 0x00, 0x13, 0x86, 0x82, 0x02, 0x73, 0x25, 0x40, 0xf1, 0x83, 0xb5, 0x02, 0x02,
    0x83, 0xb2, 0x82, 0x01, 0x67, 0x80, 0x02, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xe0, 0x87, 0x00, 0x00, 0x00, 0x00,
];

/// Base of the fake mask ROM.
pub const MROM_BASE: u64 = 0x1000;
/// Size of the fake mask ROM (QEMU: 0xf000).
pub const MROM_SIZE: u64 = 0xf000;
/// Base of the fake RAM.
pub const RAM_BASE: u64 = 0x8000_0000;

/// The fake machine.
pub struct FakeMachine {
    /// Run state and event rules.
    pub runstate: VmRunState,
    name: Option<String>,
    mrom: Vec<u8>,
    ram: Mutex<Vec<u8>>,
    exit: AtomicBool,
    /// While set, `stop` blocks until a message arrives (to test that OOB
    /// commands are answered while the main loop is busy).
    stop_gate: Mutex<Option<mpsc::Receiver<()>>>,
    /// Log of machine-level calls, for assertions.
    pub calls: Mutex<Vec<String>>,
    blocks: Mutex<Vec<BlockInfo>>,
    /// Canned `info` texts by item, as a board would render them.
    info: Mutex<Vec<(String, String)>>,
    /// Every `hmp_info` call: item and arguments.
    pub info_calls: Mutex<Vec<(String, Vec<String>)>>,
}

impl FakeMachine {
    /// A machine started with `-S` (prelaunch), `ram_size` bytes of RAM.
    pub fn new(bus: Arc<EventBus>, name: Option<&str>, ram_size: usize) -> Arc<Self> {
        let mut mrom = vec![0u8; MROM_SIZE as usize];
        mrom[..VIRT_MROM_HEAD.len()].copy_from_slice(&VIRT_MROM_HEAD);
        Arc::new(FakeMachine {
            runstate: VmRunState::new(RunState::Prelaunch, bus),
            name: name.map(str::to_owned),
            mrom,
            ram: Mutex::new(vec![0u8; ram_size]),
            exit: AtomicBool::new(false),
            stop_gate: Mutex::new(None),
            calls: Mutex::new(Vec::new()),
            blocks: Mutex::new(Vec::new()),
            info: Mutex::new(Vec::new()),
            info_calls: Mutex::new(Vec::new()),
        })
    }

    /// Write guest RAM (test setup).
    pub fn write_ram(&self, offset: usize, data: &[u8]) {
        let mut ram = self.ram.lock().unwrap_or_else(|e| e.into_inner());
        ram[offset..offset + data.len()].copy_from_slice(data);
    }

    /// Set the block devices `query-block` reports.
    pub fn set_block_devices(&self, blocks: Vec<BlockInfo>) {
        *self.blocks.lock().unwrap_or_else(|e| e.into_inner()) = blocks;
    }

    /// Give `info WHAT` a text (as a board would render it).
    pub fn set_hmp_info(&self, what: &str, text: &str) {
        self.info
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((what.to_owned(), text.to_owned()));
    }

    /// Make the next `stop` block until the returned sender sends (or is
    /// dropped).
    pub fn block_next_stop(&self) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel();
        *self.stop_gate.lock().unwrap_or_else(|e| e.into_inner()) = Some(rx);
        tx
    }

    fn log(&self, s: &str) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(s.to_owned());
    }
}

impl MachineControl for FakeMachine {
    fn run_state(&self) -> RunState {
        self.runstate.get()
    }

    fn stop(&self) -> Result<(), QmpError> {
        let gate = self
            .stop_gate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rx) = gate {
            let _ = rx.recv();
        }
        self.log("stop");
        self.runstate.vm_stop(RunState::Paused);
        Ok(())
    }

    fn cont(&self) -> Result<(), QmpError> {
        self.log("cont");
        self.runstate.cont().map(|_| ())
    }

    fn system_reset(&self, cause: ShutdownCause) {
        self.log("system_reset");
        self.runstate.reset_done(cause);
    }

    fn system_powerdown(&self) {
        self.log("system_powerdown");
        self.runstate.powerdown_requested();
    }

    fn request_shutdown(&self, cause: ShutdownCause) {
        self.log("shutdown");
        self.runstate.shutdown_requested(cause);
        self.exit.store(true, Ordering::SeqCst);
    }

    fn exit_requested(&self) -> bool {
        self.exit.load(Ordering::SeqCst)
    }

    fn name(&self) -> Option<String> {
        self.name.clone()
    }

    fn cpus(&self) -> Vec<CpuInfoFast> {
        vec![CpuInfoFast {
            cpu_index: 0,
            qom_path: "/machine/soc0/harts[0]".into(),
            thread_id: i64::from(std::process::id()),
            props: Some(QDict::new().with("core-id", 0i64)),
            target: "riscv64".into(),
        }]
    }

    fn machines(&self) -> Vec<MachineInfo> {
        vec![MachineInfo {
            name: "virt".into(),
            alias: None,
            is_default: false,
            cpu_max: 512,
            hotpluggable_cpus: false,
            numa_mem_supported: true,
            deprecated: false,
            default_cpu_type: Some("rv64-riscv-cpu".into()),
            default_ram_id: Some("riscv_virt_board.ram".into()),
        }]
    }

    fn block_devices(&self) -> Vec<BlockInfo> {
        self.blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn read_physical(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryAccessError> {
        let len = buf.len() as u64;
        let end = addr.checked_add(len).ok_or(MemoryAccessError)?;
        if addr >= MROM_BASE && end <= MROM_BASE + MROM_SIZE {
            let o = (addr - MROM_BASE) as usize;
            buf.copy_from_slice(&self.mrom[o..o + buf.len()]);
            return Ok(());
        }
        let ram = self.ram.lock().unwrap_or_else(|e| e.into_inner());
        if addr >= RAM_BASE && end <= RAM_BASE + ram.len() as u64 {
            let o = (addr - RAM_BASE) as usize;
            buf.copy_from_slice(&ram[o..o + buf.len()]);
            return Ok(());
        }
        Err(MemoryAccessError)
    }

    fn hmp_info(&self, what: &str, args: &[&str], _cpu: usize) -> Option<String> {
        self.info_calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((
                what.to_owned(),
                args.iter().map(|a| a.to_string()).collect(),
            ));
        self.info
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(w, _)| w == what)
            .map(|(_, t)| t.clone())
    }

    fn read_virtual(
        &self,
        _cpu: usize,
        addr: u64,
        buf: &mut [u8],
    ) -> Result<(), MemoryAccessError> {
        self.read_physical(addr, buf)
    }
}
