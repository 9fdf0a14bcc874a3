/* F and D arithmetic: add/sub/mul/div/sqrt and the four fused
 * multiply-adds, exact fflags after each operation, every static rounding
 * mode on ties and non-ties, overflow per rounding mode, underflow with
 * RISC-V's tininess-after-rounding, subnormal inputs and outputs, signed
 * zeros, canonical NaN results and NaN input handling (quiet: no flags,
 * signalling: NV), and FMA's single rounding. */
#include "test.h"

#define D_ONE     0x3ff0000000000000
#define D_MONE    0xbff0000000000000
#define D_TWO     0x4000000000000000
#define D_THREE   0x4008000000000000
#define D_FOUR    0x4010000000000000
#define D_HALF    0x3fe0000000000000
#define D_ULP1    0x3ff0000000000001   /* 1 + 2^-52 */
#define D_MULP1   0xbff0000000000001
#define D_HALFULP 0x3ca0000000000000   /* 2^-53: half an ulp of 1.0 */
#define D_TQULP   0x3ca8000000000000   /* 0.75 ulp of 1.0 */
#define D_INF     0x7ff0000000000000
#define D_MINF    0xfff0000000000000
#define D_CNAN    0x7ff8000000000000
#define D_QNANP   0x7ff8000000001234   /* quiet NaN with a payload */
#define D_SNAN    0x7ff4000000000000
#define D_MAX     0x7fefffffffffffff
#define D_MINN    0x0010000000000000   /* smallest normal */
#define D_MAXSUB  0x000fffffffffffff
#define D_MINSUB  0x0000000000000001
#define D_PZERO   0x0000000000000000
#define D_MZERO   0x8000000000000000

#define S_ONE     0x3f800000
#define S_TWO     0x40000000
#define S_THREE   0x40400000
#define S_HALFULP 0x33800000           /* 2^-24 */
#define S_INF     0x7f800000
#define S_MINF    0xff800000
#define S_CNAN    0x7fc00000
#define S_SNAN    0x7fa00000
#define S_MAX     0x7f7fffff
#define S_MINSUB  0x00000001

#define NX FFLAGS_NX
#define UF FFLAGS_UF
#define OF FFLAGS_OF
#define DZ FFLAGS_DZ
#define NV FFLAGS_NV

        .text
        .globl main
