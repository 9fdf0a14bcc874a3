/* UART0 receive from the host: the runner feeds uart_rx.stdin to the
 * emulator's standard input, i.e. the console chardev behind UART0. The
 * first line is read by polling LSR.DR / RBR, the second one interrupt-
 * driven: IER.RDI raises PLIC source 10 to hart 0's M context, the hart
 * sleeps in wfi until MEIP, claims 10, drains RBR while LSR.DR, completes.
 * Every byte must arrive, in order, unchanged (the chardev is flow
 * controlled: with FIFOs off the UART accepts a byte only when RBR is
 * empty, so none is lost however slow the guest). Both lines are echoed
 * (uart_rx.expect). FIFOs stay off throughout: switching them on resets
 * the receive side, which could drop a byte already delivered. */
#include <stdio.h>
#include <string.h>
#include "virt.h"

static const char line1[] = "polled: the quick brown fox jumps over the lazy dog 0123456789\n";
static const char line2[] = "interrupt-driven: !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\n";

static char buf[128];

int main(void)
{
    /* 1: polled. */
    test_num = 1;
    size_t n = 0;
    while (n < sizeof buf - 1) {
        CHECK_TRUE(WAIT_UNTIL(rd8(UART(UART_LSR)) & UART_LSR_DR, 10 * TIMEBASE_HZ));
        char c = (char)rd8(UART(UART_RBR));
        buf[n++] = c;
        if (c == '\n')
            break;
    }
    buf[n] = 0;
    CHECK_EQ(n, strlen(line1));
    CHECK_EQ(memcmp(buf, line1, n), 0);
    printf("%s", buf);

    /* 2: interrupt-driven through the PLIC. */
    test_num = 2;
    wr32(PLIC_PRIORITY(UART0_IRQ), 1);
    wr32(PLIC_THRESHOLD(PLIC_CTX_M(0)), 0);
    wr32(PLIC_ENABLE(PLIC_CTX_M(0), 0), 1u << UART0_IRQ);
    csr_write(mie, MIP_MEIP);
    wr8(UART(UART_IER), 0x01);
    n = 0;
    int irqs = 0, rdi = 0;
    while (n < sizeof buf - 1 && (n == 0 || buf[n - 1] != '\n')) {
        while (!(csr_read(mip) & MIP_MEIP))
            __asm__ volatile("wfi");
        uint32_t id = rd32(PLIC_CLAIM(PLIC_CTX_M(0)));
        CHECK_EQ(id, UART0_IRQ);
        irqs++;
        /* The UART reports received data, or nothing: a byte that
         * arrived while the previous pass was draining RBR raised the
         * line again (latched at the PLIC while in service) although
         * that pass already read it, so a claim may find it gone, as
         * drivers expect. */
        uint8_t iir = rd8(UART(UART_IIR));
        CHECK_TRUE(iir == 0x04 || iir == 0x01);
        rdi += iir == 0x04;
        while ((rd8(UART(UART_LSR)) & UART_LSR_DR) && n < sizeof buf - 1)
            buf[n++] = (char)rd8(UART(UART_RBR));
        wr32(PLIC_CLAIM(PLIC_CTX_M(0)), id);
    }
    buf[n] = 0;
    wr8(UART(UART_IER), 0);
    csr_write(mie, 0);
    wr32(PLIC_ENABLE(PLIC_CTX_M(0), 0), 0);
    wr32(PLIC_PRIORITY(UART0_IRQ), 0);
    CHECK_EQ(n, strlen(line2));
    CHECK_EQ(memcmp(buf, line2, n), 0);
    CHECK_TRUE(irqs >= 1 && rdi >= 1);
    printf("%s", buf);
    return 0;
}
