/* Interrupts and delegation on the spike board: machine software (CLINT
 * msip) and timer (CLINT mtimecmp) interrupts, the software-writable
 * supervisor bits in mip, the global enables in each mode, priorities,
 * vectored mtvec, wfi (including waking on a timer), mideleg/medeleg to an
 * S-mode handler with scause/sepc/stval/sstatus, and exceptions in M-mode
 * never being delegated. */
#include "test.h"

#define INTR(n) (CAUSE_INTERRUPT | n)

/* Clear every interrupt source we use. */
.macro QUIET
        li      t0, CLINT_MSIP
        sw      zero, 0(t0)
        li      t0, CLINT_MTIMECMP
        li      t1, -1
        sd      t1, 0(t0)
        li      t0, MIP_SSIP | MIP_STIP | MIP_SEIP
        csrc    mip, t0
        csrw    mie, zero
        csrci   mstatus, MSTATUS_MIE | MSTATUS_SIE
.endm

        .text
        .globl main
main:
        QUIET
        /* CLINT msip sets mip.MSIP. */
        TEST    1
        li      s0, CLINT_MSIP
        li      t0, 1
        sw      t0, 0(s0)
        csrr    a0, mip
        andi    a0, a0, MIP_MSIP
        CHECK   a0, MIP_MSIP
        /* Pending but not enabled in mie: nothing happens even with MIE. */
        csrsi   mstatus, MSTATUS_MIE
        nop
        csrci   mstatus, MSTATUS_MIE
        /* Enabled in mie but MIE = 0 in M-mode: nothing. */
        TEST    2
        li      t0, MIP_MSIP
        csrs    mie, t0
        nop
        nop
        /* Setting MIE takes it at once: mepc = the next instruction. */
        TEST    3
        EXPECT_TRAP 2f
        csrsi   mstatus, MSTATUS_MIE
1:      j       fail
2:      CHECK_CAUSE INTR(IRQ_M_SOFT)
        CHECK_EPC 1b
        CHECK_TVAL 0
        sw      zero, 0(s0)
        csrr    a0, mip
        andi    a0, a0, MIP_MSIP
        CHECK   a0, 0
        /* The trap saved MIE = 1 in MPIE. */
        la      t0, trap_mstatus
        ld      t0, 0(t0)
        andi    t0, t0, MSTATUS_MPIE
        CHECK   t0, MSTATUS_MPIE
        QUIET

        /* Timer: MTIP follows mtime >= mtimecmp. */
        TEST    4
        li      s1, CLINT_MTIMECMP
        li      s2, CLINT_MTIME
        ld      t0, 0(s2)
        sd      t0, 0(s1)               /* already reached */
        csrr    a0, mip
        andi    a0, a0, MIP_MTIP
        CHECK   a0, MIP_MTIP
        li      t0, -1
        sd      t0, 0(s1)               /* far future: cleared */
        csrr    a0, mip
        andi    a0, a0, MIP_MTIP
        CHECK   a0, 0
        /* mtime advances (waits for it; the runner's timeout catches a
         * clock that never moves), and never goes backwards. */
        TEST    5
        ld      a0, 0(s2)
1:      ld      a1, 0(s2)
        beq     a1, a0, 1b
        bgtu    a1, a0, 1f
        j       fail
1:
        /* wfi with MIE = 0 wakes up when an enabled interrupt becomes
         * pending, and execution continues after it (no trap). The timer
         * fires 2 ms after now (10 MHz timebase). */
        TEST    6
        li      t0, MIP_MTIP
        csrw    mie, t0
        ld      t0, 0(s2)
        li      t1, 20000
        add     t0, t0, t1
        sd      t0, 0(s1)
        mv      s3, t0
1:      wfi
        ld      t0, 0(s2)
        bltu    t0, s3, 1b              /* wfi may return early; re-wait */
        csrr    a0, mip
        andi    a0, a0, MIP_MTIP
        CHECK   a0, MIP_MTIP
        /* Now take it. */
        TEST    7
        EXPECT_TRAP 1f
        csrsi   mstatus, MSTATUS_MIE
        j       fail
