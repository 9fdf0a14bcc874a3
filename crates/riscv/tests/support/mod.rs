//! Test support: a tiny RV64 assembler and a machine with RAM and a test
//! finisher, for running hand-assembled programs on a hart.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use ferrite_riscv::{Hart, IrqLines, ManualTime};
use ferrite_tcg::{CpuExit, MemTxError, MmioDevice, SimplePhysMemory};

pub const RAM_BASE: u64 = 0x8000_0000;
pub const RAM_SIZE: u64 = 4 << 20;
pub const FINISHER: u64 = 0x0010_0000;
pub const MMIO_SCRATCH: u64 = 0x0020_0000;
/// Where benchmark programs put `tohost` when they also run on QEMU's
/// `spike` machine; the finisher is mapped here too (just past our RAM).
pub const TOHOST: u64 = RAM_BASE + RAM_SIZE;

// Register numbers.
pub const ZERO: u32 = 0;
pub const RA: u32 = 1;
pub const SP: u32 = 2;
pub const T0: u32 = 5;
pub const T1: u32 = 6;
pub const T2: u32 = 7;
pub const A0: u32 = 10;
pub const A1: u32 = 11;
pub const A2: u32 = 12;
pub const A3: u32 = 13;
pub const A4: u32 = 14;
pub const A5: u32 = 15;

#[derive(Clone, Copy)]
enum Fix {
    B,
    J,
}

/// Assembler. Emits little-endian code for a given base address.
pub struct Asm {
    pub bytes: Vec<u8>,
    pub base: u64,
    labels: HashMap<String, u64>,
    fixups: Vec<(usize, String, Fix)>,
}

impl Asm {
    pub fn new(base: u64) -> Self {
        Asm {
            bytes: Vec::new(),
            base,
            labels: HashMap::new(),
            fixups: Vec::new(),
        }
    }
    pub fn pc(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }
    pub fn w(&mut self, i: u32) -> &mut Self {
        self.bytes.extend_from_slice(&i.to_le_bytes());
        self
    }
    pub fn h(&mut self, i: u16) -> &mut Self {
        self.bytes.extend_from_slice(&i.to_le_bytes());
        self
    }
    pub fn label(&mut self, name: &str) -> &mut Self {
        let pc = self.pc();
        self.labels.insert(name.into(), pc);
        self
    }
    pub fn addr_of(&self, name: &str) -> u64 {
        self.labels[name]
    }
    pub fn align(&mut self, n: usize) -> &mut Self {
        while !self.bytes.len().is_multiple_of(n) {
            self.bytes.push(0);
        }
        self
    }
    pub fn finish(&mut self) -> Vec<u8> {
        for (off, name, kind) in std::mem::take(&mut self.fixups) {
            let target = *self
                .labels
                .get(&name)
                .unwrap_or_else(|| panic!("undefined label {name}"));
            let pc = self.base + off as u64;
            let rel = target.wrapping_sub(pc) as i64 as i32;
            let mut i = u32::from_le_bytes(self.bytes[off..off + 4].try_into().unwrap());
            i |= match kind {
                Fix::B => enc_b(rel),
                Fix::J => enc_j(rel),
            };
            self.bytes[off..off + 4].copy_from_slice(&i.to_le_bytes());
        }
        self.bytes.clone()
    }

    pub fn r(&mut self, f7: u32, rs2: u32, rs1: u32, f3: u32, rd: u32, op: u32) -> &mut Self {
        self.w(r(f7, rs2, rs1, f3, rd, op))
    }
    pub fn i(&mut self, imm: i32, rs1: u32, f3: u32, rd: u32, op: u32) -> &mut Self {
        self.w(i(imm, rs1, f3, rd, op))
    }
    pub fn s(&mut self, imm: i32, rs2: u32, rs1: u32, f3: u32, op: u32) -> &mut Self {
        self.w(s(imm, rs2, rs1, f3, op))
    }

