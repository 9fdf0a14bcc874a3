//! Interpreter throughput: runs CPU-bound RV64 integer kernels on the
//! interpreter backend and prints guest MIPS (retired instructions per
//! second of wall time).
//!
//! `cargo bench -p ferrite-riscv --bench interp_mips`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use support::*;

const S1: u32 = 9;
const S2: u32 = 18;
const S3: u32 = 19;

/// Bitwise CRC-32 over a 4 KiB buffer, `reps` times: short, branchy blocks
/// (the interpreter's worst case: ~4 instructions per block).
fn crc32(reps: i64) -> Asm {
    let buf = RAM_BASE + 0x10_0000;
    let mut a = Asm::new(RAM_BASE);
    a.li(S1, reps).li(S2, 0xEDB8_8320);
    a.label("outer").la(A0, buf).li(A1, 4096).li(A2, -1);
    a.label("byte").lbu(T0, A0, 0).r(0, T0, A2, 4, A2, 0x33); // xor
    a.li(T1, 8);
    a.label("bit").i(1, A2, 7, T2, 0x13); // andi t2, a2, 1
    a.srli(A2, A2, 1)
        .beq(T2, ZERO, "skip")
        .r(0, S2, A2, 4, A2, 0x33);
    a.label("skip").addi(T1, T1, -1).bne(T1, ZERO, "bit");
    a.addi(A0, A0, 1).addi(A1, A1, -1).bne(A1, ZERO, "byte");
    a.addi(S1, S1, -1).bne(S1, ZERO, "outer");
    a.exit(1);
    a
}

/// A memory-heavy straight-line kernel: sums and rewrites a 64 KiB array
/// with an unrolled loop (long blocks, many loads and stores).
fn array_kernel(reps: i64) -> Asm {
    let buf = RAM_BASE + 0x10_0000;
    let mut a = Asm::new(RAM_BASE);
    a.li(S1, reps).li(S3, 0);
    a.label("outer").la(A0, buf).li(A1, 64 * 1024 / 64);
    a.label("loop");
    for k in 0..8 {
        a.ld(T0, A0, k * 8)
            .add(S3, S3, T0)
            .addi(T0, T0, 3)
            .sd(T0, A0, k * 8);
    }
    a.addi(A0, A0, 64).addi(A1, A1, -1).bne(A1, ZERO, "loop");
    a.addi(S1, S1, -1).bne(S1, ZERO, "outer");
    a.exit(1);
    a
}

/// CPU time of the calling thread, in seconds. The benchmark machine is
/// shared, so wall time alone understates the interpreter's speed.
fn thread_cpu_time() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn run(name: &str, mut a: Asm) {
    let mut m = Machine::with_program(&mut a);
    let t = Instant::now();
    let c0 = thread_cpu_time();
    let r = m.run(u64::MAX);
    let cpu = thread_cpu_time() - c0;
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(r, Some(1), "{name} did not finish");
    let n = m.hart.cpu.common.icount as f64;
    println!(
        "{name:<8} {n:>11} insns  wall {dt:>6.3} s = {:>6.1} MIPS  cpu {cpu:>6.3} s = {:>6.1} MIPS  ({} TBs, {} chains)",
        n / dt / 1e6,
        n / cpu / 1e6,
        m.hart.exec.stats.translations,
        m.hart.exec.stats.chains
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // meaningful either: run a short version unless benchmarking.
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { 1 } else { 100 };
    run("crc32", crc32(400 / scale));
    run("array", array_kernel(2000 / scale));
}
