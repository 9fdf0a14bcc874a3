/* PLIC on the virt board (0xc000000; 96 sources, 3 priority bits;
 * context 2h = hart h's M-mode, 2h + 1 = its S-mode): priority, enable
 * and threshold registers (WARL masking, source 0 and the words past
 * source 95), pending being read-only, 32-bit-only access, and the
 * interrupt flow with the UART (source 10: its THR-empty interrupt) and
 * the goldfish RTC (source 11: an alarm in the past) as real sources:
 * pending latches a raised line until claimed; the context output
 * (mip.MEIP / mip.SEIP) needs priority > threshold and the enable bit;
 * claim returns the best source (higher priority first, then lower id)
 * and clears its pending bit, returns 0 with nothing claimable (also
 * while the source is in service or at or below the threshold); complete
 * ends service; M and S contexts are independent; MEIP and SEIP are taken
 * as interrupts (from S-mode, and SEI delegated through mideleg).
 * Spec: riscv-virt-tcg.md section 2.2. */
#include "virt.h"

#define CM PLIC_CTX_M(0)
#define CS PLIC_CTX_S(0)
#define INTR(n) ((1ull << 63) | (n))

static uint64_t mip_ext(void)
{
    return csr_read(mip) & (MIP_MEIP | MIP_SEIP);
}

/* UART0 THR-empty interrupt: raise (IER.THRI with THRE set) and lower
 * (IER = 0) its line, PLIC source 10. */
static void uart_line(int up)
{
    wr8(UART(UART_IER), 0);
    if (up)
        wr8(UART(UART_IER), 0x02);
}

/* goldfish RTC line, PLIC source 11: an alarm in the past fires at once. */
static void rtc_line(int up)
{
    wr32(RTC_CLEAR_INTERRUPT, 1);
    wr32(RTC_IRQ_ENABLED, 1);
    if (up)
        rtc_set_alarm(rtc_now() - 1000000000ull);
}

static void plic_reset(void)
{
    for (int s = 1; s < 96; s++)
        wr32(PLIC_PRIORITY(s), 0);
    for (int w = 0; w < 3; w++) {
        wr32(PLIC_ENABLE(CM, w), 0);
        wr32(PLIC_ENABLE(CS, w), 0);
    }
    wr32(PLIC_THRESHOLD(CM), 0);
    wr32(PLIC_THRESHOLD(CS), 0);
}

/* Enable bits of context c for word 0 (sources 0-31). QEMU 7.2 does not
 * re-evaluate the interrupt outputs on an enable write (mip.MEIP/SEIP
 * keep their old value until the next priority, threshold, claim,
 * complete or source event); a threshold write (same value) makes it
 * re-evaluate, so the tests follow each enable change with one and only
 * check the outputs after it. Claims see the new enables at once. */
static void enable(int c, uint32_t bits)
{
    wr32(PLIC_ENABLE(c, 0), bits);
    wr32(PLIC_THRESHOLD(c), rd32(PLIC_THRESHOLD(c)));
}

/* Claim from context c, expecting id; complete it. */
static void claim_complete(int c, uint32_t id)
{
    CHECK_EQ(rd32(PLIC_CLAIM(c)), id);
    wr32(PLIC_CLAIM(c), id);
}

