/* Helpers for the C test programs: running code in another privilege
 * mode, and small position-independent access stubs that such code can
 * be (they end with ecall, which returns to M). */
#include "encoding.h"

        .option norelax
        .text
/* uint64_t mode_call(uint64_t mode, uint64_t pc, uint64_t a0, uint64_t a1)
 *
 * Enters privilege `mode` (PRV_U, PRV_S, or PRV_M) at `pc` with a0/a1 set
 * and runs until the next trap, which the runtime's trap handler returns
 * here. Returns that trap's mcause; the code's a0 at the trap is left in
 * mode_call_a0 (and mtval/mepc in trap_mtval/trap_mepc). Interrupts stay
 * as configured by the caller. */
        .globl mode_call
mode_call:
        la      t0, mode_call_save
        sd      ra, 0(t0)
        sd      sp, 8(t0)
        sd      s0, 16(t0)
        sd      s1, 24(t0)
        sd      s2, 32(t0)
        sd      s3, 40(t0)
        sd      s4, 48(t0)
        sd      s5, 56(t0)
        sd      s6, 64(t0)
        sd      s7, 72(t0)
        sd      s8, 80(t0)
        sd      s9, 88(t0)
        sd      s10, 96(t0)
        sd      s11, 104(t0)
        sd      gp, 112(t0)
        sd      tp, 120(t0)
        la      t1, 1f
        la      t2, trap_resume
        sd      t1, 0(t2)
        li      t1, MSTATUS_MPP
        csrc    mstatus, t1
        andi    a0, a0, 3
        slli    a0, a0, 11
        csrs    mstatus, a0
        csrw    mepc, a1
        mv      a0, a2
        mv      a1, a3
        mret
1:      la      t0, mode_call_a0
        sd      a0, 0(t0)
        la      t0, mode_call_save
        ld      ra, 0(t0)
        ld      sp, 8(t0)
        ld      s0, 16(t0)
        ld      s1, 24(t0)
        ld      s2, 32(t0)
        ld      s3, 40(t0)
        ld      s4, 48(t0)
        ld      s5, 56(t0)
        ld      s6, 64(t0)
        ld      s7, 72(t0)
        ld      s8, 80(t0)
        ld      s9, 88(t0)
        ld      s10, 96(t0)
        ld      s11, 104(t0)
        ld      gp, 112(t0)
        ld      tp, 120(t0)
        la      t0, trap_mcause
        ld      a0, 0(t0)
        ret

/* uint64_t mprv_ld(uint64_t addr, uint64_t mpp)
 *
 * A 64-bit load from M-mode with mstatus.MPRV = 1 and MPP = mpp, so it is
 * translated and checked as if by mode mpp. Returns -1 and leaves the
 * value in mode_call_a0 if it succeeded, or the trap's mcause. */
        .globl mprv_ld
mprv_ld:
        la      t0, 1f
        la      t1, trap_resume
        sd      t0, 0(t1)
        li      t0, MSTATUS_MPP
        csrc    mstatus, t0
        andi    a1, a1, 3
        slli    a1, a1, 11
        csrs    mstatus, a1
        li      t0, MSTATUS_MPRV
        csrs    mstatus, t0
        ld      a0, 0(a0)
        csrc    mstatus, t0
        la      t1, trap_resume
        sd      zero, 0(t1)
        la      t1, mode_call_a0
        sd      a0, 0(t1)
        li      a0, -1
        ret
1:      /* The trap handler has cleared MPRV. */
        la      t0, trap_mcause
        ld      a0, 0(t0)
        ret

/* Access stubs: a0 = address, a1 = value. Each ends in ecall. They live
 * on their own 4 KiB page so tests can map them where they like. */
        .section .text.stubs, "ax"
        .balign 4096
        .globl stubs_start
stubs_start:
        .globl stub_ld
stub_ld:        ld      a0, 0(a0)
                ecall
        .globl stub_lbu
stub_lbu:       lbu     a0, 0(a0)
                ecall
        .globl stub_sd
stub_sd:        sd      a1, 0(a0)
                li      a0, 0
                ecall
        .globl stub_sb
stub_sb:        sb      a1, 0(a0)
                li      a0, 0
                ecall
        .globl stub_amoadd
stub_amoadd:    amoadd.d a0, a1, (a0)
                ecall
        .globl stub_lrsc
stub_lrsc:      lr.d    t0, (a0)
                sc.d    a0, a1, (a0)
                ecall
        .globl stub_jump
stub_jump:      jalr    ra, 0(a0)
                ecall
        .globl stub_ecall
stub_ecall:     li      a0, 0x5a
                ecall
        .globl stub_fld
stub_fld:       fld     fa0, 0(a0)
                fmv.x.d a0, fa0
                ecall
        .globl stub_lwu
stub_lwu:       lwu     a0, 0(a0)
                ecall
        .globl stub_sw
stub_sw:        sw      a1, 0(a0)
                li      a0, 0
                ecall
        .globl stub_sh
stub_sh:        sh      a1, 0(a0)
                li      a0, 0
                ecall
        .balign 4096
        .globl stubs_end
stubs_end:

        .data
        .align  3
        .globl mode_call_a0
mode_call_a0:   .dword 0
mode_call_save: .skip 128
