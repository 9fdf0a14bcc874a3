//! Guest-controlled operands must never panic the emulator: every operation
//! in every rounding mode on arbitrary bit patterns (debug build, so
//! arithmetic overflow and out-of-range shifts would panic), and the
//! results that RISC-V fixes regardless of the operands hold: NaN results
//! are canonical and flags stay within the five `fflags` bits.

use ferrite_softfloat::*;
use proptest::prelude::*;

fn rounding_mode() -> impl Strategy<Value = RoundingMode> {
    prop::sample::select(RoundingMode::ALL.to_vec())
}

fn check64(r: u64) -> bool {
    r & 0x7fff_ffff_ffff_ffff <= 0x7ff0_0000_0000_0000 || r == F64_DEFAULT_NAN
}

fn check32(r: u32) -> bool {
    r & 0x7fff_ffff <= 0x7f80_0000 || r == F32_DEFAULT_NAN
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn every_op_on_any_bits(a in any::<u64>(), b in any::<u64>(), c in any::<u64>(), rm in rounding_mode()) {
        let mut s = FloatStatus::new(rm);
        let (a32, b32, c32) = (a as u32, b as u32, c as u32);
        for op in [MulAddOp::MADD, MulAddOp::MSUB, MulAddOp::NMSUB, MulAddOp::NMADD] {
            prop_assert!(check64(f64_muladd(a, b, c, op, &mut s)));
            prop_assert!(check32(f32_muladd(a32, b32, c32, op, &mut s)));
        }
        for r in [f64_add(a, b, &mut s), f64_sub(a, b, &mut s), f64_mul(a, b, &mut s), f64_div(a, b, &mut s),
                  f64_sqrt(a, &mut s), f64_min(a, b, &mut s), f64_max(a, b, &mut s), f32_to_f64(a32, &mut s),
                  i64_to_f64(a as i64, &mut s), u64_to_f64(a, &mut s), i32_to_f64(a as i32, &mut s), u32_to_f64(a32, &mut s)] {
            prop_assert!(check64(r), "{r:#x}");
        }
        for r in [f32_add(a32, b32, &mut s), f32_sub(a32, b32, &mut s), f32_mul(a32, b32, &mut s), f32_div(a32, b32, &mut s),
                  f32_sqrt(a32, &mut s), f32_min(a32, b32, &mut s), f32_max(a32, b32, &mut s), f64_to_f32(a, &mut s),
                  i64_to_f32(a as i64, &mut s), u64_to_f32(a, &mut s), i32_to_f32(a as i32, &mut s), u32_to_f32(a32, &mut s)] {
            prop_assert!(check32(r), "{r:#x}");
        }
        let _ = (f64_eq(a, b, &mut s), f64_lt(a, b, &mut s), f64_le(a, b, &mut s));
        let _ = (f32_eq(a32, b32, &mut s), f32_lt(a32, b32, &mut s), f32_le(a32, b32, &mut s));
        let _ = (f64_to_i32(a, &mut s), f64_to_u32(a, &mut s), f64_to_i64(a, &mut s), f64_to_u64(a, &mut s));
        let _ = (f32_to_i32(a32, &mut s), f32_to_u32(a32, &mut s), f32_to_i64(a32, &mut s), f32_to_u64(a32, &mut s));
        prop_assert_eq!(f64_classify(a).count_ones(), 1);
        prop_assert_eq!(f32_classify(a32).count_ones(), 1);
        prop_assert_eq!(s.float_exception_flags & !0x1f, 0);
    }
}
