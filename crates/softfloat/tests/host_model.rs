//! Property tests against the host's IEEE 754 arithmetic as a reference
//! model for results (not flags) in round-to-nearest-even, which is the mode
//! Rust's `f32`/`f64` operations use. NaN results are only checked for being
//! canonical, because the host propagates payloads and RISC-V does not.
//! Flags and the other rounding modes are covered by the Berkeley SoftFloat
//! differential tests in `oracle/` (run by scripts/test.d/softfloat.sh).

use ferrite_softfloat::*;
use proptest::prelude::*;

fn rne() -> FloatStatus {
    FloatStatus::new(RoundingMode::NearestEven)
}

/// Any bit pattern, with extra weight on subnormals and specials.
fn f64_bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        1 => any::<u64>().prop_map(|x| x & 0x800f_ffff_ffff_ffff),
        1 => prop::sample::select(vec![0, 1 << 63, 0x7ff0_0000_0000_0000, 0xfff0_0000_0000_0000, 1, 0x0010_0000_0000_0000, 0x7fef_ffff_ffff_ffff]),
        2 => (any::<bool>(), 900u64..1150, any::<u64>()).prop_map(|(s, e, f)| ((s as u64) << 63) | (e << 52) | (f & ((1 << 52) - 1))),
    ]
}

fn f32_bits() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => any::<u32>(),
        1 => any::<u32>().prop_map(|x| x & 0x807f_ffff),
        2 => (any::<bool>(), 100u32..160, any::<u32>()).prop_map(|(s, e, f)| ((s as u32) << 31) | (e << 23) | (f & 0x7f_ffff)),
    ]
}

fn same64(got: u64, host: f64) -> bool {
    if host.is_nan() {
        got == F64_DEFAULT_NAN
    } else {
        got == host.to_bits()
    }
}

fn same32(got: u32, host: f32) -> bool {
    if host.is_nan() {
        got == F32_DEFAULT_NAN
    } else {
        got == host.to_bits()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn f64_ops_match_host(a in f64_bits(), b in f64_bits(), c in f64_bits()) {
        let (x, y, z) = (f64::from_bits(a), f64::from_bits(b), f64::from_bits(c));
        prop_assert!(same64(f64_add(a, b, &mut rne()), x + y), "add {a:#x} {b:#x}");
        prop_assert!(same64(f64_sub(a, b, &mut rne()), x - y), "sub {a:#x} {b:#x}");
        prop_assert!(same64(f64_mul(a, b, &mut rne()), x * y), "mul {a:#x} {b:#x}");
        prop_assert!(same64(f64_div(a, b, &mut rne()), x / y), "div {a:#x} {b:#x}");
        prop_assert!(same64(f64_sqrt(a, &mut rne()), x.sqrt()), "sqrt {a:#x}");
        prop_assert!(same64(f64_muladd(a, b, c, MulAddOp::MADD, &mut rne()), x.mul_add(y, z)), "fma {a:#x} {b:#x} {c:#x}");
        prop_assert!(same32(f64_to_f32(a, &mut rne()), x as f32), "cvt {a:#x}");
        prop_assert_eq!(f64_eq(a, b, &mut rne()), x == y);
        prop_assert_eq!(f64_lt(a, b, &mut rne()), x < y);
        prop_assert_eq!(f64_le(a, b, &mut rne()), x <= y);
    }

    #[test]
    fn f32_ops_match_host(a in f32_bits(), b in f32_bits(), c in f32_bits()) {
        let (x, y, z) = (f32::from_bits(a), f32::from_bits(b), f32::from_bits(c));
        prop_assert!(same32(f32_add(a, b, &mut rne()), x + y), "add {a:#x} {b:#x}");
        prop_assert!(same32(f32_sub(a, b, &mut rne()), x - y), "sub {a:#x} {b:#x}");
        prop_assert!(same32(f32_mul(a, b, &mut rne()), x * y), "mul {a:#x} {b:#x}");
        prop_assert!(same32(f32_div(a, b, &mut rne()), x / y), "div {a:#x} {b:#x}");
        prop_assert!(same32(f32_sqrt(a, &mut rne()), x.sqrt()), "sqrt {a:#x}");
        prop_assert!(same32(f32_muladd(a, b, c, MulAddOp::MADD, &mut rne()), x.mul_add(y, z)), "fma {a:#x} {b:#x} {c:#x}");
        prop_assert!(same64(f32_to_f64(a, &mut rne()), x as f64), "cvt {a:#x}");
    }

    #[test]
    fn int_conversions_match_host(i in any::<i64>(), shift in 0u32..64) {
        let i = i >> shift;
        prop_assert_eq!(i64_to_f64(i, &mut rne()), (i as f64).to_bits());
        prop_assert_eq!(i64_to_f32(i, &mut rne()), (i as f32).to_bits());
        prop_assert_eq!(u64_to_f64(i as u64, &mut rne()), (i as u64 as f64).to_bits());
        prop_assert_eq!(i32_to_f32(i as i32, &mut rne()), (i as i32 as f32).to_bits());
        // Rust's `as` truncates and saturates like RISC-V's RTZ conversions
        // (NaN aside: Rust gives 0, RISC-V the maximum).
        let x = f64::from_bits(i as u64);
        if !x.is_nan() {
            let mut s = FloatStatus::new(RoundingMode::ToZero);
            prop_assert_eq!(f64_to_i64(i as u64, &mut s), x as i64);
            prop_assert_eq!(f64_to_u32(i as u64, &mut s), x as u32);
            prop_assert_eq!(f64_to_i32(i as u64, &mut s), x as i32);
            prop_assert_eq!(f64_to_u64(i as u64, &mut s), x as u64);
        }
    }
}
