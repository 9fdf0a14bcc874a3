//! Differential test against QEMU: random straight-line programs of integer
//! and F/D instructions run on ferrite and on `qemu-system-riscv64 -M spike`;
//! the final x and f registers and `fcsr` must agree bit for bit.
//!
//! The program stores its registers to a buffer and then prints the buffer
//! in hex through the HTIF console (QEMU). On ferrite, the first HTIF write
//! stops the hart and the buffer is read from memory. Skipped (with a
//! message) when QEMU or the cross toolchain is not installed.

mod support;

use support::*;

const BUF: u64 = RAM_BASE + 0x20_0000;
const NREGS: usize = 25; // x1..x25 are randomised; x26..x31 are reserved.

/// xorshift64* for reproducible programs without extra dependencies.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Interesting FP bit patterns (both formats) mixed into the operands.
const SPECIAL: &[u64] = &[
    0,
    0x8000_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0x7ff0_0000_0000_0001,
    0x0000_0000_0000_0001,
    0x000f_ffff_ffff_ffff,
    0x3ff0_0000_0000_0000,
    0x7fef_ffff_ffff_ffff,
    0xffff_ffff_7f80_0000,
    0xffff_ffff_7fc0_0000,
    0xffff_ffff_0000_0001,
    0xffff_ffff_3f80_0000,
    0xffff_ffff_7f7f_ffff,
    0x0000_0000_3f80_0000,
];

/// Words the program prints: x1..x25, f0..f31, fcsr, then the scratch
/// memory that random loads and stores use (mixed programs).
const DUMP_WORDS: usize = NREGS + 32 + 1;
const SCRATCH_WORDS: usize = 256;
/// Scratch memory right after the register dump, so one print loop covers it.
const SCRATCH: u64 = BUF + 8 * DUMP_WORDS as u64;

/// Random safe compressed instruction (no control flow, no memory).
fn rvc(rng: &mut Rng) -> u16 {
    let full = |rng: &mut Rng| 1 + rng.below(NREGS as u64) as u16;
    let prime = |rng: &mut Rng| rng.below(8) as u16; // x8..x15
    let imm6 = |rng: &mut Rng| rng.below(64) as u16;
    let ci = |f3: u16, rd: u16, imm: u16, op: u16| {
        (f3 << 13) | ((imm >> 5) & 1) << 12 | rd << 7 | (imm & 31) << 2 | op
    };
    match rng.below(9) {
        0 => ci(0, full(rng), imm6(rng), 1), // c.addi
        1 => ci(1, full(rng), imm6(rng), 1), // c.addiw
        2 => ci(2, full(rng), imm6(rng), 1), // c.li
        3 => {
            let mut rd = full(rng);
            if rd == 2 {
                rd = 3;
            }
            ci(3, rd, 1 + rng.below(63) as u16, 1) // c.lui (nonzero)
        }
        4 => {
            let kind = rng.below(3) as u16; // srli, srai, andi
            let imm = if kind == 2 {
                imm6(rng)
            } else {
                1 + rng.below(63) as u16
            };
            (4 << 13) | ((imm >> 5) & 1) << 12 | kind << 10 | prime(rng) << 7 | (imm & 31) << 2 | 1
        }
        5 => {
            let w = rng.below(2) as u16;
            let f2 = if w == 1 { rng.below(2) } else { rng.below(4) } as u16;
            (4 << 13) | w << 12 | 3 << 10 | prime(rng) << 7 | f2 << 5 | prime(rng) << 2 | 1
        }
        6 => ci(0, full(rng), 1 + rng.below(63) as u16, 2), // c.slli
        7 => (4 << 13) | full(rng) << 7 | full(rng) << 2 | 2, // c.mv
        _ => (4 << 13) | 1 << 12 | full(rng) << 7 | full(rng) << 2 | 2, // c.add
    }
}

#[allow(dead_code)]
fn program(seed: u64, fp: bool, directed: bool) -> Asm {
    program_n(seed, fp, directed, 300, false)
}

