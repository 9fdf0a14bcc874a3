/* F and D non-arithmetic: fclass (all ten classes), fmin/fmax (signed
 * zeros, quiet and signalling NaNs), feq/flt/fle (quiet vs signalling
 * compares), sign injection, fmv, NaN-boxing of single values in the
 * 64-bit registers (improperly boxed inputs read as the canonical NaN),
 * FP loads/stores, the fcsr/frm/fflags CSRs, static and dynamic rounding
 * modes incl. the reserved ones (illegal), and mstatus.FS: FP instructions
 * and CSRs illegal when Off, and Dirty/SD tracking. */
#include "test.h"

#define D_ONE     0x3ff0000000000000
#define D_MONE    0xbff0000000000000
#define D_TWO     0x4000000000000000
#define D_MTWO    0xc000000000000000
#define D_INF     0x7ff0000000000000
#define D_MINF    0xfff0000000000000
#define D_CNAN    0x7ff8000000000000
#define D_SNAN    0x7ff4000000000000
#define D_PZERO   0x0000000000000000
#define D_MZERO   0x8000000000000000
#define D_MINSUB  0x0000000000000001
#define D_HALFULP 0x3ca0000000000000
#define S_ONE     0x3f800000
#define S_CNAN    0x7fc00000
#define S_SNAN    0x7fa00000

#define NX FFLAGS_NX
#define DZ FFLAGS_DZ
#define NV FFLAGS_NV

#define CLASS_D(n, res, a)  FTEST_DX(n, res, 0, a, 0, fclass.d a0, fa0)
#define CLASS_S(n, res, a)  FTEST_SX(n, res, 0, a, 0, fclass.s a0, fa0)

        .text
        .globl main
