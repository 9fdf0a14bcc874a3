//! Translation blocks, the TB cache and the execution loop
//! (QEMU's `accel/tcg/cpu-exec.c`, `translate-all.c`, `tb-maint.c`).
//!
//! # TB lifecycle
//!
//! 1. **Lookup.** At a block boundary the loop computes the key: virtual PC
//!    and the target's flags word. The per-vCPU jump cache (4,096 entries
//!    indexed by a hash of the virtual PC, in groups of 64 per page so that
//!    a TLB page flush clears only its page's group) is probed first; on a
//!    miss the PC
//!    is translated through the code TLB to a physical address and the TB
//!    hash table, keyed by (physical PC, virtual PC, flags), is probed.
//! 2. **Translation.** On a miss the target front end fills an
//!    [`IrBuilder`]; the RAM pages the code came from are marked in the
//!    memory's code bitmap ([`crate::PhysMemory::mark_code_page`]) and TLB
//!    write entries for them get `TLB_NOTDIRTY`, so stores to them take the
//!    slow path. The block is added to the hash table and to the per-page
//!    lists used for invalidation. A block whose (single) instruction
//!    straddles two pages is on both pages' lists and remembers its second
//!    page: a hash-table hit on it counts only if the next virtual page
//!    still maps there, and it is never a chaining target. (It used to be
//!    run once and dropped; a hot loop with such an instruction then
//!    re-translated it on every iteration.)
//! 3. **Execution and chaining.** The interpreter runs the ops. A
//!    `goto_tb n` exit looks at the block's chain slot `n`: if it holds a
//!    valid block, execution continues there directly (QEMU's patched jump);
//!    otherwise the next block is looked up and, when it lies on the same
//!    virtual page, stored in the slot. Indirect exits (`Lookup`) probe the
//!    jump cache without returning to the top of the loop (QEMU's
//!    `lookup_and_goto_ptr`). Before each chained block the request word is
//!    checked, so interrupts and exit requests are seen within one block.
//! 4. **Invalidation.** A guest store or device write to a code page
//!    invalidates every block on that page: it is marked invalid, removed from
//!    the hash table and its ops are freed. Chain slots and jump-cache entries
//!    that still name it are caught by the validity check on use (block ids
//!    are never reused until a full flush). A store that hits code ends its
//!    block after the storing instruction, so even the running block is
//!    re-translated before the next instruction executes.
//! 5. **Flush.** When the cache exceeds its capacity, everything is dropped
//!    at a block boundary (QEMU's `tb_flush`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use ferrite_aio::log::{LogMask, log_enabled};
use ferrite_aio::qemu_log_mask;

use crate::codesync::{CatchUp, CodeEvent};
use crate::cpu::{
    CpuEnv, JmpCacheEntry, REQ_EXIT, REQ_HARD, REQ_SYNC, check_mem_generation, code_page,
    jmp_cache_hash, protect_code,
};
use crate::interp::{TbExit, interp};
use crate::ir::{ExitKind, IrBuilder, Op};
use crate::memory::PAGE_MASK;

/// Maximum guest instructions per block (QEMU's `TCG_MAX_INSNS`).
pub const TCG_MAX_INSNS: usize = 512;
/// Blocks kept before a full flush.
const MAX_TBS: usize = 1 << 18;

const NO_TB: u32 = u32::MAX;
/// [`Tb::page2`] of a block on a single page.
pub const NO_PAGE: u64 = u64::MAX;

/// A multiplicative hasher for the TB tables' integer keys (the rustc
/// "Fx" scheme). The keys are guest addresses, not attacker-chosen in a
/// way that matters (a guest can only slow its own translation down), so
/// SipHash's flooding resistance is not worth its cost on every lookup.
#[derive(Clone, Copy, Default)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// A translation block. The fields the chaining path reads on every block
/// exit (`ops`, `ninsns`, `jmp`, `valid`) come first, in one cache line.
#[repr(C)]
pub struct Tb<C> {
    /// The ops.
    pub ops: Box<[Op<C>]>,
    /// Number of guest instructions.
    pub ninsns: u64,
    /// Chain slots (QEMU's `jmp_dest`).
    pub jmp: [u32; 2],
    /// False once invalidated.
    pub valid: bool,
    /// Virtual PC of the first instruction.
    pub pc: u64,
    /// Physical PC of the first instruction.
    pub phys_pc: u64,
    /// Translation flags.
    pub flags: u64,
    /// For a block whose (single) instruction straddles two pages, the RAM
    /// page of its second half, [`NO_PAGE`] otherwise. Such a block is
    /// found through the hash table only after the current mapping of the
    /// next virtual page has been checked to still lead there (QEMU's
    /// `page_addr[1]` check in `tb_lookup_cmp`), and is never a chaining
    /// target.
    pub page2: u64,
    /// Offsets of the instructions from `pc`, plus the end offset.
    pub insn_off: Box<[u16]>,
}

