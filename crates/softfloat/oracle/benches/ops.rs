//! Throughput of ferrite-softfloat against Berkeley SoftFloat 3 (RISC-V
//! specialisation, through softfloat-wrapper) on the same inputs, in the
//! same process. Each iteration runs one operation over 1024 operand sets
//! of ordinary finite values (random signs, exponents within ±30 of the
//! bias, random significands), so criterion's element throughput is
//! operations per second. Rounding is to nearest even. Ours runs twice: on
//! the soft path (flags cleared before each operation) and with inexact
//! already raised, which enables the host-FPU fast path; Berkeley keeps
//! its flags in its thread-local.
//!
//! Run: `cargo bench --manifest-path crates/softfloat/oracle/Cargo.toml`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use ferrite_softfloat as sf;
use ferrite_softfloat::{FloatStatus, MulAddOp, RoundingMode};
use ferrite_softfloat_oracle::{Brm, F32, F64, Float};

use ferrite_softfloat_oracle::bench_inputs::{N, inputs32, inputs64};

macro_rules! bench_pair {
    ($c:expr, $name:expr, $inputs:expr, |$a:ident, $b:ident, $cc:ident, $s:ident| $ours:expr, |$x:ident, $y:ident, $z:ident| $theirs:expr) => {{
        let inputs = $inputs;
        let mut g = $c.benchmark_group($name);
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function("ferrite", |bench| {
            bench.iter(|| {
                let mut $s = FloatStatus::new(RoundingMode::NearestEven);
                for &($a, $b, $cc) in black_box(&inputs) {
                    // Cleared flags keep the host-FPU fast path off.
                    $s.float_exception_flags = 0;
                    black_box($ours);
                }
                $s.float_exception_flags
            })
        });
        g.bench_function("ferrite_nx_set", |bench| {
            bench.iter(|| {
                let mut $s = FloatStatus::new(RoundingMode::NearestEven);
                // Inexact already raised: the fast path applies where it can.
                $s.float_exception_flags = sf::FLAG_INEXACT;
                for &($a, $b, $cc) in black_box(&inputs) {
                    black_box($ours);
                }
                $s.float_exception_flags
            })
        });
        g.bench_function("berkeley", |bench| {
            bench.iter(|| {
                for &($x, $y, $z) in black_box(&inputs) {
                    black_box($theirs);
                }
            })
        });
        g.finish();
    }};
}

fn benches(c: &mut Criterion) {
    let rne = Brm::TiesToEven;
    let i64s = inputs64();
    let i32s = inputs32();

    bench_pair!(
        c,
        "f64_add",
        i64s.clone(),
        |a, b, _c, s| sf::f64_add(a, b, &mut s),
        |a, b, _c| F64::from_bits(a).add(F64::from_bits(b), rne).to_bits()
    );
    bench_pair!(
        c,
        "f64_mul",
        i64s.clone(),
        |a, b, _c, s| sf::f64_mul(a, b, &mut s),
        |a, b, _c| F64::from_bits(a).mul(F64::from_bits(b), rne).to_bits()
    );
    bench_pair!(
        c,
        "f64_div",
        i64s.clone(),
        |a, b, _c, s| sf::f64_div(a, b, &mut s),
        |a, b, _c| F64::from_bits(a).div(F64::from_bits(b), rne).to_bits()
    );
    bench_pair!(
        c,
        "f64_sqrt",
        i64s.iter()
            .map(|&(a, b, c)| (a & !(1 << 63), b, c))
            .collect::<Vec<_>>(),
        |a, _b, _c, s| sf::f64_sqrt(a, &mut s),
        |a, _b, _c| F64::from_bits(a).sqrt(rne).to_bits()
    );
    bench_pair!(
        c,
        "f64_muladd",
        i64s.clone(),
        |a, b, cc, s| sf::f64_muladd(a, b, cc, MulAddOp::MADD, &mut s),
        |a, b, cc| F64::from_bits(a)
            .fused_mul_add(F64::from_bits(b), F64::from_bits(cc), rne)
            .to_bits()
    );
    bench_pair!(
        c,
        "f64_lt",
        i64s.clone(),
        |a, b, _c, s| sf::f64_lt(a, b, &mut s),
        |a, b, _c| F64::from_bits(a).lt(F64::from_bits(b))
    );
    bench_pair!(
        c,
        "f64_to_i64",
        i64s.clone(),
        |a, _b, _c, s| sf::f64_to_i64(a, &mut s),
        |a, _b, _c| F64::from_bits(a).to_i64(rne, true)
    );
    bench_pair!(
        c,
        "i64_to_f64",
        i64s.clone(),
        |a, _b, _c, s| sf::i64_to_f64(a as i64, &mut s),
        |a, _b, _c| F64::from_i64(a as i64, rne).to_bits()
    );
    bench_pair!(
        c,
        "f64_to_f32",
        i64s.clone(),
        |a, _b, _c, s| sf::f64_to_f32(a, &mut s),
        |a, _b, _c| F64::from_bits(a).to_f32(rne).to_bits()
    );
    bench_pair!(
        c,
        "f32_add",
        i32s.clone(),
        |a, b, _c, s| sf::f32_add(a, b, &mut s),
        |a, b, _c| F32::from_bits(a).add(F32::from_bits(b), rne).to_bits()
    );
    bench_pair!(
        c,
        "f32_mul",
        i32s.clone(),
        |a, b, _c, s| sf::f32_mul(a, b, &mut s),
        |a, b, _c| F32::from_bits(a).mul(F32::from_bits(b), rne).to_bits()
    );
    bench_pair!(
        c,
        "f32_div",
        i32s.clone(),
        |a, b, _c, s| sf::f32_div(a, b, &mut s),
        |a, b, _c| F32::from_bits(a).div(F32::from_bits(b), rne).to_bits()
    );
    bench_pair!(
        c,
        "f32_sqrt",
        i32s.iter()
            .map(|&(a, b, c)| (a & !(1 << 31), b, c))
            .collect::<Vec<_>>(),
        |a, _b, _c, s| sf::f32_sqrt(a, &mut s),
        |a, _b, _c| F32::from_bits(a).sqrt(rne).to_bits()
    );
    bench_pair!(
        c,
        "f32_muladd",
        i32s.clone(),
        |a, b, cc, s| sf::f32_muladd(a, b, cc, MulAddOp::MADD, &mut s),
        |a, b, cc| F32::from_bits(a)
            .fused_mul_add(F32::from_bits(b), F32::from_bits(cc), rne)
            .to_bits()
    );
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = ops;
    config = config();
    targets = benches
}
criterion_main!(ops);
