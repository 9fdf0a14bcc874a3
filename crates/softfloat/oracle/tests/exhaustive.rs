//! Exhaustive comparisons of unary binary32 operations against Berkeley
//! SoftFloat: sqrt (round-to-nearest-even) and to_f64 on all 2^32 inputs,
//! every distinct square-root case in every mode, and the 32-bit integer
//! conversions on all 2^32 inputs in every mode (about an hour of CPU on
//! this machine). Too slow for every CI run, so ignored by default; run
//! with
//! `cargo test --release --test exhaustive -- --ignored`.

use ferrite_softfloat as sf;
use ferrite_softfloat::{FloatStatus, RoundingMode};
use ferrite_softfloat_oracle::{F32, Float, brm, oracle};

/// Runs `check` on every u32, split over the available cores (Berkeley's
/// state is thread-local, so the threads do not interfere). Returns the
/// first mismatch found in each chunk.
fn sweep(check: fn(u32) -> Option<String>) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let chunk = (1u64 << 32) / threads;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let end = if t == threads - 1 {
                    1u64 << 32
                } else {
                    (t + 1) * chunk
                };
                (t * chunk..end).find_map(|x| check(x as u32))
            })
        })
        .collect();
    let failures: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().unwrap())
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
#[ignore = "exhaustive: minutes in release"]
fn f32_sqrt_all_inputs_rne() {
    sweep(|a| {
        let rm = RoundingMode::NearestEven;
        let want = oracle(|| F32::from_bits(a).sqrt(brm(rm)).to_bits());
        let mut s = FloatStatus::new(rm);
        let got = (sf::f32_sqrt(a, &mut s), s.float_exception_flags);
        (got != want).then(|| format!("sqrt {a:#x}: got {got:x?} want {want:x?}"))
    });
}

/// The rounding of a square root depends only on the significand and the
/// parity of the exponent (sqrt of a positive normal never overflows or
/// underflows), so every significand with exponent fields 127 and 128,
/// plus every subnormal, covers every distinct case of every mode.
#[test]
#[ignore = "exhaustive: a minute or two in release"]
fn f32_sqrt_every_significand_all_modes() {
    let inputs = |i: u64| -> u32 {
        let (class, frac) = ((i >> 23) as u32, (i & 0x7f_ffff) as u32);
        [127 << 23, 128 << 23, 0][class as usize] | frac
    };
    let threads = 2u64;
    let total = 3u64 << 23;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                (t * total / threads..(t + 1) * total / threads).find_map(|i| {
                    let a = inputs(i);
                    RoundingMode::ALL.into_iter().find_map(|rm| {
                        let want = oracle(|| F32::from_bits(a).sqrt(brm(rm)).to_bits());
                        let mut s = FloatStatus::new(rm);
                        let got = (sf::f32_sqrt(a, &mut s), s.float_exception_flags);
                        // Again with inexact already set (host-FPU fast path).
                        let mut s = FloatStatus::new(rm);
                        s.float_exception_flags = sf::FLAG_INEXACT;
                        let got_nx = (sf::f32_sqrt(a, &mut s), s.float_exception_flags);
                        let want_nx = (want.0, want.1 | sf::FLAG_INEXACT);
                        (got != want || got_nx != want_nx).then(|| {
                            format!("sqrt {a:#x} {rm:?}: got {got:x?} {got_nx:x?} want {want:x?}")
                        })
                    })
                })
            })
        })
        .collect();
    let failures: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().unwrap())
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
#[ignore = "exhaustive: about an hour of CPU in release"]
fn f32_to_int32_all_inputs_all_modes() {
    sweep(|a| {
        RoundingMode::ALL.into_iter().find_map(|rm| {
            let f = F32::from_bits(a);
            let want = oracle(|| f.to_i32(brm(rm), true));
            let mut s = FloatStatus::new(rm);
            let got = (sf::f32_to_i32(a, &mut s), s.float_exception_flags);
            let want_u = oracle(|| f.to_u32(brm(rm), true));
            let mut s = FloatStatus::new(rm);
            let got_u = (sf::f32_to_u32(a, &mut s), s.float_exception_flags);
            (got != want || got_u != want_u).then(|| {
                format!(
                    "to_i32/u32 {a:#x} {rm:?}: got {got:x?} {got_u:x?} want {want:x?} {want_u:x?}"
                )
            })
        })
    });
}

#[test]
#[ignore = "exhaustive: minutes in release"]
fn f32_to_f64_all_inputs() {
    sweep(|a| {
        let rm = RoundingMode::NearestEven;
        let want = oracle(|| F32::from_bits(a).to_f64(brm(rm)).to_bits());
        let mut s = FloatStatus::new(rm);
        let got = (sf::f32_to_f64(a, &mut s), s.float_exception_flags);
        (got != want).then(|| format!("to_f64 {a:#x}: got {got:x?} want {want:x?}"))
    });
}