impl<C> Tb<C> {
    /// Number of guest instructions.
    pub fn num_insns(&self) -> u64 {
        self.ninsns
    }
}

/// Why [`Executor::cpu_exec`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuExit {
    /// An exit was requested ([`crate::CpuCommon::request_exit`]).
    Exit,
    /// The vCPU executed `wfi` (or equivalent) and waits for an interrupt.
    Halted,
    /// The instruction budget passed to `cpu_exec` is used up.
    Budget,
}

/// Counters, for `info jit`-style reporting and tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecStats {
    /// Blocks translated.
    pub translations: u64,
    /// Blocks invalidated by code writes.
    pub invalidations: u64,
    /// Full TB flushes.
    pub flushes: u64,
    /// Chain slots patched.
    pub chains: u64,
}

/// The TB cache and execution loop of one vCPU.
pub struct Executor<C> {
    tbs: Vec<Tb<C>>,
    htable: HashMap<(u64, u64, u64), u32, FxBuild>,
    page_tbs: HashMap<u64, Vec<u32>, FxBuild>,
    /// Reused for every translation (see `translate`).
    builder: IrBuilder<C>,
    /// Statistics.
    pub stats: ExecStats,
    /// Instructions per block limit (1 makes every instruction its own block).
    pub max_insns: usize,
}

impl<C: CpuEnv> Default for Executor<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: CpuEnv> Executor<C> {
    /// An empty cache.
    pub fn new() -> Self {
        Executor {
            tbs: Vec::new(),
            htable: HashMap::default(),
            page_tbs: HashMap::default(),
            builder: IrBuilder::new(),
            stats: ExecStats::default(),
            max_insns: TCG_MAX_INSNS,
        }
    }

    /// Number of valid cached blocks.
    pub fn num_tbs(&self) -> usize {
        self.htable.len()
    }

    /// Drops every block (QEMU's `tb_flush`).
    pub fn tb_flush(&mut self, cpu: &mut C) {
        self.tbs.clear();
        self.htable.clear();
        self.page_tbs.clear();
        cpu.common().jmp_cache.fill(JmpCacheEntry {
            pc: u64::MAX,
            flags: 0,
            tb: NO_TB,
        });
        self.stats.flushes += 1;
    }

    /// Invalidates every block whose code lies on RAM page `page`, in this
    /// vCPU and (through the memory's [`crate::codesync::CodeSync`]) in
    /// every other (QEMU's `tb_invalidate_phys_page`). Called by the vCPU
    /// that wrote the page, before it runs another instruction.
    pub fn invalidate_page(&mut self, cpu: &mut C, page: u64) {
        let page = page & PAGE_MASK;
        self.drop_page_tbs(page);
        let common = cpu.common();
        common.mem.clear_code_page(page);
        common.tlb.set_notdirty(page, false);
        if let Some(s) = common.mem.code_sync() {
            s.publish(CodeEvent::Invalidate(page), Some(&common.interrupt_request));
        }
    }

    /// Drops this vCPU's blocks on RAM page `page` (the per-vCPU half of
    /// an invalidation). Jump-cache entries and chain slots naming them are
    /// caught by the validity check on use.
    fn drop_page_tbs(&mut self, page: u64) {
        let Some(ids) = self.page_tbs.remove(&page) else {
            return;
        };
        for id in ids {
            let tb = &mut self.tbs[id as usize];
            if !tb.valid {
                continue;
            }
            tb.valid = false;
            // Free the ops, but keep a valid op list: the interpreter
            // relies on every list it is given being validated.
            tb.ops = Box::new([Op::ExitTb {
                kind: ExitKind::Lookup,
            }]);
            let key = (tb.phys_pc, tb.pc, tb.flags);
            if self.htable.get(&key) == Some(&id) {
                self.htable.remove(&key);
            }
            self.stats.invalidations += 1;
            qemu_log_mask!(
                LogMask::EXEC,
                "Invalidate TB pc={:016x} (code written)\n",
                tb.pc
            );
        }
    }

    /// Applies the code-page events other vCPUs published since this one
    /// last looked ([`crate::codesync`]).
    fn sync_code(&mut self, cpu: &mut C) {
        let common = cpu.common();
        common
            .interrupt_request
            .fetch_and(!REQ_SYNC, Ordering::AcqRel);
        let Some(s) = common.mem.code_sync() else {
            return;
        };
        if s.seq() == common.code_sync_pos {
            return;
        }
        let mut pos = common.code_sync_pos;
        let todo = s.catch_up(&common.interrupt_request, &mut pos);
        common.code_sync_pos = pos;
        match todo {
            CatchUp::FlushAll => {
                cpu.common().tlb_flush();
                self.tb_flush(cpu);
            }
            CatchUp::Events(evs) => {
                for ev in evs {
                    match ev {
                        CodeEvent::Invalidate(p) => self.drop_page_tbs(p),
                        CodeEvent::Protect(p) => protect_code(cpu.common(), p),
                    }
                }
            }
        }
    }

