/* CLINT (ACLINT MSWI + MTIMER) on the virt board, one hart: msip bit 0
 * drives mip.MSIP (other bits read 0); mtimecmp resets to 0, so MTIP is
 * pending from reset; mtime advances and the `time` CSR reads it; mtime
 * and mtimecmp in 64-bit accesses and 32-bit halves; MTIP follows
 * mtime >= mtimecmp, both when mtimecmp is written and when mtime is;
 * MTIP never comes before mtime reaches mtimecmp; wfi wakes on the timer
 * with MIE = 0; MSI and MTI taken from S-mode; rdtime from S and U
 * gated by mcounteren.TM / scounteren.TM; access widths (1-byte accesses
 * fault, 8-byte accesses to msip fault); mtime counting at 10 MHz,
 * measured against the goldfish RTC's nanoseconds (both follow host time
 * without -icount). Spec: riscv-virt-tcg.md 2.1. */
#include "virt.h"

#define INTR(n) ((1ull << 63) | (n))

/* rdtime, then back to M. */
__asm__(".pushsection .text\n"
        ".globl stub_rdtime\n"
        "stub_rdtime: rdtime a0\n"
        "        ecall\n"
        ".popsection\n");
extern char stub_rdtime[];

/* A simultaneous (RTC ns, mtime) pair: mtime read between two RTC reads
 * less than 1 ms apart (retried until so, in case the host deschedules
 * the vCPU in between). */
static void clock_pair(uint64_t *ns, uint64_t *ticks)
{
    for (;;) {
        uint64_t a = rtc_now();
        uint64_t t = mtime();
        uint64_t b = rtc_now();
        if (b >= a && b - a < 1000000) {
            *ns = a + (b - a) / 2;
            *ticks = t;
            return;
        }
    }
}

static uint64_t mip_bit(uint64_t bit)
{
    return csr_read(mip) & bit;
}