fn program_n(seed: u64, fp: bool, directed: bool, count: usize, mixed: bool) -> Asm {
    let mut rng = Rng(seed | 1);
    let mut a = Asm::new(RAM_BASE);
    a.li(T0, 1 << 13).csrs(0x300, T0); // FS = Initial
    for r in 1..=NREGS as u32 {
        let v = if rng.below(4) == 0 {
            SPECIAL[rng.below(SPECIAL.len() as u64) as usize]
        } else if rng.below(3) == 0 {
            // A random single, NaN-boxed.
            0xffff_ffff_0000_0000 | (rng.next() & 0xffff_ffff)
        } else {
            rng.next()
        };
        a.li(r, v as i64);
    }
    // Initialise f0..f31 from the x registers.
    for f in 0..32u32 {
        a.w(r(0x79, 0, 1 + f % NREGS as u32, 0, f, 0x53)); // fmv.d.x
    }
    let reg = |rng: &mut Rng| 1 + rng.below(NREGS as u64) as u32;
    a.li(30, SCRATCH as i64);
    for _ in 0..count {
        if mixed && rng.below(3) == 0 {
            if rng.below(2) == 0 {
                a.h(rvc(&mut rng));
            } else {
                // A load or store, any alignment, into the scratch area.
                let off = rng.below(8 * SCRATCH_WORDS as u64 - 8) as i32;
                if rng.below(2) == 0 {
                    let f3 = [0, 1, 2, 3, 4, 5, 6][rng.below(7) as usize];
                    a.i(off, 30, f3, reg(&mut rng), 0x03);
                } else {
                    let f3 = rng.below(4) as u32;
                    a.s(off, reg(&mut rng), 30, f3, 0x23);
                }
            }
            continue;
        }
        if fp && rng.below(2) == 0 {
            let (fd, f1, f2, f3) = (
                rng.below(32) as u32,
                rng.below(32) as u32,
                rng.below(32) as u32,
                rng.below(32) as u32,
            );
            let fmt = rng.below(2) as u32;
            let rm = if directed { rng.below(5) as u32 } else { 0 };
            let insn = match rng.below(14) {
                0 => r(fmt, f2, f1, rm, fd, 0x53),                         // fadd
                1 => r(4 | fmt, f2, f1, rm, fd, 0x53),                     // fsub
                2 => r(8 | fmt, f2, f1, rm, fd, 0x53),                     // fmul
                3 => r(12 | fmt, f2, f1, rm, fd, 0x53),                    // fdiv
                4 => r(0x2c | fmt, 0, f1, rm, fd, 0x53),                   // fsqrt
                5 => r(0x14 | fmt, f2, f1, rng.below(2) as u32, fd, 0x53), // fmin/fmax
                6 => r(0x10 | fmt, f2, f1, rng.below(3) as u32, fd, 0x53), // fsgnj*
                7 => r(0x50 | fmt, f2, f1, rng.below(3) as u32, reg(&mut rng), 0x53), // fcmp
                8 => r(0x60 | fmt, rng.below(4) as u32, f1, rm, reg(&mut rng), 0x53), // fcvt.int
                9 => r(0x68 | fmt, rng.below(4) as u32, reg(&mut rng), rm, fd, 0x53), // fcvt.from.int
                10 => r(0x20 | fmt, 1 - fmt, f1, rm, fd, 0x53), // fcvt.s.d / fcvt.d.s
                11 => r(0x70 | fmt, 0, f1, 1, reg(&mut rng), 0x53), // fclass
                12 => {
                    (f3 << 27)
                        | (fmt << 25)
                        | (f2 << 20)
                        | (f1 << 15)
                        | (rm << 12)
                        | (fd << 7)
                        | [0x43, 0x47, 0x4b, 0x4f][rng.below(4) as usize]
                } // fma family
                _ => r(0x70 | fmt, 0, f1, 0, reg(&mut rng), 0x53), // fmv.x.w/d
            };
            a.w(insn);
        } else {
            let (d, x, y) = (reg(&mut rng), reg(&mut rng), reg(&mut rng));
            let ops: &[(u32, u32, u32)] = &[
                (0, 0, 0x33),
                (0x20, 0, 0x33),
                (0, 1, 0x33),
                (0, 2, 0x33),
                (0, 3, 0x33),
                (0, 4, 0x33),
                (0, 5, 0x33),
                (0x20, 5, 0x33),
                (0, 6, 0x33),
                (0, 7, 0x33),
                (1, 0, 0x33),
                (1, 1, 0x33),
                (1, 2, 0x33),
                (1, 3, 0x33),
                (1, 4, 0x33),
                (1, 5, 0x33),
                (1, 6, 0x33),
                (1, 7, 0x33),
                (0, 0, 0x3b),
                (0x20, 0, 0x3b),
                (0, 1, 0x3b),
                (0, 5, 0x3b),
                (0x20, 5, 0x3b),
                (1, 0, 0x3b),
                (1, 4, 0x3b),
                (1, 5, 0x3b),
                (1, 6, 0x3b),
                (1, 7, 0x3b),
                (0x10, 2, 0x33),
                (0x05, 4, 0x33),
                (0x05, 7, 0x33),
                (0x30, 1, 0x33),
                (0x20, 7, 0x33),
            ];
            if rng.below(4) == 0 {
                let imm = rng.below(4096) as i32 - 2048;
                let f3 = [0, 2, 3, 4, 6, 7][rng.below(6) as usize];
                a.i(imm, x, f3, d, 0x13);
            } else {
                let (f7, f3, op) = ops[rng.below(ops.len() as u64) as usize];
                a.r(f7, y, x, f3, d, op);
            }
        }
    }
    // Dump x1..x25, f0..f31 and fcsr to BUF.
    a.li(31, BUF as i64);
    for r in 1..=NREGS as u32 {
        a.sd(r, 31, (r as i32 - 1) * 8);
    }
    for f in 0..32u32 {
        a.s((NREGS as i32 + f as i32) * 8, f, 31, 3, 0x27); // fsd
    }
    a.csrr(30, 0x003).sd(30, 31, (NREGS as i32 + 32) * 8);
    // Print the buffer as hex through HTIF putchar (device 1, command 1).
    let words = DUMP_WORDS + if mixed { SCRATCH_WORDS } else { 0 };
    a.li(30, words as i64).li(29, TOHOST as i64);
    a.label("word").ld(28, 31, 0).li(27, 60);
    a.label("digit").r(0, 27, 28, 5, 26, 0x33); // srl x26, x28, x27
    a.i(15, 26, 7, 26, 0x13); // andi
    a.i(48, 26, 0, 26, 0x13); // + '0'
    a.li(25, 58).blt(26, 25, "num").addi(26, 26, 39); // 'a' - '9' - 1
    a.label("num")
        .li(25, 0x0101 << 48)
        .or(26, 26, 25)
        .sd(26, 29, 0);
    a.addi(27, 27, -4).bge(27, ZERO, "digit");
    a.li(26, (0x0101i64 << 48) | 10).sd(26, 29, 0);
    a.addi(31, 31, 8).addi(30, 30, -1).bne(30, ZERO, "word");
    a.li(26, 1).sd(26, 29, 0);
    a.w(0x0000_006f);
    a
}