1:      CHECK_CAUSE INTR(IRQ_M_TIMER)
        QUIET

        /* Priorities among pending-and-enabled interrupts handled in M.
         * The spec orders them MEI > MSI > MTI > SEI > SSI > STI. QEMU 7.2
         * without AIA takes the lowest-numbered pending interrupt first
         * (SSI, MSI, STI, MTI, SEI, MEI). QEMU is the oracle, so this
         * checks QEMU's order; see README.md "Where QEMU differs". */
        TEST    8
        li      t0, 1
        sw      t0, 0(s0)               /* MSIP */
        sd      zero, 0(s1)             /* MTIP */
        li      t0, MIP_SSIP | MIP_STIP | MIP_SEIP
        csrs    mip, t0
        li      t0, MIP_MSIP | MIP_MTIP | MIP_SSIP | MIP_STIP | MIP_SEIP
        csrw    mie, t0
        EXPECT_TRAP 1f
        csrsi   mstatus, MSTATUS_MIE
        j       fail
1:      CHECK_CAUSE INTR(IRQ_S_SOFT)
        TEST    9
        li      t0, MIP_SSIP
        csrc    mie, t0
        EXPECT_TRAP 1f
        csrsi   mstatus, MSTATUS_MIE
        j       fail
1:      CHECK_CAUSE INTR(IRQ_M_SOFT)
        TEST    10
        li      t0, MIP_MSIP
        csrc    mie, t0
        EXPECT_TRAP 1f
        csrsi   mstatus, MSTATUS_MIE
        j       fail
1:      CHECK_CAUSE INTR(IRQ_S_TIMER)
        TEST    11
        li      t0, MIP_STIP
        csrc    mie, t0
        EXPECT_TRAP 1f
        csrsi   mstatus, MSTATUS_MIE
        j       fail
1:      CHECK_CAUSE INTR(IRQ_M_TIMER)
        TEST    12
        li      t0, MIP_MTIP
        csrc    mie, t0
        EXPECT_TRAP 1f
        csrsi   mstatus, MSTATUS_MIE
        j       fail
1:      CHECK_CAUSE INTR(IRQ_S_EXT)
        QUIET

        /* M-level interrupts are always enabled in S and U, whatever
         * mstatus.MIE says. */
        TEST    13
        li      t0, MIP_MSIP
        csrw    mie, t0
        li      t0, 1
        sw      t0, 0(s0)
        EXPECT_TRAP 1f
        ENTER_MODE PRV_U, 2f
2:      nop
        j       2b
1:      CHECK_CAUSE INTR(IRQ_M_SOFT)
        CHECK_TRAP_MODE PRV_U
        QUIET

        /* Vectored mtvec: interrupts go to base + 4 * cause, exceptions to
         * base. Each vector entry loads its index into t4 and enters the
         * common handler. */
        la      t0, vectors
        ori     t0, t0, 1
        csrw    mtvec, t0
        TEST    14
        li      t4, -1
        li      t0, MIP_MSIP
        csrw    mie, t0
        li      t0, 1
        sw      t0, 0(s0)
        EXPECT_TRAP 1f
        csrsi   mstatus, MSTATUS_MIE
        j       fail
1:      CHECK   t4, IRQ_M_SOFT
        CHECK_CAUSE INTR(IRQ_M_SOFT)
        QUIET
        TEST    15
        li      t4, -1
        li      t0, MIP_SSIP
        csrw    mie, t0
        csrs    mip, t0
        EXPECT_TRAP 1f
        csrsi   mstatus, MSTATUS_MIE
        j       fail
1:      CHECK   t4, IRQ_S_SOFT
        QUIET
        TEST    16
        li      t4, -1
        EXPECT_TRAP 1f
        ecall
1:      CHECK   t4, 0
        CHECK_CAUSE CAUSE_MACHINE_ECALL
        la      t0, trap_entry
        csrw    mtvec, t0

        /* Delegation to S. The S handler records scause/sepc/stval and
         * sstatus, then ecalls to M (which resumes the test). */
        la      t0, s_handler
        csrw    stvec, t0
        /* A delegated interrupt is not taken in M-mode, even with SIE. */
        TEST    17
        li      t0, MIP_SSIP
        csrw    mideleg, t0
        csrw    mie, t0
        csrs    mip, t0
        csrsi   mstatus, MSTATUS_SIE | MSTATUS_MIE
        nop
        nop
        csrci   mstatus, MSTATUS_SIE | MSTATUS_MIE
        /* In S with SIE = 0: not taken. */
        MODE_OK_CASE(18, PRV_S, nop; nop)
        /* In S with SIE = 1: taken by S, from S. */
        TEST    19
        csrsi   mstatus, MSTATUS_SIE
        EXPECT_TRAP 1f
        ENTER_MODE PRV_S, 2f