main:
        /* Exact results raise no flags. */
        FTEST_D(1, D_THREE, 0, D_ONE, D_TWO, 0, fadd.d fa3, fa0, fa1)
        FTEST_D(2, D_MONE, 0, D_TWO, D_THREE, 0, fsub.d fa3, fa0, fa1)
        FTEST_D(3, 0x4018000000000000, 0, D_TWO, D_THREE, 0, fmul.d fa3, fa0, fa1)
        FTEST_D(4, D_HALF, 0, D_ONE, D_TWO, 0, fdiv.d fa3, fa0, fa1)
        FTEST_D(5, D_TWO, 0, D_FOUR, 0, 0, fsqrt.d fa3, fa0)
        /* 1 + half an ulp: a tie. RNE -> even (1.0), RMM -> away, RUP up,
         * RDN/RTZ down; all inexact. */
        FTEST_D(6, D_ONE, NX, D_ONE, D_HALFULP, 0, fadd.d fa3, fa0, fa1, rne)
        FTEST_D(7, D_ONE, NX, D_ONE, D_HALFULP, 0, fadd.d fa3, fa0, fa1, rtz)
        FTEST_D(8, D_ONE, NX, D_ONE, D_HALFULP, 0, fadd.d fa3, fa0, fa1, rdn)
        FTEST_D(9, D_ULP1, NX, D_ONE, D_HALFULP, 0, fadd.d fa3, fa0, fa1, rup)
        FTEST_D(10, D_ULP1, NX, D_ONE, D_HALFULP, 0, fadd.d fa3, fa0, fa1, rmm)
        /* The same tie below zero: RDN and RMM go away from zero. */
        FTEST_D(11, D_MONE, NX, D_MONE, D_HALFULP, 0, fsub.d fa3, fa0, fa1, rne)
        FTEST_D(12, D_MONE, NX, D_MONE, D_HALFULP, 0, fsub.d fa3, fa0, fa1, rtz)
        FTEST_D(13, D_MULP1, NX, D_MONE, D_HALFULP, 0, fsub.d fa3, fa0, fa1, rdn)
        FTEST_D(14, D_MONE, NX, D_MONE, D_HALFULP, 0, fsub.d fa3, fa0, fa1, rup)
        FTEST_D(15, D_MULP1, NX, D_MONE, D_HALFULP, 0, fsub.d fa3, fa0, fa1, rmm)
        /* Not a tie: 1 + 0.75 ulp. */
        FTEST_D(16, D_ULP1, NX, D_ONE, D_TQULP, 0, fadd.d fa3, fa0, fa1, rne)
        FTEST_D(17, D_ONE, NX, D_ONE, D_TQULP, 0, fadd.d fa3, fa0, fa1, rtz)
        FTEST_D(18, D_ULP1, NX, D_ONE, D_TQULP, 0, fadd.d fa3, fa0, fa1, rmm)
        /* x - x is +0, except -0 when rounding down. */
        FTEST_D(19, D_PZERO, 0, D_ONE, D_ONE, 0, fsub.d fa3, fa0, fa1, rne)
        FTEST_D(20, D_MZERO, 0, D_ONE, D_ONE, 0, fsub.d fa3, fa0, fa1, rdn)
        FTEST_D(21, D_MZERO, 0, D_MZERO, D_MZERO, 0, fadd.d fa3, fa0, fa1)
        /* Overflow: RNE/RUP -> inf, RTZ/RDN -> largest finite. */
        FTEST_D(22, D_INF, OF | NX, D_MAX, D_MAX, 0, fadd.d fa3, fa0, fa1, rne)
        FTEST_D(23, D_MAX, OF | NX, D_MAX, D_MAX, 0, fadd.d fa3, fa0, fa1, rtz)
        FTEST_D(24, D_MAX, OF | NX, D_MAX, D_MAX, 0, fadd.d fa3, fa0, fa1, rdn)
        FTEST_D(25, D_INF, OF | NX, D_MAX, D_MAX, 0, fadd.d fa3, fa0, fa1, rup)
        FTEST_D(26, D_INF, OF | NX, D_MAX, D_TWO, 0, fmul.d fa3, fa0, fa1, rmm)
        /* Invalid operations give the canonical NaN and NV. */
        FTEST_D(27, D_CNAN, NV, D_INF, D_MINF, 0, fadd.d fa3, fa0, fa1)
        FTEST_D(28, D_CNAN, NV, D_PZERO, D_INF, 0, fmul.d fa3, fa0, fa1)
        FTEST_D(29, D_CNAN, NV, D_PZERO, D_PZERO, 0, fdiv.d fa3, fa0, fa1)
        FTEST_D(30, D_CNAN, NV, D_INF, D_INF, 0, fdiv.d fa3, fa0, fa1)
        FTEST_D(31, D_CNAN, NV, D_MONE, 0, 0, fsqrt.d fa3, fa0)
        /* Division by zero. */
        FTEST_D(32, D_INF, DZ, D_ONE, D_PZERO, 0, fdiv.d fa3, fa0, fa1)
        FTEST_D(33, D_MINF, DZ, D_ONE, D_MZERO, 0, fdiv.d fa3, fa0, fa1)
        /* inf / 0 is inf with no flags. */
        FTEST_D(34, D_INF, 0, D_INF, D_PZERO, 0, fdiv.d fa3, fa0, fa1)
        /* 1/3 in each direction. */
        FTEST_D(35, 0x3fd5555555555555, NX, D_ONE, D_THREE, 0, fdiv.d fa3, fa0, fa1, rne)
        FTEST_D(36, 0x3fd5555555555556, NX, D_ONE, D_THREE, 0, fdiv.d fa3, fa0, fa1, rup)
        FTEST_D(37, 0x3fd5555555555555, NX, D_ONE, D_THREE, 0, fdiv.d fa3, fa0, fa1, rtz)
        /* sqrt: -0 -> -0 exactly; sqrt(2) inexact; sqrt(+inf) = +inf. */
        FTEST_D(38, D_MZERO, 0, D_MZERO, 0, 0, fsqrt.d fa3, fa0)
        FTEST_D(39, 0x3ff6a09e667f3bcd, NX, D_TWO, 0, 0, fsqrt.d fa3, fa0)
        FTEST_D(40, 0x3ff6a09e667f3bcc, NX, D_TWO, 0, 0, fsqrt.d fa3, fa0, rdn)
        FTEST_D(41, D_INF, 0, D_INF, 0, 0, fsqrt.d fa3, fa0)
        /* NaN inputs: quiet -> canonical NaN, no flags (payload not
         * propagated); signalling -> canonical NaN and NV. */
        FTEST_D(42, D_CNAN, 0, D_QNANP, D_ONE, 0, fadd.d fa3, fa0, fa1)
        FTEST_D(43, D_CNAN, NV, D_SNAN, D_ONE, 0, fmul.d fa3, fa0, fa1)
        FTEST_D(44, D_CNAN, NV, D_ONE, D_SNAN, 0, fdiv.d fa3, fa0, fa1)
        FTEST_D(45, D_CNAN, NV, D_SNAN, 0, 0, fsqrt.d fa3, fa0)
        FTEST_D(46, D_CNAN, 0, 0xfff8000000000000, 0, 0, fsqrt.d fa3, fa0)
        /* Subnormals: exact subnormal results raise nothing; inexact tiny
         * results raise UF|NX. */
        FTEST_D(47, 0x0000000000000002, 0, D_MINSUB, D_MINSUB, 0, fadd.d fa3, fa0, fa1)
        FTEST_D(48, 0x0008000000000000, 0, D_MINN, D_HALF, 0, fmul.d fa3, fa0, fa1)
        FTEST_D(49, D_PZERO, UF | NX, D_MINSUB, D_HALF, 0, fmul.d fa3, fa0, fa1, rne)
        FTEST_D(50, D_MINSUB, UF | NX, D_MINSUB, D_HALF, 0, fmul.d fa3, fa0, fa1, rup)
        FTEST_D(51, D_MAXSUB, 0, D_MINN, D_MINSUB, 0, fsub.d fa3, fa0, fa1)
        /* Tininess is detected after rounding: (2^-1022 - 2^-1074) *
         * (1 + 2^-52) rounds to 2^-1022, the smallest normal, so only NX. */
        FTEST_D(52, D_MINN, NX, D_MAXSUB, D_ULP1, 0, fmul.d fa3, fa0, fa1)
        /* ... while rounding toward zero keeps it subnormal: UF|NX. */
        FTEST_D(53, D_MAXSUB, UF | NX, D_MAXSUB, D_ULP1, 0, fmul.d fa3, fa0, fa1, rtz)
        /* FMA: one rounding. (1+2^-52)(1-2^-53) - 1 = 2^-53 - 2^-105,
         * exactly representable. */
        FTEST_D(54, 0x3c9ffffffffffffe, 0, D_ULP1, 0x3fefffffffffffff, D_MONE, fmadd.d fa3, fa0, fa1, fa2)
        /* ...whereas mul then add rounds the product (just below a tie)
         * to 1 first. */
        FTEST_D(55, D_PZERO, NX, D_ULP1, 0x3fefffffffffffff, D_MONE, fmul.d fa4, fa0, fa1; fadd.d fa3, fa4, fa2)
        /* The four sign variants: 1*2 (+/-) 3. */
        FTEST_D(56, 0x4014000000000000, 0, D_ONE, D_TWO, D_THREE, fmadd.d fa3, fa0, fa1, fa2)
        FTEST_D(57, D_MONE, 0, D_ONE, D_TWO, D_THREE, fmsub.d fa3, fa0, fa1, fa2)
        FTEST_D(58, D_ONE, 0, D_ONE, D_TWO, D_THREE, fnmsub.d fa3, fa0, fa1, fa2)
        FTEST_D(59, 0xc014000000000000, 0, D_ONE, D_TWO, D_THREE, fnmadd.d fa3, fa0, fa1, fa2)
        /* inf * 0 + qNaN: RISC-V raises NV (the product is invalid) and
         * returns the canonical NaN. */
        FTEST_D(60, D_CNAN, NV, D_INF, D_PZERO, D_CNAN, fmadd.d fa3, fa0, fa1, fa2)
        /* inf * 1 - inf: invalid. */
        FTEST_D(61, D_CNAN, NV, D_INF, D_ONE, D_INF, fmsub.d fa3, fa0, fa1, fa2)
        /* Exact zero sums: (+0 * 1) + -0 = +0; fnmadd: -(+0 * 1) - +0 =
         * -0 + -0 = -0. */
        FTEST_D(62, D_PZERO, 0, D_PZERO, D_ONE, D_MZERO, fmadd.d fa3, fa0, fa1, fa2)
        FTEST_D(63, D_MZERO, 0, D_PZERO, D_ONE, D_PZERO, fnmadd.d fa3, fa0, fa1, fa2)
        /* fma with a rounding mode: 1 + 2^-53 tie through fmadd (1*1 + h). */
        FTEST_D(64, D_ULP1, NX, D_ONE, D_ONE, D_HALFULP, fmadd.d fa3, fa0, fa1, fa2, rup)
        FTEST_D(65, D_ONE, NX, D_ONE, D_ONE, D_HALFULP, fmadd.d fa3, fa0, fa1, fa2, rne)

        /* Single precision. */
        FTEST_S(66, S_THREE, 0, S_ONE, S_TWO, 0, fadd.s fa3, fa0, fa1)
        FTEST_S(67, S_ONE, NX, S_ONE, S_HALFULP, 0, fadd.s fa3, fa0, fa1, rne)
        FTEST_S(68, 0x3f800001, NX, S_ONE, S_HALFULP, 0, fadd.s fa3, fa0, fa1, rup)
        FTEST_S(69, 0x3f800001, NX, S_ONE, S_HALFULP, 0, fadd.s fa3, fa0, fa1, rmm)
        FTEST_S(70, 0x3eaaaaab, NX, S_ONE, S_THREE, 0, fdiv.s fa3, fa0, fa1)
        FTEST_S(71, 0x3eaaaaaa, NX, S_ONE, S_THREE, 0, fdiv.s fa3, fa0, fa1, rtz)
        FTEST_S(72, 0x3fb504f3, NX, S_TWO, 0, 0, fsqrt.s fa3, fa0)
        FTEST_S(73, S_INF, OF | NX, S_MAX, S_MAX, 0, fadd.s fa3, fa0, fa1)
        FTEST_S(74, S_MAX, OF | NX, S_MAX, S_MAX, 0, fadd.s fa3, fa0, fa1, rtz)
        FTEST_S(75, S_CNAN, NV, S_INF, S_MINF, 0, fsub.s fa3, fa0, fa0)
        FTEST_S(76, S_CNAN, NV, S_SNAN, S_ONE, 0, fadd.s fa3, fa0, fa1)
        FTEST_S(77, S_CNAN, 0, 0x7fc01234, S_ONE, 0, fmul.s fa3, fa0, fa1)
        FTEST_S(78, S_INF, DZ, S_ONE, 0, 0, fdiv.s fa3, fa0, fa1)
        FTEST_S(79, 0, UF | NX, S_MINSUB, 0x3f000000, 0, fmul.s fa3, fa0, fa1)
        FTEST_S(80, 0x40a00000, 0, S_ONE, S_TWO, S_THREE, fmadd.s fa3, fa0, fa1, fa2)
        FTEST_S(81, 0xc0a00000, 0, S_ONE, S_TWO, S_THREE, fnmadd.s fa3, fa0, fa1, fa2)
        FTEST_S(82, 0xbf800000, 0, S_ONE, S_TWO, S_THREE, fmsub.s fa3, fa0, fa1, fa2)
        FTEST_S(83, S_ONE, 0, S_ONE, S_TWO, S_THREE, fnmsub.s fa3, fa0, fa1, fa2)
        /* (1+2^-23)(1-2^-24) - 1 = 2^-24 - 2^-47 exactly. */
        FTEST_S(84, 0x337ffffe, 0, 0x3f800001, 0x3f7fffff, 0xbf800000, fmadd.s fa3, fa0, fa1, fa2)

        /* sqrt of the smallest subnormal, 2^-1074, is 2^-537 exactly. */
        FTEST_D(86, 0x1e60000000000000, 0, D_MINSUB, 0, 0, fsqrt.d fa3, fa0)
        /* 2^-1022 / 3: an inexact subnormal quotient. */
        FTEST_D(87, 0x0005555555555555, UF | NX, D_MINN, D_THREE, 0, fdiv.d fa3, fa0, fa1)
        FTEST_D(88, 0x0005555555555556, UF | NX, D_MINN, D_THREE, 0, fdiv.d fa3, fa0, fa1, rup)
        /* An exact zero from opposite-signed terms is +0, except -0 under
         * RDN, for FMA too. */
        FTEST_D(89, D_PZERO, 0, D_ONE, D_ONE, D_MONE, fmadd.d fa3, fa0, fa1, fa2, rup)
        FTEST_D(90, D_MZERO, 0, D_ONE, D_ONE, D_MONE, fmadd.d fa3, fa0, fa1, fa2, rdn)
        /* Single: (2^-126 - 2^-149)(1 + 2^-23) = 2^-126 - 2^-172 rounds to
         * the smallest normal even with an unbounded exponent, so it is
         * not tiny after rounding: NX only ... */
        FTEST_S(91, 0x00800000, NX, 0x007fffff, 0x3f800001, 0, fmul.s fa3, fa0, fa1)
        /* ... and stays subnormal under RTZ (UF). */
        FTEST_S(92, 0x007fffff, UF | NX, 0x007fffff, 0x3f800001, 0, fmul.s fa3, fa0, fa1, rtz)
        /* 2^-126 (1 - 2^-24) = 2^-126 - 2^-150 is exact at 24 bits with an
         * unbounded exponent, hence tiny, and inexact once subnormal (a
         * tie, rounding to even = 2^-126): UF|NX with a normal result. */
        FTEST_S(93, 0x00800000, UF | NX, 0x00800000, 0x3f7fffff, 0, fmul.s fa3, fa0, fa1)

        /* fflags accrue until cleared: NX then DZ. */
        TEST    85
        fsflags zero
        LI_D    fa0, D_ONE
        LI_D    fa1, D_THREE
        fdiv.d  fa2, fa0, fa1
        fmv.d.x fa1, zero
        fdiv.d  fa2, fa0, fa1
        CHECK_FFLAGS NX | DZ
        /* An exact op afterwards leaves them alone. */
        fadd.d  fa2, fa0, fa0
        CHECK_FFLAGS NX | DZ
        j       pass
