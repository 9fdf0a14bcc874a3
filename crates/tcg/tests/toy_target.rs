//! The translator core with a toy target: proves the core is
//! target-independent and tests chaining, instruction counting, precise
//! faults, self-modifying code, MMIO/ROM dispatch, memory-generation
//! flushes and TLB flush rules without RISC-V.
//!
//! Toy ISA (32-bit little-endian words, opcode in the top byte):
//! `01 r imm16` LI, `02 d a b` ADD, `03 d a _` LD d,[a], `04 s a _` ST s,[a],
//! `05 a b off8` BNE (word offset), `06` HALT, `07` raise a fault.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrite_tcg::cpu::{PROT_EXEC, PROT_READ, PROT_WRITE};
use ferrite_tcg::tlb::Tlb;
use ferrite_tcg::*;

const RAM: u64 = 0x1000_0000;
const ROM: u64 = 0x2000_0000;
const DEV: u64 = 0x3000_0000;
const GUARD: u64 = RAM + 0x8000; // fill fails here

struct Toy {
    common: CpuCommon,
    fault: Option<u64>,
    faults_taken: Vec<(u64, u64)>,
}

fn raise(cpu: &mut Toy, _: u32) -> Result<(), Fault> {
    cpu.fault = Some(0x77);
    Err(Fault)
}

impl CpuEnv for Toy {
    fn common(&mut self) -> &mut CpuCommon {
        &mut self.common
    }
    fn common_ref(&self) -> &CpuCommon {
        &self.common
    }
    fn tb_flags(&self) -> u64 {
        0
    }
    fn fetch_mmu_idx(&self) -> usize {
        0
    }
    fn tlb_fill(&mut self, vaddr: u64, _s: u32, _a: Access, _m: usize) -> Result<TlbFill, Fault> {
        if vaddr & PAGE_MASK == GUARD {
            self.fault = Some(vaddr);
            return Err(Fault);
        }
        Ok(TlbFill {
            paddr: vaddr & PAGE_MASK,
            prot: PROT_READ | PROT_WRITE | PROT_EXEC,
            global: false,
            large_mask: 0,
            cacheable: true,
        })
    }
    fn raise_access_fault(&mut self, vaddr: u64, _a: Access) -> Fault {
        self.fault = Some(vaddr);
        Fault
    }
    fn translate_block(
        &mut self,
        pc: u64,
        _flags: u64,
        b: &mut IrBuilder<Self>,
        max: usize,
    ) -> Result<(), Fault> {
        let mut cur = pc;
        loop {
            let lo = b.fetch_u16(self, cur)? as u32;
            let hi = b.fetch_u16(self, cur + 2)? as u32;
            let w = lo | hi << 16;
            let k = b.insn_start((cur - pc) as u16);
            let (x, y, z) = ((w >> 16) as u8, (w >> 8) as u8, w as u8);
            let next = cur + 4;
            let mut end = false;
            match w >> 24 {
                1 => b.emit(Op::MovI {
                    d: x,
                    imm: (w & 0xffff) as u64,
                }),
                2 => b.emit(Op::Add { d: x, a: y, b: z }),
                3 => b.emit(Op::Ld {
                    mop: MemOp::U64,
                    d: x,
                    a: y,
                    off: 0,
                    mmu: 0,
                    insn: k,
                }),
                4 => b.emit(Op::St {
                    mop: MemOp::U64,
                    s: x,
                    a: y,
                    off: 0,
                    mmu: 0,
                    insn: k,
                }),
                5 => {
                    let target = cur.wrapping_add((z as i8 as i64 * 4) as u64);
                    b.emit(Op::BrTb {
                        cond: Cond::Ne,
                        a: x,
                        b: y,
                        len: 4,
                        off: target.wrapping_sub(cur) as i16,
                        pc: cur,
                    });
                    end = true;
                }
                6 => {
                    b.emit(Op::SetPc { pc: next });
                    b.emit(Op::ExitTb {
                        kind: ExitKind::Halt,
                    });
                    end = true;
                }
                _ => {
                    b.emit(Op::Call {
                        f: raise,
                        arg: w,
                        insn: k,
                    });
                    end = true;
                }
            }
            cur = next;
            if end {
                b.finish((cur - pc) as u16);
                return Ok(());
            }
            if b.num_insns() >= max || cur & PAGE_MASK != pc & PAGE_MASK {
                b.finish((cur - pc) as u16);
                b.emit(Op::GotoTb { n: 0, pc: cur });
                return Ok(());
            }
        }
    }
    fn exec_interrupt(&mut self) -> bool {
        false
    }
    fn do_exception(&mut self) {
        let v = self.fault.take().expect("pending fault");
        self.faults_taken.push((self.common.pc, v));
        // Resume at a HALT placed at RAM + 0x100.
        self.common.pc = RAM + 0x100;
    }
}

