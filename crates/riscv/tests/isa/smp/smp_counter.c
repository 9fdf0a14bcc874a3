/* Several harts (smp_counter.args: -smp 2 and 4, QEMU's multi-threaded
 * and single-threaded TCG) incrementing shared counters ITERS times each;
 * every total must be exactly nharts * ITERS (no lost update):
 *   1. LR/SC loops, 64-bit (lr.d/sc.d), one counter;
 *   2. LR/SC loops, 32-bit (lr.w/sc.w) on neighbouring words of one
 *      doubleword (the reservation covers the word, not more);
 *   3. amoadd.d and amoadd.w;
 *   4. a plain (non-atomic) increment inside a spinlock taken with
 *      amoswap.w.aq and released with amoswap.w.rl;
 *   5. amomax.d from every hart (the maximum wins). Issue 8.
 * A lost update only shows when harts really run at the same time; on a
 * busy host the threads of QEMU's MTTCG often run one after the other,
 * so each phase is long (ITERS) to give them many chances to overlap (a
 * plain `c = c + 1` in place of the AMO loses updates in some runs). */
#include "smp.h"

#define ITERS 100000

static volatile uint64_t c_lrsc_d;
static volatile uint32_t c_lrsc_w[2] __attribute__((aligned(8)));
static volatile uint64_t c_amo_d;
static volatile uint32_t c_amo_w;
static volatile uint32_t lock;
static volatile uint64_t c_locked;
static volatile uint64_t c_max;
static volatile uint32_t done;

static void lrsc_add_d(volatile uint64_t *p, uint64_t v)
{
    uint64_t tmp, fail;
    __asm__ volatile("1: lr.d %0, (%2)\n"
                     "   add %0, %0, %3\n"
                     "   sc.d %1, %0, (%2)\n"
                     "   bnez %1, 1b\n"
                     : "=&r"(tmp), "=&r"(fail) : "r"(p), "r"(v) : "memory");
}

static void lrsc_add_w(volatile uint32_t *p, uint32_t v)
{
    uint64_t tmp, fail;
    __asm__ volatile("1: lr.w %0, (%2)\n"
                     "   addw %0, %0, %3\n"
                     "   sc.w %1, %0, (%2)\n"
                     "   bnez %1, 1b\n"
                     : "=&r"(tmp), "=&r"(fail) : "r"(p), "r"(v) : "memory");
}

static void spin_lock(void)
{
    uint32_t old;
    do {
        __asm__ volatile("amoswap.w.aq %0, %2, (%1)"
                         : "=r"(old) : "r"(&lock), "r"(1) : "memory");
    } while (old != 0);
}

static void spin_unlock(void)
{
    __asm__ volatile("amoswap.w.rl zero, zero, (%0)" :: "r"(&lock) : "memory");
}

static void work(int n)
{
    uint64_t h = hartid();
    barrier(n);
    for (int i = 0; i < ITERS; i++)
        lrsc_add_d(&c_lrsc_d, 1);
    barrier(n);
    for (int i = 0; i < ITERS; i++) {
        lrsc_add_w(&c_lrsc_w[0], 1);
        lrsc_add_w(&c_lrsc_w[1], 2);
    }
    barrier(n);
    for (int i = 0; i < ITERS; i++) {
        __atomic_fetch_add(&c_amo_d, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c_amo_w, 3, __ATOMIC_RELAXED);
    }
    barrier(n);
    for (int i = 0; i < ITERS; i++) {
        spin_lock();
        c_locked = c_locked + 1;
        spin_unlock();
    }
    barrier(n);
    for (uint64_t i = 0; i < ITERS; i++) {
        uint64_t v = i * MAX_HARTS + h;
        __asm__ volatile("amomax.d zero, %1, (%0)" :: "r"(&c_max), "r"(v) : "memory");
    }
    __atomic_fetch_add(&done, 1, __ATOMIC_ACQ_REL);
}

void hart_main(uint64_t id)
{
    (void)id;
    work(smp_join());
}

int main(void)
{
    int n = smp_start();
    work(n);
    test_num = 6;
    CHECK_TRUE(WAIT_UNTIL(__atomic_load_n(&done, __ATOMIC_ACQUIRE) == (uint32_t)n,
                          30 * TIMEBASE_HZ));
    uint64_t total = (uint64_t)n * ITERS;
    test_num = 1;
    CHECK_EQ(c_lrsc_d, total);
    test_num = 2;
    CHECK_EQ(c_lrsc_w[0], total);
    CHECK_EQ(c_lrsc_w[1], 2 * total);
    test_num = 3;
    CHECK_EQ(c_amo_d, total);
    CHECK_EQ(c_amo_w, 3 * total);
    test_num = 4;
    CHECK_EQ(c_locked, total);
    CHECK_EQ(lock, 0);
    test_num = 5;
    CHECK_EQ(c_max, (uint64_t)(ITERS - 1) * MAX_HARTS + (uint64_t)(n - 1));
    return 0;
}
