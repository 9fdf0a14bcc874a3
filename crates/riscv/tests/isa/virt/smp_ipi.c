/* Inter-processor interrupts through the CLINT's msip registers, and the
 * PLIC's per-hart contexts (smp_ipi.args: -smp 2 and 4, both TCG thread
 * modes). Issue 8: "IPIs through ACLINT MSWI wake halted harts".
 *   1. Harts halted in wfi (mie.MSIE, mstatus.MIE = 0) wake when hart 0
 *      writes their msip, see mip.MSIP and msip = 1, clear it through
 *      their own msip, and answer with an IPI to hart 0, which sleeps in
 *      wfi meanwhile; no other hart's msip is touched. ROUNDS rounds,
 *      one hart at a time.
 *   2. The same with the interrupt taken: each hart has its own trap
 *      vector (mscratch -> a per-hart save area) that clears msip and
 *      counts; hart 0 wakes them all at once (broadcast) each round.
 *   3. PLIC context 2h (hart h's M context) routes the UART's source 10
 *      to hart h only: the last hart wakes from wfi on MEIP, claims 10
 *      from its own context and completes it; hart 0 sees no MEIP. Then
 *      the same through context 2h + 1 (its S context) and SEIP.
 *   4. Per-hart timers: each hart other than 0 arms its own mtimecmp
 *      (staggered deadlines), sleeps in wfi until its MTIP, which never
 *      comes before mtime reaches its deadline; hart 0's mtimecmp stays
 *      far away and its MTIP clear. */
#include "smp.h"

#define ROUNDS 50

static volatile uint32_t woken[MAX_HARTS], woken2[MAX_HARTS];
static volatile uint32_t ext_ready, ext_claimed, ext_done;
static volatile uint32_t ext2_ready, ext2_claimed, ext2_done;
static volatile uint32_t timer_go, timer_woken[MAX_HARTS];
static volatile uint32_t bad[MAX_HARTS];

/* Per-hart save area for ipi_vector: t1, t2, interrupt count. */
struct ipi_area { uint64_t t1, t2, count, pad; };
static volatile struct ipi_area area[MAX_HARTS];

/* Trap vector for harts other than 0 in phase 2: only the machine
 * software interrupt is expected; anything else ends the run with
 * finisher code 99. */
__asm__(".pushsection .text\n"
        ".balign 4\n"
        "ipi_vector:\n"
        "   csrrw t0, mscratch, t0\n"
        "   sd t1, 0(t0)\n"
        "   sd t2, 8(t0)\n"
        "   csrr t1, mcause\n"
        "   li t2, (1 << 63) | 3\n"
        "   bne t1, t2, 1f\n"
        "   csrr t1, mhartid\n"
        "   slli t1, t1, 2\n"
        "   li t2, 0x2000000\n"
        "   add t1, t1, t2\n"
        "   sw zero, 0(t1)\n"
        "   ld t1, 16(t0)\n"
        "   addi t1, t1, 1\n"
        "   sd t1, 16(t0)\n"
        "   ld t1, 0(t0)\n"
        "   ld t2, 8(t0)\n"
        "   csrrw t0, mscratch, t0\n"
        "   mret\n"
        "1: li t1, (99 << 16) | 0x3333\n"
        "   li t2, 0x100000\n"
        "   sw t1, 0(t2)\n"
        "2: j 2b\n"
        ".popsection\n");
extern char ipi_vector[], trap_entry[];

static uint64_t msip_pending(void)
{
    return csr_read(mip) & MIP_MSIP;
}