fn diff(seed: u64, fp: bool, directed: bool) -> Option<Vec<String>> {
    diff_n(seed, fp, directed, 300, false)
}

fn diff_n(seed: u64, fp: bool, directed: bool, count: usize, mixed: bool) -> Option<Vec<String>> {
    let mut a = program_n(seed, fp, directed, count, mixed);
    let code = a.finish();
    let dir = std::env::temp_dir().join(format!("ferrite-qemu-diff-{}-{seed}", std::process::id()));
    let elf = build_elf(&dir, "diff", &code)?;
    let out = run_qemu_spike(&elf);
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    let qemu: Vec<u64> = out
        .lines()
        .filter_map(|l| u64::from_str_radix(l.trim(), 16).ok())
        .collect();
    let mut m = Machine::new();
    m.load(RAM_BASE, &code);
    assert!(m.run(1_000_000).is_some(), "ferrite did not reach the dump");
    let words = DUMP_WORDS + if mixed { SCRATCH_WORDS } else { 0 };
    assert_eq!(qemu.len(), words, "QEMU output: {out}");
    let mut bad = Vec::new();
    for (k, q) in qemu.iter().enumerate() {
        let ours = m.read_u64(BUF + 8 * k as u64);
        if ours != *q {
            let name = if k < NREGS {
                format!("x{}", k + 1)
            } else if k < NREGS + 32 {
                format!("f{}", k - NREGS)
            } else if k == NREGS + 32 {
                "fcsr".into()
            } else {
                format!("mem[{:#x}]", SCRATCH + 8 * (k - DUMP_WORDS) as u64)
            };
            bad.push(format!(
                "seed {seed:#x} {name}: ferrite {ours:#018x} qemu {q:#018x}"
            ));
        }
    }
    Some(bad)
}

