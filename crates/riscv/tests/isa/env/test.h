/* Assembly macros for the ISA test programs. See ../README.md.
 *
 * Conventions:
 *  - gp (x3) is TESTNUM, the current sub-test number; `fail` reports it.
 *  - t5 and t6 are scratch for these macros; tests must not keep live
 *    values in them across a macro.
 *  - A test program defines `main` (a label, entered in M-mode from crt.S)
 *    and ends with `j pass` (or returns 0 through `ret`).
 */
#ifndef ISA_TEST_H
#define ISA_TEST_H

#include "encoding.h"

#define TESTNUM gp

        .option norelax

/* Start sub-test n. */
.macro TEST n
        li      TESTNUM, \n
.endm

/* Fail unless register reg == immediate val. */
.macro CHECK reg, val
        li      t6, \val
        beq     \reg, t6, .Lck\@
        j       fail
.Lck\@:
.endm

/* Fail unless reg1 == reg2. */
.macro CHECKR reg1, reg2
        beq     \reg1, \reg2, .Lck\@
        j       fail
.Lck\@:
.endm

/* Fail unless the 64-bit word at symbol/address label equals val. */
.macro CHECK_MEM label, val
        la      t5, \label
        ld      t5, 0(t5)
        CHECK   t5, \val
.endm

/* Sub-test n: run the instructions given (separated by ';'), which must
 * leave their result in rd, then compare rd with the expected value.
 * (A C-preprocessor macro, because gas splits macro arguments at ';'.) */
#define TEST_RR(n, rd, val, ...) \
        TEST n; __VA_ARGS__; CHECK rd, val

/* fflags must equal val (reads fflags into t5). */
.macro CHECK_FFLAGS val
        frflags t5
        CHECK   t5, \val
.endm

/* Arm the trap handler: the next trap returns to label, in M-mode. */
.macro EXPECT_TRAP label
        la      t6, \label
        la      t5, trap_resume
        sd      t6, 0(t5)
.endm

/* Disarm the trap handler (a trap from now on fails the test). */
.macro NO_TRAP
        la      t5, trap_resume
        sd      zero, 0(t5)
.endm

/* After a trap: check the recorded mcause. */
.macro CHECK_CAUSE cause
        CHECK_MEM trap_mcause, \cause
.endm

/* After a trap: check the recorded mtval. */
.macro CHECK_TVAL val
        CHECK_MEM trap_mtval, \val
.endm

/* After a trap: check that mepc was the address of label. */
.macro CHECK_EPC label
        la      t6, \label
        la      t5, trap_mepc
        ld      t5, 0(t5)
        CHECKR  t5, t6
.endm

/* After a trap: check the privilege mode the trap was taken from. */
.macro CHECK_TRAP_MODE mode
        CHECK_MEM trap_mode, \mode
.endm

/* Sub-test n: the instructions given must trap with cause at their
 * first instruction (mepc). Resumes after the check in M-mode. Uses the
 * local labels 87 and 88. */
#define TRAP_CASE(n, cause, ...) \
        TEST n; EXPECT_TRAP 88f; \
87:     __VA_ARGS__; j fail; \
88:     CHECK_CAUSE cause; CHECK_EPC 87b

/* Same, and mtval must equal tval. */
#define TRAP_CASE_TVAL(n, cause, tval, ...) \
        TRAP_CASE(n, cause, __VA_ARGS__); CHECK_TVAL tval

/* mret to label in privilege mode (PRV_U or PRV_S). Leaves the rest of
 * mstatus alone. */
.macro ENTER_MODE mode, label
        li      t6, MSTATUS_MPP
        csrc    mstatus, t6
        li      t6, (\mode << 11)
        csrs    mstatus, t6
        la      t6, \label
        csrw    mepc, t6
        mret
.endm

/* Load a double-precision constant (bit pattern) into freg via t6. */
.macro LI_D freg, bits
        li      t6, \bits
        fmv.d.x \freg, t6
.endm

/* Load a single-precision constant (bit pattern), NaN-boxed, via t6. */
.macro LI_S freg, bits
        li      t6, \bits
        fmv.w.x \freg, t6
.endm



/* Sub-test n: drop to privilege mode (PRV_U/PRV_S), run the instructions
 * given, which must trap to M with cause at their first instruction; the
 * trap must be taken from that mode. Resumes in M-mode. */
#define MODE_TRAP_CASE(n, mode, cause, ...) \
        TEST n; EXPECT_TRAP 88f; ENTER_MODE mode, 87f; \
87:     __VA_ARGS__; j fail; \
88:     CHECK_CAUSE cause; CHECK_EPC 87b; CHECK_TRAP_MODE mode

/* Sub-test n: in privilege mode, run the instructions given, which must
 * not trap; then return to M with ecall (which must be the next trap). */
#define MODE_OK_CASE(n, mode, ...) \
        TEST n; EXPECT_TRAP 88f; ENTER_MODE mode, 87f; \
87:     __VA_ARGS__; ecall; \
88:     CHECK_CAUSE (CAUSE_USER_ECALL + mode); CHECK_TRAP_MODE mode

/* Floating point. fa0, fa1, fa2 are loaded with the operand bit patterns
 * a, b, c; fflags is cleared; the instructions given must leave their
 * result in fa3 (FTEST_D/FTEST_S) or a0 (FTEST_X); then the result bits
 * and fflags are checked. Single results are compared as the low 32 bits
 * after checking they are NaN-boxed. */
#define FTEST_D(n, res, flags, a, b, c, ...) \
        TEST n; LI_D fa0, a; LI_D fa1, b; LI_D fa2, c; fsflags zero; \
        __VA_ARGS__; fmv.x.d a0, fa3; CHECK a0, res; CHECK_FFLAGS flags
#define FTEST_S(n, res, flags, a, b, c, ...) \
        TEST n; LI_S fa0, a; LI_S fa1, b; LI_S fa2, c; fsflags zero; \
        __VA_ARGS__; fmv.x.d a0, fa3; srai a1, a0, 32; CHECK a1, -1; \
        slli a0, a0, 32; srli a0, a0, 32; CHECK a0, res; CHECK_FFLAGS flags
#define FTEST_DX(n, res, flags, a, b, ...) \
        TEST n; LI_D fa0, a; LI_D fa1, b; fsflags zero; \
        __VA_ARGS__; CHECK a0, res; CHECK_FFLAGS flags
#define FTEST_SX(n, res, flags, a, b, ...) \
        TEST n; LI_S fa0, a; LI_S fa1, b; fsflags zero; \
        __VA_ARGS__; CHECK a0, res; CHECK_FFLAGS flags

#endif
