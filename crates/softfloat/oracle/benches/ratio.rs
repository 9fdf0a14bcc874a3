//! Interleaved speed ratio of ferrite-softfloat to Berkeley SoftFloat.
//!
//! The machine is shared, so timing one implementation for seconds and then
//! the other lets load changes masquerade as speed differences. This
//! harness alternates: each round times one batch of 1024 operations with
//! ours on the soft path, with ours when inexact is already raised (so the
//! host-FPU fast path may apply), then the same batch with Berkeley, and
//! the report uses the medians over many rounds, so all see the same
//! conditions.
//!
//! Run: `cargo bench --manifest-path crates/softfloat/oracle/Cargo.toml --bench ratio`.

use ferrite_softfloat as sf;
use ferrite_softfloat::{FloatStatus, MulAddOp, RoundingMode};
use ferrite_softfloat_oracle::bench_inputs::{N, inputs32, inputs64};
use ferrite_softfloat_oracle::{Brm, F32, F64, Float};
use std::hint::black_box;
use std::time::Instant;

const ROUNDS: usize = 3000;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Times ours on the soft path (flags cleared before every operation, so
/// the host-FPU fast path never applies), ours with inexact already set (the
/// fast path applies where it can) and Berkeley, alternately, and prints
/// M ops/s and ratios.
fn compare<T: Copy>(
    name: &str,
    inputs: &[T],
    ours: impl Fn(T, &mut FloatStatus) -> u64,
    theirs: impl Fn(T) -> u64,
) {
    let mut times = [
        Vec::with_capacity(ROUNDS),
        Vec::with_capacity(ROUNDS),
        Vec::with_capacity(ROUNDS),
    ];
    for round in 0..ROUNDS + 100 {
        let t0 = Instant::now();
        let mut s = FloatStatus::new(RoundingMode::NearestEven);
        for &x in black_box(inputs) {
            s.float_exception_flags = 0;
            black_box(ours(x, &mut s));
        }
        black_box(s.float_exception_flags);
        let t1 = Instant::now();
        let mut s = FloatStatus::new(RoundingMode::NearestEven);
        s.float_exception_flags = sf::FLAG_INEXACT;
        for &x in black_box(inputs) {
            black_box(ours(x, &mut s));
        }
        black_box(s.float_exception_flags);
        let t2 = Instant::now();
        for &x in black_box(inputs) {
            black_box(theirs(x));
        }
        let t3 = Instant::now();
        // The first rounds warm caches and branch predictors.
        if round >= 100 {
            times[0].push((t1 - t0).as_secs_f64());
            times[1].push((t2 - t1).as_secs_f64());
            times[2].push((t3 - t2).as_secs_f64());
        }
    }
    let [soft, fast, theirs] = times.map(|mut t| N as f64 / median(&mut t) / 1e6);
    println!(
        "| `{name}` | {soft:.1} | {fast:.1} | {theirs:.1} | {:.2} | {:.2} |",
        soft / theirs,
        fast / theirs
    );
}

fn main() {
    let rne = Brm::TiesToEven;
    let d = inputs64();
    let f = inputs32();
    let d_pos: Vec<_> = d.iter().map(|&(a, b, c)| (a & !(1 << 63), b, c)).collect();
    let f_pos: Vec<_> = f.iter().map(|&(a, b, c)| (a & !(1 << 31), b, c)).collect();
    println!(
        "| operation | ferrite soft (M ops/s) | ferrite, NX set (M ops/s) | Berkeley (M ops/s) | soft / Berkeley | NX set / Berkeley |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    compare(
        "f64_add",
        &d,
        |(a, b, _), s| sf::f64_add(a, b, s),
        |(a, b, _)| F64::from_bits(a).add(F64::from_bits(b), rne).to_bits(),
    );
    compare(
        "f64_mul",
        &d,
        |(a, b, _), s| sf::f64_mul(a, b, s),
        |(a, b, _)| F64::from_bits(a).mul(F64::from_bits(b), rne).to_bits(),
    );
    compare(
        "f64_div",
        &d,
        |(a, b, _), s| sf::f64_div(a, b, s),
        |(a, b, _)| F64::from_bits(a).div(F64::from_bits(b), rne).to_bits(),
    );
    compare(
        "f64_sqrt",
        &d_pos,
        |(a, _, _), s| sf::f64_sqrt(a, s),
        |(a, _, _)| F64::from_bits(a).sqrt(rne).to_bits(),
    );
    compare(
        "f64_muladd",
        &d,
        |(a, b, c), s| sf::f64_muladd(a, b, c, MulAddOp::MADD, s),
        |(a, b, c)| {
            F64::from_bits(a)
                .fused_mul_add(F64::from_bits(b), F64::from_bits(c), rne)
                .to_bits()
        },
    );
    compare(
        "f64_lt",
        &d,
        |(a, b, _), s| sf::f64_lt(a, b, s) as u64,
        |(a, b, _)| F64::from_bits(a).lt(F64::from_bits(b)) as u64,
    );
    compare(
        "f64_to_i64",
        &d,
        |(a, _, _), s| sf::f64_to_i64(a, s) as u64,
        |(a, _, _)| F64::from_bits(a).to_i64(rne, true) as u64,
    );
    compare(
        "i64_to_f64",
        &d,
        |(a, _, _), s| sf::i64_to_f64(a as i64, s),
        |(a, _, _)| F64::from_i64(a as i64, rne).to_bits(),
    );
    compare(
        "f64_to_f32",
        &d,
        |(a, _, _), s| sf::f64_to_f32(a, s) as u64,
        |(a, _, _)| F64::from_bits(a).to_f32(rne).to_bits() as u64,
    );
    compare(
        "f32_add",
        &f,
        |(a, b, _), s| sf::f32_add(a, b, s) as u64,
        |(a, b, _)| F32::from_bits(a).add(F32::from_bits(b), rne).to_bits() as u64,
    );
    compare(
        "f32_mul",
        &f,
        |(a, b, _), s| sf::f32_mul(a, b, s) as u64,
        |(a, b, _)| F32::from_bits(a).mul(F32::from_bits(b), rne).to_bits() as u64,
    );
    compare(
        "f32_div",
        &f,
        |(a, b, _), s| sf::f32_div(a, b, s) as u64,
        |(a, b, _)| F32::from_bits(a).div(F32::from_bits(b), rne).to_bits() as u64,
    );
    compare(
        "f32_sqrt",
        &f_pos,
        |(a, _, _), s| sf::f32_sqrt(a, s) as u64,
        |(a, _, _)| F32::from_bits(a).sqrt(rne).to_bits() as u64,
    );
    compare(
        "f32_muladd",
        &f,
        |(a, b, c), s| sf::f32_muladd(a, b, c, MulAddOp::MADD, s) as u64,
        |(a, b, c)| {
            F32::from_bits(a)
                .fused_mul_add(F32::from_bits(b), F32::from_bits(c), rne)
                .to_bits() as u64
        },
    );
}
