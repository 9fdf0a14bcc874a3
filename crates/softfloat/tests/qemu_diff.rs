//! Differential test against QEMU itself: every F/D instruction, in every
//! rounding mode (set through `frm`; round-to-nearest-even also with
//! `fflags.NX` already set, which enables ferrite's host-FPU fast path), on
//! edge-biased operands, executed by
//! Debian's `qemu-system-riscv64` (TCG, `-M virt`, picolibc over
//! semihosting) and compared, result and `fflags`, with ferrite-softfloat.
//!
//! The test computes ferrite's answers, writes them as a C table next to
//! `tests/qemu/harness.c`, cross-compiles that with
//! `riscv64-unknown-elf-gcc`, runs it under QEMU and expects it to report
//! no mismatch. It needs gcc-riscv64-unknown-elf,
//! picolibc-riscv64-unknown-elf and qemu-system-misc, which `.ci/run`
//! installs; without them it fails under CI (`CI` set) and is skipped with
//! a message elsewhere.

use ferrite_softfloat::*;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

const PICOLIBC_SPECS: &str = "/usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs";

fn tools_present() -> bool {
    let ok = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    ok("riscv64-unknown-elf-gcc") && ok("qemu-system-riscv64") && Path::new(PICOLIBC_SPECS).exists()
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Edge-biased bit patterns of a format with `eb` exponent bits and `fb`
/// fraction bits: specials, extreme and mid exponents, fraction patterns
/// around rounding points, and plain random bits.
fn value(r: &mut Rng, eb: u32, fb: u32) -> u64 {
    let max = (1u64 << eb) - 1;
    let bias = max >> 1;
    let mask = (1u64 << fb) - 1;
    let sign = (r.next() & 1) << (eb + fb);
    let x = r.next();
    let exp = match x % 8 {
        0 => 0,
        1 => max,
        2 => 1 + (x >> 8) % 3,
        3 => max - 1 - (x >> 8) % 3,
        4 => bias - 2 + (x >> 8) % 5,
        5 => bias + fb as u64 / 2 + (x >> 8) % (fb as u64 + 12) - 6, // near integer ranges
        _ => (x >> 8) % (max + 1),
    };
    let y = r.next();
    let frac = match y % 6 {
        0 => 0,
        1 => mask,
        2 => 1 << ((y >> 8) % fb as u64),
        3 => (y >> 8) & mask & !((1 << ((y >> 20) % 8)) - 1) | (1 << ((y >> 20) % 8)), // tail 10..0
        _ => (y >> 8) & mask,
    };
    let all = if eb + fb + 1 == 64 {
        u64::MAX
    } else {
        (1u64 << (eb + fb + 1)) - 1
    };
    if r.next().is_multiple_of(16) {
        r.next() & all
    } else {
        sign | (exp << fb) | frac
    }
}

/// Ferrite's result (as the instruction leaves it in a 64-bit register,
/// before the harness masks binary32 results) and flags.
fn expect(op: u8, a: u64, b: u64, c: u64, rm: RoundingMode, preset: u8) -> (u64, u8) {
    let mut s = FloatStatus::new(rm);
    s.float_exception_flags = preset;
    let (a32, b32, c32) = (a as u32, b as u32, c as u32);
    let sx32 = |v: u32| v as i32 as i64 as u64;
    let r = match op {
        0 => f64_add(a, b, &mut s),
        1 => f64_sub(a, b, &mut s),
        2 => f64_mul(a, b, &mut s),
        3 => f64_div(a, b, &mut s),
        4 => f64_sqrt(a, &mut s),
        5 => f64_muladd(a, b, c, MulAddOp::MADD, &mut s),
        6 => f64_muladd(a, b, c, MulAddOp::MSUB, &mut s),
        7 => f64_muladd(a, b, c, MulAddOp::NMSUB, &mut s),
        8 => f64_muladd(a, b, c, MulAddOp::NMADD, &mut s),
        9 => f64_min(a, b, &mut s),
        10 => f64_max(a, b, &mut s),
        11 => f64_eq(a, b, &mut s) as u64,
        12 => f64_lt(a, b, &mut s) as u64,
        13 => f64_le(a, b, &mut s) as u64,
        14 => f64_classify(a) as u64,
        15 => f64_to_i32(a, &mut s) as i64 as u64,
        16 => sx32(f64_to_u32(a, &mut s)),
        17 => f64_to_i64(a, &mut s) as u64,
        18 => f64_to_u64(a, &mut s),
        19 => i32_to_f64(a as i32, &mut s),
        20 => u32_to_f64(a as u32, &mut s),
        21 => i64_to_f64(a as i64, &mut s),
        22 => u64_to_f64(a, &mut s),
        23 => f64_to_f32(a, &mut s) as u64,
        24 => f32_add(a32, b32, &mut s) as u64,
        25 => f32_sub(a32, b32, &mut s) as u64,
        26 => f32_mul(a32, b32, &mut s) as u64,
        27 => f32_div(a32, b32, &mut s) as u64,
        28 => f32_sqrt(a32, &mut s) as u64,
        29 => f32_muladd(a32, b32, c32, MulAddOp::MADD, &mut s) as u64,
        30 => f32_muladd(a32, b32, c32, MulAddOp::MSUB, &mut s) as u64,
        31 => f32_muladd(a32, b32, c32, MulAddOp::NMSUB, &mut s) as u64,
        32 => f32_muladd(a32, b32, c32, MulAddOp::NMADD, &mut s) as u64,
        33 => f32_min(a32, b32, &mut s) as u64,
        34 => f32_max(a32, b32, &mut s) as u64,
        35 => f32_eq(a32, b32, &mut s) as u64,
        36 => f32_lt(a32, b32, &mut s) as u64,
        37 => f32_le(a32, b32, &mut s) as u64,
        38 => f32_classify(a32) as u64,
        39 => f32_to_i32(a32, &mut s) as i64 as u64,
        40 => sx32(f32_to_u32(a32, &mut s)),
        41 => f32_to_i64(a32, &mut s) as u64,
        42 => f32_to_u64(a32, &mut s),
        43 => i32_to_f32(a as i32, &mut s) as u64,
        44 => u32_to_f32(a as u32, &mut s) as u64,
        45 => i64_to_f32(a as i64, &mut s) as u64,
        46 => u64_to_f32(a, &mut s) as u64,
        47 => f32_to_f64(a32, &mut s),
        _ => unreachable!("no op {op}"),
    };
    (r, s.float_exception_flags)
}

/// Operand triples for op `op`: floats of the op's format, or integers
/// (around the 32- and 64-bit edges and random) for int-to-float ops.
fn operands(r: &mut Rng, op: u8) -> (u64, u64, u64) {
    let int_op = (19..=22).contains(&op) || (43..=46).contains(&op);
    if int_op {
        let x = r.next();
        let a = match x % 6 {
            0 => x >> (x % 64),
            1 => (x >> (x % 64)).wrapping_neg(),
            2 => [
                0,
                1,
                u64::MAX,
                i64::MAX as u64,
                i64::MIN as u64,
                u32::MAX as u64,
                i32::MIN as u64 as u32 as u64,
            ][(x >> 8) as usize % 7],
            _ => r.next(),
        };
        return (a, 0, 0);
    }
    let (eb, fb) = if op < 24 { (11, 52) } else { (8, 23) };
    let a = value(r, eb, fb);
    // Half the time b shares a's exponent region (cancellation, ties).
    let b = if r.next().is_multiple_of(2) {
        value(r, eb, fb)
    } else {
        let e_mask = ((1u64 << eb) - 1) << fb;
        (a & e_mask) ^ (r.next() & ((1u64 << fb) - 1)) ^ ((r.next() & 1) << (eb + fb))
    };
    (a, b, value(r, eb, fb))
}

#[test]
fn ferrite_matches_qemu_on_every_instruction() {
    if !tools_present() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide riscv64-unknown-elf-gcc, picolibc and qemu-system-riscv64"
        );
        eprintln!("SKIPPED: needs riscv64-unknown-elf-gcc, picolibc and qemu-system-riscv64");
        return;
    }
    const PER_OP: usize = 1000;
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut table = String::from("static const struct fcase cases[] = {\n");
    let mut count = 0;
    for op in 0u8..48 {
        for _ in 0..PER_OP {
            let (a, b, c) = operands(&mut rng, op);
            // Every mode from clear flags, and round-to-nearest-even once
            // more with inexact already set, which is when ferrite may use
            // the host FPU.
            let runs = RoundingMode::ALL
                .map(|rm| (rm, 0))
                .into_iter()
                .chain([(RoundingMode::NearestEven, FLAG_INEXACT)]);
            for (rm, preset) in runs {
                let (want, flags) = expect(op, a, b, c, rm, preset);
                writeln!(
                    table,
                    "{{{a:#x}u, {b:#x}u, {c:#x}u, {want:#x}u, {op}, {}, {flags}, {preset}}},",
                    rm.to_frm()
                )
                .unwrap();
                count += 1;
            }
        }
    }
    table.push_str("};\n");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cases.h"), table).unwrap();
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qemu/harness.c");
    let elf = dir.path().join("harness.elf");
    let gcc = Command::new("riscv64-unknown-elf-gcc")
        .args(["-O1", "-march=rv64gc", "-mabi=lp64d", "-mcmodel=medany"])
        .arg(format!("--specs={PICOLIBC_SPECS}"))
        .args(["--oslib=semihost", "--crt0=semihost"])
        .args([
            "-Wl,--defsym=__flash=0x80000000",
            "-Wl,--defsym=__flash_size=0x2000000",
        ])
        .args([
            "-Wl,--defsym=__ram=0x82000000",
            "-Wl,--defsym=__ram_size=0x1000000",
        ])
        .arg("-I")
        .arg(dir.path())
        .arg("-o")
        .arg(&elf)
        .arg(&harness)
        .output()
        .unwrap();
    assert!(
        gcc.status.success(),
        "gcc failed: {}",
        String::from_utf8_lossy(&gcc.stderr)
    );

    let qemu = Command::new("qemu-system-riscv64")
        .args([
            "-M",
            "virt",
            "-m",
            "128M",
            "-bios",
            "none",
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
        ])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(&elf)
        .output()
        .unwrap();
    // Semihosting console output may arrive on either stream.
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&qemu.stdout),
        String::from_utf8_lossy(&qemu.stderr)
    );
    let summary = format!("qemu-diff: {count} passed, 0 failed");
    assert!(
        qemu.status.success() && out.contains(&summary),
        "QEMU disagrees with ferrite-softfloat (exit {:?}), expected {summary:?}:\n{out}",
        qemu.status.code(),
    );
}
