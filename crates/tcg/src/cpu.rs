//! The target-independent part of a vCPU and its guest memory accesses.
//!
//! [`CpuCommon`] is QEMU's `CPUState` + `CPUNegativeOffsetState`: the register
//! file the IR operates on, the PC, the softmmu TLB, the jump cache and the
//! exit/interrupt request word. [`CpuEnv`] is what a target implements
//! (QEMU's `TCGCPUOps` + `TranslatorOps`): page walks, translation, interrupt
//! and exception delivery.
//!
//! [`load`], [`store`] and [`IrBuilder::fetch_u16`] are the softmmu access paths
//! (QEMU's `cpu_ld*_mmu`/`cpu_st*_mmu`/`cpu_ldub_code`): a TLB hit on RAM is a
//! host memory access; anything else goes through the slow path, which fills
//! the TLB, splits page-crossing accesses, dispatches MMIO and reports writes
//! to pages that hold translated code.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::ir::{Fault, IrBuilder, MemOp};
use crate::memory::{PAGE_MASK, PAGE_SIZE, PhysMemory, Section};
use crate::tlb::{
    NB_MMU_MODES, TLB_DISCARD_WRITE, TLB_INVALID, TLB_MMIO, TLB_NOTDIRTY, Tlb, TlbEntry, tlb_index,
};

/// The kind of a guest memory access (QEMU's `MMUAccessType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Data load.
    Read,
    /// Data store (and AMO).
    Write,
    /// Instruction fetch.
    Fetch,
}

/// Page permission bit: loads allowed.
pub const PROT_READ: u8 = 1;
/// Page permission bit: stores allowed.
pub const PROT_WRITE: u8 = 2;
/// Page permission bit: instruction fetch allowed.
pub const PROT_EXEC: u8 = 4;

/// The result of a successful target page walk (QEMU's arguments to
/// `tlb_set_page`).
#[derive(Clone, Copy, Debug)]
pub struct TlbFill {
    /// Page-aligned physical address.
    pub paddr: u64,
    /// Which accesses the translation permits ([`PROT_READ`] etc.); must
    /// include the access that triggered the fill.
    pub prot: u8,
    /// Global mapping (exempt from ASID-only flushes).
    pub global: bool,
    /// For a superpage mapping, its offset mask (e.g. `(1 << 21) - 1`);
    /// 0 for a base page.
    pub large_mask: u64,
    /// False if the result must not be cached (e.g. a PMP region smaller
    /// than the page): every access then re-walks.
    pub cacheable: bool,
}

/// `interrupt_request` bit: return from [`crate::exec::Executor::cpu_exec`]
/// (QEMU's `cpu_exit`).
pub const REQ_EXIT: u32 = 1;
/// `interrupt_request` bit: an interrupt line changed; re-check interrupts at
/// the next block boundary (QEMU's `CPU_INTERRUPT_HARD`).
pub const REQ_HARD: u32 = 2;
/// `interrupt_request` bit: another vCPU published a code-page event
/// ([`crate::codesync`]); apply it at the next block boundary. Not a
/// reason to leave [`crate::exec::Executor::cpu_exec`].
pub const REQ_SYNC: u32 = 4;

/// Entries of the per-vCPU jump cache (QEMU's `TB_JMP_CACHE_SIZE`).
pub const JMP_CACHE_SIZE: usize = 4096;

/// A jump-cache entry: the last block found for a virtual PC.
#[derive(Clone, Copy, Debug)]
pub struct JmpCacheEntry {
    /// Virtual PC.
    pub pc: u64,
    /// Translation flags the block was looked up with.
    pub flags: u64,
    /// Block id in the executor, `u32::MAX` if empty.
    pub tb: u32,
}

impl JmpCacheEntry {
    const EMPTY: JmpCacheEntry = JmpCacheEntry {
        pc: u64::MAX,
        flags: 0,
        tb: u32::MAX,
    };
}

