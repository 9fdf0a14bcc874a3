/* Shared runtime for the ISA test programs: reset code, the M-mode trap
 * handler with its "expect a trap" protocol, and pass/fail/console.
 * See ../README.md for the conventions.
 *
 * Two boards: by default (spike) pass/fail and the console go through
 * HTIF `tohost`; built with -DBOARD_VIRT (the programs in ../virt/) they
 * go through the `virt` board's sifive_test finisher and UART0 instead.
 * The console routines keep their `htif_` names either way so the C
 * support code and the tests use one set of names.
 *
 * Several harts: every hart enters _start (QEMU starts all of them at the
 * reset vector with a0 = mhartid). Hart 0 runs main; every other hart sets
 * up its own stack and waits until hart 0 has cleared .bss, then calls
 * hart_main(hartid), which parks it in wfi unless the program defines its
 * own. The trap handler's save area is shared, so only one hart at a time
 * may take traps (the multi-hart programs keep the other harts trap-free). */
#include "encoding.h"

        .section .text.init, "ax"
        .globl _start
_start:
        /* Direct-mode M trap vector; it must be 4-byte aligned. */
        la      t0, trap_entry
        csrw    mtvec, t0
        csrr    t0, mhartid
        bnez    t0, secondary_start
        la      sp, __stack_top
        /* Thread pointer for picolibc's thread-local errno (C programs). */
        la      tp, __tls_base
        /* One PMP entry covering everything with RWX, so S and U have
         * access (with PMP implemented and no matching entry, S/U accesses
         * fault). Programs that test PMP rewrite it. */
        li      t0, -1
        csrw    pmpaddr0, t0
        li      t0, PMP_NAPOT | PMP_R | PMP_W | PMP_X
        csrw    pmpcfg0, t0
        /* Known state: no delegation, no interrupts, bare translation. */
        csrw    medeleg, zero
        csrw    mideleg, zero
        csrw    mie, zero
        csrw    satp, zero
        /* FPU on (FS = Initial), round-to-nearest, no flags. */
        li      t0, MSTATUS_FS
        csrc    mstatus, t0
        li      t0, MSTATUS_FS_INITIAL
        csrs    mstatus, t0
        csrwi   fcsr, 0
        /* Zero .bss (RAM is zero after reset, but be explicit). */
        la      t0, __bss_start
        la      t1, __bss_end
1:      bgeu    t0, t1, 2f
        sd      zero, 0(t0)
        addi    t0, t0, 8
        j       1b
2:
        /* Release the other harts (harts_go is in .data, not .bss). */
        fence   rw, rw
        li      t0, 1
        la      t1, harts_go
        sw      t0, 0(t1)
        li      gp, 0
        call    main
        /* main returns 0 for pass, otherwise the failing test number. */
        beqz    a0, pass
        mv      gp, a0
        j       fail

/* ------------------------------------------------------------------ */
/* Harts other than 0: the same machine state as hart 0 gets, a stack  */
/* of HART_STACK_SIZE bytes each from __hart_stacks, then hart_main.   */

secondary_start:
        li      t1, MAX_HARTS
        bgeu    t0, t1, park            /* no stack for it: just park */
        addi    t0, t0, -1
        li      t1, HART_STACK_SIZE
        mul     t0, t0, t1
        la      sp, __hart_stacks
        add     sp, sp, t0
        add     sp, sp, t1              /* top of this hart's stack */
        la      tp, __tls_base
        li      t0, -1
        csrw    pmpaddr0, t0
        li      t0, PMP_NAPOT | PMP_R | PMP_W | PMP_X
        csrw    pmpcfg0, t0
        csrw    medeleg, zero
        csrw    mideleg, zero
        csrw    mie, zero
        csrw    satp, zero
        li      t0, MSTATUS_FS
        csrc    mstatus, t0
        li      t0, MSTATUS_FS_INITIAL
        csrs    mstatus, t0
        csrwi   fcsr, 0
        la      t0, harts_go
1:      lw      t1, 0(t0)
        beqz    t1, 1b
        fence   rw, rw
        li      gp, 0
        csrr    a0, mhartid
        call    hart_main
        /* hart_main returned (or is the default): park. */
        .globl park
park:
        csrw    mie, zero
1:      wfi
        j       1b

/* void hart_main(uint64_t hartid): what harts other than 0 run. This
 * default parks them; multi-hart programs define their own. */
        .weak   hart_main
hart_main:
        j       park