void hart_main(uint64_t h)
{
    int n = smp_join();

    /* 1: wake from wfi, no trap. */
    csr_write(mie, MIP_MSIP);
    for (uint32_t r = 1; r <= ROUNDS; r++) {
        while (!msip_pending())
            __asm__ volatile("wfi");
        if (rd32(CLINT_MSIP_H(h)) != 1)
            bad[h] = 2;
        wr32(CLINT_MSIP_H(h), 0);
        if (msip_pending())
            bad[h] = 3;
        __atomic_store_n(&woken[h], r, __ATOMIC_RELEASE);
        notify(0);
    }

    /* 2: the interrupt taken through this hart's own vector. */
    barrier(n);
    csr_write(mscratch, (uint64_t)(uintptr_t)&area[h]);
    csr_write(mtvec, (uint64_t)(uintptr_t)ipi_vector);
    for (uint32_t r = 1; r <= ROUNDS; r++) {
        /* Check with MIE = 0, sleep (wfi wakes on the pending MSIP
         * whatever MIE), then open a one-instruction window for the
         * interrupt. With MIE = 1 throughout, an interrupt taken between
         * the check and the wfi would leave the hart asleep for good. */
        while (__atomic_load_n(&area[h].count, __ATOMIC_ACQUIRE) < r) {
            __asm__ volatile("wfi");
            csr_set(mstatus, MSTATUS_MIE);
            csr_clear(mstatus, MSTATUS_MIE);
        }
        __atomic_store_n(&woken2[h], r, __ATOMIC_RELEASE);
        notify(0);
    }
    csr_write(mtvec, (uint64_t)(uintptr_t)trap_entry);
    csr_write(mie, 0);

    /* 3: the last hart takes the UART's interrupt through its own PLIC
     * context. */
    if ((int)h == n - 1) {
        csr_write(mie, MIP_MEIP);
        __atomic_store_n(&ext_ready, 1, __ATOMIC_RELEASE);
        notify(0);
        while (!(csr_read(mip) & MIP_MEIP))
            __asm__ volatile("wfi");
        uint32_t id = rd32(PLIC_CLAIM(PLIC_CTX_M(h)));
        __atomic_store_n(&ext_claimed, id, __ATOMIC_RELEASE);
        wr32(PLIC_CLAIM(PLIC_CTX_M(h)), id);
        csr_write(mie, 0);
        __atomic_store_n(&ext_done, 1, __ATOMIC_RELEASE);
        notify(0);
        /* The same through this hart's S context (SEIP). */
        csr_write(mie, MIP_SEIP);
        __atomic_store_n(&ext2_ready, 1, __ATOMIC_RELEASE);
        notify(0);
        while (!(csr_read(mip) & MIP_SEIP))
            __asm__ volatile("wfi");
        id = rd32(PLIC_CLAIM(PLIC_CTX_S(h)));
        __atomic_store_n(&ext2_claimed, id, __ATOMIC_RELEASE);
        wr32(PLIC_CLAIM(PLIC_CTX_S(h)), id);
        csr_write(mie, 0);
        __atomic_store_n(&ext2_done, 1, __ATOMIC_RELEASE);
        notify(0);
    }

    /* 4: this hart's own timer. */
    csr_write(mie, MIP_MSIP);
    WAIT_IPI(__atomic_load_n(&timer_go, __ATOMIC_ACQUIRE));
    uint64_t cmp = mtime() + h * (TIMEBASE_HZ / 1000);
    wr64(CLINT_MTIMECMP_H(h), cmp);
    csr_write(mie, MIP_MTIP);
    while (!(csr_read(mip) & MIP_MTIP))
        __asm__ volatile("wfi");
    if (mtime() < cmp)
        bad[h] = 4;
    wr64(CLINT_MTIMECMP_H(h), ~0ull);
    if (csr_read(mip) & MIP_MTIP)
        bad[h] = 5;
    csr_write(mie, 0);
    __atomic_store_n(&timer_woken[h], 1, __ATOMIC_RELEASE);
    notify(0);
}