/// Bits of the jump-cache index taken from the page number (QEMU's
/// `TB_JMP_PAGE_BITS`): the entries for one page form a group of
/// `1 << (12 - JMP_PAGE_BITS)` consecutive entries, so flushing a page
/// clears one group instead of scanning the whole cache.
const JMP_PAGE_BITS: u32 = 6;
const JMP_ADDR_BITS: u32 = JMP_CACHE_SIZE.trailing_zeros() - JMP_PAGE_BITS;

/// Hash of a virtual PC into the jump cache (QEMU's
/// `tb_jmp_cache_hash_func`): the high bits come from the page number, the
/// low bits from the offset in the page (halfword granularity, as RISC-V
/// and most targets never have odd PCs).
#[inline]
pub fn jmp_cache_hash(pc: u64) -> usize {
    let page = pc >> crate::memory::PAGE_BITS;
    let group = (page ^ (page >> JMP_PAGE_BITS)) & ((1 << JMP_PAGE_BITS) - 1);
    let off = (pc >> 1) & ((1 << JMP_ADDR_BITS) - 1);
    ((group << JMP_ADDR_BITS) | off) as usize
}

/// The jump-cache entries a PC on the page of `vaddr` can hash to.
#[inline]
fn jmp_cache_page_group(vaddr: u64) -> std::ops::Range<usize> {
    let start = jmp_cache_hash(vaddr & PAGE_MASK);
    start..start + (1 << JMP_ADDR_BITS)
}

/// A RAM range found by an earlier [`PhysMemory::translate`]: physical
/// `[start, start + len)` is host memory from `host` on (kept as an address
/// so that the vCPU state stays `Send`).
#[derive(Clone, Copy, Debug)]
struct RamWindow {
    start: u64,
    len: u64,
    host: usize,
    ram_addr: u64,
    writable: bool,
}

impl RamWindow {
    const EMPTY: RamWindow = RamWindow {
        start: 0,
        len: 0,
        host: 0,
        ram_addr: 0,
        writable: false,
    };
}

/// The target-independent vCPU state.
pub struct CpuCommon {
    /// The register file the IR works on (guest registers and temporaries).
    pub regs: [u64; 256],
    /// The guest PC (valid at block boundaries and when a helper runs).
    pub pc: u64,
    /// The softmmu TLB.
    pub tlb: Tlb,
    /// Per-vCPU jump cache by virtual PC.
    pub jmp_cache: Box<[JmpCacheEntry]>,
    /// Guest physical memory.
    pub mem: Arc<dyn PhysMemory>,
    /// The memory generation the TLB was filled under.
    pub mem_gen: u64,
    /// Exit/interrupt requests from other threads ([`REQ_EXIT`], [`REQ_HARD`]);
    /// checked at every block entry.
    pub interrupt_request: Arc<AtomicU32>,
    /// Instructions retired (updated at block exits and faults).
    pub icount: u64,
    /// Index within the current block of the instruction whose helper is
    /// running, so helpers can compute an exact instruction count.
    pub cur_insn: u16,
    /// RAM pages this vCPU wrote while they held code; the executor
    /// invalidates their blocks before continuing.
    pub smc_pages: Vec<u64>,
    /// How far this vCPU has applied the memory's [`crate::codesync`] log.
    pub code_sync_pos: u64,
    /// The last RAM range [`CpuCommon::translate_ram`] resolved, so page
    /// walks and TLB fills do not look up the memory map for every
    /// page-table entry and page (QEMU keeps a per-CPU copy of the
    /// dispatch table for the same reason). Cleared with the TLB, which
    /// also happens whenever the memory map changes.
    ram_window: RamWindow,
}