/* ------------------------------------------------------------------ */
/* Pass and fail. gp holds the current test number (TESTNUM).          */

        .text
        .globl pass
pass:
        fence
#ifdef BOARD_VIRT
        li      t0, FINISHER_PASS
        li      t1, SIFIVE_TEST_BASE
        sw      t0, 0(t1)
#else
        li      t0, 1
        la      t1, tohost
        sd      t0, 0(t1)
#endif
1:      j       1b

        .globl fail
fail:
        fence
        /* Never report "pass" by accident: test number 0 becomes 1337. */
        bnez    gp, 1f
        li      gp, 1337
1:      la      a0, msg_fail
        call    htif_puts
        mv      a0, gp
        call    htif_putdec
        /* Show the last trap taken, if any: usually what went wrong. */
        la      t0, trap_count
        ld      t0, 0(t0)
        beqz    t0, 2f
        la      a0, msg_last
        call    htif_puts
        la      a0, trap_mcause
        ld      a0, 0(a0)
        call    htif_puthex
        la      a0, msg_mepc
        call    htif_puts
        la      a0, trap_mepc
        ld      a0, 0(a0)
        call    htif_puthex
        la      a0, msg_mtval
        call    htif_puts
        la      a0, trap_mtval
        ld      a0, 0(a0)
        call    htif_puthex
        li      a0, ')'
        call    htif_putc
2:      li      a0, '\n'
        call    htif_putc
#ifdef BOARD_VIRT
        /* QEMU exits with the code (the upper 16 bits), so the exit
         * status is gp & 0xff; run-qemu.sh also looks for the FAIL line. */
        slli    t0, gp, 16
        li      t1, FINISHER_FAIL
        or      t0, t0, t1
        li      t1, SIFIVE_TEST_BASE
        sw      t0, 0(t1)
#else
        slli    t0, gp, 1
        ori     t0, t0, 1
        la      t1, tohost
        sd      t0, 0(t1)
#endif
1:      j       1b

/* void test_exit(uint64_t code): 0 = pass, n = fail test n (C helper). */
        .globl test_exit
test_exit:
        mv      gp, a0
        beqz    a0, pass
        j       fail

/* ------------------------------------------------------------------ */
/* HTIF console: device 1, command 1 (putchar). The host consumes the  */
/* command and writes tohost back to 0; fromhost may then carry a      */
/* response, which we acknowledge by clearing it.                      */

        .globl htif_putc
htif_putc:
#ifdef BOARD_VIRT
        /* virt: UART0, polling LSR.THRE before each byte. */
        li      t0, UART0_BASE
1:      lbu     t1, UART_LSR(t0)
        andi    t1, t1, UART_LSR_THRE
        beqz    t1, 1b
        sb      a0, UART_THR(t0)
        ret
#endif
        la      t0, tohost
1:      ld      t1, 0(t0)               /* previous command still pending */
        bnez    t1, 1b
        li      t1, 0x0101
        slli    t1, t1, 48
        andi    a0, a0, 0xff
        or      t1, t1, a0
        sd      t1, 0(t0)
2:      ld      t1, 0(t0)               /* wait until consumed */
        bnez    t1, 2b
        la      t0, fromhost
        sd      zero, 0(t0)
        ret

/* void htif_puts(const char *s) */
        .globl htif_puts
htif_puts:
        addi    sp, sp, -16
        sd      ra, 0(sp)
        sd      s0, 8(sp)
        mv      s0, a0
1:      lbu     a0, 0(s0)
        beqz    a0, 2f
        call    htif_putc
        addi    s0, s0, 1
        j       1b
2:      ld      ra, 0(sp)
        ld      s0, 8(sp)
        addi    sp, sp, 16
        ret

/* void htif_puthex(uint64_t v): "0x" and 16 hex digits */
        .globl htif_puthex
htif_puthex:
        addi    sp, sp, -32
        sd      ra, 0(sp)
        sd      s0, 8(sp)
        sd      s1, 16(sp)
        mv      s0, a0
        li      a0, '0'
        call    htif_putc
        li      a0, 'x'
        call    htif_putc
        li      s1, 60
1:      srl     a0, s0, s1
        andi    a0, a0, 15
        li      t0, 10
        blt     a0, t0, 2f
        addi    a0, a0, 'a' - '0' - 10
2:      addi    a0, a0, '0'
        call    htif_putc
        addi    s1, s1, -4
        bgez    s1, 1b
        ld      ra, 0(sp)
        ld      s0, 8(sp)
        ld      s1, 16(sp)
        addi    sp, sp, 32
        ret