2:      nop
        j       2b
1:      CHECK_CAUSE CAUSE_SUPERVISOR_ECALL          /* the handler's ecall */
        CHECK_MEM s_scause, INTR(IRQ_S_SOFT)
        la      t0, s_sstatus
        ld      t0, 0(t0)
        andi    t1, t0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
        CHECK   t1, MSTATUS_SPP | MSTATUS_SPIE      /* from S, SIE was 1, now 0 */
        /* In U: taken by S even with SIE = 0; SPP = U. */
        TEST    20
        csrci   mstatus, MSTATUS_SIE
        EXPECT_TRAP 1f
        ENTER_MODE PRV_U, 2f
2:      nop
        j       2b
1:      CHECK_MEM s_scause, INTR(IRQ_S_SOFT)
        la      t0, s_sstatus
        ld      t0, 0(t0)
        andi    t1, t0, MSTATUS_SPP | MSTATUS_SPIE
        CHECK   t1, 0
        /* sip shows the delegated pending bit; S can clear it. */
        MODE_OK_CASE(21, PRV_S, csrr a0, sip; csrci sip, MIP_SSIP; csrr a1, sip)
        andi    a0, a0, MIP_SSIP
        CHECK   a0, MIP_SSIP
        andi    a1, a1, MIP_SSIP
        CHECK   a1, 0
        QUIET
        csrw    mideleg, zero

        /* Exception delegation: ecall and illegal instruction from U go to
         * S; stval holds the instruction bits for illegal. */
        li      t0, (1 << CAUSE_USER_ECALL) | (1 << CAUSE_ILLEGAL_INSTRUCTION) | (1 << CAUSE_BREAKPOINT)
        csrw    medeleg, t0
        TEST    22
        EXPECT_TRAP 1f
        ENTER_MODE PRV_U, 2f
2:      ecall
        j       fail
1:      CHECK_CAUSE CAUSE_SUPERVISOR_ECALL
        CHECK_MEM s_scause, CAUSE_USER_ECALL
        la      t0, 2b
        la      t1, s_sepc
        ld      t1, 0(t1)
        CHECKR  t0, t1
        TEST    23
        EXPECT_TRAP 1f
        ENTER_MODE PRV_U, 2f
2:      .word   0xffffffff
        j       fail
1:      CHECK_MEM s_scause, CAUSE_ILLEGAL_INSTRUCTION
        CHECK_MEM s_stval, 0xffffffff
        /* ecall from S is not delegated (bit 9 clear): goes to M. */
        MODE_TRAP_CASE(24, PRV_S, CAUSE_SUPERVISOR_ECALL, ecall)
        /* A delegated exception raised in M-mode stays in M. */
        TRAP_CASE(25, CAUSE_ILLEGAL_INSTRUCTION, .word 0xffffffff)
        TRAP_CASE(26, CAUSE_BREAKPOINT, ebreak)
        /* A delegated exception raised in S is handled in S (breakpoint). */
        TEST    27
        la      t0, s_scause
        sd      zero, 0(t0)
        EXPECT_TRAP 1f
        ENTER_MODE PRV_S, 2f
2:      ebreak
        j       fail
1:      CHECK_MEM s_scause, CAUSE_BREAKPOINT
        csrw    medeleg, zero

        /* Vectored stvec: delegated interrupts go to base + 4 * cause. */
        TEST    28
        la      t0, s_vectors
        ori     t0, t0, 1
        csrw    stvec, t0
        li      t0, MIP_STIP
        csrw    mideleg, t0
        csrw    mie, t0
        csrs    mip, t0
        li      t4, -1
        EXPECT_TRAP 1f
        ENTER_MODE PRV_U, 2f
2:      nop
        j       2b
1:      CHECK   t4, IRQ_S_TIMER
        QUIET
        csrw    mideleg, zero

        /* An interrupt for M beats a delegated one for S, whatever their
         * numbers: in U with SSIP (delegated) and MTIP pending, M's timer
         * interrupt is taken, by M. */
        TEST    29
        la      t0, s_handler
        csrw    stvec, t0
        li      t0, MIP_SSIP
        csrw    mideleg, t0
        csrs    mip, t0
        sd      zero, 0(s1)
        li      t0, MIP_SSIP | MIP_MTIP
        csrw    mie, t0
        EXPECT_TRAP 1f
        ENTER_MODE PRV_U, 2f