/// Number of random programs per test (`FERRITE_DIFF_SEEDS`, default 6).
fn seeds() -> u64 {
    std::env::var("FERRITE_DIFF_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

fn tools_present() -> bool {
    let ok = |c: &str| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let present = ok("qemu-system-riscv64") && ok("riscv64-unknown-elf-gcc");
    if !present {
        eprintln!(
            "qemu-system-riscv64 or riscv64-unknown-elf-gcc missing: differential test skipped"
        );
    }
    present
}

#[test]
fn integer_programs_match_qemu() {
    if !tools_present() {
        return;
    }
    for seed in 1..=seeds() {
        let bad = diff(seed * 0x9e37_79b9, false, false).expect("QEMU run failed");
        assert!(bad.is_empty(), "{bad:#?}");
    }
}

#[test]
fn mixed_compressed_and_memory_programs_match_qemu() {
    if !tools_present() {
        return;
    }
    for seed in 1..=seeds() {
        let bad = diff_n(seed * 0x27d4_eb2f, true, true, 300, true).expect("QEMU run failed");
        assert!(bad.is_empty(), "{bad:#?}");
    }
}

#[test]
fn fp_programs_match_qemu_in_rne() {
    if !tools_present() {
        return;
    }
    for seed in 1..=seeds() {
        let bad = diff(seed * 0x85eb_ca6b, true, false).expect("QEMU run failed");
        assert!(bad.is_empty(), "{bad:#?}");
    }
}

#[test]
fn fp_programs_match_qemu_in_all_rounding_modes() {
    if !tools_present() {
        return;
    }
    for seed in 1..=seeds() {
        let bad = diff(seed * 0xc2b2_ae35, true, true).expect("QEMU run failed");
        assert!(bad.is_empty(), "{bad:#?}");
    }
}

/// Debug aid: `FERRITE_DIFF_BISECT=seed,directed cargo test ... bisect --
/// --ignored --nocapture` finds the first instruction whose effect differs.
#[test]
#[ignore]
fn bisect() {
    let Ok(v) = std::env::var("FERRITE_DIFF_BISECT") else {
        return;
    };
    let mut it = v.split(',');
    let seed = u64::from_str_radix(it.next().unwrap().trim_start_matches("0x"), 16).unwrap();
    let directed = it.next() == Some("1");
    let mixed = it.next() == Some("1");
    let (mut lo, mut hi) = (0usize, 300usize);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if diff_n(seed, true, directed, mid, mixed).unwrap().is_empty() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    eprintln!("first difference after {hi} random instructions");
    eprintln!("{:#?}", diff_n(seed, true, directed, hi, mixed).unwrap());
    // Show the last instruction and its operands on ferrite.
    let mut a = program_n(seed, true, directed, hi, mixed);
    let code = a.finish();
    let mut m = Machine::new();
    m.load(RAM_BASE, &code);
    m.hart.exec.max_insns = 1;
    let last = program_n(seed, true, directed, hi - 1, mixed)
        .finish()
        .len() as u64;
    let end_pc = RAM_BASE + last;
    // Step until the last random instruction's pc (it follows the prefix's
    // random part; the dump code differs in length, so locate by decoding).
    let _ = end_pc;
    let insn = {
        let full = program_n(seed, true, directed, hi, mixed).finish();
        let prefix = program_n(seed, true, directed, hi - 1, mixed).finish();
        let mut k = 0;
        while full[k] == prefix[k] {
            k += 1;
        }
        let k = k & !3;
        (
            RAM_BASE + k as u64,
            u32::from_le_bytes(full[k..k + 4].try_into().unwrap()),
        )
    };
    while m.hart.cpu.pc() != insn.0 {
        m.run(1);
    }
    let c = &m.hart.cpu;
    let i = insn.1;
    eprintln!(
        "insn {:#010x} at {:#x}: fs1 {:#018x} fs2 {:#018x} fs3 {:#018x} xs1 {:#x} fflags before {:#x}",
        i,
        insn.0,
        c.f(((i >> 15) & 31) as usize),
        c.f(((i >> 20) & 31) as usize),
        c.f((i >> 27) as usize),
        c.x(((i >> 15) & 31) as usize),
        c.csr.fflags
    );
}
