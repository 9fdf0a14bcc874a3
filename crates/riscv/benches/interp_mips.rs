//! Interpreter throughput: runs CPU-bound RV64 integer kernels on the
//! interpreter backend and prints guest MIPS (retired instructions per
//! second of wall time).
//!
//! `cargo bench -p ferrite-riscv --bench interp_mips`
//!
//! With `--bench`, each kernel is also linked into an ELF (with
//! `riscv64-unknown-elf-gcc`) and run on `qemu-system-riscv64 -M spike` in
//! the same invocation, and the wall-time ratio is printed. QEMU's start-up
//! time is measured with an empty program and subtracted.

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
    a.exit_tohost();
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
    a.exit_tohost();
    a
}

/// Links `code` (for RAM_BASE) into an ELF with a `tohost` symbol at
/// [`TOHOST`] for QEMU's spike machine. Returns None if the toolchain is
/// missing.
fn build_elf(dir: &std::path::Path, name: &str, code: &[u8]) -> Option<std::path::PathBuf> {
    use std::process::Command;
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

/// Wall time of one QEMU run of `elf`.
fn run_qemu(elf: &std::path::Path) -> Option<f64> {
    let t = Instant::now();
    let st = std::process::Command::new("qemu-system-riscv64")
        .args(["-M", "spike", "-nographic", "-bios", "none", "-kernel"])
        .arg(elf)
        .stdin(std::process::Stdio::null())
        .status()
        .ok()?;
    let dt = t.elapsed().as_secs_f64();
    st.success().then_some(dt)
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

fn run(name: &str, mut a: Asm, qemu: Option<(&std::path::Path, f64)>) {
    let code = a.finish();
    let mut m = Machine::new();
    m.load(RAM_BASE, &code);
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
    if let Some((dir, base)) = qemu {
        match build_elf(dir, name, &code).and_then(|e| run_qemu(&e)) {
            Some(q) => {
                let q = (q - base).max(1e-3);
                println!(
                    "{name:<8} qemu-system-riscv64 -M spike: {q:.3} s (start-up {base:.3} s subtracted) = {:.1} MIPS; ferrite/qemu wall-time ratio {:.2}",
                    n / q / 1e6,
                    dt / q
                );
            }
            None => println!("{name:<8} qemu comparison unavailable (toolchain or QEMU missing)"),
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // meaningful either: run a short version unless benchmarking.
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { 1 } else { 100 };
    let dir = std::env::temp_dir().join(format!("ferrite-bench-{}", std::process::id()));
    let qemu_base = if full {
        std::fs::create_dir_all(&dir).ok();
        let mut empty = Asm::new(RAM_BASE);
        empty.exit_tohost();
        build_elf(&dir, "empty", &empty.finish()).and_then(|e| run_qemu(&e))
    } else {
        None
    };
    let q = qemu_base.map(|b| (dir.as_path(), b));
    run("crc32", crc32(2000 / scale), q);
    run("array", array_kernel(10000 / scale), q);
    let _ = std::fs::remove_dir_all(&dir);
}
