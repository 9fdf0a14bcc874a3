/* NS16550A UART0 on the virt board (0x10000000, PLIC source 10): register
 * values after reset, transmit (the bytes written to THR appear on the
 * console; uart.expect holds the exact output), THRE/TEMT, the THR-empty
 * interrupt rules Linux's 8250 driver relies on (enabling IER.THRI with
 * THRE set makes it pending at once; reading IIR clears it; the next
 * transmitted byte brings it back), IER masking, FIFO control (IIR bits
 * 7:6, receive trigger levels, FIFO reset), the DLAB divisor latch, the
 * scratch register, only the 8 byte registers being mapped (QEMU 7.2;
 * offsets 8 and up fault), and loopback:
 * modem-status mirroring, receive through RBR with and without FIFOs,
 * overrun, the receive-data, line-status and character-timeout
 * interrupts. Spec: riscv-virt-tcg.md section 2.3. */
#include <stdio.h>
#include "virt.h"

#define LOOP  0x10
#define OUT2  0x08
#define OUT1  0x04
#define RTS   0x02
#define DTR   0x01

static void raw_puts(const char *s)
{
    for (; *s; s++) {
        while (!(rd8(UART(UART_LSR)) & UART_LSR_THRE))
            ;
        wr8(UART(UART_THR), (uint8_t)*s);
    }
}

/* Drain the receive side (loopback tests). */
static void drain(void)
{
    for (int i = 0; i < 32 && (rd8(UART(UART_LSR)) & UART_LSR_DR); i++)
        (void)rd8(UART(UART_RBR));
    (void)rd8(UART(UART_LSR));
}