    fn translate(&mut self, cpu: &mut C, pc: u64, phys_pc: u64, flags: u64) -> Result<u32, ()> {
        // The builder is reused from block to block: its vectors keep their
        // capacity, so translating allocates only the block's final op and
        // offset lists (of their exact sizes).
        let mut b = std::mem::take(&mut self.builder);
        b.clear();
        let r = self.translate_into(cpu, pc, phys_pc, flags, &mut b);
        self.builder = b;
        r
    }

    fn translate_into(
        &mut self,
        cpu: &mut C,
        pc: u64,
        phys_pc: u64,
        flags: u64,
        b: &mut IrBuilder<C>,
    ) -> Result<u32, ()> {
        if cpu.translate_block(pc, flags, b, self.max_insns).is_err() {
            return Err(());
        }
        assert!(
            b.insn_off.len() >= 2,
            "front end produced an empty block or did not call IrBuilder::finish"
        );
        b.seal();
        b.validate();
        let id = self.tbs.len() as u32;
        assert!(
            !b.pages.is_empty() && b.pages.len() <= 2,
            "a block's code comes from one page, or two for a straddling instruction"
        );
        let common = cpu.common();
        for &p in &b.pages {
            if !common.mem.is_code_page(p) {
                common.mem.mark_code_page(p);
                protect_code(common, p);
                // QEMU's tlb_protect_code reaches every vCPU's TLB.
                if let Some(s) = common.mem.code_sync() {
                    s.publish(CodeEvent::Protect(p), Some(&common.interrupt_request));
                }
            }
        }
        if log_enabled(LogMask::IN_ASM) {
            cpu.log_translation(pc, &b.insn_off);
        }
        // (A previous block under this key, for another second page, is
        // simply replaced: it stays on its pages' lists until they are
        // invalidated or flushed.)
        self.htable.insert((phys_pc, pc, flags), id);
        for &p in &b.pages {
            self.page_tbs.entry(p).or_default().push(id);
        }
        self.tbs.push(Tb {
            pc,
            phys_pc,
            flags,
            page2: b.pages.get(1).copied().unwrap_or(NO_PAGE),
            ops: b.ops.as_slice().into(),
            ninsns: (b.insn_off.len() - 1) as u64,
            insn_off: b.insn_off.as_slice().into(),
            jmp: [NO_TB; 2],
            valid: true,
        });
        self.stats.translations += 1;
        Ok(id)
    }

    /// Finds or translates the block at the current PC. On `Err` an
    /// exception (fetch fault) is pending.
    fn find_tb(&mut self, cpu: &mut C) -> Result<u32, ()> {
        let pc = cpu.common_ref().pc;
        let flags = cpu.tb_flags();
        let h = jmp_cache_hash(pc);
        let e = cpu.common_ref().jmp_cache[h];
        if e.pc == pc
            && e.flags == flags
            && e.tb != NO_TB
            && self.tbs.get(e.tb as usize).is_some_and(|tb| tb.valid)
        {
            return Ok(e.tb);
        }
        let ent = code_page(cpu, pc).map_err(|_| ())?;
        let phys_pc = ent.paddr | (pc & !PAGE_MASK);
        let id = match self.htable.get(&(phys_pc, pc, flags)) {
            Some(&id) if self.second_page_matches(cpu, id, pc)? => id,
            _ => self.translate(cpu, pc, phys_pc, flags)?,
        };
        cpu.common().jmp_cache[h] = JmpCacheEntry { pc, flags, tb: id };
        Ok(id)
    }

    /// Whether block `id` (found for virtual `pc`) either lies on one page
    /// or its second page is still what the next virtual page maps to. A
    /// fetch fault on that page is the block's fault (its instruction's
    /// second half), pending on `Err`.
    fn second_page_matches(&self, cpu: &mut C, id: u32, pc: u64) -> Result<bool, ()> {
        let page2 = self.tbs[id as usize].page2;
        if page2 == NO_PAGE {
            return Ok(true);
        }
        let next = (pc & PAGE_MASK).wrapping_add(crate::memory::PAGE_SIZE);
        let ent = code_page(cpu, next).map_err(|_| ())?;
        Ok(ent.ram_addr & PAGE_MASK == page2)
    }

