/* sifive_test reset request (0x7777) without -no-reboot: the whole
 * machine resets and boots again, with RAM contents kept as on QEMU. The
 * first boot leaves a marker in free RAM past the image (crt.S clears
 * only .bss), dirties device and CPU state and requests the reset; the
 * second boot finds the marker and checks that RAM outside the image kept
 * its contents, that the ELF's .data was loaded again (QEMU re-copies the
 * -kernel image on reset), that the devices were reset (UART scratch and
 * IER, PLIC priority and enable, CLINT msip; but not mtimecmp, see
 * below), and which hart CSRs QEMU 7.2 leaves alone: mscratch, mcounteren
 * and menvcfg (reset values the spec leaves unspecified) and PMP (against
 * the spec, see below). reboot.expect holds both boots' output.
 * Spec: riscv-virt-tcg.md 2.4; issue 5 ("reboot resets the whole
 * machine ... RAM contents kept as on QEMU"). */
#include <stdio.h>
#include "virt.h"

#define MAGIC 0x5245424f4f54ull         /* "REBOOT" */

extern char __heap_start[];
static volatile uint64_t data_var = 0x1111;

int main(void)
{
    volatile uint64_t *mark = (volatile uint64_t *)__heap_start;
    test_num = 1;
    if (mark[0] != MAGIC) {
        mark[0] = MAGIC;
        mark[1] = 1;
        mark[2] = 0xfeedface;
        data_var = 0x2222;
        wr8(UART(UART_SCR), 0x77);
        wr8(UART(UART_IER), 0x01);
        wr32(PLIC_PRIORITY(UART0_IRQ), 5);
        wr32(PLIC_ENABLE(PLIC_CTX_M(0), 0), 0xffff);
        wr32(CLINT_MSIP, 1);
        wr64(CLINT_MTIMECMP, ~0ull);
        csr_write(mscratch, 0x1234);
        csr_write(mcounteren, 7);
        csr_write(0x30a, 1ull << 63);           /* menvcfg.STCE */
        csr_write(pmpaddr8, 0x12345);
        csr_write(pmpcfg2, 0x1f);
        printf("reboot: first boot\n");
        wr32(SIFIVE_TEST_BASE, FINISHER_RESET);
        test_exit(2);   /* the reset request was ignored */
    }
    /* Second boot. */
    test_num = 3;
    mark[1]++;
    CHECK_EQ(mark[1], 2);
    CHECK_EQ(mark[2], 0xfeedface);
    CHECK_EQ(data_var, 0x1111);
    test_num = 4;
    CHECK_EQ(rd8(UART(UART_SCR)), 0);
    CHECK_EQ(rd8(UART(UART_IER)), 0);
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);
    CHECK_EQ(rd32(PLIC_PRIORITY(UART0_IRQ)), 0);
    CHECK_EQ(rd32(PLIC_ENABLE(PLIC_CTX_M(0), 0)), 0);
    CHECK_EQ(rd32(CLINT_MSIP), 0);
    /* QEMU 7.2's ACLINT MTIMER has no reset handler: mtimecmp keeps the
     * value written before the reset (so MTIP is not pending, unlike at
     * power-on). The test follows QEMU. */
    CHECK_EQ(rd64(CLINT_MTIMECMP), ~0ull);
    test_num = 5;
    CHECK_EQ(csr_read(mip) & (MIP_MSIP | MIP_MTIP), 0);
    /* mscratch's reset value is unspecified; QEMU leaves it alone. */
    CHECK_EQ(csr_read(mscratch), 0x1234);
    /* Same for mcounteren (unspecified reset value, QEMU keeps it). */
    CHECK_EQ(csr_read(mcounteren), 7);
    CHECK_EQ(csr_read(0x30a), 1ull << 63);     /* menvcfg: kept too */
    /* The privileged spec resets every PMP entry's A and L fields; QEMU
     * 7.2 keeps the PMP state across a system reset. Follows QEMU. */
    CHECK_EQ(csr_read(pmpcfg2), 0x1f);
    CHECK_EQ(csr_read(pmpaddr8), 0x12345);
    csr_write(pmpcfg2, 0);
    mark[0] = 0;
    printf("reboot: second boot\n");
    return 0;
}