struct Dev(AtomicU64);
impl MmioDevice for Dev {
    fn read(&self, off: u64, _s: u32) -> Result<u64, MemTxError> {
        Ok(0xd000 + off)
    }
    fn write(&self, _o: u64, _s: u32, v: u64) -> Result<(), MemTxError> {
        self.0.store(v, Ordering::SeqCst);
        Ok(())
    }
}

/// A memory whose generation tests can bump.
struct GenMem(SimplePhysMemory, AtomicU64);
impl PhysMemory for GenMem {
    fn translate(&self, p: u64) -> Section {
        self.0.translate(p)
    }
    fn mmio_read(&self, h: u32, p: u64, s: u32) -> Result<u64, MemTxError> {
        self.0.mmio_read(h, p, s)
    }
    fn mmio_write(&self, h: u32, p: u64, s: u32, v: u64) -> Result<(), MemTxError> {
        self.0.mmio_write(h, p, s, v)
    }
    fn generation(&self) -> u64 {
        self.1.load(Ordering::SeqCst)
    }
    fn mark_code_page(&self, r: u64) {
        self.0.mark_code_page(r)
    }
    fn is_code_page(&self, r: u64) -> bool {
        self.0.is_code_page(r)
    }
    fn clear_code_page(&self, r: u64) {
        self.0.clear_code_page(r)
    }
    fn code_dirty_pending(&self) -> bool {
        self.0.code_dirty_pending()
    }
    fn take_dirty_code_pages(&self) -> Vec<u64> {
        self.0.take_dirty_code_pages()
    }
}

fn li(r: u8, v: u16) -> u32 {
    0x0100_0000 | (r as u32) << 16 | v as u32
}
fn add(d: u8, a: u8, b: u8) -> u32 {
    0x0200_0000 | (d as u32) << 16 | (a as u32) << 8 | b as u32
}
fn ld(d: u8, a: u8) -> u32 {
    0x0300_0000 | (d as u32) << 16 | (a as u32) << 8
}
fn st(s: u8, a: u8) -> u32 {
    0x0400_0000 | (s as u32) << 16 | (a as u32) << 8
}
fn bne(a: u8, b: u8, off: i8) -> u32 {
    0x0500_0000 | (a as u32) << 16 | (b as u32) << 8 | off as u8 as u32
}
const HALT: u32 = 0x0600_0000;
const FAULT: u32 = 0x0700_0000;

fn setup(code: &[u32]) -> (Toy, Executor<Toy>, Arc<GenMem>, Arc<Dev>) {
    let dev = Arc::new(Dev(AtomicU64::new(0)));
    let mut m = SimplePhysMemory::new();
    m.add_ram(RAM, 0x10000, true);
    m.add_ram(ROM, 0x1000, false);
    m.add_mmio(DEV, 0x1000, dev.clone());
    let mem = Arc::new(GenMem(m, AtomicU64::new(0)));
    let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.0.write_bytes(RAM, &bytes).unwrap();
    mem.0.write_bytes(RAM + 0x100, &HALT.to_le_bytes()).unwrap();
    let mut common = CpuCommon::new(mem.clone());
    common.pc = RAM;
    let cpu = Toy {
        common,
        fault: None,
        faults_taken: Vec::new(),
    };
    (cpu, Executor::new(), mem, dev)
}

