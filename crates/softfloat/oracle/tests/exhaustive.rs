//! Exhaustive comparisons over all 2^32 binary32 inputs, in every rounding
//! mode where rounding applies, for the unary single-precision operations,
//! against Berkeley SoftFloat. Too slow for every CI run (tens of minutes
//! in release on two cores), so ignored by default; run with
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
fn f32_sqrt_all_inputs_all_modes() {
    sweep(|a| {
        RoundingMode::ALL.into_iter().find_map(|rm| {
            let want = oracle(|| F32::from_bits(a).sqrt(brm(rm)).to_bits());
            let mut s = FloatStatus::new(rm);
            let got = (sf::f32_sqrt(a, &mut s), s.float_exception_flags);
            (got != want).then(|| format!("sqrt {a:#x} {rm:?}: got {got:x?} want {want:x?}"))
        })
    });
}

#[test]
#[ignore = "exhaustive: minutes in release"]
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
