/* LR/SC reservations between harts (smp_lrsc.args: -smp 2 and 4, both
 * TCG thread modes, spike and virt). Hart 0 takes a reservation with
 * lr.d (and lr.w), hart 1 then stores to the reserved doubleword (a
 * different value; a byte store into it; an AMO on it), and only then
 * does hart 0 try sc: it must fail (rd != 0) and leave hart 1's value in
 * memory. The two harts hand over with IPIs, so the store is known to
 * have happened between the LR and the SC. An SC may always fail
 * spuriously, so nothing here requires one to succeed (rv64a checks
 * that on one hart); with hart 1 doing nothing QEMU's SC succeeds, so
 * the test does see the interference.
 *
 * Not tested: hart 1 storing the value that is already there. The ISA
 * says the SC must still fail; QEMU 7.2 implements SC as a compare-and-
 * swap against the value LR read, so it succeeds (the ABA case). */
#include "smp.h"

#define ROUNDS 30

static volatile uint64_t x __attribute__((aligned(64)));
static volatile uint32_t step __attribute__((aligned(64)));
static volatile uint64_t sc_rc[ROUNDS], after[ROUNDS];

static uint64_t lr_d(volatile uint64_t *p)
{
    uint64_t v;
    __asm__ volatile("lr.d %0, (%1)" : "=r"(v) : "r"(p) : "memory");
    return v;
}

static uint64_t sc_d(volatile uint64_t *p, uint64_t v)
{
    uint64_t rc;
    __asm__ volatile("sc.d %0, %2, (%1)" : "=r"(rc) : "r"(p), "r"(v) : "memory");
    return rc;
}

static uint64_t lr_w(volatile uint64_t *p)
{
    uint64_t v;
    __asm__ volatile("lr.w %0, (%1)" : "=r"(v) : "r"(p) : "memory");
    return v;
}

static uint64_t sc_w(volatile uint64_t *p, uint64_t v)
{
    uint64_t rc;
    __asm__ volatile("sc.w %0, %2, (%1)" : "=r"(rc) : "r"(p), "r"(v) : "memory");
    return rc;
}

/* Hart 1's store in round r: a plain store of a new value, a byte store
 * into the doubleword, or an AMO. */
static void interfere(uint32_t r)
{
    switch (r % 3) {
    case 0:
        x = 0x1000 + r;
        break;
    case 1:
        *((volatile uint8_t *)&x + 1) = (uint8_t)(0x80 | r);
        break;
    default:
        __asm__ volatile("amoadd.d zero, %1, (%0)" :: "r"(&x), "r"(0x10000ull) : "memory");
        break;
    }
}

void hart_main(uint64_t h)
{
    smp_join();
    if (h != 1)
        return;
    csr_write(mie, MIP_MSIP);
    for (uint32_t r = 0; r < 2 * ROUNDS; r++) {
        WAIT_IPI(__atomic_load_n(&step, __ATOMIC_ACQUIRE) == 2 * r + 1);
        interfere(r);
        __atomic_store_n(&step, 2 * r + 2, __ATOMIC_RELEASE);
        notify(0);
    }
    csr_write(mie, 0);
}

int main(void)
{
    smp_start();
    csr_write(mie, MIP_MSIP);
    for (uint32_t r = 0; r < 2 * ROUNDS; r++) {
        test_num = r < ROUNDS ? 1 : 2;          /* 1: lr.d/sc.d, 2: .w */
        x = 0x5000 + r;
        uint64_t before = x;
        uint64_t v = r < ROUNDS ? lr_d(&x) : lr_w(&x);
        CHECK_EQ(v, before);
        __atomic_store_n(&step, 2 * r + 1, __ATOMIC_RELEASE);
        notify(1);
        WAIT_IPI(__atomic_load_n(&step, __ATOMIC_ACQUIRE) == 2 * r + 2);
        uint64_t rc = r < ROUNDS ? sc_d(&x, 0xdead) : sc_w(&x, 0xdead);
        CHECK_TRUE(rc != 0);
        CHECK_TRUE(x != 0xdead);
        CHECK_TRUE(x != before);
    }
    csr_write(mie, 0);
    return 0;
}