/// Loads a 32-bit constant into `r` using scratch register 9.
fn li32(r: u8, v: u32) -> Vec<u32> {
    // r = hi; r <<= 16 by 16 doublings; r += lo.
    let mut c = vec![li(r, (v >> 16) as u16)];
    for _ in 0..16 {
        c.push(add(r, r, r));
    }
    c.push(li(9, v as u16));
    c.push(add(r, r, 9));
    c
}

#[test]
fn loop_chains_and_counts_exactly() {
    // r1 = 0; r2 = 1; r3 = 100; loop: r1 += r2 (as counter) until r1 == r3.
    let code = [
        li(1, 0),
        li(2, 1),
        li(3, 100),
        add(1, 1, 2),
        bne(1, 3, -1),
        HALT,
    ];
    let (mut cpu, mut ex, _, _) = setup(&code);
    assert_eq!(ex.cpu_exec(&mut cpu, 10_000), CpuExit::Halted);
    assert_eq!(cpu.common.regs[1], 100);
    assert_eq!(cpu.common.icount, 3 + 2 * 100 + 1);
    assert!(ex.stats.chains >= 1);
    assert_eq!(cpu.common.pc, RAM + 6 * 4);
}

#[test]
fn fault_is_precise() {
    let code = [li(1, 5), li(2, 6), FAULT, li(3, 7)];
    let (mut cpu, mut ex, _, _) = setup(&code);
    assert_eq!(ex.cpu_exec(&mut cpu, 10_000), CpuExit::Halted);
    assert_eq!(cpu.faults_taken, vec![(RAM + 8, 0x77)]);
    assert_eq!(cpu.common.regs[3], 0);
    // Two instructions retired before the fault, then the HALT.
    assert_eq!(cpu.common.icount, 3);
}

#[test]
fn tlb_fill_fault_on_load() {
    let mut code = li32(1, GUARD as u32 + 8);
    code.push(ld(2, 1));
    let (mut cpu, mut ex, _, _) = setup(&code);
    assert_eq!(ex.cpu_exec(&mut cpu, 10_000), CpuExit::Halted);
    let at = RAM + 4 * (code.len() as u64 - 1);
    assert_eq!(cpu.faults_taken, vec![(at, GUARD + 8)]);
}

#[test]
fn mmio_rom_and_generation() {
    let mut code = li32(1, DEV as u32 + 0x10);
    code.extend(li32(4, ROM as u32));
    code.extend([ld(2, 1), li(3, 0x55), st(3, 1), st(3, 4), ld(5, 4), HALT]);
    let (mut cpu, mut ex, mem, dev) = setup(&code);
    assert_eq!(ex.cpu_exec(&mut cpu, 10_000), CpuExit::Halted);
    assert_eq!(cpu.common.regs[2], 0xd010);
    assert_eq!(dev.0.load(Ordering::SeqCst), 0x55);
    assert_eq!(cpu.common.regs[5], 0, "ROM writes are discarded");
    // A topology change flushes the TLB at the next block boundary.
    let before = cpu.common.tlb.full_flushes;
    mem.1.store(1, Ordering::SeqCst);
    cpu.common.pc = RAM + 0x100;
    assert_eq!(ex.cpu_exec(&mut cpu, 10), CpuExit::Halted);
    assert_eq!(cpu.common.tlb.full_flushes, before + 1);
}

#[test]
fn store_into_next_instruction_is_seen() {
    // Overwrite the word right after the store with "li r7, 9".
    let n = li32(1, 0).len() * 2; // index of the store
    let mut code = li32(1, RAM as u32 + 4 * (n as u32 + 1));
    code.extend(li32(2, li(7, 9)));
    assert_eq!(code.len(), n);
    code.extend([st(2, 1), li(7, 1), HALT]);
    let (mut cpu, mut ex, _, _) = setup(&code);
    assert_eq!(ex.cpu_exec(&mut cpu, 10_000), CpuExit::Halted);
    assert_eq!(cpu.common.regs[7], 9);
    assert!(ex.stats.invalidations >= 1);
}