/* void htif_putdec(uint64_t v) */
        .globl htif_putdec
htif_putdec:
        addi    sp, sp, -48
        sd      ra, 32(sp)
        sd      s0, 40(sp)
        mv      t0, a0
        mv      s0, sp                  /* digits stored backwards */
        li      t2, 10
1:      remu    t1, t0, t2
        addi    t1, t1, '0'
        sb      t1, 0(s0)
        addi    s0, s0, 1
        divu    t0, t0, t2
        bnez    t0, 1b
2:      addi    s0, s0, -1
        lbu     a0, 0(s0)
        call    htif_putc
        bne     s0, sp, 2b
        ld      ra, 32(sp)
        ld      s0, 40(sp)
        addi    sp, sp, 48
        ret

/* ------------------------------------------------------------------ */
/* M-mode trap handler.                                                */
/*                                                                     */
/* Every trap is recorded in trap_mcause/mepc/mtval/mstatus/mode and   */
/* counted in trap_count. If trap_resume is non-zero the handler       */
/* clears it and returns there, in M-mode with MIE = 0 (MPIE cleared), */
/* every general register as it was at the trap. Otherwise the trap    */
/* was unexpected: it is printed and the test fails with the current   */
/* test number (gp).                                                   */

        .align  6
        .globl trap_entry
trap_entry:
        csrw    mscratch, t0
        /* MPRV must not apply to the handler's own loads and stores. */
        li      t0, MSTATUS_MPRV
        csrc    mstatus, t0
        la      t0, trap_save
        sd      t1, 0(t0)
        sd      t2, 8(t0)
        csrr    t1, mcause
        sd      t1, 16(t0)
        csrr    t1, mepc
        sd      t1, 24(t0)
        csrr    t1, mtval
        sd      t1, 32(t0)
        csrr    t1, mstatus
        sd      t1, 40(t0)
        srli    t1, t1, 11              /* previous privilege = MPP */
        andi    t1, t1, 3
        sd      t1, 48(t0)
        ld      t1, 56(t0)
        addi    t1, t1, 1
        sd      t1, 56(t0)
        ld      t1, 64(t0)
        beqz    t1, unexpected_trap
        sd      zero, 64(t0)
        csrw    mepc, t1
        li      t2, MSTATUS_MPP
        csrs    mstatus, t2             /* return to M */
        li      t2, MSTATUS_MPIE
        csrc    mstatus, t2             /* with interrupts disabled */
        ld      t1, 0(t0)
        ld      t2, 8(t0)
        csrr    t0, mscratch
        mret

unexpected_trap:
        la      sp, __stack_top
        la      a0, msg_trap
        call    htif_puts
        mv      a0, gp
        call    htif_putdec
        la      a0, msg_mcause
        call    htif_puts
        csrr    a0, mcause
        call    htif_puthex
        la      a0, msg_mepc
        call    htif_puts
        csrr    a0, mepc
        call    htif_puthex
        la      a0, msg_mtval
        call    htif_puts
        csrr    a0, mtval
        call    htif_puthex
        li      a0, '\n'
        call    htif_putc
        j       fail

        .section .rodata
msg_fail:   .asciz "FAIL: test "
msg_trap:   .asciz "unexpected trap in test "
msg_mcause: .asciz ": mcause="
msg_last:   .asciz " (last trap: mcause="
msg_mepc:   .asciz " mepc="
msg_mtval:  .asciz " mtval="

        .data
        .align  3
        .globl trap_save, trap_mcause, trap_mepc, trap_mtval, trap_mstatus
        .globl trap_mode, trap_count, trap_resume
/* Field offsets are used as immediates in trap_entry; keep in order. */
trap_save:    .dword 0, 0       /* 0, 8 */
trap_mcause:  .dword 0
trap_mepc:    .dword 0
trap_mtval:   .dword 0
trap_mstatus: .dword 0
trap_mode:    .dword 0
trap_count:   .dword 0
trap_resume:  .dword 0
/* Set to 1 by hart 0 once .bss is clear; the other harts wait for it. */
        .globl harts_go
harts_go:     .word 0, 0

        .section .tohost, "aw", @progbits
        .align  6
        .globl tohost, fromhost
        .type   tohost, @object
        .size   tohost, 8
tohost:   .dword 0
        .align  6
        .type   fromhost, @object
        .size   fromhost, 8
fromhost: .dword 0
