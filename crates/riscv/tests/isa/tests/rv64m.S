/* RV64M: multiply (low and all three high-half forms), divide and
 * remainder, signed and unsigned, 64- and 32-bit (W) forms, with the
 * spec's results for division by zero and signed overflow (no traps) and
 * sign extension of every W result. */
#include "test.h"

#define RR(n, op, x, y, res) TEST_RR(n, a0, res, li a1, x; li a2, y; op a0, a1, a2)

        .text
        .globl main
main:
        RR(1, mul, 7, -3, -21)
        RR(2, mul, 0x7fffffffffffffff, 2, 0xfffffffffffffffe)
        RR(3, mul, 0x8000000000000000, -1, 0x8000000000000000)
        RR(4, mulh, -1, -1, 0)
        RR(5, mulh, 0x8000000000000000, 0x8000000000000000, 0x4000000000000000)
        RR(6, mulh, 0x8000000000000000, 1, -1)
        RR(7, mulh, 0x7fffffffffffffff, 0x7fffffffffffffff, 0x3fffffffffffffff)
        RR(8, mulhu, -1, -1, 0xfffffffffffffffe)
        RR(9, mulhu, 0x8000000000000000, 2, 1)
        /* mulhsu: rs1 signed, rs2 unsigned. */
        RR(10, mulhsu, -1, -1, -1)
        RR(11, mulhsu, 1, -1, 0)
        RR(12, mulhsu, 0x8000000000000000, 0xffffffffffffffff, 0x8000000000000000)
        RR(13, mulhsu, -2, 3, -1)
        /* mulw: low 32 bits, sign-extended; upper input bits ignored. */
        RR(14, mulw, 0x10000, 0x8000, 0xffffffff80000000)
        RR(15, mulw, 0xffffffff00000003, 0x1234567800000005, 15)
        RR(16, mulw, -1, -1, 1)
        /* Division. */
        RR(17, div, -7, 2, -3)                /* rounds toward zero */
        RR(18, rem, -7, 2, -1)                /* sign of dividend */
        RR(19, div, 7, -2, -3)
        RR(20, rem, 7, -2, 1)
        RR(21, divu, -1, 2, 0x7fffffffffffffff)
        RR(22, remu, -1, 2, 1)
        /* Division by zero: quotient all ones, remainder = dividend. */
        RR(23, div, 42, 0, -1)
        RR(24, divu, 42, 0, -1)
        RR(25, rem, -42, 0, -42)
        RR(26, remu, 42, 0, 42)
        /* Signed overflow: -2^63 / -1 = -2^63, remainder 0. */
        RR(27, div, 0x8000000000000000, -1, 0x8000000000000000)
        RR(28, rem, 0x8000000000000000, -1, 0)
        /* 32-bit forms operate on the low words and sign-extend. */
        RR(29, divw, 0xffffffff80000000, -1, 0xffffffff80000000)
        RR(30, remw, 0xffffffff80000000, -1, 0)
        RR(31, divw, 0x1234567800000007, 0xffffffff00000000, -1)   /* by zero */
        RR(32, remw, 0x12345678fffffff9, 0, -7)
        RR(33, divuw, 0xffffffff, 1, -1)                            /* sign-extends bit 31 */
        RR(34, divuw, 0x00000000fffffffe, 2, 0x7fffffff)
        RR(35, remuw, 0x12345678ffffffff, 0x80000000, 0x7fffffff)
        RR(36, divuw, 42, 0x1234567800000000, -1)                   /* by zero */
        RR(37, remuw, 0x80000000, 0, 0xffffffff80000000)            /* by zero: dividend sign-extended */
        RR(38, divw, -7, 2, -3)
        RR(39, remw, -7, 2, -1)
        RR(40, divw, 0x0000000100000006, 0x0000000100000003, 2)     /* upper bits ignored */
        /* rd aliasing a source. */
        TEST_RR(41, a1, 6, li a1, 2; li a2, 3; mul a1, a1, a2)
        TEST_RR(42, a2, 3, li a1, 10; li a2, 3; div a2, a1, a2)
        j       pass
