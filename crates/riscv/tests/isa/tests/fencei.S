/* Self-modifying code and fence.i: code written by stores (word, halfword
 * into a compressed instruction, AMO) and then executed after fence.i
 * runs the new instructions, whether the old ones were executed before
 * (and so translated and cached) or not, including a patch to the code
 * right after the fence.i in the same block, and a routine that has run
 * hot in a loop before being rewritten. */
#include "test.h"

#define LI_A0(v)   (0x00000513 | ((v) << 20))   /* addi a0, zero, v */
#define RET        0x00008067                   /* jalr zero, 0(ra) */
#define C_LI_A0(v) (0x4501 | ((v) << 2))        /* c.li a0, v (0..31) */

        .text
        .globl main
main:
        la      s0, codebuf
        /* Write "li a0, 1; ret", run it. */
        TEST    1
        li      t0, LI_A0(1)
        sw      t0, 0(s0)
        li      t0, RET
        sw      t0, 4(s0)
        fence.i
        jalr    ra, 0(s0)
        CHECK   a0, 1
        /* Rewrite the (now translated) routine: "li a0, 2". */
        TEST    2
        li      t0, LI_A0(2)
        sw      t0, 0(s0)
        fence.i
        jalr    ra, 0(s0)
        CHECK   a0, 2
        /* Rewrite it several times in a row. */
        TEST    3
        li      s1, 3
1:      li      t0, LI_A0(0)
        slli    t1, s1, 20
        or      t0, t0, t1
        sw      t0, 0(s0)
        fence.i
        jalr    ra, 0(s0)
        CHECKR  a0, s1
        addi    s1, s1, 1
        li      t0, 10
        bne     s1, t0, 1b
        /* Run it hot, then rewrite it. */
        TEST    4
        li      s1, 1000
        li      s2, 0
1:      jalr    ra, 0(s0)
        add     s2, s2, a0
        addi    s1, s1, -1
        bnez    s1, 1b
        CHECK   s2, 9000
        li      t0, LI_A0(42)
        sw      t0, 0(s0)
        fence.i
        jalr    ra, 0(s0)
        CHECK   a0, 42
        /* Patch a compressed instruction with a 16-bit store. */
        TEST    5
        li      t0, C_LI_A0(1)
        sh      t0, 0(s0)
        li      t0, 0x8082              /* c.ret */
        sh      t0, 2(s0)
        fence.i
        jalr    ra, 0(s0)
        CHECK   a0, 1
        li      t0, C_LI_A0(7)
        sh      t0, 0(s0)
        fence.i
        jalr    ra, 0(s0)
        CHECK   a0, 7
        /* An AMO writing code. */
        TEST    6
        li      t0, LI_A0(11)
        sw      t0, 0(s0)
        li      t0, RET
        sw      t0, 4(s0)
        fence.i
        jalr    ra, 0(s0)
        CHECK   a0, 11
        li      t0, LI_A0(12)
        amoswap.w t1, t0, (s0)
        CHECK   t1, LI_A0(11)
        fence.i
        jalr    ra, 0(s0)
        CHECK   a0, 12
        /* Patch the instruction just after the fence.i, in the same
         * block of straight-line code we are running. */
        TEST    7
        la      t0, 2f
        li      t1, LI_A0(5)
        sw      t1, 0(t0)
        fence.i
        .option push
        .option norvc                   /* a 4-byte addi, to be patched */
2:      li      a0, 3                   /* replaced by li a0, 5 */
        .option pop
        CHECK   a0, 5
        /* ... and run the patched code again in a loop, to be sure the
         * stale translation is gone for good. */
        TEST    8
        li      s1, 3
        li      s2, 0
3:      la      t0, 4f
        slli    t1, s1, 20
        li      t2, LI_A0(0)
        or      t1, t1, t2
        sw      t1, 0(t0)
        fence.i
        .option push
        .option norvc
4:      li      a0, 0                   /* replaced by li a0, s1 */
        .option pop
        add     s2, s2, a0
        addi    s1, s1, -1
        bnez    s1, 3b
        CHECK   s2, 6
        j       pass

        .data
        .align  6
codebuf: .skip  64
