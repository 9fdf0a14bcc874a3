/* RV64I control transfer and memory: every branch condition (signed and
 * unsigned edges, taken and not taken, forward and backward), JAL/JALR
 * link values, JALR clearing bit 0 and adding its offset, and every load
 * and store width with sign/zero extension and negative offsets. */
#include "test.h"

/* Sub-test n: branch insn a1, a2 with the given operands; a0 = 1 if
 * taken, 0 if not; must equal taken. */
#define BR(n, insn, x, y, taken) \
        TEST n; li a1, x; li a2, y; li a0, 1; insn a1, a2, 1f; li a0, 0; 1: CHECK a0, taken

        .text
        .globl main
main:
        BR(1, beq, 5, 5, 1)
        BR(2, beq, 5, 6, 0)
        BR(3, bne, 5, 6, 1)
        BR(4, bne, -1, -1, 0)
        BR(5, blt, -1, 0, 1)
        BR(6, blt, 0, -1, 0)
        BR(7, blt, 0x8000000000000000, 0x7fffffffffffffff, 1)
        BR(8, blt, 3, 3, 0)
        BR(9, bge, 3, 3, 1)
        BR(10, bge, -1, 0, 0)
        BR(11, bge, 0x7fffffffffffffff, 0x8000000000000000, 1)
        BR(12, bltu, 0, -1, 1)
        BR(13, bltu, -1, 0, 0)
        BR(14, bltu, 0x7fffffffffffffff, 0x8000000000000000, 1)
        BR(15, bgeu, -1, 0, 1)
        BR(16, bgeu, 0, -1, 0)
        BR(17, bgeu, 7, 7, 1)
        /* Backward branch loop: sum 1..10. */
        TEST    18
        li      a0, 0
        li      a1, 10
1:      add     a0, a0, a1
        addi    a1, a1, -1
        bnez    a1, 1b
        CHECK   a0, 55
        /* JAL links pc+4 and jumps. */
        TEST    19
        jal     a1, 2f
1:      j       fail
2:      la      a2, 1b
        CHECKR  a1, a2
        /* JALR: target = (rs1 + imm) & ~1, link = pc+4, rd == rs1 works. */
        TEST    20
        la      a1, 3f
        addi    a1, a1, -3               /* odd, -3 from target ... */
        jalr    a2, 3(a1)                /* ... +3 = target: fine */
1:      j       fail
3:      la      a3, 1b
        CHECKR  a2, a3
        TEST    21
        la      a1, 3f
        ori     a1, a1, 1                /* bit 0 set: cleared by jalr */
        jalr    a1, 0(a1)                /* rd == rs1: uses old value */
1:      j       fail
3:      la      a3, 1b
        CHECKR  a1, a3
        /* jalr with x0 link (plain jump) and negative offset. */
        TEST    22
        la      a1, 3f
        addi    a1, a1, 16
        jalr    zero, -16(a1)
        j       fail
3:
        /* Loads: sign and zero extension of every width. */
        la      s0, data
        TEST_RR(23, a0, 0xffffffffffffff80, lb a0, 0(s0))
        TEST_RR(24, a0, 0x80, lbu a0, 0(s0))
        TEST_RR(25, a0, 0xffffffffffff8180, lh a0, 0(s0))
        TEST_RR(26, a0, 0x8180, lhu a0, 0(s0))
        TEST_RR(27, a0, 0xffffffff83828180, lw a0, 0(s0))
        TEST_RR(28, a0, 0x83828180, lwu a0, 0(s0))
        TEST_RR(29, a0, 0x8786858483828180, ld a0, 0(s0))
        TEST_RR(30, a0, 0x7f, lb a0, 8(s0))
        TEST_RR(31, a0, 0x7f7f, lh a0, 8(s0))
        TEST_RR(32, a0, 0x7f7f7f7f, lw a0, 8(s0))
        /* Negative offsets. */
        addi    s1, s0, 16
        TEST_RR(33, a0, 0x7f7f7f7f7f7f7f7f, ld a0, -8(s1))
        TEST_RR(34, a0, 0xffffffffffffff87, lb a0, -9(s1))
        /* Stores write only their width. */
        la      s2, scratch
        TEST_RR(35, a0, 0x00000000000000ef, li a1, -1; sd a1, 8(s2); sd zero, 0(s2); li a1, 0x1234567890abcdef; sb a1, 0(s2); ld a0, 0(s2))
        TEST_RR(36, a0, 0x000000000000cdef, sd zero, 0(s2); sh a1, 0(s2); ld a0, 0(s2))
        TEST_RR(37, a0, 0x0000000090abcdef, sd zero, 0(s2); sw a1, 0(s2); ld a0, 0(s2))
        TEST_RR(38, a0, 0x1234567890abcdef, sd zero, 0(s2); sd a1, 0(s2); ld a0, 0(s2))
        TEST_RR(39, a0, -1, ld a0, 8(s2))           /* untouched neighbour */
        TEST_RR(40, a0, 0x12345678ffffcdef, sd a1, 0(s2); li a2, -1; sh a2, 2(s2); ld a0, 0(s2))
        TEST_RR(44, a0, 0x12345678efffcdef, sb a1, 3(s2); ld a0, 0(s2))
        /* Load into x0 still performs the access (no trap here) and keeps x0 = 0. */
        TEST_RR(41, a0, 0, ld zero, 0(s0); mv a0, zero)
        /* Store then load-back of the same location (forwarding). */
        TEST_RR(42, a0, 0xffffffffffffffaa, li a1, 0xaa; sb a1, 5(s2); lb a0, 5(s2))
        /* FENCE and FENCE.TSO decode and do nothing observable here. */
        TEST    43
        fence
        fence   rw, rw
        fence.tso
        fence   iorw, iorw
        /* PAUSE (Zihintpause) is a FENCE hint. */
        .word   0x0100000f
        j       pass

        .data
        .align  3
data:   .byte 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87
        .byte 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f
scratch: .dword 0, 0
