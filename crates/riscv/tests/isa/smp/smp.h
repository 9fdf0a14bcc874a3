/* Helpers for the multi-hart programs (those in smp/, built for both the
 * spike and the virt board, and virt/smp_ipi.c): counting harts, waiting
 * for them, and a barrier. They use only the CLINT (same address on both
 * boards) and the runtime's pass/fail. Every hart enters the program at
 * _start (with -bios none QEMU starts them all at once at the reset
 * vector, no hart-state management); hart 0 runs main, the others
 * hart_main(hartid) (see ../env/crt.S). Harts other than 0 must not take
 * traps through the runtime's handler (its save area is shared). */
#ifndef SMP_H
#define SMP_H

#include "virt.h"

/* Harts present: those whose CLINT msip register holds a written 1 (the
 * msip of a hart that does not exist ignores writes and reads 0). Call
 * from hart 0 before the others enable MSIP in mie. */
static inline int count_harts(void)
{
    int n = 1;
    for (int h = 1; h < MAX_HARTS; h++) {
        wr32(CLINT_MSIP_H(h), 1);
        int present = rd32(CLINT_MSIP_H(h)) == 1;
        wr32(CLINT_MSIP_H(h), 0);
        if (!present)
            break;
        n++;
    }
    return n;
}

static inline uint64_t hartid(void)
{
    return csr_read(mhartid);
}

/* Waiting for another hart without spinning: the waiter sleeps in wfi
 * (with mie.MSIE set) and the other hart sends it an IPI after making
 * the condition true. Spinning works too with one host thread per hart,
 * but in QEMU's single-threaded round-robin mode a spinning hart keeps
 * the only thread until its time slice ends (about 0.1 s), while a hart
 * in wfi gives it up at once. Clearing msip before testing the condition
 * means no wake-up is lost. */
#define WAIT_IPI(cond) do {                                     \
        for (;;) {                                              \
            wr32(CLINT_MSIP_H(hartid()), 0);                    \
            if (cond)                                           \
                break;                                          \
            __asm__ volatile("wfi");                            \
        }                                                       \
    } while (0)

/* Make this hart's earlier stores visible, then IPI hart h. */
static inline void notify(uint64_t h)
{
    __asm__ volatile("fence iorw, iorw" ::: "memory");
    wr32(CLINT_MSIP_H(h), 1);
}

/* Sense-reversing barrier for n harts. */
static volatile uint32_t barrier_count;
static volatile uint32_t barrier_sense;
static uint32_t local_sense[MAX_HARTS];

static inline void barrier(int n)
{
    uint32_t s = local_sense[hartid()] ^= 1;
    if (__atomic_fetch_add(&barrier_count, 1, __ATOMIC_ACQ_REL) == (uint32_t)n - 1) {
        __atomic_store_n(&barrier_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&barrier_sense, s, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&barrier_sense, __ATOMIC_ACQUIRE) != s)
            ;
    }
}

/* Shared start protocol: the other harts announce themselves in
 * `arrived`, then wait for hart 0 to publish `nharts`. */
static volatile uint32_t arrived;
static volatile uint32_t nharts;

/* Hart 0: count the harts, wait until all have arrived, publish the
 * count. Fails test 100 if a hart never shows up, 101 if there is only
 * one hart (the .args files always give -smp 2 or more). */
static inline int smp_start(void)
{
    int n = count_harts();
    if (n < 2)
        test_exit(101);
    if (!WAIT_UNTIL(__atomic_load_n(&arrived, __ATOMIC_ACQUIRE) == (uint32_t)n - 1,
                    10 * TIMEBASE_HZ))
        test_exit(100);
    __atomic_store_n(&nharts, (uint32_t)n, __ATOMIC_RELEASE);
    return n;
}

/* Other harts: announce, then return the hart count once published. */
static inline int smp_join(void)
{
    __atomic_fetch_add(&arrived, 1, __ATOMIC_ACQ_REL);
    uint32_t n;
    while ((n = __atomic_load_n(&nharts, __ATOMIC_ACQUIRE)) == 0)
        ;
    return (int)n;
}

#endif
