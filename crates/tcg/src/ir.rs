//! The intermediate representation a translation block is made of.
//!
//! QEMU's TCG ops work on typed temporaries that a register allocator maps to
//! host registers. Ferrite's IR is deliberately smaller and register-based:
//! every operand is a [`Slot`], an index into the vCPU's 256-entry `u64`
//! register file ([`crate::CpuCommon::regs`]). The target decides which slots
//! are guest registers (RISC-V: x0–x31, f0–f31) and which are scratch
//! temporaries. Immediates are folded into the ops (`AddI`, `Ld` offsets), so a
//! typical guest ALU instruction becomes exactly one op.
//!
//! The op list of a block is straight-line except for forward/backward
//! branches to op indexes inside the block ([`Op::Br`], [`Op::Jmp`]), and it
//! always ends in an exit op ([`Op::GotoTb`], [`Op::ExitTb`]) — or in a memory
//! op or helper call that faults. Memory ops carry the MMU index chosen at
//! translation time and the index of the guest instruction they belong to
//! (QEMU's `insn_start` data), which is how the guest PC of a fault is
//! recovered exactly.
//!
//! When the front end is done, [`IrBuilder::seal`] lowers the generic
//! memory and branch ops (`Ld`, `St`, `Br`, `BrTb`, which carry a
//! [`MemOp`] or [`Cond`]) to specialised kinds (`LdU64`, `St32`, `BrNe`,
//! `BrTbLt`, ...), and [`IrBuilder::validate`] checks the invariants the
//! interpreter relies on. Front ends only ever emit the generic forms.
//!
//! Backends: [`crate::interp`] executes the op vector directly. A JIT backend
//! only has to lower the same ops; the front end never sees the difference.

/// An operand: index into [`crate::CpuCommon::regs`]. Indexing a 256-element
/// array with a `u8` needs no bounds check.
pub type Slot = u8;

/// Size and signedness of a memory access (QEMU's `MemOp`, little-endian only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemOp {
    /// Unsigned byte.
    U8,
    /// Sign-extended byte.
    S8,
    /// Unsigned halfword.
    U16,
    /// Sign-extended halfword.
    S16,
    /// Unsigned word.
    U32,
    /// Sign-extended word.
    S32,
    /// Doubleword.
    U64,
}

impl MemOp {
    /// Access size in bytes.
    #[inline]
    pub fn size(self) -> u32 {
        match self {
            MemOp::U8 | MemOp::S8 => 1,
            MemOp::U16 | MemOp::S16 => 2,
            MemOp::U32 | MemOp::S32 => 4,
            MemOp::U64 => 8,
        }
    }

    /// Extends a raw little-endian value of this size to 64 bits.
    #[inline]
    pub fn extend(self, v: u64) -> u64 {
        match self {
            MemOp::U8 => v as u8 as u64,
            MemOp::S8 => v as i8 as i64 as u64,
            MemOp::U16 => v as u16 as u64,
            MemOp::S16 => v as i16 as i64 as u64,
            MemOp::U32 => v as u32 as u64,
            MemOp::S32 => v as i32 as i64 as u64,
            MemOp::U64 => v,
        }
    }
}

/// Branch conditions (QEMU's `TCGCond` subset RISC-V needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Signed less than.
    Lt,
    /// Signed greater or equal.
    Ge,
    /// Unsigned less than.
    Ltu,
    /// Unsigned greater or equal.
    Geu,
}

impl Cond {
    /// Evaluates the condition.
    #[inline]
    pub fn eval(self, a: u64, b: u64) -> bool {
        match self {
            Cond::Eq => a == b,
            Cond::Ne => a != b,
            Cond::Lt => (a as i64) < (b as i64),
            Cond::Ge => (a as i64) >= (b as i64),
            Cond::Ltu => a < b,
            Cond::Geu => a >= b,
        }
    }
}

/// Why a block hands control back to the execution loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// The PC was set to an arbitrary value (indirect jump, branch off the
    /// page): look the next block up by PC (QEMU's `lookup_and_goto_ptr`).
    Lookup,
    /// State that the translation key or interrupt check depends on may have
    /// changed (CSR write, xRET, fence): return to the top of the loop.
    Loop,
    /// `wfi`: the vCPU halts until an interrupt is pending.
    Halt,
}