    // RV64I
    pub fn lui(&mut self, rd: u32, imm20: u32) -> &mut Self {
        self.w((imm20 << 12) | (rd << 7) | 0x37)
    }
    pub fn auipc(&mut self, rd: u32, imm20: u32) -> &mut Self {
        self.w((imm20 << 12) | (rd << 7) | 0x17)
    }
    pub fn addi(&mut self, rd: u32, rs1: u32, imm: i32) -> &mut Self {
        self.i(imm, rs1, 0, rd, 0x13)
    }
    pub fn addiw(&mut self, rd: u32, rs1: u32, imm: i32) -> &mut Self {
        self.i(imm, rs1, 0, rd, 0x1b)
    }
    pub fn slli(&mut self, rd: u32, rs1: u32, sh: u32) -> &mut Self {
        self.i(sh as i32, rs1, 1, rd, 0x13)
    }
    pub fn srli(&mut self, rd: u32, rs1: u32, sh: u32) -> &mut Self {
        self.i(sh as i32, rs1, 5, rd, 0x13)
    }
    pub fn add(&mut self, rd: u32, rs1: u32, rs2: u32) -> &mut Self {
        self.r(0, rs2, rs1, 0, rd, 0x33)
    }
    pub fn sub(&mut self, rd: u32, rs1: u32, rs2: u32) -> &mut Self {
        self.r(0x20, rs2, rs1, 0, rd, 0x33)
    }
    pub fn or(&mut self, rd: u32, rs1: u32, rs2: u32) -> &mut Self {
        self.r(0, rs2, rs1, 6, rd, 0x33)
    }
    pub fn mv(&mut self, rd: u32, rs: u32) -> &mut Self {
        self.addi(rd, rs, 0)
    }
    /// Loads any 64-bit constant.
    pub fn li(&mut self, rd: u32, v: i64) -> &mut Self {
        if v == v as i32 as i64 {
            let hi = ((v as i32 as i64 + 0x800) >> 12) as u32 & 0xfffff;
            let lo = ((v << 52) >> 52) as i32;
            if hi != 0 {
                self.lui(rd, hi);
                self.addiw(rd, rd, lo)
            } else {
                self.addi(rd, ZERO, lo)
            }
        } else {
            let lo = ((v << 52) >> 52) as i32;
            let hi = (v - lo as i64) >> 12;
            self.li(rd, hi);
            self.slli(rd, rd, 12);
            self.addi(rd, rd, lo)
        }
    }
    pub fn la(&mut self, rd: u32, addr: u64) -> &mut Self {
        self.li(rd, addr as i64)
    }
    pub fn ld(&mut self, rd: u32, rs1: u32, off: i32) -> &mut Self {
        self.i(off, rs1, 3, rd, 0x03)
    }
    pub fn lw(&mut self, rd: u32, rs1: u32, off: i32) -> &mut Self {
        self.i(off, rs1, 2, rd, 0x03)
    }
    pub fn lbu(&mut self, rd: u32, rs1: u32, off: i32) -> &mut Self {
        self.i(off, rs1, 4, rd, 0x03)
    }
    pub fn sd(&mut self, rs2: u32, rs1: u32, off: i32) -> &mut Self {
        self.s(off, rs2, rs1, 3, 0x23)
    }
    pub fn sw(&mut self, rs2: u32, rs1: u32, off: i32) -> &mut Self {
        self.s(off, rs2, rs1, 2, 0x23)
    }
    pub fn sh(&mut self, rs2: u32, rs1: u32, off: i32) -> &mut Self {
        self.s(off, rs2, rs1, 1, 0x23)
    }
    pub fn sb(&mut self, rs2: u32, rs1: u32, off: i32) -> &mut Self {
        self.s(off, rs2, rs1, 0, 0x23)
    }
    fn branch(&mut self, f3: u32, rs1: u32, rs2: u32, label: &str) -> &mut Self {
        let off = self.bytes.len();
        self.fixups.push((off, label.into(), Fix::B));
        self.w((rs2 << 20) | (rs1 << 15) | (f3 << 12) | 0x63)
    }
    pub fn beq(&mut self, rs1: u32, rs2: u32, l: &str) -> &mut Self {
        self.branch(0, rs1, rs2, l)
    }
    pub fn bne(&mut self, rs1: u32, rs2: u32, l: &str) -> &mut Self {
        self.branch(1, rs1, rs2, l)
    }
    pub fn bge(&mut self, rs1: u32, rs2: u32, l: &str) -> &mut Self {
        self.branch(5, rs1, rs2, l)
    }
    pub fn blt(&mut self, rs1: u32, rs2: u32, l: &str) -> &mut Self {
        self.branch(4, rs1, rs2, l)
    }
    pub fn bltu(&mut self, rs1: u32, rs2: u32, l: &str) -> &mut Self {
        self.branch(6, rs1, rs2, l)
    }
    pub fn jal(&mut self, rd: u32, label: &str) -> &mut Self {
        let off = self.bytes.len();
        self.fixups.push((off, label.into(), Fix::J));
        self.w((rd << 7) | 0x6f)
    }
    pub fn j(&mut self, label: &str) -> &mut Self {
        self.jal(ZERO, label)
    }
    pub fn jalr(&mut self, rd: u32, rs1: u32, off: i32) -> &mut Self {
        self.i(off, rs1, 0, rd, 0x67)
    }
    // System
    pub fn ecall(&mut self) -> &mut Self {
        self.w(0x0000_0073)
    }
    pub fn ebreak(&mut self) -> &mut Self {
        self.w(0x0010_0073)
    }
    pub fn mret(&mut self) -> &mut Self {
        self.w(0x3020_0073)
    }
    pub fn sret(&mut self) -> &mut Self {
        self.w(0x1020_0073)
    }
    pub fn wfi(&mut self) -> &mut Self {
        self.w(0x1050_0073)
    }
    pub fn fence_i(&mut self) -> &mut Self {
        self.w(0x0000_100f)
    }
    pub fn sfence_vma(&mut self, rs1: u32, rs2: u32) -> &mut Self {
        self.r(0x09, rs2, rs1, 0, 0, 0x73)
    }
    pub fn csrrw(&mut self, rd: u32, csr: u32, rs1: u32) -> &mut Self {
        self.i(csr as i32, rs1, 1, rd, 0x73)
    }
    pub fn csrrs(&mut self, rd: u32, csr: u32, rs1: u32) -> &mut Self {
        self.i(csr as i32, rs1, 2, rd, 0x73)
    }
    pub fn csrrc(&mut self, rd: u32, csr: u32, rs1: u32) -> &mut Self {
        self.i(csr as i32, rs1, 3, rd, 0x73)
    }
    pub fn csrrwi(&mut self, rd: u32, csr: u32, uimm: u32) -> &mut Self {
        self.i(csr as i32, uimm, 5, rd, 0x73)
    }
    pub fn csrw(&mut self, csr: u32, rs1: u32) -> &mut Self {
        self.csrrw(ZERO, csr, rs1)
    }
    pub fn csrr(&mut self, rd: u32, csr: u32) -> &mut Self {
        self.csrrs(rd, csr, ZERO)
    }
    pub fn csrs(&mut self, csr: u32, rs1: u32) -> &mut Self {
        self.csrrs(ZERO, csr, rs1)
    }
    /// AMO: funct5, width 2 (.w) or 3 (.d).
    pub fn amo(&mut self, f5: u32, width: u32, rd: u32, rs1: u32, rs2: u32) -> &mut Self {
        self.r(f5 << 2, rs2, rs1, width, rd, 0x2f)
    }
    pub fn lr(&mut self, width: u32, rd: u32, rs1: u32) -> &mut Self {
        self.amo(0x02, width, rd, rs1, 0)
    }
    pub fn sc(&mut self, width: u32, rd: u32, rs1: u32, rs2: u32) -> &mut Self {
        self.amo(0x03, width, rd, rs1, rs2)
    }
    /// Writes `val` (a register) to the finisher: the test ends.
    pub fn finish_with(&mut self, reg: u32) -> &mut Self {
        self.li(26, FINISHER as i64);
        self.sd(reg, 26, 0);
        self.label_unique_spin()
    }
    /// Ends the test with an immediate value.
    pub fn exit(&mut self, v: i64) -> &mut Self {
        self.li(27, v);
        self.finish_with(27)
    }
    /// Ends with a write of 1 to [`TOHOST`] (QEMU spike: exit status 0).
    pub fn exit_tohost(&mut self) -> &mut Self {
        self.li(27, 1).li(26, TOHOST as i64).sd(27, 26, 0);
        self.w(0x0000_006f)
    }
    fn label_unique_spin(&mut self) -> &mut Self {
        // A self-loop (`j .`), never reached if the finisher stops the hart.
        self.w(0x0000_006f)
    }
}