2:      nop
        j       2b
1:      CHECK_CAUSE INTR(IRQ_M_TIMER)
        CHECK_TRAP_MODE PRV_U
        QUIET
        csrw    mideleg, zero

        /* A timer interrupt arriving while a tight loop spins on itself
         * (a block chained to itself) is taken. */
        TEST    30
        li      t0, MIP_MTIP
        csrw    mie, t0
        ld      t0, 0(s2)
        addi    t0, t0, 500
        sd      t0, 0(s1)
        EXPECT_TRAP 1f
        csrsi   mstatus, MSTATUS_MIE
2:      j       2b
1:      CHECK_CAUSE INTR(IRQ_M_TIMER)
        la      t0, 2b
        la      t1, trap_mepc
        ld      t1, 0(t1)
        CHECKR  t0, t1                  /* mepc = the spinning jump */
        QUIET

        /* Precise interrupts: a loop keeps two counters in registers while
         * a periodic timer interrupt (re-armed by its own handler, which
         * returns to mepc) fires; every interrupt must leave the loop
         * state exact. The loop runs until 50 interrupts have been taken,
         * however fast or slow the emulator is. */
        TEST    31
        la      t0, tick_handler
        csrw    mtvec, t0
        la      s3, ticks
        sd      zero, 0(s3)
        li      t0, MIP_MTIP
        csrw    mie, t0
        ld      t0, 0(s2)
        addi    t0, t0, 100
        sd      t0, 0(s1)
        li      a0, 0
        li      a1, 0
        li      a2, 50
        csrsi   mstatus, MSTATUS_MIE
3:      addi    a0, a0, 1
        addi    a1, a1, 3
        slli    a3, a0, 1
        add     a3, a3, a0              /* a3 = 3 * a0 must equal a1 */
        bne     a3, a1, fail
        ld      a4, 0(s3)
        bltu    a4, a2, 3b
        csrci   mstatus, MSTATUS_MIE
        la      t0, trap_entry
        csrw    mtvec, t0
        TEST    32
        slli    a3, a0, 1
        add     a3, a3, a0
        CHECKR  a1, a3
4:      QUIET
        j       pass

/* Periodic timer handler for test 31: count, re-arm 100 ticks ahead,
 * return to the interrupted instruction. */
        .align  2
tick_handler:
        csrw    mscratch, t0
        la      t0, tick_save
        sd      t1, 0(t0)
        sd      t2, 8(t0)
        csrr    t1, mcause
        li      t2, INTR(IRQ_M_TIMER)
        beq     t1, t2, 1f
        j       trap_entry              /* anything else: unexpected */
1:      la      t1, ticks
        ld      t2, 0(t1)
        addi    t2, t2, 1
        sd      t2, 0(t1)
        li      t1, CLINT_MTIME
        ld      t2, 0(t1)
        addi    t2, t2, 100
        li      t1, CLINT_MTIMECMP
        sd      t2, 0(t1)
        ld      t1, 0(t0)
        ld      t2, 8(t0)
        csrr    t0, mscratch
        mret

/* S-mode trap handler: record and return to M through ecall. */
        .align  2
s_handler:
        csrw    sscratch, t0
        la      t0, s_scause
        csrr    t1, scause
        sd      t1, 0(t0)
        csrr    t1, sepc
        sd      t1, 8(t0)
        csrr    t1, stval
        sd      t1, 16(t0)
        csrr    t1, sstatus
        sd      t1, 24(t0)
        /* Don't let the delegated interrupt fire again in S. */
        csrci   sstatus, MSTATUS_SIE
        ecall

        .option push
        .option norvc
        .align  6
vectors:
        .irp    i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
        j       vec\i
        .endr
        .irp    i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
vec\i:  li      t4, \i
        j       trap_entry
        .endr
        .align  6
s_vectors:
        .irp    i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
        j       svec\i
        .endr
        .irp    i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
svec\i: li      t4, \i
        j       s_handler
        .endr
        .option pop

        .data
        .align  3
ticks:     .dword 0
tick_save: .dword 0, 0
s_scause:  .dword 0
s_sepc:    .dword 0
s_stval:   .dword 0
s_sstatus: .dword 0
