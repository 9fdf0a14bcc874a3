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

const XREG: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];
const FREG: [&str; 32] = [
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2",
    "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9",
    "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
];

fn x(r: u32) -> &'static str {
    XREG[(r & 31) as usize]
}
fn fr(r: u32) -> &'static str {
    FREG[(r & 31) as usize]
}

/// Disassembles one instruction (`len` 2 or 4 bytes) in the style of QEMU's
/// RISC-V disassembler: mnemonic padded to 24 columns, then operands with
/// ABI register names. Compressed instructions are shown as the 32-bit
/// instruction they expand to.
pub fn disassemble(raw: u32, len: u32) -> String {
    let i = if len == 2 {
        match crate::translate::expand_rvc(raw as u16) {
            Some(i) => i,
            None => return "illegal".into(),
        }
    } else {
        raw
    };
    let (m, args) = decode(i);
    if args.is_empty() {
        m.to_string()
    } else {
        format!("{m:<24}{args}")
    }
}

fn decode(i: u32) -> (String, String) {
    let rd = (i >> 7) & 31;
    let rs1 = (i >> 15) & 31;
    let rs2 = (i >> 20) & 31;
    let f3 = (i >> 12) & 7;
    let f7 = i >> 25;
    let imm_i = (i as i32) >> 20;
    let imm_s = ((i as i32) >> 25 << 5) | ((i >> 7) & 31) as i32;
    let imm_b = (((i as i32) >> 31) << 12)
        | (((i >> 7) & 1) << 11) as i32
        | (((i >> 25) & 0x3f) << 5) as i32
        | (((i >> 8) & 0xf) << 1) as i32;
    let imm_j = (((i as i32) >> 31) << 20)
        | (((i >> 12) & 0xff) << 12) as i32
        | (((i >> 20) & 1) << 11) as i32
        | (((i >> 21) & 0x3ff) << 1) as i32;
    let s = |m: &str, a: String| (m.to_string(), a);
    let unknown = || ("illegal".to_string(), String::new());
    match i & 0x7f {
        0x37 => s("lui", format!("{},{}", x(rd), i >> 12)),
        0x17 => s("auipc", format!("{},{}", x(rd), i >> 12)),
        0x6f => s("jal", format!("{},{}", x(rd), imm_j)),
        0x67 => s("jalr", format!("{},{}({})", x(rd), imm_i, x(rs1))),
        0x63 => {
            let m = ["beq", "bne", "?", "?", "blt", "bge", "bltu", "bgeu"][f3 as usize];
            s(m, format!("{},{},{}", x(rs1), x(rs2), imm_b))
        }
        0x03 => {
            let m = ["lb", "lh", "lw", "ld", "lbu", "lhu", "lwu", "?"][f3 as usize];
            s(m, format!("{},{}({})", x(rd), imm_i, x(rs1)))
        }
        0x23 => {
            let m = ["sb", "sh", "sw", "sd", "?", "?", "?", "?"][f3 as usize];
            s(m, format!("{},{}({})", x(rs2), imm_s, x(rs1)))
        }
        0x07 => s(
            if f3 == 2 { "flw" } else { "fld" },
            format!("{},{}({})", fr(rd), imm_i, x(rs1)),
        ),
        0x27 => s(
            if f3 == 2 { "fsw" } else { "fsd" },
            format!("{},{}({})", fr(rs2), imm_s, x(rs1)),
        ),
        0x13 => {
            let sh = (i >> 20) & 63;
            let m = match (f3, i >> 26) {
                (0, _) => "addi",
                (2, _) => "slti",
                (3, _) => "sltiu",
                (4, _) => "xori",
                (6, _) => "ori",
                (7, _) => "andi",
                (1, 0) => "slli",
                (5, 0) => "srli",
                (5, 0x10) => "srai",
                _ => return s("op-imm", format!("{:#010x}", i)),
            };
            if f3 == 1 || f3 == 5 {
                s(m, format!("{},{},{}", x(rd), x(rs1), sh))
            } else {
                s(m, format!("{},{},{}", x(rd), x(rs1), imm_i))
            }
        }
        0x1b => match (f3, f7) {
            (0, _) => s("addiw", format!("{},{},{}", x(rd), x(rs1), imm_i)),
            (1, 0) => s("slliw", format!("{},{},{}", x(rd), x(rs1), rs2)),
            (5, 0) => s("srliw", format!("{},{},{}", x(rd), x(rs1), rs2)),
            (5, 0x20) => s("sraiw", format!("{},{},{}", x(rd), x(rs1), rs2)),
            _ => s("op-imm-32", format!("{:#010x}", i)),
        },
        0x33 | 0x3b => {
            let w = i & 0x7f == 0x3b;
            let m = match (f7, f3, w) {
                (0, 0, false) => "add",
                (0x20, 0, false) => "sub",
                (0, 1, false) => "sll",
                (0, 2, false) => "slt",
                (0, 3, false) => "sltu",
                (0, 4, false) => "xor",
                (0, 5, false) => "srl",
                (0x20, 5, false) => "sra",
                (0, 6, false) => "or",
                (0, 7, false) => "and",
                (1, 0, false) => "mul",
                (1, 1, false) => "mulh",
                (1, 2, false) => "mulhsu",
                (1, 3, false) => "mulhu",
                (1, 4, false) => "div",
                (1, 5, false) => "divu",
                (1, 6, false) => "rem",
                (1, 7, false) => "remu",
                (0, 0, true) => "addw",
                (0x20, 0, true) => "subw",
                (0, 1, true) => "sllw",
                (0, 5, true) => "srlw",
                (0x20, 5, true) => "sraw",
                (1, 0, true) => "mulw",
                (1, 4, true) => "divw",
                (1, 5, true) => "divuw",
                (1, 6, true) => "remw",
                (1, 7, true) => "remuw",
                _ => return s(if w { "op-32" } else { "op" }, format!("{:#010x}", i)),
            };
            s(m, format!("{},{},{}", x(rd), x(rs1), x(rs2)))
        }
        0x0f => match f3 {
            0 => s("fence", String::new()),
            1 => s("fence.i", String::new()),
            _ => unknown(),
        },
        0x73 => {
            let csr = i >> 20;
            match f3 {
                0 => match i {
                    0x0000_0073 => s("ecall", String::new()),
                    0x0010_0073 => s("ebreak", String::new()),
                    0x3020_0073 => s("mret", String::new()),
                    0x1020_0073 => s("sret", String::new()),
                    0x1050_0073 => s("wfi", String::new()),
                    _ if f7 == 9 => s("sfence.vma", format!("{},{}", x(rs1), x(rs2))),
                    _ => unknown(),
                },
                4 => unknown(),
                _ => {
                    let m = [
                        "", "csrrw", "csrrs", "csrrc", "", "csrrwi", "csrrsi", "csrrci",
                    ][f3 as usize];
                    if f3 >= 5 {
                        s(m, format!("{},{:#x},{}", x(rd), csr, rs1))
                    } else {
                        s(m, format!("{},{:#x},{}", x(rd), csr, x(rs1)))
                    }
                }
            }
        }
        0x2f => {
            let w = if f3 == 2 { "w" } else { "d" };
            let base = match i >> 27 {
                0x02 => "lr",
                0x03 => "sc",
                0x01 => "amoswap",
                0x00 => "amoadd",
                0x04 => "amoxor",
                0x0c => "amoand",
                0x08 => "amoor",
                0x10 => "amomin",
                0x14 => "amomax",
                0x18 => "amominu",
                0x1c => "amomaxu",
                _ => return unknown(),
            };
            s(
                &format!("{base}.{w}"),
                format!("{},{},({})", x(rd), x(rs2), x(rs1)),
            )
        }
        0x43 | 0x47 | 0x4b | 0x4f => {
            let base = ["fmadd", "fmsub", "fnmsub", "fnmadd"][((i >> 2) & 3) as usize];
            let t = if f7 & 1 == 1 { "d" } else { "s" };
            s(
                &format!("{base}.{t}"),
                format!("{},{},{},{}", fr(rd), fr(rs1), fr(rs2), fr(i >> 27)),
            )
        }
        0x53 => {
            let t = if f7 & 1 == 1 { "d" } else { "s" };
            let name = match (i >> 27, f3) {
                (0x00, _) => "fadd",
                (0x01, _) => "fsub",
                (0x02, _) => "fmul",
                (0x03, _) => "fdiv",
                (0x0b, _) => "fsqrt",
                (0x04, 0) => "fsgnj",
                (0x04, 1) => "fsgnjn",
                (0x04, 2) => "fsgnjx",
                (0x05, 0) => "fmin",
                (0x05, 1) => "fmax",
                (0x08, _) => "fcvt",
                (0x14, 2) => "feq",
                (0x14, 1) => "flt",
                (0x14, 0) => "fle",
                (0x18, _) => "fcvt.int",
                (0x1a, _) => "fcvt.from.int",
                (0x1c, 0) => "fmv.x",
                (0x1c, 1) => "fclass",
                (0x1e, _) => "fmv.from.x",
                _ => return unknown(),
            };
            s(
                &format!("{name}.{t}"),
                format!("{},{},{}", fr(rd), fr(rs1), fr(rs2)),
            )
        }
        _ => unknown(),
    }
}

#[cfg(test)]
mod tests {
    use super::disassemble;

    #[test]
    fn qemu_style_text() {
        assert_eq!(disassemble(0x0000_0297, 4), "auipc                   t0,0");
        assert_eq!(
            disassemble(0x0202_b583, 4),
            "ld                      a1,32(t0)"
        );
        assert_eq!(
            disassemble(0xfe05_1ee3, 4),
            "bne                     a0,zero,-4"
        );
        assert_eq!(disassemble(0x3020_0073, 4), "mret");
        assert_eq!(disassemble(0x4515, 2), "addi                    a0,zero,5");
        assert_eq!(
            disassemble(0x3400_2573, 4),
            "csrrs                   a0,0x340,zero"
        );
    }
}