impl CpuCommon {
    /// A reset vCPU over `mem`.
    pub fn new(mem: Arc<dyn PhysMemory>) -> Self {
        let mem_gen = mem.generation();
        let interrupt_request = Arc::new(AtomicU32::new(0));
        let code_sync_pos = mem
            .code_sync()
            .map_or(0, |s| s.register(&interrupt_request));
        CpuCommon {
            regs: [0; 256],
            pc: 0,
            tlb: Tlb::new(),
            jmp_cache: vec![JmpCacheEntry::EMPTY; JMP_CACHE_SIZE].into_boxed_slice(),
            mem,
            mem_gen,
            interrupt_request,
            icount: 0,
            cur_insn: 0,
            smc_pages: Vec::new(),
            code_sync_pos,
            ram_window: RamWindow::EMPTY,
        }
    }

    /// Resolves physical `pa` like [`PhysMemory::translate`], answering
    /// from the last RAM range found when `pa` falls inside it. The cache
    /// is used only while the memory generation is the one the TLB was
    /// filled under, and is dropped with the TLB (which
    /// [`check_mem_generation`] flushes when the memory map changes).
    pub fn translate_ram(&mut self, pa: u64) -> Section {
        let w = self.ram_window;
        let off = pa.wrapping_sub(w.start);
        if off < w.len && self.mem.generation() == self.mem_gen {
            return Section::Ram {
                host: (w.host + off as usize) as *mut u8,
                avail: w.len - off,
                ram_addr: w.ram_addr + off,
                writable: w.writable,
            };
        }
        let sec = self.mem.translate(pa);
        if self.mem.generation() != self.mem_gen {
            return sec;
        }
        if let Section::Ram {
            host,
            avail,
            ram_addr,
            writable,
        } = sec
        {
            self.ram_window = RamWindow {
                start: pa,
                len: avail,
                host: host as usize,
                ram_addr,
                writable,
            };
        }
        sec
    }

    /// Flushes the whole TLB and the jump cache.
    pub fn tlb_flush(&mut self) {
        self.tlb.flush_all();
        self.jmp_cache.fill(JmpCacheEntry::EMPTY);
        self.ram_window = RamWindow::EMPTY;
    }

    /// Flushes one page from the TLB and its jump-cache entries. Even when
    /// a superpage forces a whole MMU index out of the TLB, only this
    /// page's jump-cache entries go, as on QEMU: the guest asked for this
    /// page only, and blocks elsewhere keep being found by virtual PC until
    /// their own pages are flushed.
    pub fn tlb_flush_page(&mut self, vaddr: u64) {
        self.tlb.flush_page(vaddr);
        // A block starts on this page or, if its instruction straddles
        // into this page, on the one before (QEMU's `tb_flush_jmp_cache`);
        // only those two pages' groups can name one that uses this page.
        let vpage = vaddr & PAGE_MASK;
        for page in [vpage, vpage.wrapping_sub(PAGE_SIZE)] {
            for e in &mut self.jmp_cache[jmp_cache_page_group(page)] {
                if e.pc & PAGE_MASK == page {
                    *e = JmpCacheEntry::EMPTY;
                }
            }
        }
    }

    /// Flushes non-global entries (ASID flush) and the jump cache.
    pub fn tlb_flush_nonglobal(&mut self) {
        self.tlb.flush_nonglobal();
        self.jmp_cache.fill(JmpCacheEntry::EMPTY);
    }

    /// Asks the vCPU to leave the execution loop at the next block boundary
    /// (QEMU's `cpu_exit`). Callable from any thread through a clone of
    /// [`CpuCommon::interrupt_request`].
    pub fn request_exit(&self) {
        self.interrupt_request.fetch_or(REQ_EXIT, Ordering::SeqCst);
    }
}