pub fn r(f7: u32, rs2: u32, rs1: u32, f3: u32, rd: u32, op: u32) -> u32 {
    (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op
}
pub fn i(imm: i32, rs1: u32, f3: u32, rd: u32, op: u32) -> u32 {
    ((imm as u32 & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op
}
pub fn s(imm: i32, rs2: u32, rs1: u32, f3: u32, op: u32) -> u32 {
    let imm = imm as u32;
    (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | op
}
pub fn enc_b(rel: i32) -> u32 {
    let imm = rel as u32;
    (((imm >> 12) & 1) << 31)
        | (((imm >> 5) & 0x3f) << 25)
        | (((imm >> 1) & 0xf) << 8)
        | (((imm >> 11) & 1) << 7)
}
pub fn enc_j(rel: i32) -> u32 {
    let imm = rel as u32;
    (((imm >> 20) & 1) << 31)
        | (((imm >> 1) & 0x3ff) << 21)
        | (((imm >> 11) & 1) << 20)
        | (((imm >> 12) & 0xff) << 12)
}

/// The test finisher: a 64-bit write records the value and stops the hart.
pub struct Finisher {
    pub value: AtomicU64,
    pub lines: OnceLock<Arc<IrqLines>>,
}

impl MmioDevice for Finisher {
    fn read(&self, _offset: u64, _size: u32) -> Result<u64, MemTxError> {
        Ok(0)
    }
    fn write(&self, _offset: u64, _size: u32, val: u64) -> Result<(), MemTxError> {
        self.value.store(val | 1 << 63, Ordering::SeqCst);
        if let Some(l) = self.lines.get() {
            l.request_exit();
        }
        Ok(())
    }
}

/// A device register bank for MMIO tests: 8 x 64-bit registers.
pub struct Scratch {
    pub regs: parking_lot::Mutex<[u64; 8]>,
}

impl MmioDevice for Scratch {
    fn read(&self, offset: u64, size: u32) -> Result<u64, MemTxError> {
        let r = self.regs.lock();
        let v = r.get((offset / 8) as usize).ok_or(MemTxError)?;
        Ok(v >> ((offset % 8) * 8)
            & if size == 8 {
                u64::MAX
            } else {
                (1 << (size * 8)) - 1
            })
    }
    fn write(&self, offset: u64, _size: u32, val: u64) -> Result<(), MemTxError> {
        let mut r = self.regs.lock();
        *r.get_mut((offset / 8) as usize).ok_or(MemTxError)? = val;
        Ok(())
    }
}

pub struct Machine {
    pub hart: Hart,
    pub mem: Arc<SimplePhysMemory>,
    pub finisher: Arc<Finisher>,
    pub scratch: Arc<Scratch>,
    pub time: Arc<ManualTime>,
}

impl Machine {
    pub fn new() -> Self {
        let finisher = Arc::new(Finisher {
            value: AtomicU64::new(0),
            lines: OnceLock::new(),
        });
        let scratch = Arc::new(Scratch {
            regs: parking_lot::Mutex::new([0; 8]),
        });
        let mut mem = SimplePhysMemory::new();
        mem.add_ram(RAM_BASE, RAM_SIZE, true);
        mem.add_mmio(FINISHER, 0x1000, finisher.clone());
        mem.add_mmio(TOHOST, 0x1000, finisher.clone());
        mem.add_mmio(MMIO_SCRATCH, 0x40, scratch.clone());
        let mem = Arc::new(mem);
        let time = Arc::new(ManualTime::default());
        let mut hart = Hart::new(mem.clone(), time.clone(), 0);
        let _ = finisher.lines.set(hart.irq_lines());
        hart.cpu.common.pc = RAM_BASE;
        Machine {
            hart,
            mem,
            finisher,
            scratch,
            time,
        }
    }

    /// Loads a program at RAM_BASE and sets the PC there.
    pub fn with_program(a: &mut Asm) -> Self {
        let m = Self::new();
        m.load(a.base, &a.finish());
        m
    }

    pub fn load(&self, addr: u64, bytes: &[u8]) {
        self.mem.write_bytes(addr, bytes).unwrap();
    }

    /// Runs until the finisher is written, or `max` instructions. Returns the
    /// finisher value.
    pub fn run(&mut self, max: u64) -> Option<u64> {
        let start = self.hart.cpu.common.icount;
        loop {
            let left = max.saturating_sub(self.hart.cpu.common.icount - start);
            if left == 0 {
                return None;
            }
            match self.hart.run(left) {
                CpuExit::Exit => {
                    let v = self.finisher.value.load(Ordering::SeqCst);
                    if v != 0 {
                        return Some(v & !(1 << 63));
                    }
                }
                CpuExit::Budget => return None,
                CpuExit::Halted => {
                    if !self.hart.cpu.has_work() {
                        return None;
                    }
                }
            }
        }
    }

    pub fn x(&self, r: u32) -> u64 {
        self.hart.cpu.x(r as usize)
    }

    pub fn read_u64(&self, addr: u64) -> u64 {
        self.mem.read_u64(addr).unwrap()
    }
}

/// Links `code` (for RAM_BASE) into an ELF with `tohost`/`fromhost` symbols
/// at [`TOHOST`] for QEMU's spike machine, in `dir`. None if the toolchain
/// is missing or fails.
pub fn build_elf(dir: &std::path::Path, name: &str, code: &[u8]) -> Option<std::path::PathBuf> {
    use std::process::Command;
    std::fs::create_dir_all(dir).ok()?;
    std::fs::write(dir.join(format!("{name}.bin")), code).ok()?;
    std::fs::write(
        dir.join(format!("{name}.S")),
        format!(
            ".section .text\n.globl _start\n_start:\n.incbin \"{name}.bin\"\n\
             .section .tohost,\"aw\",@progbits\n.globl tohost\n.type tohost,@object\n\
             .size tohost,8\ntohost: .dword 0\n.globl fromhost\n.type fromhost,@object\n\
             .size fromhost,8\nfromhost: .dword 0\n"
        ),
    )
    .ok()?;
    std::fs::write(
        dir.join("link.ld"),
        format!(
            "ENTRY(_start)\nSECTIONS {{ . = {RAM_BASE:#x}; .text : {{ *(.text) }} \
             . = {TOHOST:#x}; .tohost : {{ *(.tohost) }} }}\n"
        ),
    )
    .ok()?;
    let elf = dir.join(format!("{name}.elf"));
    let ok = Command::new("riscv64-unknown-elf-gcc")
        .current_dir(dir)
        .args(["-nostdlib", "-nostartfiles", "-T", "link.ld", "-o"])
        .arg(&elf)
        .arg(format!("{name}.S"))
        .status()
        .ok()?
        .success();
    ok.then_some(elf)
}

/// Runs `elf` on `qemu-system-riscv64 -M spike` and returns its console
/// output, or None if QEMU is missing or fails.
pub fn run_qemu_spike(elf: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("qemu-system-riscv64")
        .args(["-M", "spike", "-nographic", "-bios", "none", "-kernel"])
        .arg(elf)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