/// Marker error: the target recorded a pending exception (cause and value
/// live in the target's CPU state); the block must stop at this instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault;

/// A helper function: gets the CPU and a 32-bit argument (for RISC-V, the
/// instruction word, from which the helper decodes its operands).
pub type Helper<C> = fn(&mut C, u32) -> Result<(), Fault>;

/// One IR operation. `d` is the destination slot, `a`/`b` sources.
///
/// The `*W` variants are RV64's 32-bit operations: they compute on the low 32
/// bits and sign-extend the result.
#[allow(missing_docs)] // The variant names are the documentation; see above.
pub enum Op<C> {
    Mov {
        d: Slot,
        a: Slot,
    },
    MovI {
        d: Slot,
        imm: u64,
    },
    Add {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Sub {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    And {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Or {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Xor {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Sll {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Srl {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Sra {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Slt {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Sltu {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Mul {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Mulh {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Mulhsu {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Mulhu {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    /// Signed division with RISC-V semantics (÷0 → −1, overflow → dividend).
    Div {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Divu {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Rem {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Remu {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    AddW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    SubW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    SllW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    SrlW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    SraW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    MulW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    DivW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    DivuW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    RemW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    RemuW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    /// `d = a + (b << sh)` (Zba `shNadd`).
    ShAdd {
        d: Slot,
        a: Slot,
        b: Slot,
        sh: u8,
    },
    /// `d = a + (zext32(b) << sh)` (Zba `add.uw`, `shNadd.uw`).
    ShAddUw {
        d: Slot,
        a: Slot,
        b: Slot,
        sh: u8,
    },
    Andn {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Orn {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Xnor {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Min {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Minu {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Max {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Maxu {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Rol {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Ror {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    RolW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    RorW {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Bclr {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Bset {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Binv {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    Bext {
        d: Slot,
        a: Slot,
        b: Slot,
    },
    AddI {
        d: Slot,
        a: Slot,
        imm: i32,
    },
    AndI {
        d: Slot,
        a: Slot,
        imm: i32,
    },
    OrI {
        d: Slot,
        a: Slot,
        imm: i32,
    },
    XorI {
        d: Slot,
        a: Slot,
        imm: i32,
    },
    SltI {
        d: Slot,
        a: Slot,
        imm: i32,
    },
    SltuI {
        d: Slot,
        a: Slot,
        imm: i32,
    },
    SllI {
        d: Slot,
        a: Slot,
        sh: u8,
    },
    SrlI {
        d: Slot,
        a: Slot,
        sh: u8,
    },
    SraI {
        d: Slot,
        a: Slot,
        sh: u8,
    },
    RorI {
        d: Slot,
        a: Slot,
        sh: u8,
    },
    AddIW {
        d: Slot,
        a: Slot,
        imm: i32,
    },
    SllIW {
        d: Slot,
        a: Slot,
        sh: u8,
    },
    SrlIW {
        d: Slot,
        a: Slot,
        sh: u8,
    },
    SraIW {
        d: Slot,
        a: Slot,
        sh: u8,
    },
    RorIW {
        d: Slot,
        a: Slot,
        sh: u8,
    },
    /// `d = zext32(a) << sh` (Zba `slli.uw`).
    SllIUw {
        d: Slot,
        a: Slot,
        sh: u8,
    },
    Clz {
        d: Slot,
        a: Slot,
    },
    Ctz {
        d: Slot,
        a: Slot,
    },
    Cpop {
        d: Slot,
        a: Slot,
    },
    ClzW {
        d: Slot,
        a: Slot,
    },
    CtzW {
        d: Slot,
        a: Slot,
    },
    CpopW {
        d: Slot,
        a: Slot,
    },
    SextB {
        d: Slot,
        a: Slot,
    },
    SextH {
        d: Slot,
        a: Slot,
    },
    ZextH {
        d: Slot,
        a: Slot,
    },
    Rev8 {
        d: Slot,
        a: Slot,
    },
    OrcB {
        d: Slot,
        a: Slot,
    },
    /// Branch to op index `target` if `cond(a, b)`.
    Br {
        cond: Cond,
        a: Slot,
        b: Slot,
        target: u32,
    },
    /// Unconditional branch to op index `target`.
    Jmp {
        target: u32,
    },
    /// Guest load: `d = mop(mem[a + off])` through MMU index `mmu`.
    Ld {
        mop: MemOp,
        d: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    /// Guest store of slot `s` to `mem[a + off]`.
    St {
        mop: MemOp,
        s: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    /// Sets the PC to a constant.
    SetPc {
        pc: u64,
    },
    /// Sets the PC to `(a + off) & !1` (RISC-V `jalr`).
    SetPcReg {
        a: Slot,
        off: i32,
    },
    /// Conditional branch that ends the block, both targets chainable:
    /// if `cond(a, b)` the PC becomes `pc + off` and the block leaves through
    /// chain slot 1, else `pc + len` through slot 0. (A fused
    /// `brcond` + two `goto_tb`s: one dispatch instead of two.)
    BrTb {
        cond: Cond,
        a: Slot,
        b: Slot,
        len: u8,
        off: i16,
        pc: u64,
    },
    /// Sets the PC and leaves through chain slot `n` (0 or 1), QEMU's
    /// `goto_tb n` + `exit_tb(tb | n)`.
    GotoTb {
        n: u8,
        pc: u64,
    },
    /// Leaves the block; the PC has already been set.
    ExitTb {
        kind: ExitKind,
    },
    // Lowered forms, produced from `Ld`, `St`, `Br` and `BrTb` by
    // `IrBuilder::seal` (front ends emit the generic forms): access size,
    // extension and condition are part of the op, so a backend dispatches
    // once per op instead of once on the op and again on its operand kind.
    /// Lowered [`Op::Ld`] of a zero-extended byte.
    LdU8 {
        d: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    LdS8 {
        d: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    LdU16 {
        d: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    LdS16 {
        d: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    LdU32 {
        d: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    LdS32 {
        d: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    LdU64 {
        d: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    St8 {
        s: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    St16 {
        s: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    St32 {
        s: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    St64 {
        s: Slot,
        a: Slot,
        off: i32,
        mmu: u8,
        insn: u16,
    },
    BrEq {
        a: Slot,
        b: Slot,
        target: u32,
    },
    BrNe {
        a: Slot,
        b: Slot,
        target: u32,
    },
    BrLt {
        a: Slot,
        b: Slot,
        target: u32,
    },
    BrGe {
        a: Slot,
        b: Slot,
        target: u32,
    },
    BrLtu {
        a: Slot,
        b: Slot,
        target: u32,
    },
    BrGeu {
        a: Slot,
        b: Slot,
        target: u32,
    },
    BrTbEq {
        a: Slot,
        b: Slot,
        len: u8,
        off: i16,
        pc: u64,
    },
    BrTbNe {
        a: Slot,
        b: Slot,
        len: u8,
        off: i16,
        pc: u64,
    },
    BrTbLt {
        a: Slot,
        b: Slot,
        len: u8,
        off: i16,
        pc: u64,
    },
    BrTbGe {
        a: Slot,
        b: Slot,
        len: u8,
        off: i16,
        pc: u64,
    },
    BrTbLtu {
        a: Slot,
        b: Slot,
        len: u8,
        off: i16,
        pc: u64,
    },
    BrTbGeu {
        a: Slot,
        b: Slot,
        len: u8,
        off: i16,
        pc: u64,
    },
    /// Calls a helper for instruction `insn` of the block.
    Call {
        f: Helper<C>,
        arg: u32,
        insn: u16,
    },
}

// Manual impls: `derive` would require `C: Clone`.
impl<C> Clone for Op<C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for Op<C> {}

impl<C> std::fmt::Debug for Op<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Call { arg, insn, .. } => write!(f, "call helper({arg:#x}) insn={insn}"),
            Op::Ld {
                mop,
                d,
                a,
                off,
                mmu,
                insn,
            } => write!(f, "ld.{mop:?} s{d} <- [s{a}{off:+}] mmu{mmu} insn={insn}"),
            Op::St {
                mop,
                s,
                a,
                off,
                mmu,
                insn,
            } => write!(f, "st.{mop:?} [s{a}{off:+}] <- s{s} mmu{mmu} insn={insn}"),
            Op::MovI { d, imm } => write!(f, "movi s{d}, {imm:#x}"),
            Op::GotoTb { n, pc } => write!(f, "goto_tb {n} pc={pc:#x}"),
            Op::ExitTb { kind } => write!(f, "exit_tb {kind:?}"),
            Op::Br { cond, a, b, target } => write!(f, "br.{cond:?} s{a}, s{b} -> {target}"),
            // The ALU ops are not printed individually; the guest
            // disassembly (`-d in_asm`) shows what they compute.
            _ => write!(f, "alu"),
        }
    }
}

/// Collects the ops of a block while the front end translates it.
pub struct IrBuilder<C> {
    /// The ops emitted so far.
    pub ops: Vec<Op<C>>,
    /// Offsets (from the block's PC) of the guest instructions translated so
    /// far; entry `k` belongs to instruction index `k`. One more entry, the
    /// end offset, is pushed when the block is finished.
    pub insn_off: Vec<u16>,
    /// RAM pages (page-aligned `ram_addr`s) the block's code was fetched
    /// from; filled by [`IrBuilder::fetch_u16`].
    pub pages: Vec<u64>,
}

impl<C> Default for IrBuilder<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> IrBuilder<C> {
    /// An empty builder.
    pub fn new() -> Self {
        IrBuilder {
            ops: Vec::with_capacity(64),
            insn_off: Vec::with_capacity(16),
            pages: Vec::with_capacity(2),
        }
    }

    /// Empties the builder for the next block, keeping its capacity.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.insn_off.clear();
        self.pages.clear();
    }

    /// Appends an op.
    #[inline]
    pub fn emit(&mut self, op: Op<C>) {
        self.ops.push(op);
    }

    /// The index the next op will get (a branch target label).
    pub fn label(&self) -> u32 {
        self.ops.len() as u32
    }

    /// Patches the target of the branch at op index `at` to `target`.
    pub fn patch_branch(&mut self, at: u32, target: u32) {
        match &mut self.ops[at as usize] {
            Op::Br { target: t, .. } | Op::Jmp { target: t } => *t = target,
            op => panic!("patch_branch on a non-branch op {op:?}"),
        }
    }

    /// Marks the start of guest instruction number `insn_off.len()` at
    /// `offset` bytes from the block's PC and returns its index.
    pub fn insn_start(&mut self, offset: u16) -> u16 {
        self.insn_off.push(offset);
        (self.insn_off.len() - 1) as u16
    }

    /// Ends the block: records the offset just past its last instruction.
    /// Every front end must call this once.
    pub fn finish(&mut self, end_offset: u16) {
        self.insn_off.push(end_offset);
    }

    /// Checks the invariants the interpreter relies on to index ops without
    /// bounds checks: the list is non-empty, every branch target is in
    /// range, and the last op never falls through. Panics otherwise (a
    /// front-end bug, not guest-controlled). A block that ends in a helper
    /// call that always faults (`ecall`, an illegal instruction) must be
    /// passed through [`IrBuilder::seal`] first.
    pub fn validate(&self) {
        let n = self.ops.len() as u32;
        assert!(n > 0, "empty op list");
        for op in &self.ops {
            if let Op::Br { target, .. }
            | Op::Jmp { target }
            | Op::BrEq { target, .. }
            | Op::BrNe { target, .. }
            | Op::BrLt { target, .. }
            | Op::BrGe { target, .. }
            | Op::BrLtu { target, .. }
            | Op::BrGeu { target, .. } = op
            {
                assert!(*target < n, "branch target out of range");
            }
        }
        assert!(
            matches!(
                self.ops.last(),
                Some(
                    Op::GotoTb { .. }
                        | Op::ExitTb { .. }
                        | Op::BrTb { .. }
                        | Op::BrTbEq { .. }
                        | Op::BrTbNe { .. }
                        | Op::BrTbLt { .. }
                        | Op::BrTbGe { .. }
                        | Op::BrTbLtu { .. }
                        | Op::BrTbGeu { .. }
                        | Op::Jmp { .. }
                )
            ),
            "op list falls off its end"
        );
    }

    /// Makes the op list safe to run even if a trailing helper call that
    /// the front end expects to fault returns normally: it gets an
    /// `exit_tb` behind it, so the interpreter can never run past the end.
    ///
    /// It also lowers the generic memory and branch ops to their
    /// specialised forms (`Ld` with `MemOp::U64` becomes `LdU64`, `BrTb`
    /// with `Cond::Eq` becomes `BrTbEq`, ...). The executor calls this once
    /// per block, after the front end and before [`IrBuilder::validate`].
    pub fn seal(&mut self) {
        if matches!(self.ops.last(), Some(Op::Call { .. })) {
            self.emit(Op::ExitTb {
                kind: ExitKind::Loop,
            });
        }
        for op in self.ops.iter_mut() {
            *op = lower(*op);
        }
    }

    /// Number of guest instructions started so far.
    pub fn num_insns(&self) -> usize {
        self.insn_off.len()
    }
}

/// The specialised form of one op (see [`IrBuilder::seal`]).
fn lower<C>(op: Op<C>) -> Op<C> {
    match op {
        Op::Ld {
            mop,
            d,
            a,
            off,
            mmu,
            insn,
        } => match mop {
            MemOp::U8 => Op::LdU8 {
                d,
                a,
                off,
                mmu,
                insn,
            },
            MemOp::S8 => Op::LdS8 {
                d,
                a,
                off,
                mmu,
                insn,
            },
            MemOp::U16 => Op::LdU16 {
                d,
                a,
                off,
                mmu,
                insn,
            },
            MemOp::S16 => Op::LdS16 {
                d,
                a,
                off,
                mmu,
                insn,
            },
            MemOp::U32 => Op::LdU32 {
                d,
                a,
                off,
                mmu,
                insn,
            },
            MemOp::S32 => Op::LdS32 {
                d,
                a,
                off,
                mmu,
                insn,
            },
            MemOp::U64 => Op::LdU64 {
                d,
                a,
                off,
                mmu,
                insn,
            },
        },
        Op::St {
            mop,
            s,
            a,
            off,
            mmu,
            insn,
        } => match mop {
            MemOp::U8 | MemOp::S8 => Op::St8 {
                s,
                a,
                off,
                mmu,
                insn,
            },
            MemOp::U16 | MemOp::S16 => Op::St16 {
                s,
                a,
                off,
                mmu,
                insn,
            },
            MemOp::U32 | MemOp::S32 => Op::St32 {
                s,
                a,
                off,
                mmu,
                insn,
            },
            MemOp::U64 => Op::St64 {
                s,
                a,
                off,
                mmu,
                insn,
            },
        },
        Op::Br { cond, a, b, target } => match cond {
            Cond::Eq => Op::BrEq { a, b, target },
            Cond::Ne => Op::BrNe { a, b, target },
            Cond::Lt => Op::BrLt { a, b, target },
            Cond::Ge => Op::BrGe { a, b, target },
            Cond::Ltu => Op::BrLtu { a, b, target },
            Cond::Geu => Op::BrGeu { a, b, target },
        },
        Op::BrTb {
            cond,
            a,
            b,
            len,
            off,
            pc,
        } => match cond {
            Cond::Eq => Op::BrTbEq { a, b, len, off, pc },
            Cond::Ne => Op::BrTbNe { a, b, len, off, pc },
            Cond::Lt => Op::BrTbLt { a, b, len, off, pc },
            Cond::Ge => Op::BrTbGe { a, b, len, off, pc },
            Cond::Ltu => Op::BrTbLtu { a, b, len, off, pc },
            Cond::Geu => Op::BrTbGeu { a, b, len, off, pc },
        },
        op => op,
    }
}

// Ops are kept at 16 bytes so a block's op vector stays cache-friendly.
const _: () = assert!(std::mem::size_of::<Op<()>>() == 16);
