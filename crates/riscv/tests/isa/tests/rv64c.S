/* RV64C: every compressed encoding (quadrants 0-2, integer and double FP),
 * immediates at their edges, 32-bit instructions at 2-byte-aligned
 * addresses and across a page boundary, and the reserved encodings that
 * must raise illegal-instruction. */
#include "test.h"

        .option rvc
        .text
        .globl main
main:
        la      s0, buf                 /* s0 = x8, s1 = x9 (c. regs) */
        /* Quadrant 1: immediates. */
        TEST_RR(1, a0, -32, c.li a0, -32)
        TEST_RR(2, a0, 31, c.li a0, 31)
        TEST_RR(3, a0, 0xfffffffffffe0000, c.lui a0, 0xfffe0)   /* nzimm = -32 << 12 */
        TEST_RR(4, a0, 0x1f000, c.lui a0, 0x1f)
        TEST_RR(5, a0, 10, li a0, 42; c.addi a0, -32)
        TEST_RR(6, a0, 0xffffffff80000000, li a0, 0x7fffffff; c.addiw a0, 1)
        TEST_RR(7, a0, 0x00000000ffffffff & 0x7fffffff, li a0, 0x123456787fffffff; c.addiw a0, 0)  /* sext.w */
        TEST    8
        mv      a1, sp
        c.addi16sp sp, -512
        addi    a2, a1, -512
        CHECKR  sp, a2
        c.addi16sp sp, 496
        c.addi16sp sp, 16
        CHECKR  sp, a1
        TEST    9
        c.addi4spn a0, sp, 1020
        addi    a2, sp, 1020
        CHECKR  a0, a2
        c.addi4spn a0, sp, 4
        addi    a2, sp, 4
        CHECKR  a0, a2
        /* Shifts (RV64: 6-bit shamt) and logic. */
        TEST_RR(10, a0, 1, li a0, 0x8000000000000000; c.srli a0, 63)
        TEST_RR(11, a0, -1, li a0, 0x8000000000000000; c.srai a0, 63)
        TEST_RR(12, a0, 0xffffffff80000000, li a0, 0x8000000000000000; c.srai a0, 32)
        TEST_RR(13, a0, 0x8000000000000000, li a0, 1; c.slli a0, 63)
        TEST_RR(14, a0, 0xffffffffffffffe0, li a0, -1; c.andi a0, -32)
        TEST_RR(15, a0, 0x1f, li a0, 0xff; c.andi a0, 31)
        TEST_RR(16, a0, 3, li a0, 10; li a1, 7; c.sub a0, a1)
        TEST_RR(17, a0, 0xff, li a0, 0xf0; li a1, 0x0f; c.xor a0, a1)
        TEST_RR(18, a0, 0xff, li a0, 0xf0; li a1, 0x0f; c.or a0, a1)
        TEST_RR(19, a0, 0x30, li a0, 0xf0; li a1, 0x3f; c.and a0, a1)
        TEST_RR(20, a0, 0xffffffff80000000, li a0, 0x7fffffff; li a1, -1; c.subw a0, a1)
        TEST_RR(21, a0, 0xffffffff80000000, li a0, 0x7fffffff; li a1, 1; c.addw a0, a1)
        /* Quadrant 2: mv/add. */
        TEST_RR(22, a0, 0x123456789, li a1, 0x123456789; c.mv a0, a1)
        TEST_RR(23, a0, 0x12345678a, li a0, 1; li a1, 0x123456789; c.add a0, a1)
        /* Loads/stores, register-based (quadrant 0), max offsets. */
        TEST    24
        li      a1, 0x8877665544332211
        c.sd    a1, 248(s0)
        c.ld    a0, 248(s0)
        CHECKR  a0, a1
        c.sw    a1, 124(s0)
        c.lw    a0, 124(s0)
        CHECK   a0, 0x44332211
        li      a1, 0x80000000
        c.sw    a1, 0(s0)
        c.lw    a0, 0(s0)
        CHECK   a0, 0xffffffff80000000   /* c.lw sign-extends */
        /* Stack-pointer based loads/stores. */
        TEST    25
        addi    sp, sp, -512
        li      a1, 0x1122334455667788
        c.sdsp  a1, 504(sp)
        c.ldsp  a0, 504(sp)
        CHECKR  a0, a1
        c.swsp  a1, 252(sp)
        c.lwsp  a0, 252(sp)
        CHECK   a0, 0x55667788
        li      a1, 0xfedcba98
        c.swsp  a1, 0(sp)
        c.lwsp  a0, 0(sp)
        CHECK   a0, 0xfffffffffedcba98
        /* Double FP loads/stores (register- and sp-based). */
        TEST    26
        li      a1, 0x400921fb54442d18
        sd      a1, 0(s0)
        c.fld   fa0, 0(s0)
        c.fsd   fa0, 248(s0)
        ld      a0, 248(s0)
        CHECKR  a0, a1
        c.fsdsp fa0, 504(sp)
        c.fldsp fa1, 504(sp)
        fmv.x.d a0, fa1
        CHECKR  a0, a1
        addi    sp, sp, 512
        /* Jumps and branches. */
        TEST    27
        li      a0, 0
        c.j     1f
        li      a0, 1