int main(void)
{
    /* 1: state after reset (the runtime has not touched the UART). */
    test_num = 1;
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);
    CHECK_EQ(rd8(UART(UART_IER)), 0);
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);
    CHECK_EQ(rd8(UART(UART_LCR)), 0);
    CHECK_EQ(rd8(UART(UART_MCR)), OUT2);
    CHECK_EQ(rd8(UART(UART_SCR)), 0);
    /* DCD | DSR | CTS, no deltas. */
    CHECK_EQ(rd8(UART(UART_MSR)), 0xb0);

    /* 2: transmit. The emulator sends synchronously: THRE and TEMT are
     * back by the time the next instruction reads LSR. */
    test_num = 2;
    raw_puts("uart: THR output\n");
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);
    /* Writes to LSR and MSR are ignored. */
    wr8(UART(UART_LSR), 0x00);
    wr8(UART(UART_MSR), 0x00);
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);
    CHECK_EQ(rd8(UART(UART_MSR)), 0xb0);

    /* 3: scratch register. QEMU 7.2 maps only the 8 byte registers:
     * although the memory map reserves 0x100 bytes (and the spec notes
     * call the registers aliased every 8 bytes), offsets 8 and up are
     * unmapped and an access there is an access fault. */
    test_num = 3;
    wr8(UART(UART_SCR), 0xa5);
    CHECK_EQ(rd8(UART(UART_SCR)), 0xa5);
    wr8(UART(UART_SCR), 0x5a);
    CHECK_EQ(rd8(UART(UART_SCR)), 0x5a);
    CHECK_EQ(M_CALL(stub_lbu, UART(8 + UART_SCR), 0), CAUSE_LOAD_ACCESS);
    CHECK_EQ(trap_mtval, UART(8 + UART_SCR));
    CHECK_EQ(M_CALL(stub_sb, UART(0xf8), 'X'), CAUSE_STORE_ACCESS);
    CHECK_EQ(rd8(UART(UART_SCR)), 0x5a);

    /* 4: divisor latch. DLAB = 1 switches offsets 0 and 1 to DLL/DLM;
     * QEMU's divisor resets to 12 (9600 baud at its 1.8432 MHz base). */
    test_num = 4;
    wr8(UART(UART_LCR), 0x83);
    CHECK_EQ(rd8(UART(UART_LCR)), 0x83);
    CHECK_EQ(rd8(UART(UART_DLL)), 0x0c);
    CHECK_EQ(rd8(UART(UART_DLM)), 0x00);
    wr8(UART(UART_DLL), 0x34);
    wr8(UART(UART_DLM), 0x12);
    CHECK_EQ(rd8(UART(UART_DLL)), 0x34);
    CHECK_EQ(rd8(UART(UART_DLM)), 0x12);
    wr8(UART(UART_LCR), 0x03);      /* 8N1, DLAB = 0 */
    /* The DLM write did not reach IER; nothing reached THR. */
    CHECK_EQ(rd8(UART(UART_IER)), 0);
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);
    wr8(UART(UART_LCR), 0x80);
    wr8(UART(UART_DLL), 0x02);      /* 115200 as OpenSBI programs it */
    wr8(UART(UART_DLM), 0x00);
    wr8(UART(UART_LCR), 0x03);
    CHECK_EQ(rd8(UART(UART_LCR)), 0x03);
    raw_puts("uart: after the divisor change\n");

    /* 5: IER keeps the low four bits only. */
    test_num = 5;
    wr8(UART(UART_IER), 0xff);
    CHECK_EQ(rd8(UART(UART_IER)), 0x0f);
    wr8(UART(UART_IER), 0x00);
    CHECK_EQ(rd8(UART(UART_IER)), 0);

    /* 6: THR-empty interrupt. Setting IER.THRI while THRE is set makes it
     * pending at once (Linux's serial8250_do_startup checks this). */
    test_num = 6;
    (void)rd8(UART(UART_IIR));
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);
    wr8(UART(UART_IER), 0x02);
    CHECK_EQ(rd8(UART(UART_IIR)), 0x02);
    /* Reading IIR while it reports THR-empty clears the condition. */
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);
    /* A transmitted byte makes it pending again. */
    raw_puts("uart: THRI\n");
    CHECK_EQ(rd8(UART(UART_IIR)), 0x02);
    /* Masking IER.THRI hides it; unmasking with THRE set re-arms it. */
    wr8(UART(UART_IER), 0x00);
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);
    wr8(UART(UART_IER), 0x02);
    CHECK_EQ(rd8(UART(UART_IIR)), 0x02);
    wr8(UART(UART_IER), 0x00);
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);

    /* 7: FIFO control. FCR is write-only (offset 2 reads IIR); with
     * FIFOs enabled IIR bits 7:6 read 11. */
    test_num = 7;
    wr8(UART(UART_FCR), 0x01);
    CHECK_EQ(rd8(UART(UART_IIR)), 0xc1);
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);
    raw_puts("uart: with FIFOs\n");
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);
    wr8(UART(UART_IER), 0x02);
    CHECK_EQ(rd8(UART(UART_IIR)), 0xc2);
    CHECK_EQ(rd8(UART(UART_IIR)), 0xc1);
    wr8(UART(UART_IER), 0x00);
    wr8(UART(UART_FCR), 0x00);
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);

    /* 8: loopback. MSR's status bits mirror MCR's outputs (DTR -> DSR,
     * RTS -> CTS, OUT1 -> RI, OUT2 -> DCD); Linux's autoconfig writes
     * LOOP | OUT2 | RTS and expects DCD | CTS. */
    test_num = 8;
    wr8(UART(UART_MCR), LOOP | OUT2 | RTS);
    CHECK_EQ(rd8(UART(UART_MCR)), LOOP | OUT2 | RTS);
    CHECK_EQ(rd8(UART(UART_MSR)) & 0xf0, 0x90);
    wr8(UART(UART_MCR), LOOP | OUT1 | DTR);
    CHECK_EQ(rd8(UART(UART_MSR)) & 0xf0, 0x60);
    wr8(UART(UART_MCR), LOOP | OUT2 | OUT1 | RTS | DTR);
    CHECK_EQ(rd8(UART(UART_MSR)) & 0xf0, 0xf0);
    /* MCR keeps 5 bits. */
    wr8(UART(UART_MCR), 0xff);
    CHECK_EQ(rd8(UART(UART_MCR)), 0x1f);
    wr8(UART(UART_MCR), LOOP | OUT2);

    /* 9: loopback receive without FIFOs: the byte goes to RBR, not to the
     * console; DR until RBR is read; a second byte overruns (OE), which
     * reading LSR clears. */
    test_num = 9;
    CHECK_EQ(rd8(UART(UART_LSR)) & UART_LSR_DR, 0);
    wr8(UART(UART_THR), 'A');
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT | UART_LSR_DR);
    CHECK_EQ(rd8(UART(UART_RBR)), 'A');
    CHECK_EQ(rd8(UART(UART_LSR)) & UART_LSR_DR, 0);
    wr8(UART(UART_THR), 'B');
    wr8(UART(UART_THR), 'C');
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT | UART_LSR_DR | 0x02);
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT | UART_LSR_DR);
    CHECK_EQ(rd8(UART(UART_RBR)), 'C');
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);

    /* 10: receive-data interrupt (no FIFOs: any byte), and line status
     * (overrun) outranking it. */
    test_num = 10;
    wr8(UART(UART_IER), 0x01);
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);
    wr8(UART(UART_THR), 'D');
    CHECK_EQ(rd8(UART(UART_IIR)), 0x04);
    CHECK_EQ(rd8(UART(UART_IIR)), 0x04);        /* reading IIR keeps RDI */
    CHECK_EQ(rd8(UART(UART_RBR)), 'D');
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);
    wr8(UART(UART_IER), 0x05);
    wr8(UART(UART_THR), 'E');
    wr8(UART(UART_THR), 'F');
    CHECK_EQ(rd8(UART(UART_IIR)), 0x06);
    (void)rd8(UART(UART_LSR));                  /* clears OE */
    CHECK_EQ(rd8(UART(UART_IIR)), 0x04);
    CHECK_EQ(rd8(UART(UART_RBR)), 'F');
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);
    wr8(UART(UART_IER), 0x00);

    /* 11: loopback with the 16-byte FIFO: bytes come back in order; a
     * 17th byte is dropped with OE (the FIFO contents are kept). */
    test_num = 11;
    wr8(UART(UART_FCR), 0x07);
    CHECK_EQ(rd8(UART(UART_IIR)), 0xc1);
    for (int i = 0; i < 17; i++)
        wr8(UART(UART_THR), (uint8_t)('a' + i));
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT | UART_LSR_DR | 0x02);
    for (int i = 0; i < 16; i++) {
        CHECK_EQ(rd8(UART(UART_LSR)) & UART_LSR_DR, UART_LSR_DR);
        CHECK_EQ(rd8(UART(UART_RBR)), 'a' + i);
    }
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);

    /* 12: receive trigger level 4 (FCR bits 7:6 = 01): RDI only once 4
     * bytes are in the FIFO. */
    test_num = 12;
    wr8(UART(UART_FCR), 0x47);
    wr8(UART(UART_IER), 0x01);
    for (int i = 0; i < 4; i++)
        wr8(UART(UART_THR), (uint8_t)('0' + i));
    CHECK_EQ(rd8(UART(UART_IIR)), 0xc4);
    (void)rd8(UART(UART_RBR));
    /* 3 left: below the trigger level; a character timeout may follow. */
    CHECK_TRUE((rd8(UART(UART_IIR)) & 0x0f) != 0x04);
    drain();
    CHECK_EQ(rd8(UART(UART_IIR)), 0xc1);

    /* 13: character timeout: fewer bytes than the trigger level, not read
     * for 4 character times, raises IIR id 0xc; reading RBR clears it. */
    test_num = 13;
    wr8(UART(UART_THR), 'x');
    CHECK_TRUE(WAIT_UNTIL(rd8(UART(UART_IIR)) == 0xcc, TIMEBASE_HZ));
    CHECK_EQ(rd8(UART(UART_RBR)), 'x');
    CHECK_EQ(rd8(UART(UART_IIR)), 0xc1);

    /* 14: an RX FIFO reset (FCR bit 1) drops received bytes. */
    test_num = 14;
    wr8(UART(UART_THR), 'y');
    wr8(UART(UART_THR), 'z');
    CHECK_EQ(rd8(UART(UART_LSR)) & UART_LSR_DR, UART_LSR_DR);
    wr8(UART(UART_FCR), 0x43);
    CHECK_EQ(rd8(UART(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);
    wr8(UART(UART_IER), 0x00);

    /* Back to normal: console output resumes. */
    wr8(UART(UART_FCR), 0x00);
    wr8(UART(UART_MCR), OUT2);
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);
    printf("uart: printf %d %s\n", 42, "done");
    return 0;
}