main:
        CLASS_D(1, 1 << 0, D_MINF)
        CLASS_D(2, 1 << 1, D_MONE)
        CLASS_D(3, 1 << 2, 0x800fffffffffffff)
        CLASS_D(4, 1 << 3, D_MZERO)
        CLASS_D(5, 1 << 4, D_PZERO)
        CLASS_D(6, 1 << 5, D_MINSUB)
        CLASS_D(7, 1 << 6, D_ONE)
        CLASS_D(8, 1 << 7, D_INF)
        CLASS_D(9, 1 << 8, D_SNAN)
        CLASS_D(10, 1 << 9, D_CNAN)
        CLASS_D(11, 1 << 8, 0xfff0000000000001)   /* negative sNaN */
        CLASS_S(12, 1 << 0, 0xff800000)
        CLASS_S(13, 1 << 1, 0xbf800000)
        CLASS_S(14, 1 << 2, 0x807fffff)
        CLASS_S(15, 1 << 3, 0x80000000)
        CLASS_S(16, 1 << 4, 0x00000000)
        CLASS_S(17, 1 << 5, 0x00000001)
        CLASS_S(18, 1 << 6, S_ONE)
        CLASS_S(19, 1 << 7, 0x7f800000)
        CLASS_S(20, 1 << 8, S_SNAN)
        CLASS_S(21, 1 << 9, S_CNAN)

        /* fmin/fmax: -0 < +0; one NaN -> the other operand; both NaN ->
         * canonical NaN; a signalling NaN raises NV. */
        FTEST_D(22, D_MZERO, 0, D_PZERO, D_MZERO, 0, fmin.d fa3, fa0, fa1)
        FTEST_D(23, D_PZERO, 0, D_MZERO, D_PZERO, 0, fmax.d fa3, fa0, fa1)
        FTEST_D(24, D_ONE, 0, D_CNAN, D_ONE, 0, fmin.d fa3, fa0, fa1)
        FTEST_D(25, D_ONE, NV, D_ONE, D_SNAN, 0, fmax.d fa3, fa0, fa1)
        FTEST_D(26, D_ONE, NV, D_SNAN, D_ONE, 0, fmin.d fa3, fa0, fa1)
        FTEST_D(27, D_CNAN, 0, D_CNAN, 0x7ff8000000000001, 0, fmax.d fa3, fa0, fa1)
        FTEST_D(28, D_CNAN, NV, D_SNAN, D_CNAN, 0, fmin.d fa3, fa0, fa1)
        FTEST_D(29, D_MTWO, 0, D_MTWO, D_ONE, 0, fmin.d fa3, fa0, fa1)
        FTEST_D(30, D_INF, 0, D_MINF, D_INF, 0, fmax.d fa3, fa0, fa1)
        FTEST_S(31, S_ONE, NV, S_SNAN, S_ONE, 0, fmin.s fa3, fa0, fa1)
        FTEST_S(32, 0x80000000, 0, 0x00000000, 0x80000000, 0, fmin.s fa3, fa0, fa1)
        FTEST_S(33, S_CNAN, 0, S_CNAN, S_CNAN, 0, fmax.s fa3, fa0, fa1)

        /* Compares: feq is quiet (NV only for sNaN), flt/fle signal on any
         * NaN. */
        FTEST_DX(34, 1, 0, D_PZERO, D_MZERO, feq.d a0, fa0, fa1)
        FTEST_DX(35, 0, 0, D_PZERO, D_MZERO, flt.d a0, fa1, fa0)
        FTEST_DX(36, 1, 0, D_PZERO, D_MZERO, fle.d a0, fa1, fa0)
        FTEST_DX(37, 0, 0, D_CNAN, D_ONE, feq.d a0, fa0, fa1)
        FTEST_DX(38, 0, NV, D_SNAN, D_ONE, feq.d a0, fa0, fa1)
        FTEST_DX(39, 0, NV, D_CNAN, D_ONE, flt.d a0, fa0, fa1)
        FTEST_DX(40, 0, NV, D_ONE, D_CNAN, fle.d a0, fa0, fa1)
        FTEST_DX(41, 0, 0, D_CNAN, D_CNAN, feq.d a0, fa0, fa0)
        FTEST_DX(42, 1, 0, D_MINF, D_ONE, flt.d a0, fa0, fa1)
        FTEST_DX(43, 1, 0, D_MONE, D_ONE, fle.d a0, fa0, fa1)
        FTEST_SX(44, 0, NV, S_SNAN, S_ONE, feq.s a0, fa0, fa1)
        FTEST_SX(45, 0, NV, S_CNAN, S_ONE, flt.s a0, fa0, fa1)
        FTEST_SX(46, 1, 0, S_ONE, S_ONE, fle.s a0, fa0, fa1)

        /* Sign injection never raises flags, even on sNaN. */
        FTEST_D(47, D_MONE, 0, D_ONE, D_MTWO, 0, fsgnj.d fa3, fa0, fa1)
        FTEST_D(48, D_ONE, 0, D_ONE, D_MTWO, 0, fsgnjn.d fa3, fa0, fa1)
        FTEST_D(49, D_ONE, 0, D_MONE, D_MTWO, 0, fsgnjx.d fa3, fa0, fa1)
        FTEST_D(50, 0xfff4000000000000, 0, D_SNAN, D_MONE, 0, fsgnj.d fa3, fa0, fa1)
        FTEST_D(51, D_ONE, 0, D_MONE, 0, 0, fabs.d fa3, fa0)
        FTEST_D(52, D_MONE, 0, D_ONE, 0, 0, fneg.d fa3, fa0)
        FTEST_S(53, 0xbf800000, 0, S_ONE, 0xc0000000, 0, fsgnj.s fa3, fa0, fa1)
        FTEST_S(54, 0xffa00000, 0, S_SNAN, 0, 0, fneg.s fa3, fa0)
        FTEST_S(94, 0x3f800000, 0, S_ONE, 0xc0000000, 0, fsgnjn.s fa3, fa0, fa1)
        FTEST_S(95, 0x3f800000, 0, 0xbf800000, 0xc0000000, 0, fsgnjx.s fa3, fa0, fa1)
        FTEST_S(96, 0x7f7fffff, 0, 0xff7fffff, 0, 0, fabs.s fa3, fa0)
        FTEST_S(97, S_ONE, NV, S_ONE, S_SNAN, 0, fmax.s fa3, fa0, fa1)
        FTEST_S(98, 0x00000000, 0, 0x80000000, 0x00000000, 0, fmax.s fa3, fa0, fa1)

        /* fmv.x.w sign-extends bit 31; fmv.w.x boxes; fmv.x.d/fmv.d.x
         * move all 64 bits. */
        TEST_RR(55, a0, 0xffffffff80000000, li a1, 0x80000000; fmv.w.x fa0, a1; fmv.x.w a0, fa0)
        TEST_RR(56, a0, 0xffffffff12345678, li a1, 0xabcdef0012345678; fmv.w.x fa0, a1; fmv.x.d a0, fa0)
        TEST_RR(57, a0, 0x123456789abcdef0, li a1, 0x123456789abcdef0; fmv.d.x fa0, a1; fmv.x.d a0, fa0)
        /* fmv.x.w does not check boxing: it returns the low word. */
        TEST_RR(58, a0, 0xffffffff9abcdef0, li a1, 0x123456789abcdef0; fmv.d.x fa0, a1; fmv.x.w a0, fa0)

        /* NaN-boxing: a single-precision operand whose upper 32 bits are
         * not all ones reads as the canonical NaN (a quiet NaN: no NV). */
        FTEST_S(59, S_CNAN, 0, 0, 0, 0, LI_D fa0, D_ONE; LI_S fa1, S_ONE; fadd.s fa3, fa0, fa1)
        FTEST_SX(60, 1 << 9, 0, 0, 0, LI_D fa0, 0x7fffffff3f800000; fclass.s a0, fa0)
        FTEST_S(61, S_CNAN, 0, 0, 0, 0, LI_D fa0, 0x000000003f800000; LI_S fa1, 0xbf800000; fsgnj.s fa3, fa0, fa0)
        /* sign injection takes rs2's sign from the canonical NaN too. */
        FTEST_S(62, 0x3f800000, 0, S_ONE, 0, 0, LI_D fa1, 0x00000000bf800000; fsgnj.s fa3, fa0, fa1)
        FTEST_D(63, D_CNAN, 0, 0, 0, 0, LI_D fa0, 0x123456783f800000; fcvt.d.s fa3, fa0)
        FTEST_SX(64, 0, 0, 0, 0, LI_D fa0, 0xffff00003f800000; LI_S fa1, S_ONE; feq.s a0, fa0, fa1)
        FTEST_S(65, S_ONE, 0, 0, 0, 0, LI_D fa0, 0xfffffffe3f800000; LI_S fa1, S_ONE; fmin.s fa3, fa0, fa1)
        /* Loads and stores: flw boxes, fsw stores the low word of whatever
         * is in the register, fld/fsd move 64 bits. */
        la      s0, buf
        TEST_RR(66, a0, 0xffffffff3f800000, li a1, 0x3f800000; sw a1, 0(s0); flw fa0, 0(s0); fmv.x.d a0, fa0)
        TEST_RR(67, a0, 0x9abcdef0, li a1, 0x123456789abcdef0; fmv.d.x fa0, a1; fsw fa0, 8(s0); lwu a0, 8(s0))
        TEST_RR(68, a0, 0x123456789abcdef0, fsd fa0, 16(s0); fld fa1, 16(s0); fmv.x.d a0, fa1)
        /* A signalling NaN moves through loads, stores and fmv unchanged. */
        TEST_RR(69, a0, 0x7ff4000000000000, li a1, 0x7ff4000000000000; sd a1, 24(s0); fld fa0, 24(s0); fsd fa0, 32(s0); ld a0, 32(s0); CHECK_FFLAGS 0)

        /* fcsr = frm << 5 | fflags; the pieces alias it. */
        TEST    70
        li      t0, 0xff
        csrw    fcsr, t0
        csrr    a0, frm
        CHECK   a0, 7
        csrr    a0, fflags
        CHECK   a0, 0x1f
        TEST    71
        li      t0, 0xfff               /* bits above 7 are ignored */
        csrw    fcsr, t0
        csrr    a0, fcsr
        CHECK   a0, 0xff
        TEST    72
        csrwi   frm, FRM_RUP
        csrwi   fflags, FFLAGS_DZ
        csrr    a0, fcsr
        CHECK   a0, (FRM_RUP << 5) | FFLAGS_DZ
        /* fsrm/fsflags return the old value. */
        TEST    73
        li      t0, FRM_RTZ
        fsrm    a0, t0
        CHECK   a0, FRM_RUP
        fsflags a0, zero
        CHECK   a0, FFLAGS_DZ
        /* Dynamic rounding uses frm: RTZ now, then RUP. */
        FTEST_D(74, D_ONE, NX, D_ONE, D_HALFULP, 0, fadd.d fa3, fa0, fa1, dyn)
        TEST    75
        fsrmi   FRM_RUP
        FTEST_D(75, 0x3ff0000000000001, NX, D_ONE, D_HALFULP, 0, fadd.d fa3, fa0, fa1)
        /* frm = RMM applies to conversions too. */
        fsrmi   FRM_RMM
        FTEST_DX(76, 3, NX, 0x4004000000000000, 0, fcvt.w.d a0, fa0)
        fsrmi   FRM_RNE
        /* A static rm of 5 or 6 is reserved: illegal. (fadd.d fa3,fa0,fa1
         * with rm = 5, then 6.) */
        TRAP_CASE_TVAL(77, CAUSE_ILLEGAL_INSTRUCTION, 0x02b556d3, .word 0x02b556d3)
        TRAP_CASE(78, CAUSE_ILLEGAL_INSTRUCTION, .word 0x02b566d3)
        /* Dynamic rm with frm holding 5, 6 or 7 is illegal too; but an
         * instruction that does not round (fsgnj, fmv, compare) is fine. */
        fsrmi   5
        TRAP_CASE(79, CAUSE_ILLEGAL_INSTRUCTION, fadd.d fa3, fa0, fa1, dyn)
        fsrmi   7
        TRAP_CASE(80, CAUSE_ILLEGAL_INSTRUCTION, fcvt.w.d a0, fa0, dyn)
        TEST_RR(81, a0, 0, fsgnj.d fa3, fa0, fa1; feq.d a0, fa0, fa1)
        fsrmi   FRM_RNE
        /* The reserved frm value stays readable. */
        TEST_RR(82, a0, 0, csrr a0, frm)

        /* FS: Off makes every FP instruction and FP CSR illegal. */
        li      t0, MSTATUS_FS
        csrc    mstatus, t0
        TRAP_CASE(83, CAUSE_ILLEGAL_INSTRUCTION, fadd.d fa3, fa0, fa1)
        TRAP_CASE(84, CAUSE_ILLEGAL_INSTRUCTION, fld fa0, 0(s0))
        TRAP_CASE(85, CAUSE_ILLEGAL_INSTRUCTION, fmv.x.d a0, fa0)
        TRAP_CASE(86, CAUSE_ILLEGAL_INSTRUCTION, csrr a0, fcsr)
        TRAP_CASE(87, CAUSE_ILLEGAL_INSTRUCTION, csrwi fflags, 0)
        TRAP_CASE(88, CAUSE_ILLEGAL_INSTRUCTION, c.fld fa0, 0(s0))
        /* With FS = Off, SD is 0. */
        TEST    89
        csrr    a0, mstatus
        srli    a0, a0, 63
        CHECK   a0, 0
        /* Clean -> an FP register write makes it Dirty and sets SD. */
        TEST    90
        li      t0, MSTATUS_FS_CLEAN
        csrs    mstatus, t0
        fmv.d.x fa0, zero
        csrr    a0, mstatus
        li      t1, MSTATUS_FS
        and     a1, a0, t1
        CHECK   a1, MSTATUS_FS_DIRTY
        srli    a0, a0, 63
        CHECK   a0, 1
        /* Clean -> writing fflags makes it Dirty. */
        TEST    91
        li      t0, MSTATUS_FS
        csrc    mstatus, t0
        li      t0, MSTATUS_FS_CLEAN
        csrs    mstatus, t0
        csrwi   fflags, 0
        csrr    a0, mstatus
        li      t1, MSTATUS_FS
        and     a1, a0, t1
        CHECK   a1, MSTATUS_FS_DIRTY
        /* Clean -> an fsd (reads FP state only) stays Clean. */
        TEST    92
        li      t0, MSTATUS_FS
        csrc    mstatus, t0
        li      t0, MSTATUS_FS_CLEAN
        csrs    mstatus, t0
        fsd     fa0, 0(s0)
        fmv.x.d a0, fa0
        csrr    a0, mstatus
        li      t1, MSTATUS_FS
        and     a1, a0, t1
        CHECK   a1, MSTATUS_FS_CLEAN
        srli    a0, a0, 63
        CHECK   a0, 0
        /* FS is visible through sstatus. */
        TEST    93
        csrr    a0, sstatus
        li      t1, MSTATUS_FS
        and     a0, a0, t1
        CHECK   a0, MSTATUS_FS_CLEAN
        j       pass

        .data
        .align  3
buf:    .skip   64