int main(void)
{
    /* 1: reset state: mtimecmp = 0, so MTIP is already pending; msip 0. */
    test_num = 1;
    CHECK_EQ(rd64(CLINT_MTIMECMP), 0);
    CHECK_EQ(mip_bit(MIP_MTIP), MIP_MTIP);
    CHECK_EQ(rd32(CLINT_MSIP), 0);
    CHECK_EQ(mip_bit(MIP_MSIP), 0);

    /* 2: msip: bit 0 only, drives mip.MSIP. */
    test_num = 2;
    wr32(CLINT_MSIP, 0xffffffff);
    CHECK_EQ(rd32(CLINT_MSIP), 1);
    CHECK_EQ(mip_bit(MIP_MSIP), MIP_MSIP);
    wr32(CLINT_MSIP, 2);
    CHECK_EQ(rd32(CLINT_MSIP), 0);
    CHECK_EQ(mip_bit(MIP_MSIP), 0);
    /* mip.MSIP is read-only (the CLINT drives it). */
    csr_set(mip, MIP_MSIP);
    CHECK_EQ(mip_bit(MIP_MSIP), 0);
    /* Hart 1 does not exist with -smp 1: its msip is ignored, reads 0. */
    CHECK_EQ(M_CALL(stub_sw, CLINT_MSIP_H(1), 1), CAUSE_MACHINE_ECALL);
    CHECK_EQ(M_CALL(stub_lwu, CLINT_MSIP_H(1), 0), CAUSE_MACHINE_ECALL);
    CHECK_EQ(mode_call_a0, 0);
    CHECK_EQ(mip_bit(MIP_MSIP), 0);

    /* 3: accesses are 4 or 8 bytes (msip: 4 only). */
    test_num = 3;
    CHECK_EQ(M_CALL(stub_lbu, CLINT_MSIP, 0), CAUSE_LOAD_ACCESS);
    CHECK_EQ(M_CALL(stub_ld, CLINT_MSIP, 0), CAUSE_LOAD_ACCESS);
    CHECK_EQ(M_CALL(stub_lbu, CLINT_MTIME, 0), CAUSE_LOAD_ACCESS);
    CHECK_EQ(M_CALL(stub_lwu, CLINT_MTIME + 4, 0), CAUSE_MACHINE_ECALL);

    /* 4: mtime advances; `time` reads the same counter (sandwiched
     * between two mtime reads). */
    test_num = 4;
    uint64_t t0 = mtime();
    CHECK_TRUE(WAIT_UNTIL(mtime() > t0, TIMEBASE_HZ));
    for (int i = 0; i < 100; i++) {
        uint64_t a = mtime();
        uint64_t t = csr_read(time);
        uint64_t b = mtime();
        CHECK_TRUE(a <= t && t <= b);
    }
    /* The 32-bit halves read the same counter. */
    uint32_t hi = rd32(CLINT_MTIME + 4);
    uint32_t lo = rd32(CLINT_MTIME);
    uint64_t t1 = mtime();
    CHECK_TRUE((((uint64_t)hi << 32) | lo) <= t1);

    /* 5: mtimecmp far in the future clears MTIP; 32-bit halves compose
     * with the other half. */
    test_num = 5;
    wr64(CLINT_MTIMECMP, ~0ull);
    CHECK_EQ(mip_bit(MIP_MTIP), 0);
    CHECK_EQ(rd32(CLINT_MTIMECMP), 0xffffffff);
    CHECK_EQ(rd32(CLINT_MTIMECMP + 4), 0xffffffff);
    /* High half 0: mtimecmp = 0xffffffff, still ahead of mtime (mtime
     * reaches 2^32 only after 7 minutes). */
    CHECK_TRUE(mtime() < 0xffffffffull);
    wr32(CLINT_MTIMECMP + 4, 0);
    CHECK_EQ(rd64(CLINT_MTIMECMP), 0xffffffffull);
    CHECK_EQ(mip_bit(MIP_MTIP), 0);
    /* Low half 0: mtimecmp = 0, reached. */
    wr32(CLINT_MTIMECMP, 0);
    CHECK_EQ(rd64(CLINT_MTIMECMP), 0);
    CHECK_EQ(mip_bit(MIP_MTIP), MIP_MTIP);
    wr32(CLINT_MTIMECMP + 4, 1);
    CHECK_EQ(rd64(CLINT_MTIMECMP), 0x100000000ull);
    CHECK_EQ(mip_bit(MIP_MTIP), 0);
    /* mip.MTIP is read-only. */
    csr_set(mip, MIP_MTIP);
    CHECK_EQ(mip_bit(MIP_MTIP), 0);

    /* 6: a deadline 1 ms ahead: MTIP comes, and never before mtime has
     * reached mtimecmp. */
    test_num = 6;
    for (int i = 0; i < 5; i++) {
        uint64_t cmp = mtime() + TIMEBASE_HZ / 1000;
        wr64(CLINT_MTIMECMP, cmp);
        CHECK_TRUE(WAIT_UNTIL(mip_bit(MIP_MTIP), TIMEBASE_HZ));
        CHECK_TRUE(mtime() >= cmp);
    }
    wr64(CLINT_MTIMECMP, ~0ull);
    CHECK_EQ(mip_bit(MIP_MTIP), 0);

    /* 7: mtime is writable, and writing it re-evaluates MTIP both ways. */
    test_num = 7;
    uint64_t saved = mtime();
    wr64(CLINT_MTIMECMP, 0x100000000ull);
    wr64(CLINT_MTIME, 0x100000000ull);
    CHECK_TRUE(mtime() >= 0x100000000ull);
    CHECK_TRUE(mtime() < 0x100000000ull + 60 * TIMEBASE_HZ);
    CHECK_EQ(mip_bit(MIP_MTIP), MIP_MTIP);
    CHECK_TRUE(csr_read(time) >= 0x100000000ull);
    wr64(CLINT_MTIME, saved);
    CHECK_TRUE(mtime() < 0x100000000ull);
    CHECK_EQ(mip_bit(MIP_MTIP), 0);
    /* And through 32-bit halves. */
    wr32(CLINT_MTIME + 4, 1);
    CHECK_TRUE(mtime() >= 0x100000000ull);
    CHECK_EQ(mip_bit(MIP_MTIP), MIP_MTIP);
    wr32(CLINT_MTIME + 4, 0);
    CHECK_TRUE(mtime() < 0x100000000ull);
    CHECK_EQ(mip_bit(MIP_MTIP), 0);

    /* 8: wfi with MIE = 0 wakes when MTIP becomes pending and enabled in
     * mie; no trap is taken. */
    test_num = 8;
    csr_write(mie, MIP_MTIP);
    uint64_t cmp = mtime() + TIMEBASE_HZ / 500;
    wr64(CLINT_MTIMECMP, cmp);
    uint64_t traps = trap_count;
    for (int i = 0; i < 1000000 && !mip_bit(MIP_MTIP); i++)
        __asm__ volatile("wfi");
    CHECK_EQ(mip_bit(MIP_MTIP), MIP_MTIP);
    CHECK_TRUE(mtime() >= cmp);
    CHECK_EQ(trap_count, traps);
    /* wfi with the interrupt already pending returns at once. */
    __asm__ volatile("wfi");
    CHECK_EQ(trap_count, traps);

    /* 9: MTI and MSI taken from S-mode (M interrupts are enabled below
     * M whatever mstatus.MIE); the lowest-numbered first in QEMU (see
     * ../README.md), here MSI (3) before MTI (7). */
    test_num = 9;
    CHECK_EQ(mode_call(PRV_S, (uint64_t)(uintptr_t)stub_ecall, 0, 0), INTR(IRQ_M_TIMER));
    csr_write(mie, MIP_MTIP | MIP_MSIP);
    wr32(CLINT_MSIP, 1);
    CHECK_EQ(mode_call(PRV_S, (uint64_t)(uintptr_t)stub_ecall, 0, 0), INTR(IRQ_M_SOFT));
    wr32(CLINT_MSIP, 0);
    CHECK_EQ(mode_call(PRV_S, (uint64_t)(uintptr_t)stub_ecall, 0, 0), INTR(IRQ_M_TIMER));
    wr64(CLINT_MTIMECMP, ~0ull);
    CHECK_EQ(mode_call(PRV_S, (uint64_t)(uintptr_t)stub_ecall, 0, 0), CAUSE_SUPERVISOR_ECALL);
    csr_write(mie, 0);

    /* 10: rdtime in S needs mcounteren.TM; in U also scounteren.TM. */
    test_num = 10;
    csr_write(mcounteren, 0);
    csr_write(scounteren, 0);
    CHECK_EQ(mode_call(PRV_S, (uint64_t)(uintptr_t)stub_rdtime, 0, 0), CAUSE_ILLEGAL_INSTRUCTION);
    csr_write(mcounteren, 2);
    uint64_t before = mtime();
    CHECK_EQ(mode_call(PRV_S, (uint64_t)(uintptr_t)stub_rdtime, 0, 0), CAUSE_SUPERVISOR_ECALL);
    CHECK_TRUE(mode_call_a0 >= before && mode_call_a0 <= mtime());
    CHECK_EQ(mode_call(PRV_U, (uint64_t)(uintptr_t)stub_rdtime, 0, 0), CAUSE_ILLEGAL_INSTRUCTION);
    csr_write(scounteren, 2);
    CHECK_EQ(mode_call(PRV_U, (uint64_t)(uintptr_t)stub_rdtime, 0, 0), CAUSE_USER_ECALL);
    csr_write(mcounteren, 0);
    CHECK_EQ(mode_call(PRV_U, (uint64_t)(uintptr_t)stub_rdtime, 0, 0), CAUSE_ILLEGAL_INSTRUCTION);
    csr_write(scounteren, 0);

    /* 11: the timebase is 10 MHz (the device tree's timebase-frequency):
     * over 0.2 s of mtime, the RTC advances 100 ns per tick, within 5%
     * (each end of the interval is known to within 1 ms). */
    test_num = 11;
    uint64_t ns0, tk0, ns1, tk1;
    clock_pair(&ns0, &tk0);
    while (mtime() < tk0 + TIMEBASE_HZ / 5)
        ;
    clock_pair(&ns1, &tk1);
    uint64_t dns = ns1 - ns0, dticks = tk1 - tk0;
    CHECK_TRUE(dticks * 100 * 100 > dns * 95);
    CHECK_TRUE(dticks * 100 * 100 < dns * 105);
    return 0;
}