/// What a target provides to the common code.
pub trait CpuEnv: Sized + 'static {
    /// The common state.
    fn common(&mut self) -> &mut CpuCommon;
    /// The common state, shared.
    fn common_ref(&self) -> &CpuCommon;
    /// The translation-key flags for the current state (QEMU's
    /// `cpu_get_tb_cpu_state`). Everything the translator specialises on must
    /// be in here.
    fn tb_flags(&self) -> u64;
    /// The MMU index instruction fetches use in the current state.
    fn fetch_mmu_idx(&self) -> usize;
    /// Translates `vaddr` for an access of `size` bytes (all on the same
    /// page) in MMU index `mmu_idx` (page walk and physical memory
    /// protection). On failure the target records the exception and returns
    /// [`Fault`]. `size` matters when the result is not cacheable: then the
    /// target must check exactly this access.
    fn tlb_fill(
        &mut self,
        vaddr: u64,
        size: u32,
        access: Access,
        mmu_idx: usize,
    ) -> Result<TlbFill, Fault>;
    /// Records the access-fault exception for a failed bus access at `vaddr`.
    fn raise_access_fault(&mut self, vaddr: u64, access: Access) -> Fault;
    /// Translates the block at virtual `pc` (key `flags`) into `b`. Fetch
    /// with [`IrBuilder::fetch_u16`]. Return [`Fault`] only if the first
    /// instruction cannot be fetched (the exception is then pending).
    fn translate_block(
        &mut self,
        pc: u64,
        flags: u64,
        b: &mut IrBuilder<Self>,
        max_insns: usize,
    ) -> Result<(), Fault>;
    /// Takes a pending, enabled interrupt if there is one (QEMU's
    /// `cpu_exec_interrupt`); returns true if the PC was redirected.
    fn exec_interrupt(&mut self) -> bool;
    /// Delivers the pending exception with the PC at the faulting
    /// instruction (QEMU's `do_interrupt`).
    fn do_exception(&mut self);
    /// Called when the block at `pc` was translated, with the instruction
    /// offsets and the end offset (for `-d in_asm`).
    fn log_translation(&mut self, _pc: u64, _insn_off: &[u16]) {}
}

#[inline]
fn comparator(e: &TlbEntry, access: Access) -> u64 {
    match access {
        Access::Read => e.addr_read,
        Access::Write => e.addr_write,
        Access::Fetch => e.addr_code,
    }
}

/// Builds the entry for `vpage` from a fill result (QEMU's `tlb_set_page_full`).
fn build_entry(common: &mut CpuCommon, vpage: u64, fill: &TlbFill) -> TlbEntry {
    let mut e = TlbEntry {
        paddr: fill.paddr,
        global: fill.global,
        ..TlbEntry::EMPTY
    };
    let (mut flags, mut wflags) = (0, 0);
    match common.translate_ram(fill.paddr) {
        Section::Ram {
            host,
            avail,
            ram_addr,
            writable,
        } if avail >= PAGE_SIZE => {
            e.addend = (host as usize).wrapping_sub(vpage as usize);
            e.ram_addr = ram_addr;
            if !writable {
                wflags |= TLB_DISCARD_WRITE;
            } else if common.mem.is_code_page(ram_addr) {
                wflags |= TLB_NOTDIRTY;
            }
        }
        Section::Mmio { handle, .. } => {
            flags = TLB_MMIO;
            e.mmio = handle;
        }
        // Unassigned, or RAM that ends inside the page: every access takes
        // the I/O path and fails with an access fault.
        _ => {
            flags = TLB_MMIO;
            e.mmio = u32::MAX;
        }
    }
    let cmp = |p: u8, extra: u64| {
        if fill.prot & p != 0 {
            vpage | flags | extra
        } else {
            TLB_INVALID
        }
    };
    e.addr_read = cmp(crate::cpu::PROT_READ, 0);
    e.addr_write = cmp(crate::cpu::PROT_WRITE, wflags);
    e.addr_code = cmp(crate::cpu::PROT_EXEC, 0);
    e
}

