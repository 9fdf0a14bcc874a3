/* sifive_test reset request (0x7777) with -no-reboot (noreboot.args):
 * QEMU exits with status 0 instead of resetting. Without -no-reboot the
 * program would boot again and again (the runner's timeout would fail
 * it); if the write were ignored it fails test 1. Spec: riscv-virt-tcg.md
 * 2.4; issue 5 ("with -no-reboot, a reboot exits instead"). */
#include "test.h"

        .text
        .globl main
main:
        TEST    1
        li      t0, FINISHER_RESET
        li      t1, SIFIVE_TEST_BASE
        sw      t0, 0(t1)
        j       fail
