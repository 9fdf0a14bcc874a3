//! `-d in_asm` output: the guest instructions of each new block, in QEMU's
//! layout (`IN:` header, address, raw bits, mnemonic).

use ferrite_aio::log::{LogMask, log_enabled, log_write};
use ferrite_tcg::cpu::load;

use crate::cpu::RiscvCpu;

/// Logs the instructions of the block at `pc` (offsets from
/// `IrBuilder::insn_off`, the last entry being the end offset).
pub fn log_in_asm(cpu: &mut RiscvCpu, pc: u64, insn_off: &[u16]) {
    if !log_enabled(LogMask::IN_ASM) {
        return;
    }
    let mut out = format!("----------------\nIN: \nPriv: {}; Virt: 0\n", cpu.priv_);
    let saved = cpu.pending;
    let mmu = ferrite_tcg::CpuEnv::fetch_mmu_idx(cpu);
    for w in insn_off.windows(2) {
        let a = pc.wrapping_add(w[0] as u64);
        let len = (w[1] - w[0]) as u32;
        let raw = load(cpu, a, len, mmu).unwrap_or(0) as u32;
        let text = crate::disas::disassemble(raw, len);
        if len == 2 {
            out.push_str(&format!("0x{a:016x}:  {raw:04x}              {text}\n"));
        } else {
            out.push_str(&format!("0x{a:016x}:  {raw:08x}          {text}\n"));
        }
    }
    cpu.pending = saved;
    out.push('\n');
    log_write(format_args!("{out}"));
}

/// A short textual form of an instruction (the opcode class; a full
/// disassembler is future work).
pub fn disassemble(raw: u32, len: u32) -> String {
    if len == 2 {
        return match crate::translate::expand_rvc(raw as u16) {
            Some(i) => format!("c.{}", class(i)),
            None => "illegal".into(),
        };
    }
    class(raw).into()
}

fn class(i: u32) -> &'static str {
    match i & 0x7f {
        0x37 => "lui",
        0x17 => "auipc",
        0x6f => "jal",
        0x67 => "jalr",
        0x63 => "branch",
        0x03 => "load",
        0x23 => "store",
        0x13 => "op-imm",
        0x1b => "op-imm-32",
        0x33 => "op",
        0x3b => "op-32",
        0x0f => "fence",
        0x73 => "system",
        0x2f => "amo",
        0x07 => "load-fp",
        0x27 => "store-fp",
        0x43 | 0x47 | 0x4b | 0x4f => "fma",
        0x53 => "op-fp",
        _ => "unknown",
    }
}