/// Finds the TLB entry for an access, filling it on a miss (QEMU's
/// `tlb_fill` path of `mmu_lookup1`).
pub fn tlb_lookup<C: CpuEnv>(
    cpu: &mut C,
    va: u64,
    size: u32,
    access: Access,
    mmu: usize,
) -> Result<TlbEntry, Fault> {
    let vpage = va & PAGE_MASK;
    let idx = tlb_index(va);
    let e = cpu.common().tlb.tables[mmu][idx];
    let c = comparator(&e, access);
    if c & TLB_INVALID == 0 && c & PAGE_MASK == vpage {
        return Ok(e);
    }
    let fill = cpu.tlb_fill(va, size, access, mmu)?;
    let common = cpu.common();
    let e = build_entry(common, vpage, &fill);
    if fill.cacheable {
        common.tlb.tables[mmu][idx] = e;
        if fill.large_mask != 0 {
            common.tlb.add_large_page(mmu, va, fill.large_mask);
        }
    }
    Ok(e)
}

#[inline]
fn ram_read(e: &TlbEntry, va: u64, size: u32) -> u64 {
    let p = e.addend.wrapping_add(va as usize) as *const u8;
    // SAFETY: the entry maps a whole RAM page whose host pointer is valid
    // for the current memory generation, and the access lies within that
    // page (callers split page-crossing accesses).
    unsafe {
        match size {
            1 => p.read() as u64,
            2 => (p as *const u16).read_unaligned() as u64,
            4 => (p as *const u32).read_unaligned() as u64,
            _ => (p as *const u64).read_unaligned(),
        }
    }
}

#[inline]
fn ram_write(e: &TlbEntry, va: u64, size: u32, v: u64) {
    let p = e.addend.wrapping_add(va as usize) as *mut u8;
    // SAFETY: as in `ram_read`; the page is writable RAM.
    unsafe {
        match size {
            1 => p.write(v as u8),
            2 => (p as *mut u16).write_unaligned(v as u16),
            4 => (p as *mut u32).write_unaligned(v as u32),
            _ => (p as *mut u64).write_unaligned(v),
        }
    }
}

/// The page that must match the comparator for a fast-path access of
/// `size` bytes at `va`: the page of its *last* byte, looked up in the entry
/// of its first byte (QEMU's trick for unaligned accesses). One compare then
/// checks both the mapping and that the access does not cross the page: the
/// entry for the first byte's page can never hold the next page, whose index
/// differs by one.
#[inline(always)]
fn fast_cmp(va: u64, size: u32) -> u64 {
    va.wrapping_add(size as u64 - 1) & PAGE_MASK
}

/// The fast path of a load: a TLB hit on RAM with the access inside the page.
#[inline(always)]
pub fn load_fast(common: &CpuCommon, va: u64, size: u32, mmu: usize) -> Option<u64> {
    let e = &common.tlb.tables[mmu & (NB_MMU_MODES - 1)][tlb_index(va)];
    if e.addr_read == fast_cmp(va, size) {
        Some(ram_read(e, va, size))
    } else {
        None
    }
}

/// The fast path of a store.
#[inline(always)]
pub fn store_fast(common: &mut CpuCommon, va: u64, size: u32, v: u64, mmu: usize) -> bool {
    let e = &common.tlb.tables[mmu & (NB_MMU_MODES - 1)][tlb_index(va)];
    if e.addr_write == fast_cmp(va, size) {
        ram_write(e, va, size, v);
        true
    } else {
        false
    }
}

fn load_one<C: CpuEnv>(cpu: &mut C, va: u64, size: u32, mmu: usize) -> Result<u64, Fault> {
    let e = tlb_lookup(cpu, va, size, Access::Read, mmu)?;
    if e.addr_read & TLB_MMIO != 0 {
        let pa = e.paddr | (va & !PAGE_MASK);
        let common = cpu.common();
        let r = if e.mmio == u32::MAX {
            Err(crate::memory::MemTxError)
        } else {
            common.mem.mmio_read(e.mmio, pa, size)
        };
        return r.map_err(|_| cpu.raise_access_fault(va, Access::Read));
    }
    Ok(ram_read(&e, va, size))
}