    /// Runs the vCPU until an exit request, a halt, or until at least
    /// `budget` more instructions have retired (checked at block
    /// boundaries). QEMU's `cpu_exec`.
    pub fn cpu_exec(&mut self, cpu: &mut C, budget: u64) -> CpuExit {
        let end = cpu.common_ref().icount.saturating_add(budget);
        let log_exec = log_enabled(LogMask::EXEC);
        // Read on every block exit: one load through a local handle rather
        // than through the vCPU's `Arc` each time.
        let irq = cpu.common_ref().interrupt_request.clone();
        let mut spins = 0u64;
        loop {
            // Block-boundary housekeeping. One load of the request word
            // serves every check below; a request raised after it is seen
            // at the next boundary (the chained loop also watches `irq`).
            let req = irq.load(Ordering::Acquire);
            if req & REQ_SYNC != 0 {
                self.sync_code(cpu);
            }
            if !cpu.common_ref().smc_pages.is_empty() {
                let pages = std::mem::take(&mut cpu.common().smc_pages);
                for p in pages {
                    self.invalidate_page(cpu, p);
                }
            }
            if cpu.common_ref().mem.code_dirty_pending() {
                let pages = cpu.common_ref().mem.take_dirty_code_pages();
                for p in pages {
                    self.invalidate_page(cpu, p);
                }
            }
            check_mem_generation(cpu.common());
            if req & REQ_EXIT != 0 {
                cpu.common()
                    .interrupt_request
                    .fetch_and(!REQ_EXIT, Ordering::AcqRel);
                return CpuExit::Exit;
            }
            if req & REQ_HARD != 0 {
                cpu.common()
                    .interrupt_request
                    .fetch_and(!REQ_HARD, Ordering::AcqRel);
            }
            if cpu.exec_interrupt() {
                spins += 1;
            }
            // Traps retire nothing, so they are counted separately: a guest
            // stuck in a loop of faults still runs out of budget.
            if cpu.common_ref().icount >= end || spins >= budget {
                return CpuExit::Budget;
            }
            if self.tbs.len() >= MAX_TBS {
                self.tb_flush(cpu);
            }
            let Ok(mut id) = self.find_tb(cpu) else {
                cpu.do_exception();
                spins += 1;
                continue;
            };
            // Run chained blocks until something needs the top of the loop.
            loop {
                let tb = &self.tbs[id as usize];
                if log_exec {
                    qemu_log_mask!(
                        LogMask::EXEC,
                        "Trace 0: {:p} [{:016x}/{:016x}/{:08x}]\n",
                        tb as *const Tb<C>,
                        0,
                        tb.pc,
                        tb.flags
                    );
                }
                let exit = interp(cpu, &tb.ops);
                let tb = &self.tbs[id as usize];
                let common = cpu.common();
                match exit {
                    TbExit::Chain(n) => {
                        common.icount += tb.ninsns;
                        let t = tb.jmp[n as usize & 1];
                        // (A code write always leaves through `Smc`, so
                        // chained exits need not look at `smc_pages`.)
                        if (irq.load(Ordering::Relaxed) != 0) | (common.icount >= end) {
                            break;
                        }
                        if t != NO_TB && self.tbs[t as usize].valid {
                            id = t;
                            continue;
                        }
                        let src_page = tb.pc & PAGE_MASK;
                        match self.find_tb(cpu) {
                            Ok(next) => {
                                let nt = &self.tbs[next as usize];
                                if nt.valid && nt.pc & PAGE_MASK == src_page && nt.page2 == NO_PAGE
                                {
                                    self.tbs[id as usize].jmp[n as usize] = next;
                                    self.stats.chains += 1;
                                }
                                id = next;
                            }
                            Err(()) => {
                                cpu.do_exception();
                                spins += 1;
                                break;
                            }
                        }
                    }
                    TbExit::Exit(ExitKind::Lookup) => {
                        common.icount += tb.num_insns();
                        if irq.load(Ordering::Relaxed) != 0
                            || common.icount >= end
                            || !common.smc_pages.is_empty()
                        {
                            break;
                        }
                        match self.find_tb(cpu) {
                            Ok(next) => id = next,
                            Err(()) => {
                                cpu.do_exception();
                                spins += 1;
                                break;
                            }
                        }
                    }
                    TbExit::Exit(ExitKind::Loop) => {
                        common.icount += tb.num_insns();
                        break;
                    }
                    TbExit::Exit(ExitKind::Halt) => {
                        common.icount += tb.num_insns();
                        return CpuExit::Halted;
                    }
                    TbExit::Fault(k) => {
                        common.icount += k as u64;
                        common.pc = tb.pc.wrapping_add(tb.insn_off[k as usize] as u64);
                        cpu.do_exception();
                        spins += 1;
                        break;
                    }
                    TbExit::Smc(k) => {
                        common.icount += k as u64;
                        common.pc = tb.pc.wrapping_add(tb.insn_off[k as usize] as u64);
                        break;
                    }
                }
            }
        }
    }
}
