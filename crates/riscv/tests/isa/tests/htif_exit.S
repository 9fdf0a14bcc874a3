/* HTIF exit protocol, checked from the outside: this program fails on
 * purpose with test number 42, so the board must exit with status 42 and
 * print the runtime's failure line (htif_exit.status and htif_exit.expect
 * hold what run-qemu.sh expects). It first passes a few sub-tests and
 * prints through the console, so a board that exits on the first tohost
 * write of any kind, or on an even value, is caught too. */
#include "test.h"

        .text
        .globl main
main:
        TEST_RR(1, a0, 2, li a0, 1; addi a0, a0, 1)
        la      a0, msg
        call    htif_puts
        /* A write of an even value with device 0 is a syscall request in
         * HTIF terms; we never do that. Device 1 commands (console) must
         * not end the run: */
        li      a0, '!'
        call    htif_putc
        li      a0, '\n'
        call    htif_putc
        TEST    42
        j       fail

        .section .rodata
msg:    .asciz  "htif console ok"
