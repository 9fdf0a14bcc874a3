/* goldfish RTC (0x101000, PLIC source 11): the time registers read host
 * time in nanoseconds since the Unix epoch (TIME_LOW latches TIME_HIGH),
 * successive reads never go backwards and the time advances; writing the
 * time moves the clock; the alarm: armed in the future (ALARM_STATUS = 1)
 * it fires later, in the past it fires at once, CLEAR_ALARM cancels it;
 * the interrupt line (PLIC source 11) = fired AND IRQ_ENABLED, and
 * CLEAR_INTERRUPT lowers it. Spec: riscv-virt-tcg.md section 2.5.
 *
 * The line is observed through the PLIC's pending bit, which latches a
 * raised line until a claim (lowering the line does not clear it, as the
 * PLIC spec says); so each check of "line low" first claims and completes
 * whatever was latched, then looks again. */
#include "virt.h"

/* Claim and complete source 11 if it is pending (M context of hart 0). */
static void plic_ack_rtc(void)
{
    uint32_t id = rd32(PLIC_CLAIM(PLIC_CTX_M(0)));
    CHECK_EQ(id, RTC_IRQ);
    wr32(PLIC_CLAIM(PLIC_CTX_M(0)), id);
}

#define NS 1000000000ull
/* 2024-01-01 and 2100-01-01, in ns since the epoch. */
#define Y2024 (1704067200ull * NS)
#define Y2100 (4102444800ull * NS)

int main(void)
{
    /* 1: host time, in nanoseconds. */
    test_num = 1;
    uint64_t t0 = rtc_now();
    CHECK_TRUE(t0 > Y2024);
    CHECK_TRUE(t0 < Y2100);

    /* 2: monotonic over many reads, and advancing. */
    test_num = 2;
    uint64_t prev = t0;
    for (int i = 0; i < 1000; i++) {
        uint64_t t = rtc_now();
        CHECK_TRUE(t >= prev);
        prev = t;
    }
    CHECK_TRUE(WAIT_UNTIL(rtc_now() > t0, TIMEBASE_HZ));

    /* 3: TIME_HIGH returns the half latched by the last TIME_LOW read:
     * reading it twice gives the same value. */
    test_num = 3;
    (void)rd32(RTC_TIME_LOW);
    uint32_t h1 = rd32(RTC_TIME_HIGH);
    CHECK_EQ(rd32(RTC_TIME_HIGH), h1);

    /* 4: writing the time (high half, then low half) moves the clock;
     * it keeps running from there. */
    test_num = 4;
    uint64_t target = 0x0123456700000000ull;
    wr32(RTC_TIME_HIGH, (uint32_t)(target >> 32));
    wr32(RTC_TIME_LOW, 0);
    uint64_t t = rtc_now();
    CHECK_TRUE(t >= target);
    CHECK_TRUE(t < target + 3600 * NS);
    /* Back to (about) the host time. */
    wr32(RTC_TIME_HIGH, (uint32_t)(prev >> 32));
    wr32(RTC_TIME_LOW, (uint32_t)prev);
    t = rtc_now();
    CHECK_TRUE(t >= prev && t < Y2100);

    /* 5: interrupts off, nothing pending. Source 11 routed to hart 0's
     * M context (mie.MEIE stays 0: no trap, just claims). */
    test_num = 5;
    wr32(PLIC_PRIORITY(RTC_IRQ), 1);
    wr32(PLIC_ENABLE(PLIC_CTX_M(0), 0), 1u << RTC_IRQ);
    wr32(PLIC_THRESHOLD(PLIC_CTX_M(0)), 0);
    wr32(RTC_IRQ_ENABLED, 0);
    wr32(RTC_CLEAR_INTERRUPT, 1);
    CHECK_EQ(rd32(RTC_IRQ_ENABLED), 0);
    CHECK_EQ(rd32(RTC_ALARM_STATUS), 0);
    CHECK_EQ(plic_pending(RTC_IRQ), 0);

    /* 6: an alarm in the past fires at once; with IRQ_ENABLED = 0 the
     * line stays low, enabling it raises the line (the alarm is latched),
     * CLEAR_INTERRUPT lowers it. */
    test_num = 6;
    rtc_set_alarm(rtc_now() - NS);
    CHECK_EQ(rd32(RTC_ALARM_STATUS), 0);
    CHECK_EQ(plic_pending(RTC_IRQ), 0);
    wr32(RTC_IRQ_ENABLED, 1);
    CHECK_EQ(rd32(RTC_IRQ_ENABLED), 1);
    CHECK_EQ(plic_pending(RTC_IRQ), 1);
    wr32(RTC_CLEAR_INTERRUPT, 1);
    plic_ack_rtc();
    CHECK_EQ(plic_pending(RTC_IRQ), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(PLIC_CTX_M(0))), 0);

    /* 7: an alarm in the future is armed (ALARM_STATUS = 1), fires later
     * (ALARM_STATUS back to 0, line up). */
    test_num = 7;
    rtc_set_alarm(rtc_now() + NS / 100);
    CHECK_EQ(rd32(RTC_ALARM_STATUS), 1);
    CHECK_TRUE(WAIT_UNTIL(plic_pending(RTC_IRQ), 10 * TIMEBASE_HZ));
    CHECK_EQ(rd32(RTC_ALARM_STATUS), 0);
    wr32(RTC_CLEAR_INTERRUPT, 1);
    plic_ack_rtc();
    CHECK_EQ(plic_pending(RTC_IRQ), 0);

    /* 8: CLEAR_ALARM cancels an armed alarm. */
    test_num = 8;
    rtc_set_alarm(rtc_now() + NS / 100);
    CHECK_EQ(rd32(RTC_ALARM_STATUS), 1);
    wr32(RTC_CLEAR_ALARM, 1);
    CHECK_EQ(rd32(RTC_ALARM_STATUS), 0);
    uint64_t end = mtime() + TIMEBASE_HZ / 20;      /* 5x the delay */
    while (mtime() < end)
        CHECK_EQ(plic_pending(RTC_IRQ), 0);
    wr32(RTC_IRQ_ENABLED, 0);
    wr32(PLIC_ENABLE(PLIC_CTX_M(0), 0), 0);
    wr32(PLIC_PRIORITY(RTC_IRQ), 0);
    return 0;
}
