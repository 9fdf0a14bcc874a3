/* Misaligned loads and stores: QEMU does them in hardware, so every width
 * at every misalignment succeeds with the right bytes and sign extension,
 * including FP loads/stores, accesses crossing a page boundary, and
 * compressed forms. (Misaligned atomics trap: see rv64a.S.) */
#include "test.h"

        .text
        .globl main
main:
        la      s0, buf
        /* buf holds bytes 0x80, 0x81, ... 0xbf. */
        TEST_RR(1, a0, 0xffffffffffff8281, lh a0, 1(s0))
        TEST_RR(2, a0, 0x8281, lhu a0, 1(s0))
        TEST_RR(3, a0, 0xffffffff84838281, lw a0, 1(s0))
        TEST_RR(4, a0, 0xffffffff85848382, lw a0, 2(s0))
        TEST_RR(5, a0, 0xffffffff86858483, lw a0, 3(s0))
        TEST_RR(6, a0, 0x86858483, lwu a0, 3(s0))
        TEST_RR(7, a0, 0x8887868584838281, ld a0, 1(s0))
        TEST_RR(8, a0, 0x8c8b8a8988878685, ld a0, 5(s0))
        TEST_RR(9, a0, 0x8e8d8c8b8a898887, ld a0, 7(s0))
        /* Misaligned stores write exactly their bytes. */
        TEST    10
        la      s1, out
        sd      zero, 0(s1)
        sd      zero, 8(s1)
        li      a1, 0x1122334455667788
        sd      a1, 3(s1)
        ld      a0, 0(s1)
        CHECK   a0, 0x4455667788000000
        ld      a0, 8(s1)
        CHECK   a0, 0x0000000000112233
        TEST    11
        sd      zero, 0(s1)
        sw      a1, 7(s1)
        ld      a0, 0(s1)
        CHECK   a0, 0x8800000000000000
        ld      a0, 8(s1)
        CHECK   a0, 0x0000000000556677
        TEST    12
        sd      zero, 8(s1)
        sh      a1, 9(s1)
        ld      a0, 8(s1)
        CHECK   a0, 0x0000000000778800
        /* FP loads and stores. */
        TEST    13
        fld     fa0, 1(s0)
        fmv.x.d a0, fa0
        CHECK   a0, 0x8887868584838281
        flw     fa1, 3(s0)
        fmv.x.d a0, fa1
        CHECK   a0, 0xffffffff86858483
        fsd     fa0, 17(s1)
        ld      a0, 17(s1)
        CHECK   a0, 0x8887868584838281
        fsw     fa1, 27(s1)
        lwu     a0, 27(s1)
        CHECK   a0, 0x86858483
        /* Compressed loads/stores at a misaligned base. */
        TEST    14
        addi    s1, s1, 1
        c.sd    a1, 8(s1)
        c.ld    a0, 8(s1)
        CHECKR  a0, a1
        c.lw    a0, 8(s1)
        CHECK   a0, 0x55667788
        addi    s1, s1, -1
        /* Crossing a 4 KiB page boundary: the two halves come from two
         * pages. */
        la      s2, pages
        li      t0, 4096
        add     s2, s2, t0              /* start of the second page */
        TEST    15
        li      a1, 0x0102030405060708
        sd      a1, -3(s2)
        ld      a0, -3(s2)
        CHECKR  a0, a1
        lbu     a0, -3(s2)
        CHECK   a0, 0x08
        lbu     a0, 4(s2)
        CHECK   a0, 0x01
        TEST_RR(16, a0, 0x0506, lhu a0, -1(s2))
        TEST_RR(17, a0, 0x04050607, lw a0, -2(s2))
        /* No trap was taken by any of the above. */
        TEST    18
        CHECK_MEM trap_count, 0
        j       pass

        .data
        .align  4
buf:
        .irp    i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .byte   0x80 + \i
        .endr
        .align  4
out:    .skip   64
        .align  12
pages:  .skip   8192
