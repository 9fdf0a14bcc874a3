/* RV64I integer computation: register-register and register-immediate
 * ALU ops, 32-bit (W) ops and their sign extension, shifts at the edges
 * (0, 31, 32, 63, and shift amounts >= XLEN taken modulo XLEN), compares,
 * LUI/AUIPC, and writes to x0. */
#include "test.h"

        .text
        .globl main
main:
        /* ADD/SUB wrap around. */
        TEST_RR(1, a0, 0, li a1, -1; li a2, 1; add a0, a1, a2)
        TEST_RR(2, a0, 0x8000000000000000, li a1, 0x7fffffffffffffff; li a2, 1; add a0, a1, a2)
        TEST_RR(3, a0, 0x7fffffffffffffff, li a1, 0x8000000000000000; li a2, 1; sub a0, a1, a2)
        TEST_RR(4, a0, -2, li a1, -1; sub a0, a1, zero; add a0, a0, a1)
        /* ADDI sign-extends its 12-bit immediate. */
        TEST_RR(5, a0, 0xfffffffffffff800, li a1, 0; addi a0, a1, -2048)
        TEST_RR(6, a0, 0x7ff, li a1, 0; addi a0, a1, 2047)
        /* ADDW/SUBW/ADDIW: 32-bit result sign-extended to 64. */
        TEST_RR(7, a0, 0xffffffff80000000, li a1, 0x7fffffff; li a2, 1; addw a0, a1, a2)
        TEST_RR(8, a0, 0x7fffffff, li a1, 0x80000000; li a2, 1; subw a0, a1, a2)
        TEST_RR(9, a0, 0xffffffff80000000, li a1, 0x7fffffff; addiw a0, a1, 1)
        TEST_RR(10, a0, 0, li a1, 0xffffffff00000000; addiw a0, a1, 0)
        /* sext.w (addiw rd, rs, 0) ignores the upper half. */
        TEST_RR(11, a0, 0xfffffffffedcba98, li a1, 0x12345678fedcba98; sext.w a0, a1)
        TEST_RR(12, a0, 0x0000000076543210, li a1, 0xfedcba9876543210; sext.w a0, a1)
        /* Logical ops. */
        TEST_RR(13, a0, 0x0f0f0f0f0f0f0f0f ^ 0xff00ff00ff00ff00, li a1, 0x0f0f0f0f0f0f0f0f; li a2, 0xff00ff00ff00ff00; xor a0, a1, a2)
        TEST_RR(14, a0, 0xff0fff0fff0fff0f, li a1, 0x0f0f0f0f0f0f0f0f; li a2, 0xff00ff00ff00ff00; or a0, a1, a2)
        TEST_RR(15, a0, 0x0f000f000f000f00, li a1, 0x0f0f0f0f0f0f0f0f; li a2, 0xff00ff00ff00ff00; and a0, a1, a2)
        TEST_RR(16, a0, 0xf0f0f0f0f0f0f0f0, li a1, 0x0f0f0f0f0f0f0f0f; xori a0, a1, -1)
        TEST_RR(17, a0, 0xfffffffffffff80f, li a1, 0x0f; ori a0, a1, -2048)
        TEST_RR(18, a0, 0x0f0f0f0f0f0f0800, li a1, 0x0f0f0f0f0f0f0f0f; andi a0, a1, -2048)
        /* Shifts by immediate: 0, 1, 31, 32, 63. */
        TEST_RR(19, a0, 0x8000000000000000, li a1, 1; slli a0, a1, 63)
        TEST_RR(20, a0, 1, li a1, 0x8000000000000000; srli a0, a1, 63)
        TEST_RR(21, a0, -1, li a1, 0x8000000000000000; srai a0, a1, 63)
        TEST_RR(22, a0, 0xffffffff80000000, li a1, 0x8000000000000000; srai a0, a1, 32)
        TEST_RR(23, a0, 0x0000000080000000, li a1, 0x8000000000000000; srli a0, a1, 32)
        TEST_RR(24, a0, 0x1234, li a1, 0x1234; slli a0, a1, 0)
        /* Shifts by register use only the low 6 bits: 64 acts as 0, 65 as 1. */
        TEST_RR(25, a0, 0x1234, li a1, 0x1234; li a2, 64; sll a0, a1, a2)
        TEST_RR(26, a0, 0x2468, li a1, 0x1234; li a2, 65; sll a0, a1, a2)
        TEST_RR(27, a0, 1, li a1, 0x8000000000000000; li a2, 63; srl a0, a1, a2)
        TEST_RR(28, a0, -1, li a1, 0x8000000000000000; li a2, -1; sra a0, a1, a2)
        TEST_RR(29, a0, 0x8000000000000000, li a1, 0x8000000000000000; li a2, 0xffffffffffffffc0; srl a0, a1, a2)
        /* 32-bit shifts: low 5 bits of the amount, result sign-extended. */
        TEST_RR(30, a0, 0xffffffff80000000, li a1, 1; slliw a0, a1, 31)
        TEST_RR(31, a0, 1, li a1, 0xffffffff80000000; srliw a0, a1, 31)
        TEST_RR(32, a0, -1, li a1, 0x0000000080000000; sraiw a0, a1, 31)
        TEST_RR(33, a0, 0x12345678, li a1, 0x12345678; li a2, 32; sllw a0, a1, a2)
        TEST_RR(34, a0, 0xffffffff80000000, li a1, 0x12345678ffffffff; li a2, 63; sllw a0, a1, a2)
        TEST_RR(35, a0, 0x0000000000000001, li a1, 0xffffffff80000000; li a2, 63; srlw a0, a1, a2)
        TEST_RR(36, a0, -1, li a1, 0x0000000080000000; li a2, 31; sraw a0, a1, a2)
        /* srliw of a value with bit 31 clear after shift: zero upper bits. */
        TEST_RR(37, a0, 0x7fffffff, li a1, 0xfffffffffffffffe; srliw a0, a1, 1)
        /* srliw by 0 still sign-extends bit 31. */
        TEST_RR(38, a0, 0xffffffff80000000, li a1, 0x0000000080000000; srliw a0, a1, 0)
        /* Compares: signed vs unsigned. */
        TEST_RR(39, a0, 1, li a1, -1; li a2, 0; slt a0, a1, a2)
        TEST_RR(40, a0, 0, li a1, -1; li a2, 0; sltu a0, a1, a2)
        TEST_RR(41, a0, 1, li a1, 0x8000000000000000; li a2, 0x7fffffffffffffff; slt a0, a1, a2)
        TEST_RR(42, a0, 0, li a1, 5; li a2, 5; slt a0, a1, a2)
        TEST_RR(43, a0, 1, li a1, -2; slti a0, a1, -1)
        /* sltiu sign-extends the immediate, then compares unsigned. */
        TEST_RR(44, a0, 1, li a1, 0xfffffffffffffffe; sltiu a0, a1, -1)
        TEST_RR(45, a0, 0, li a1, -1; sltiu a0, a1, -1)
        TEST_RR(46, a0, 1, li a1, 0; sltiu a0, a1, 1)   /* seqz */
        TEST_RR(47, a0, 1, li a1, 7; sltu a0, zero, a1) /* snez */
        /* LUI sign-extends bit 31 on RV64. */
        TEST_RR(48, a0, 0xffffffff80000000, lui a0, 0x80000)
        TEST_RR(49, a0, 0x7ffff000, lui a0, 0x7ffff)
        TEST_RR(50, a0, 0xfffffffffffff000, lui a0, 0xfffff)
        /* AUIPC adds to its own address. */
        TEST    51
1:      auipc   a0, 0
        la      a1, 1b
        CHECKR  a0, a1
        TEST    52
1:      auipc   a0, 0x80000              /* -2 GiB relative */
        la      a1, 1b
        li      a2, 0xffffffff80000000
        add     a1, a1, a2
        CHECKR  a0, a1
        /* Writes to x0 are discarded. */
        TEST_RR(53, a0, 0, li a1, 5; addi zero, a1, 1; add a0, zero, zero)
        TEST_RR(54, a0, 0, lui zero, 0x12345; mv a0, zero)
        /* rd == rs1 == rs2. */
        TEST_RR(55, a0, 26, li a0, 13; add a0, a0, a0)
        TEST_RR(56, a0, 0, li a0, 13; sub a0, a0, a0)
        j       pass