1:      CHECK   a0, 0
        TEST    28
        li      a1, 0
        li      a0, 1
        c.beqz  a1, 1f
        li      a0, 0
1:      CHECK   a0, 1
        li      a1, 5
        c.beqz  a1, 2f
        c.bnez  a1, 3f
2:      j       fail
3:      li      a1, 0
        c.bnez  a1, 2b
        /* Backward c.bnez loop. */
        TEST    29
        li      a0, 0
        li      a1, 5
1:      c.addi  a0, 2
        c.addi  a1, -1
        c.bnez  a1, 1b
        CHECK   a0, 10
        /* c.jr / c.jalr: c.jalr links pc + 2. */
        TEST    30
        la      a1, 1f
        c.jr    a1
        j       fail
1:      la      a1, 2f
        c.jalr  a1
3:      j       fail
2:      la      a2, 3b
        CHECKR  ra, a2
        /* c.ebreak: breakpoint, mepc at the 2-byte instruction. */
        TRAP_CASE(31, CAUSE_BREAKPOINT, c.ebreak)
        /* c.nop and HINTs (c.addi x0, c.slli x0, c.mv x0, c.li x0) do
         * nothing and do not trap. */
        TEST    32
        c.nop
        .hword  0x0005                  /* c.addi x0, 1: HINT */
        .hword  0x0006                  /* c.slli x0, 1: HINT */
        .hword  0x802e                  /* c.mv x0, a1: HINT */
        .hword  0x4005                  /* c.li x0, 1: HINT */
        CHECK   zero, 0
        /* A 32-bit instruction at an address that is 2 mod 4. */
        TEST    33
        .balign 4
        c.nop
        li      a0, 0x123
        addi    a0, a0, 1
        CHECK   a0, 0x124
        /* A 32-bit instruction straddling a page boundary. */
        TEST    34
        li      a0, 0
        j       straddle
back34: CHECK   a0, 77

        /* Reserved compressed encodings raise illegal-instruction, with
         * mtval = the 16-bit instruction bits (QEMU 7.2 fills mtval for
         * illegal instructions). */
        TRAP_CASE_TVAL(35, CAUSE_ILLEGAL_INSTRUCTION, 0, .hword 0x0000)    /* all zeros: defined illegal */
        TRAP_CASE_TVAL(36, CAUSE_ILLEGAL_INSTRUCTION, 0x0008, .hword 0x0008) /* c.addi4spn nzuimm=0 */
        TRAP_CASE_TVAL(37, CAUSE_ILLEGAL_INSTRUCTION, 0x6281, .hword 0x6281) /* c.lui x5, 0 */
        TRAP_CASE_TVAL(38, CAUSE_ILLEGAL_INSTRUCTION, 0x6101, .hword 0x6101) /* c.addi16sp 0 */
        TRAP_CASE_TVAL(39, CAUSE_ILLEGAL_INSTRUCTION, 0x8002, .hword 0x8002) /* c.jr x0 */
        TRAP_CASE_TVAL(40, CAUSE_ILLEGAL_INSTRUCTION, 0x4002, .hword 0x4002) /* c.lwsp x0 */
        TRAP_CASE_TVAL(41, CAUSE_ILLEGAL_INSTRUCTION, 0x6002, .hword 0x6002) /* c.ldsp x0 */
        TRAP_CASE_TVAL(42, CAUSE_ILLEGAL_INSTRUCTION, 0x2001, .hword 0x2001) /* c.addiw x0 */
        TRAP_CASE_TVAL(43, CAUSE_ILLEGAL_INSTRUCTION, 0x9c41, .hword 0x9c41) /* quadrant 1 reserved (funct6=100111, funct2=10) */
        j       pass

        /* Page-straddling code lives on its own page. */
        .section .text.straddle, "ax"
        .balign 4096
        .skip   4096 - 6
straddle:
        c.nop
        c.nop
        addi    a0, a0, 77              /* bytes 4094..4097 */
        j       back34

        .data
        .align  3
buf:    .skip   256