/// A guest load of `size` bytes (zero-extended), any alignment.
pub fn load<C: CpuEnv>(cpu: &mut C, va: u64, size: u32, mmu: usize) -> Result<u64, Fault> {
    if let Some(v) = load_fast(cpu.common(), va, size, mmu) {
        return Ok(v);
    }
    if (va & !PAGE_MASK) + size as u64 > PAGE_SIZE {
        // Page-crossing. As in QEMU's `load_helper`, a miss on the first page
        // fills it with the access's full size, so the target's checks that
        // look at the whole access (RISC-V PMP) see it and report its start
        // address; then byte by byte, as QEMU's slow path splits it.
        tlb_lookup(cpu, va, size, Access::Read, mmu)?;
        let mut v = 0u64;
        for i in 0..size {
            v |= load_one(cpu, va.wrapping_add(i as u64), 1, mmu)? << (8 * i);
        }
        return Ok(v);
    }
    load_one(cpu, va, size, mmu)
}

/// A guest load with [`MemOp`] extension.
#[inline]
pub fn load_mop<C: CpuEnv>(cpu: &mut C, va: u64, mop: MemOp, mmu: usize) -> Result<u64, Fault> {
    load(cpu, va, mop.size(), mmu).map(|v| mop.extend(v))
}

fn store_one<C: CpuEnv>(cpu: &mut C, va: u64, size: u32, v: u64, mmu: usize) -> Result<(), Fault> {
    let e = tlb_lookup(cpu, va, size, Access::Write, mmu)?;
    let w = e.addr_write;
    if w & TLB_MMIO != 0 {
        let pa = e.paddr | (va & !PAGE_MASK);
        let r = if e.mmio == u32::MAX {
            Err(crate::memory::MemTxError)
        } else {
            cpu.common().mem.mmio_write(e.mmio, pa, size, v)
        };
        return r.map_err(|_| cpu.raise_access_fault(va, Access::Write));
    }
    if w & TLB_DISCARD_WRITE != 0 {
        return Ok(());
    }
    ram_write(&e, va, size, v);
    if w & TLB_NOTDIRTY != 0 {
        notdirty_write(cpu.common(), e.ram_addr);
    }
    Ok(())
}

/// QEMU's `notdirty_write`: a store through a `TLB_NOTDIRTY` entry. If the
/// page still holds code, its blocks are stale now (the executor
/// invalidates them for every vCPU before this one runs another
/// instruction); if another vCPU already invalidated it, only this TLB's
/// protection is dropped.
fn notdirty_write(common: &mut CpuCommon, ram_addr: u64) {
    let page = ram_addr & PAGE_MASK;
    if common.mem.is_code_page(page) {
        if !common.smc_pages.contains(&page) {
            common.smc_pages.push(page);
        }
    } else {
        common.tlb.set_notdirty(page, false);
    }
}

/// The operation of an atomic read-modify-write ([`AtomicRam::rmw`]),
/// QEMU's `tcg_gen_atomic_*` family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicOp {
    /// Exchange.
    Swap,
    /// Wrapping add.
    Add,
    /// Bitwise xor.
    Xor,
    /// Bitwise and.
    And,
    /// Bitwise or.
    Or,
    /// Signed minimum.
    Min,
    /// Signed maximum.
    Max,
    /// Unsigned minimum.
    Minu,
    /// Unsigned maximum.
    Maxu,
}

/// An aligned 4- or 8-byte location of writable guest RAM, accessed with
/// host atomics (QEMU's `atomic_mmu_lookup` result). Obtained from
/// [`atomic_lookup`]; valid while the vCPU is inside the current block
/// (the host pointer is valid for the memory generation checked at the
/// block boundary).
pub struct AtomicRam {
    ptr: *mut u8,
    size: u32,
}

impl AtomicRam {
    fn a32(&self) -> &std::sync::atomic::AtomicU32 {
        // SAFETY: `atomic_lookup` checked that `ptr` is 4-byte aligned and
        // that the 4 bytes lie in writable guest RAM, which stays allocated
        // for the current memory generation. Every atomic access to guest
        // RAM goes through such views.
        unsafe { std::sync::atomic::AtomicU32::from_ptr(self.ptr.cast()) }
    }