int main(void)
{
    int n = smp_start();

    csr_write(mie, MIP_MSIP);

    /* 1: one hart at a time. */
    test_num = 1;
    for (uint32_t r = 1; r <= ROUNDS; r++) {
        for (int h = 1; h < n; h++) {
            wr32(CLINT_MSIP_H(0), 0);
            wr32(CLINT_MSIP_H(h), 1);
            for (int k = 1; k < n; k++)
                if (k != h)
                    CHECK_EQ(rd32(CLINT_MSIP_H(k)), 0);
            WAIT_IPI(__atomic_load_n(&woken[h], __ATOMIC_ACQUIRE) == r);
            CHECK_EQ(rd32(CLINT_MSIP_H(h)), 0);
        }
    }
    for (int h = 1; h < n; h++)
        CHECK_EQ(bad[h], 0);

    /* 2: broadcast, interrupts taken. */
    test_num = 2;
    barrier(n);
    for (uint32_t r = 1; r <= ROUNDS; r++) {
        for (int h = 1; h < n; h++)
            wr32(CLINT_MSIP_H(h), 1);
        for (int h = 1; h < n; h++)
            WAIT_IPI(__atomic_load_n(&woken2[h], __ATOMIC_ACQUIRE) == r);
    }
    for (int h = 1; h < n; h++)
        CHECK_EQ(area[h].count, ROUNDS);

    /* 3: PLIC context of the last hart. */
    test_num = 3;
    int last = n - 1;
    WAIT_IPI(__atomic_load_n(&ext_ready, __ATOMIC_ACQUIRE));
    wr32(PLIC_PRIORITY(UART0_IRQ), 1);
    for (int c = 0; c < 2 * n; c++)
        wr32(PLIC_THRESHOLD(c), 0);
    wr32(PLIC_ENABLE(PLIC_CTX_M(last), 0), 1u << UART0_IRQ);
    CHECK_EQ(rd32(PLIC_ENABLE(PLIC_CTX_M(last), 0)), 1u << UART0_IRQ);
    wr8(UART(UART_IER), 0x02);              /* THR empty: line up */
    WAIT_IPI(__atomic_load_n(&ext_done, __ATOMIC_ACQUIRE));
    CHECK_EQ(ext_claimed, UART0_IRQ);
    CHECK_EQ(csr_read(mip) & (MIP_MEIP | MIP_SEIP), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(PLIC_CTX_M(0))), 0);
    wr8(UART(UART_IER), 0);
    wr32(PLIC_ENABLE(PLIC_CTX_M(last), 0), 0);
    /* S context of the last hart. */
    WAIT_IPI(__atomic_load_n(&ext2_ready, __ATOMIC_ACQUIRE));
    wr32(PLIC_ENABLE(PLIC_CTX_S(last), 0), 1u << UART0_IRQ);
    wr8(UART(UART_IER), 0x02);
    WAIT_IPI(__atomic_load_n(&ext2_done, __ATOMIC_ACQUIRE));
    csr_write(mie, 0);
    CHECK_EQ(ext2_claimed, UART0_IRQ);
    CHECK_EQ(csr_read(mip) & (MIP_MEIP | MIP_SEIP), 0);
    CHECK_EQ(rd32(PLIC_CLAIM(PLIC_CTX_S(0))), 0);
    wr8(UART(UART_IER), 0);
    wr32(PLIC_ENABLE(PLIC_CTX_S(last), 0), 0);
    wr32(PLIC_PRIORITY(UART0_IRQ), 0);

    /* 4: per-hart timers. */
    test_num = 4;
    wr64(CLINT_MTIMECMP_H(0), ~0ull);
    csr_write(mie, MIP_MSIP);
    __atomic_store_n(&timer_go, 1, __ATOMIC_RELEASE);
    for (int h = 1; h < n; h++)
        notify((uint64_t)h);
    for (int h = 1; h < n; h++)
        WAIT_IPI(__atomic_load_n(&timer_woken[h], __ATOMIC_ACQUIRE));
    csr_write(mie, 0);
    CHECK_EQ(csr_read(mip) & MIP_MTIP, 0);
    for (int h = 1; h < n; h++) {
        CHECK_EQ(bad[h], 0);
        CHECK_EQ(rd64(CLINT_MTIMECMP_H(h)), ~0ull);
    }
    return 0;
}