int main(void)
{
    /* 1: priorities are WARL, 3 bits: QEMU keeps the value modulo 8.
     * Source 0 does not exist: its priority reads 0. */
    test_num = 1;
    wr32(PLIC_PRIORITY(1), 0xffffffff);
    CHECK_EQ(rd32(PLIC_PRIORITY(1)), 7);
    wr32(PLIC_PRIORITY(1), 9);
    CHECK_EQ(rd32(PLIC_PRIORITY(1)), 1);
    wr32(PLIC_PRIORITY(95), 3);
    CHECK_EQ(rd32(PLIC_PRIORITY(95)), 3);
    wr32(PLIC_PRIORITY(0), 5);
    CHECK_EQ(rd32(PLIC_PRIORITY(0)), 0);
    wr32(PLIC_PRIORITY(1), 0);
    wr32(PLIC_PRIORITY(95), 0);

    /* 2: nothing pending after reset; the pending words ignore writes. */
    test_num = 2;
    for (int w = 0; w < 3; w++)
        CHECK_EQ(rd32(PLIC_PENDING(w)), 0);
    wr32(PLIC_PENDING(0), 0xffffffff);
    CHECK_EQ(rd32(PLIC_PENDING(0)), 0);
    CHECK_EQ(mip_ext(), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(CS)), 0);

    /* 3: enable bits, per context. Words 0-2 cover sources 0-95 and keep
     * all 32 bits (QEMU stores bit 0 too); word 3 (sources 96+) reads 0. */
    test_num = 3;
    wr32(PLIC_ENABLE(CM, 0), 0xffffffff);
    CHECK_EQ(rd32(PLIC_ENABLE(CM, 0)), 0xffffffff);
    CHECK_EQ(rd32(PLIC_ENABLE(CS, 0)), 0);
    wr32(PLIC_ENABLE(CS, 2), 0x80000001);
    CHECK_EQ(rd32(PLIC_ENABLE(CS, 2)), 0x80000001);
    CHECK_EQ(rd32(PLIC_ENABLE(CM, 2)), 0);
    wr32(PLIC_ENABLE(CM, 3), 0xffffffff);
    CHECK_EQ(rd32(PLIC_ENABLE(CM, 3)), 0);
    /* Hart 1's contexts do not exist with one hart: ignored, read 0. */
    wr32(PLIC_ENABLE(PLIC_CTX_M(1), 0), 0x400);
    CHECK_EQ(rd32(PLIC_ENABLE(PLIC_CTX_M(1), 0)), 0);
    wr32(PLIC_ENABLE(CM, 0), 0);
    wr32(PLIC_ENABLE(CS, 2), 0);

    /* 4: thresholds are WARL like priorities: modulo 8 in QEMU 7.2 (8
     * becomes 0, 15 becomes 7); per context. */
    test_num = 4;
    wr32(PLIC_THRESHOLD(CM), 7);
    CHECK_EQ(rd32(PLIC_THRESHOLD(CM)), 7);
    CHECK_EQ(rd32(PLIC_THRESHOLD(CS)), 0);
    wr32(PLIC_THRESHOLD(CM), 8);
    CHECK_EQ(rd32(PLIC_THRESHOLD(CM)), 0);
    wr32(PLIC_THRESHOLD(CM), 0xf);
    CHECK_EQ(rd32(PLIC_THRESHOLD(CM)), 7);
    wr32(PLIC_THRESHOLD(CS), 3);
    CHECK_EQ(rd32(PLIC_THRESHOLD(CS)), 3);
    CHECK_EQ(rd32(PLIC_THRESHOLD(CM)), 7);

    /* 5: registers take 32-bit accesses only: 8-byte (and 1-byte) loads
     * fault; a 32-bit load through the same stub path works. */
    test_num = 5;
    CHECK_EQ(M_CALL(stub_ld, PLIC_THRESHOLD(CM), 0), CAUSE_LOAD_ACCESS);
    CHECK_EQ(M_CALL(stub_lbu, PLIC_THRESHOLD(CM), 0), CAUSE_LOAD_ACCESS);
    CHECK_EQ(M_CALL(stub_lwu, PLIC_THRESHOLD(CM), 0), CAUSE_MACHINE_ECALL);
    CHECK_EQ(mode_call_a0, 7);
    CHECK_EQ(M_CALL(stub_sd, PLIC_THRESHOLD(CS), 0), CAUSE_STORE_ACCESS);
    CHECK_EQ(rd32(PLIC_THRESHOLD(CS)), 3);
    plic_reset();

    /* 6: the UART's THR-empty interrupt makes source 10 pending. With
     * priority 0 it never reaches a context, even when enabled. */
    test_num = 6;
    uart_line(1);
    CHECK_EQ(rd8(UART(UART_IIR)) , 0x02);   /* (this read clears THRI) */
    uart_line(1);
    CHECK_EQ(plic_pending(UART0_IRQ), 1);
    CHECK_EQ(rd32(PLIC_PENDING(0)), 1u << UART0_IRQ);
    enable(CM, 1u << UART0_IRQ);
    CHECK_EQ(mip_ext(), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), 0);
    CHECK_EQ(plic_pending(UART0_IRQ), 1);

    /* 7: priority 1 > threshold 0: MEIP (M context only). Claim returns
     * 10, clears pending and MEIP; a second claim returns 0 (in service).
     */
    test_num = 7;
    wr32(PLIC_PRIORITY(UART0_IRQ), 1);
    CHECK_EQ(mip_ext(), MIP_MEIP);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), UART0_IRQ);
    CHECK_EQ(plic_pending(UART0_IRQ), 0);
    CHECK_EQ(mip_ext(), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), 0);
    /* While in service, a new raise makes it pending but not claimable. */
    uart_line(0);
    uart_line(1);
    CHECK_EQ(plic_pending(UART0_IRQ), 1);
    CHECK_EQ(mip_ext(), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), 0);
    /* Completing (ids >= 96 are ignored) ends service: MEIP again. */
    wr32(PLIC_CLAIM(CM), 200);
    CHECK_EQ(mip_ext(), 0);
    wr32(PLIC_CLAIM(CM), UART0_IRQ);
    CHECK_EQ(mip_ext(), MIP_MEIP);

    /* 8: pending latches: lowering the line (reading IIR clears THRI)
     * does not clear it; the claim does. */
    test_num = 8;
    CHECK_EQ(rd8(UART(UART_IIR)), 0x02);
    CHECK_EQ(rd8(UART(UART_IIR)), 0x01);
    CHECK_EQ(plic_pending(UART0_IRQ), 1);
    CHECK_EQ(mip_ext(), MIP_MEIP);
    claim_complete(CM, UART0_IRQ);
    CHECK_EQ(plic_pending(UART0_IRQ), 0);
    CHECK_EQ(mip_ext(), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), 0);

    /* 9: threshold: priority must exceed it, for the output and for
     * claims (QEMU's claim honours the threshold). */
    test_num = 9;
    wr32(PLIC_THRESHOLD(CM), 1);
    uart_line(1);
    CHECK_EQ(plic_pending(UART0_IRQ), 1);
    CHECK_EQ(mip_ext(), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), 0);
    CHECK_EQ(plic_pending(UART0_IRQ), 1);
    wr32(PLIC_PRIORITY(UART0_IRQ), 2);
    CHECK_EQ(mip_ext(), MIP_MEIP);
    wr32(PLIC_THRESHOLD(CM), 2);
    CHECK_EQ(mip_ext(), 0);
    wr32(PLIC_THRESHOLD(CM), 0);
    CHECK_EQ(mip_ext(), MIP_MEIP);

    /* 10: the S context: enabled there only, the source drives SEIP; the
     * M context cannot claim it; the S context claims and completes. */
    test_num = 10;
    enable(CM, 0);
    CHECK_EQ(mip_ext(), 0);
    enable(CS, 1u << UART0_IRQ);
    CHECK_EQ(mip_ext(), MIP_SEIP);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), 0);
    /* Enabled in both: both outputs; a claim by either takes it from
     * both. */
    enable(CM, 1u << UART0_IRQ);
    CHECK_EQ(mip_ext(), MIP_MEIP | MIP_SEIP);
    CHECK_EQ(rd32(PLIC_CLAIM(CS)), UART0_IRQ);
    CHECK_EQ(mip_ext(), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), 0);
    wr32(PLIC_CLAIM(CS), UART0_IRQ);
    uart_line(0);
    CHECK_EQ(mip_ext(), 0);

    /* 11: two sources: the higher priority is claimed first, whatever
     * its id; with equal priorities the lower id first. */
    test_num = 11;
    enable(CS, 0);
    enable(CM, (1u << UART0_IRQ) | (1u << RTC_IRQ));
    wr32(PLIC_PRIORITY(UART0_IRQ), 2);
    wr32(PLIC_PRIORITY(RTC_IRQ), 3);
    uart_line(1);
    rtc_line(1);
    CHECK_EQ(rd32(PLIC_PENDING(0)), (1u << UART0_IRQ) | (1u << RTC_IRQ));
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), RTC_IRQ);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), UART0_IRQ);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), 0);
    wr32(PLIC_CLAIM(CM), UART0_IRQ);
    wr32(PLIC_CLAIM(CM), RTC_IRQ);
    wr32(PLIC_PRIORITY(RTC_IRQ), 2);
    rtc_line(0);
    uart_line(0);
    rtc_line(1);
    uart_line(1);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), UART0_IRQ);
    CHECK_EQ(rd32(PLIC_CLAIM(CM)), RTC_IRQ);
    wr32(PLIC_CLAIM(CM), RTC_IRQ);
    wr32(PLIC_CLAIM(CM), UART0_IRQ);
    rtc_line(0);
    uart_line(0);
    wr32(RTC_IRQ_ENABLED, 0);
    wr32(PLIC_PRIORITY(RTC_IRQ), 0);
    CHECK_EQ(mip_ext(), 0);

    /* 12: MEIP is taken as an interrupt: from S-mode (M interrupts are
     * always enabled below M) with mie.MEIE; mcause = 11 | interrupt. */
    test_num = 12;
    enable(CM, 1u << UART0_IRQ);
    csr_write(mie, MIP_MEIP);
    CHECK_EQ(mode_call(PRV_S, (uint64_t)(uintptr_t)stub_ecall, 0, 0), CAUSE_SUPERVISOR_ECALL);
    uart_line(1);
    CHECK_EQ(mode_call(PRV_S, (uint64_t)(uintptr_t)stub_ecall, 0, 0), INTR(IRQ_M_EXT));
    CHECK_EQ(trap_mepc, (uint64_t)(uintptr_t)stub_ecall);
    claim_complete(CM, UART0_IRQ);
    uart_line(0);
    csr_write(mie, 0);

    /* 13: SEIP, not delegated, goes to M from S (cause 9 | interrupt);
     * delegated through mideleg, it waits for sstatus.SIE in S. */
    test_num = 13;
    enable(CM, 0);
    enable(CS, 1u << UART0_IRQ);
    uart_line(1);
    CHECK_EQ(mip_ext(), MIP_SEIP);
    csr_write(mie, MIP_SEIP);
    CHECK_EQ(mode_call(PRV_S, (uint64_t)(uintptr_t)stub_ecall, 0, 0), INTR(IRQ_S_EXT));
    csr_write(mideleg, MIP_SEIP);
    csr_clear(mstatus, MSTATUS_SIE);
    CHECK_EQ(mode_call(PRV_S, (uint64_t)(uintptr_t)stub_ecall, 0, 0), CAUSE_SUPERVISOR_ECALL);
    csr_write(mideleg, 0);
    csr_write(mie, 0);
    claim_complete(CS, UART0_IRQ);
    uart_line(0);
    CHECK_EQ(mip_ext(), 0);
    plic_reset();
    return 0;
}
