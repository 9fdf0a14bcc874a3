/* F and D conversions: float <-> integer in every width and signedness
 * with saturation and NV on out-of-range, NaN and infinity inputs; NX on
 * inexact conversions in every rounding mode (including -0.5 -> unsigned,
 * which is NX and not NV when it rounds to 0); the 32-bit results'
 * sign extension; integer -> float rounding; float <-> double with
 * overflow, underflow and NaN conversion. */
#include "test.h"

#define D_ONE     0x3ff0000000000000
#define D_MONE    0xbff0000000000000
#define D_HALF    0x3fe0000000000000
#define D_MHALF   0xbfe0000000000000
#define D_1_5     0x3ff8000000000000
#define D_M1_5    0xbff8000000000000
#define D_2_5     0x4004000000000000
#define D_INF     0x7ff0000000000000
#define D_MINF    0xfff0000000000000
#define D_CNAN    0x7ff8000000000000
#define D_SNAN    0x7ff4000000000000
#define D_MAX     0x7fefffffffffffff
#define D_2P31    0x41e0000000000000   /* 2^31 */
#define D_M2P31   0xc1e0000000000000   /* -2^31 */
#define D_M2P31M1 0xc1e0000000200000   /* -2^31 - 1 */
#define D_2P32    0x41f0000000000000
#define D_3E9     0x41e65a0bc0000000   /* 3e9 */
#define D_2P63    0x43e0000000000000
#define D_M2P63   0xc3e0000000000000
#define D_2P64    0x43f0000000000000
#define S_ONE     0x3f800000
#define S_2P31    0x4f000000
#define S_M2P31   0xcf000000
#define S_2P63    0x5f000000
#define S_INF     0x7f800000
#define S_CNAN    0x7fc00000
#define S_SNAN    0x7fa00000
#define S_MAX     0x7f7fffff

#define NX FFLAGS_NX
#define UF FFLAGS_UF
#define OF FFLAGS_OF
#define NV FFLAGS_NV

/* float -> int: operand a in fa0 (b unused). */
#define CVT_DX(n, res, flags, a, ...) FTEST_DX(n, res, flags, a, 0, __VA_ARGS__)
#define CVT_SX(n, res, flags, a, ...) FTEST_SX(n, res, flags, a, 0, __VA_ARGS__)
/* int -> float: integer operand ival in a1. */
#define CVT_XD(n, res, flags, ival, ...) \
        TEST n; li a1, ival; fsflags zero; __VA_ARGS__; fmv.x.d a0, fa3; CHECK a0, res; CHECK_FFLAGS flags
#define CVT_XS(n, res, flags, ival, ...) \
        TEST n; li a1, ival; fsflags zero; __VA_ARGS__; fmv.x.d a0, fa3; srai a2, a0, 32; CHECK a2, -1; \
        slli a0, a0, 32; srli a0, a0, 32; CHECK a0, res; CHECK_FFLAGS flags

        .text
        .globl main