    fn a64(&self) -> &std::sync::atomic::AtomicU64 {
        // SAFETY: as in `a32`, with 8-byte alignment and size.
        unsafe { std::sync::atomic::AtomicU64::from_ptr(self.ptr.cast()) }
    }

    /// Atomic load (zero-extended).
    pub fn load(&self) -> u64 {
        if self.size == 4 {
            u64::from(self.a32().load(Ordering::SeqCst))
        } else {
            self.a64().load(Ordering::SeqCst)
        }
    }

    /// Atomic read-modify-write with `val` (its low `size` bytes); returns
    /// the old value, zero-extended. Sequentially consistent, so it also
    /// orders as the strongest `aq`/`rl` combination.
    pub fn rmw(&self, op: AtomicOp, val: u64) -> u64 {
        use AtomicOp::*;
        let o = Ordering::SeqCst;
        if self.size == 4 {
            let a = self.a32();
            let v = val as u32;
            u64::from(match op {
                Swap => a.swap(v, o),
                Add => a.fetch_add(v, o),
                Xor => a.fetch_xor(v, o),
                And => a.fetch_and(v, o),
                Or => a.fetch_or(v, o),
                Minu => a.fetch_min(v, o),
                Maxu => a.fetch_max(v, o),
                // SAFETY (of the view): same location, same size; i32 and
                // u32 atomics have the same layout.
                Min | Max => {
                    // SAFETY: see `a32`; AtomicI32 has AtomicU32's layout.
                    let s = unsafe { std::sync::atomic::AtomicI32::from_ptr(self.ptr.cast()) };
                    (if op == Min {
                        s.fetch_min(v as i32, o)
                    } else {
                        s.fetch_max(v as i32, o)
                    }) as u32
                }
            })
        } else {
            let a = self.a64();
            match op {
                Swap => a.swap(val, o),
                Add => a.fetch_add(val, o),
                Xor => a.fetch_xor(val, o),
                And => a.fetch_and(val, o),
                Or => a.fetch_or(val, o),
                Minu => a.fetch_min(val, o),
                Maxu => a.fetch_max(val, o),
                Min | Max => {
                    // SAFETY: see `a64`; AtomicI64 has AtomicU64's layout.
                    let s = unsafe { std::sync::atomic::AtomicI64::from_ptr(self.ptr.cast()) };
                    (if op == Min {
                        s.fetch_min(val as i64, o)
                    } else {
                        s.fetch_max(val as i64, o)
                    }) as u64
                }
            }
        }
    }

    /// Atomic compare-and-exchange (low `size` bytes of `old` and `new`);
    /// true if memory held `old` and now holds `new`.
    pub fn cmpxchg(&self, old: u64, new: u64) -> bool {
        let o = Ordering::SeqCst;
        if self.size == 4 {
            self.a32()
                .compare_exchange(old as u32, new as u32, o, o)
                .is_ok()
        } else {
            self.a64().compare_exchange(old, new, o, o).is_ok()
        }
    }
}

/// Resolves an atomic access of `size` (4 or 8) bytes at `va` for
/// writing (filling the TLB). Returns the host view if it is aligned,
/// writable RAM; `None` for I/O, unassigned memory, ROM or a misaligned
/// address, which the caller emulates with a load and a store under the
/// BQL (QEMU's `EXCP_ATOMIC` path runs them with the other vCPUs stopped).
///
/// A page that holds translated code is recorded as written (its blocks
/// are invalidated before the next instruction), so call this only when
/// the access will be performed.
pub fn atomic_lookup<C: CpuEnv>(
    cpu: &mut C,
    va: u64,
    size: u32,
    mmu: usize,
) -> Result<Option<AtomicRam>, Fault> {
    if (size != 4 && size != 8) || !va.is_multiple_of(u64::from(size)) {
        return Ok(None);
    }
    let e = tlb_lookup(cpu, va, size, Access::Write, mmu)?;
    let w = e.addr_write;
    if w & (TLB_MMIO | TLB_DISCARD_WRITE) != 0 {
        return Ok(None);
    }
    let ptr = e.addend.wrapping_add(va as usize) as *mut u8;
    if !(ptr as usize).is_multiple_of(size as usize) {
        return Ok(None);
    }
    if w & TLB_NOTDIRTY != 0 {
        notdirty_write(cpu.common(), e.ram_addr);
    }
    Ok(Some(AtomicRam { ptr, size }))
}

