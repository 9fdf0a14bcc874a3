/* sifive_test finisher failure path: writing (code << 16) | 0x3333 to
 * 0x100000 ends the emulator with exit status `code` (finisher_fail.args
 * expects 42). QEMU 7.2 passes the code to exit(), so only its low 8 bits
 * survive and code 0 (or 256) exits with status 0 — which is why the
 * runtime's `fail` never reports test 0 and run-qemu.sh also looks for
 * the FAIL line. Spec: riscv-virt-tcg.md 2.4. */
#include "test.h"

        .text
        .globl main
main:
        TEST    1
        li      t0, (42 << 16) | FINISHER_FAIL
        li      t1, SIFIVE_TEST_BASE
        sw      t0, 0(t1)
        /* Still running: the finisher did nothing. Report it with a
         * different status. */
        TEST    2
        j       fail