main:
        /* fcvt.w.d: saturation, NaN -> max, and sign extension. */
        CVT_DX(1, 0x7fffffff, NV, D_INF, fcvt.w.d a0, fa0)
        CVT_DX(2, 0xffffffff80000000, NV, D_MINF, fcvt.w.d a0, fa0)
        CVT_DX(3, 0x7fffffff, NV, D_CNAN, fcvt.w.d a0, fa0)
        CVT_DX(4, 0x7fffffff, NV, 0xfff8000000000000, fcvt.w.d a0, fa0)    /* negative NaN too */
        CVT_DX(5, 0x7fffffff, NV, D_2P31, fcvt.w.d a0, fa0, rtz)
        CVT_DX(6, 0xffffffff80000000, 0, D_M2P31, fcvt.w.d a0, fa0)
        CVT_DX(7, 0xffffffff80000000, NV, D_M2P31M1, fcvt.w.d a0, fa0)
        /* 2^31 - 0.5 rounds up to 2^31 under RNE: out of range. */
        CVT_DX(8, 0x7fffffff, NV, 0x41dfffffffe00000, fcvt.w.d a0, fa0, rne)
        CVT_DX(9, 0x7fffffff, NX, 0x41dfffffffe00000, fcvt.w.d a0, fa0, rtz)
        /* Rounding modes. */
        CVT_DX(10, 2, NX, D_1_5, fcvt.w.d a0, fa0, rne)
        CVT_DX(11, 2, NX, D_2_5, fcvt.w.d a0, fa0, rne)
        CVT_DX(12, 3, NX, D_2_5, fcvt.w.d a0, fa0, rmm)
        CVT_DX(13, -1, NX, D_M1_5, fcvt.w.d a0, fa0, rtz)
        CVT_DX(14, -2, NX, D_M1_5, fcvt.w.d a0, fa0, rdn)
        CVT_DX(15, -1, NX, D_M1_5, fcvt.w.d a0, fa0, rup)
        CVT_DX(16, 1, NX, D_HALF, fcvt.w.d a0, fa0, rup)
        CVT_DX(17, 0, NX, D_HALF, fcvt.w.d a0, fa0, rne)
        CVT_DX(18, -2, NX, D_M1_5, fcvt.w.d a0, fa0, rmm)
        CVT_DX(19, -1, 0, D_MONE, fcvt.w.d a0, fa0)
        /* fcvt.wu.d: negative -> 0 with NV, but -0.5 rounding to 0 is
         * only inexact. 32-bit unsigned results are sign-extended. */
        CVT_DX(20, 0, NV, D_MONE, fcvt.wu.d a0, fa0)
        CVT_DX(21, 0, NX, D_MHALF, fcvt.wu.d a0, fa0, rtz)
        CVT_DX(22, 0, NX, D_MHALF, fcvt.wu.d a0, fa0, rne)
        CVT_DX(23, 0, NV, D_MHALF, fcvt.wu.d a0, fa0, rdn)
        CVT_DX(24, -1, NV, D_CNAN, fcvt.wu.d a0, fa0)
        CVT_DX(25, -1, NV, D_INF, fcvt.wu.d a0, fa0)
        CVT_DX(26, 0, NV, D_MINF, fcvt.wu.d a0, fa0)
        CVT_DX(27, -1, NV, D_2P32, fcvt.wu.d a0, fa0)
        CVT_DX(28, 0xffffffffb2d05e00, 0, D_3E9, fcvt.wu.d a0, fa0)
        /* fcvt.l.d / fcvt.lu.d. */
        CVT_DX(29, 0x7fffffffffffffff, NV, D_2P63, fcvt.l.d a0, fa0)
        CVT_DX(30, 0x8000000000000000, 0, D_M2P63, fcvt.l.d a0, fa0)
        CVT_DX(31, 0x8000000000000000, NV, D_MINF, fcvt.l.d a0, fa0)
        CVT_DX(32, 0x7fffffffffffffff, NV, D_CNAN, fcvt.l.d a0, fa0)
        CVT_DX(33, 0x7fffffffffffffff, NV, D_MAX, fcvt.l.d a0, fa0)
        CVT_DX(34, 0x8000000000000000, 0, D_2P63, fcvt.lu.d a0, fa0)
        CVT_DX(35, -1, NV, D_2P64, fcvt.lu.d a0, fa0)
        CVT_DX(36, -1, NV, D_CNAN, fcvt.lu.d a0, fa0)
        CVT_DX(37, 0, NV, D_MONE, fcvt.lu.d a0, fa0)
        CVT_DX(38, 0, NX, D_MHALF, fcvt.lu.d a0, fa0, rtz)
        CVT_DX(39, 1, NX, D_HALF, fcvt.lu.d a0, fa0, rmm)
        /* Single-precision sources. */
        CVT_SX(40, 0x7fffffff, NV, S_2P31, fcvt.w.s a0, fa0)
        CVT_SX(41, 0xffffffff80000000, 0, S_M2P31, fcvt.w.s a0, fa0)
        CVT_SX(42, 0x7fffffff, NV, S_CNAN, fcvt.w.s a0, fa0)
        CVT_SX(43, 0x7fffffff, NV, S_SNAN, fcvt.w.s a0, fa0)
        CVT_SX(44, 0xffffffff80000000, NV, 0xff800000, fcvt.w.s a0, fa0)
        CVT_SX(45, -1, NV, S_INF, fcvt.wu.s a0, fa0)
        CVT_SX(46, 0, NX, 0xbf000000, fcvt.wu.s a0, fa0, rtz)
        CVT_SX(47, 0x7fffffffffffffff, NV, S_2P63, fcvt.l.s a0, fa0)
        CVT_SX(48, 0x8000000000000000, 0, S_2P63, fcvt.lu.s a0, fa0)
        CVT_SX(49, -1, NV, S_CNAN, fcvt.lu.s a0, fa0)
        CVT_SX(50, 1, 0, S_ONE, fcvt.l.s a0, fa0)
        /* Integer -> double. */
        CVT_XD(51, 0x43e0000000000000, NX, 0x7fffffffffffffff, fcvt.d.l fa3, a1)
        CVT_XD(52, 0x43dfffffffffffff, NX, 0x7fffffffffffffff, fcvt.d.l fa3, a1, rtz)
        CVT_XD(53, 0xc3e0000000000000, 0, 0x8000000000000000, fcvt.d.l fa3, a1)
        CVT_XD(54, 0x43f0000000000000, NX, -1, fcvt.d.lu fa3, a1)
        CVT_XD(55, 0x43efffffffffffff, NX, -1, fcvt.d.lu fa3, a1, rdn)
        /* fcvt.d.w uses the low 32 bits, signed; fcvt.d.wu unsigned. */
        CVT_XD(56, D_MONE, 0, 0x00000000ffffffff, fcvt.d.w fa3, a1)
        CVT_XD(57, 0x41efffffffe00000, 0, 0xffffffffffffffff, fcvt.d.wu fa3, a1)
        CVT_XD(58, 0, 0, 0x1234567800000000, fcvt.d.w fa3, a1)
        /* Integer -> single: 2^24 + 1 is not representable. */
        CVT_XS(59, 0x4b800000, NX, 16777217, fcvt.s.w fa3, a1)
        CVT_XS(60, 0x4b800001, NX, 16777217, fcvt.s.w fa3, a1, rup)
        CVT_XS(61, 0x4f800000, NX, 0xffffffff, fcvt.s.wu fa3, a1)
        CVT_XS(62, 0x4f7fffff, NX, 0xffffffff, fcvt.s.wu fa3, a1, rtz)
        CVT_XS(63, 0xdf000000, 0, 0x8000000000000000, fcvt.s.l fa3, a1)
        CVT_XS(64, 0x5f800000, NX, -1, fcvt.s.lu fa3, a1)
        CVT_XS(65, 0xbf800000, 0, -1, fcvt.s.w fa3, a1)
        /* double -> single. */
        FTEST_S(66, S_INF, OF | NX, 0, 0, 0, LI_D fa0, D_MAX; fcvt.s.d fa3, fa0)
        FTEST_S(67, S_MAX, OF | NX, 0, 0, 0, LI_D fa0, D_MAX; fcvt.s.d fa3, fa0, rtz)
        FTEST_S(68, S_CNAN, NV, 0, 0, 0, LI_D fa0, D_SNAN; fcvt.s.d fa3, fa0)
        FTEST_S(69, S_CNAN, 0, 0, 0, 0, LI_D fa0, 0x7ff8000012345678; fcvt.s.d fa3, fa0)
        FTEST_S(70, 0, UF | NX, 0, 0, 0, LI_D fa0, 0x3590000000000000; fcvt.s.d fa3, fa0)   /* 2^-166 */
        FTEST_S(71, 1, UF | NX, 0, 0, 0, LI_D fa0, 0x3590000000000000; fcvt.s.d fa3, fa0, rup)
        FTEST_S(72, 0x3eaaaaab, NX, 0, 0, 0, LI_D fa0, 0x3fd5555555555555; fcvt.s.d fa3, fa0)
        FTEST_S(73, 0x80000000, 0, 0, 0, 0, LI_D fa0, 0x8000000000000000; fcvt.s.d fa3, fa0)
        /* single -> double is exact; sNaN -> canonical NaN with NV. */
        FTEST_D(74, D_ONE, 0, 0, 0, 0, LI_S fa0, S_ONE; fcvt.d.s fa3, fa0)
        FTEST_D(75, D_CNAN, NV, 0, 0, 0, LI_S fa0, S_SNAN; fcvt.d.s fa3, fa0)
        FTEST_D(76, 0x36a0000000000000, 0, 0, 0, 0, LI_S fa0, 1; fcvt.d.s fa3, fa0)       /* subnormal 2^-149 */
        FTEST_D(77, D_MINF, 0, 0, 0, 0, LI_S fa0, 0xff800000; fcvt.d.s fa3, fa0)
        j       pass