/// Checks that a store of `size` bytes at `va` would succeed, filling the
/// TLB, without writing (QEMU's `probe_access`).
pub fn probe_write<C: CpuEnv>(cpu: &mut C, va: u64, size: u32, mmu: usize) -> Result<(), Fault> {
    let in_page = (size as u64).min(PAGE_SIZE - (va & !PAGE_MASK)) as u32;
    // The first page is filled with the access's full size (QEMU's
    // `store_helper`), so whole-access checks such as PMP see all of it.
    tlb_lookup(cpu, va, size, Access::Write, mmu)?;
    if in_page < size {
        let next = va.wrapping_add(in_page as u64);
        tlb_lookup(cpu, next, size - in_page, Access::Write, mmu)?;
    }
    Ok(())
}

/// A guest store of the low `size` bytes of `v`, any alignment. Writes to
/// pages with translated code are recorded in [`CpuCommon::smc_pages`].
pub fn store<C: CpuEnv>(cpu: &mut C, va: u64, size: u32, v: u64, mmu: usize) -> Result<(), Fault> {
    if store_fast(cpu.common(), va, size, v, mmu) {
        return Ok(());
    }
    if (va & !PAGE_MASK) + size as u64 > PAGE_SIZE {
        // Both pages must be writable before any byte is written, so a fault
        // leaves memory untouched (precise exceptions).
        probe_write(cpu, va, size, mmu)?;
        for i in 0..size {
            store_one(cpu, va.wrapping_add(i as u64), 1, v >> (8 * i), mmu)?;
        }
        return Ok(());
    }
    store_one(cpu, va, size, v, mmu)
}

/// Resolves the page of `va` for instruction fetch: returns the entry (with
/// `ram_addr` of the page) or a fault. Code is only executed from RAM/ROM;
/// a fetch from an I/O region or unassigned memory is an access fault.
pub fn code_page<C: CpuEnv>(cpu: &mut C, va: u64) -> Result<TlbEntry, Fault> {
    let mmu = cpu.fetch_mmu_idx();
    let e = tlb_lookup(cpu, va, 2, Access::Fetch, mmu)?;
    if e.addr_code & TLB_MMIO != 0 {
        return Err(cpu.raise_access_fault(va, Access::Fetch));
    }
    Ok(e)
}

impl<C: CpuEnv> IrBuilder<C> {
    /// Fetches a 16-bit instruction parcel at `va` (2-byte aligned) for
    /// translation.
    pub fn fetch_u16(&mut self, cpu: &mut C, va: u64) -> Result<u16, Fault> {
        let e = code_page(cpu, va)?;
        let page = e.ram_addr & PAGE_MASK;
        if !self.pages.contains(&page) {
            self.pages.push(page);
        }
        Ok(ram_read(&e, va, 2) as u16)
    }
}

/// Brings the TLB up to date with the memory topology (QEMU flushes TLBs
/// on a FlatView change).
pub fn check_mem_generation(common: &mut CpuCommon) {
    let g = common.mem.generation();
    if g != common.mem_gen {
        common.mem_gen = g;
        common.tlb_flush();
    }
}

/// Sets [`TLB_NOTDIRTY`] on entries mapping `ram_page` (used after marking a
/// page as holding code).
pub fn protect_code(common: &mut CpuCommon, ram_page: u64) {
    common.tlb.set_notdirty(ram_page, true);
}