#[test]
fn tlb_page_and_large_page_flushes() {
    let mut tlb = Tlb::new();
    let e = |va: u64| tlb::TlbEntry {
        addr_read: va,
        addr_write: va,
        addr_code: va,
        ..tlb::TlbEntry::EMPTY
    };
    tlb.tables[0][tlb::tlb_index(0x5000)] = e(0x5000);
    tlb.tables[1][tlb::tlb_index(0x6000)] = e(0x6000);
    assert!(!tlb.flush_page(0x5abc));
    assert_eq!(
        tlb.tables[0][tlb::tlb_index(0x5000)].addr_read,
        tlb::TLB_INVALID
    );
    assert_eq!(tlb.tables[1][tlb::tlb_index(0x6000)].addr_read, 0x6000);
    // A 2 MiB superpage at 0x20_0000: flushing inside it flushes all.
    tlb.add_large_page(1, 0x20_1000, (1 << 21) - 1);
    assert!(!tlb.flush_page(0x40_0000));
    assert_eq!(tlb.tables[1][tlb::tlb_index(0x6000)].addr_read, 0x6000);
    assert!(tlb.flush_page(0x3f_f000));
    assert_eq!(
        tlb.tables[1][tlb::tlb_index(0x6000)].addr_read,
        tlb::TLB_INVALID
    );
}

#[test]
fn page_flush_clears_only_that_pages_jump_cache_entries() {
    use ferrite_tcg::cpu::{JMP_CACHE_SIZE, JmpCacheEntry, jmp_cache_hash};
    let mut c = CpuCommon::new(Arc::new(SimplePhysMemory::new()));
    // Blocks on the flushed page, on the page before it (a block there may
    // straddle into it) and on two unrelated pages.
    let pcs = [
        0x8000_5000u64,
        0x8000_5ffe,
        0x8000_4ffe,
        0x8000_6000,
        0x1234_5000,
    ];
    for (i, &pc) in pcs.iter().enumerate() {
        assert!(jmp_cache_hash(pc) < JMP_CACHE_SIZE);
        c.jmp_cache[jmp_cache_hash(pc)] = JmpCacheEntry {
            pc,
            flags: 0,
            tb: i as u32,
        };
    }
    c.tlb_flush_page(0x8000_5abc);
    let kept = |pc: u64| c.jmp_cache[jmp_cache_hash(pc)].pc == pc;
    assert!(!kept(0x8000_5000));
    assert!(!kept(0x8000_5ffe));
    assert!(!kept(0x8000_4ffe));
    assert!(kept(0x8000_6000));
    assert!(kept(0x1234_5000));
    // All the PCs of one page hash into one group of consecutive entries.
    let h0 = jmp_cache_hash(0x8000_5000);
    for off in (0..0x1000).step_by(2) {
        let h = jmp_cache_hash(0x8000_5000 + off);
        assert!(
            h >= h0 && h < h0 + 64,
            "offset {off:#x} hashes outside the page's group"
        );
    }
}

#[test]
fn translate_ram_answers_from_its_cached_range_exactly_as_translate() {
    let (mut cpu, _, mem, _) = setup(&[HALT]);
    let c = &mut cpu.common;
    let same = |a: Section, b: Section| match (a, b) {
        (
            Section::Ram {
                host: h1,
                avail: a1,
                ram_addr: r1,
                writable: w1,
            },
            Section::Ram {
                host: h2,
                avail: a2,
                ram_addr: r2,
                writable: w2,
            },
        ) => h1 == h2 && a1 == a2 && r1 == r2 && w1 == w2,
        (Section::Mmio { .. }, Section::Mmio { .. }) => true,
        (Section::Unassigned, Section::Unassigned) => true,
        _ => false,
    };
    // Fill the cache with RAM + 0x100, then ask inside and outside it.
    for pa in [
        RAM + 0x100,
        RAM + 0x8008,
        RAM + 0x80,
        ROM + 0x10,
        DEV + 8,
        RAM + 0xfff8,
    ] {
        assert!(same(c.translate_ram(pa), mem.translate(pa)), "{pa:#x}");
    }
}
