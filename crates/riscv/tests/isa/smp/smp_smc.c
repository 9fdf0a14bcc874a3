/* Self-modifying code across harts (smp_smc.args: -smp 2 and 4, both TCG
 * thread modes). Hart 0 runs a small routine, smc_fn (`addi a0, zero, K;
 * ret`), hot (many calls, so an emulator has translated and chained
 * it); another hart rewrites K and tells hart 0, which must then run the
 * new code. Issue 8: "a store by one vCPU to a page holding another
 * vCPU's translated code invalidates it before that code can run again".
 *   1. The ISA protocol: the patcher stores the new instruction, fences,
 *      sets a flag and IPIs hart 0; hart 0 sees the flag, runs fence.i,
 *      calls smc_fn: it must return the new K. The store is a 32-bit sw,
 *      a 16-bit sh of the immediate's half, or an amoswap.w, by turns;
 *      with more than two harts the patchers take turns.
 *   2. The same without fence.i on hart 0: RISC-V would need it, but
 *      QEMU (and the issue) guarantee that a remote store invalidates the
 *      translated code before it can run again once hart 0 has seen the
 *      flag (acquire). Follows QEMU.
 *
 * Not tested: hart 0 running smc_fn in a loop (with fence.i) while the
 * patcher rewrites it. The ISA says the new code must show up; on QEMU
 * 7.2's multi-threaded TCG it sometimes never does (about one run in
 * twenty with -smp 8 on spike): RAM holds the new instruction, the flag
 * says it was written, and hart 0 keeps getting the old K after any
 * number of fence.i. The likely cause is a store landing while hart 0
 * translates smc_fn, after the old bytes were read and before the page
 * is write-protected, so nothing invalidates the stale translation.
 * Phases 1 and 2 store while hart 0 sleeps in wfi, outside that window,
 * and pass on QEMU every time; an emulator should get the concurrent
 * case right as well. */
#include "smp.h"

#define ROUNDS  100
#define HOT     50

/* addi a0, zero, imm */
#define ADDI_A0(imm) (0x00000513u | ((uint32_t)(imm) << 20))

__asm__(".pushsection .text\n"
        ".balign 64\n"
        ".globl smc_fn\n"
        ".option push\n"
        ".option norvc\n"           /* 32-bit encodings, patched as such */
        "smc_fn: addi a0, zero, 0\n"
        "        ret\n"
        ".option pop\n"
        ".balign 64\n"
        ".popsection\n");
extern char smc_fn[];

static volatile uint32_t want, patched;
static volatile uint32_t bad;

static uint64_t call_fn(void)
{
    uint64_t v;
    /* A call through a register, as a JIT'd caller would. */
    __asm__ volatile("jalr ra, 0(%1)\n mv %0, a0"
                     : "=r"(v) : "r"(smc_fn) : "ra", "a0", "memory");
    return v;
}

static void patch(uint32_t k)
{
    volatile uint32_t *w = (volatile uint32_t *)smc_fn;
    uint32_t insn = ADDI_A0(k);
    switch (k % 3) {
    case 0:
        *w = insn;
        break;
    case 1:
        /* The immediate is in bits 31:20: rewrite the upper half. */
        *(volatile uint16_t *)(smc_fn + 2) = (uint16_t)(insn >> 16);
        break;
    default:
        __asm__ volatile("amoswap.w zero, %1, (%0)" :: "r"(w), "r"(insn) : "memory");
        break;
    }
}

static int patcher_of(uint32_t r, int n)
{
    return 1 + (int)(r % (uint32_t)(n - 1));
}

void hart_main(uint64_t h)
{
    int n = smp_join();
    csr_write(mie, MIP_MSIP);
    for (uint32_t r = 1; r <= 2 * ROUNDS; r++) {
        if (patcher_of(r, n) != (int)h)
            continue;
        WAIT_IPI(__atomic_load_n(&want, __ATOMIC_ACQUIRE) == r);
        patch(r);
        __atomic_store_n(&patched, r, __ATOMIC_RELEASE);
        notify(0);
    }
    csr_write(mie, 0);
}

int main(void)
{
    int n = smp_start();
    csr_write(mie, MIP_MSIP);
    uint32_t r = 1;

    /* 1: with fence.i. */
    test_num = 1;
    CHECK_EQ(call_fn(), 0);
    for (; r <= ROUNDS; r++) {
        for (int i = 0; i < HOT; i++)
            CHECK_EQ(call_fn(), r - 1);
        __atomic_store_n(&want, r, __ATOMIC_RELEASE);
        notify((uint64_t)patcher_of(r, n));
        WAIT_IPI(__atomic_load_n(&patched, __ATOMIC_ACQUIRE) == r);
        fence_i();
        CHECK_EQ(call_fn(), r);
    }

    /* 2: without fence.i (QEMU's guarantee, see the header). */
    test_num = 2;
    for (; r <= 2 * ROUNDS; r++) {
        for (int i = 0; i < HOT; i++)
            CHECK_EQ(call_fn(), r - 1);
        __atomic_store_n(&want, r, __ATOMIC_RELEASE);
        notify((uint64_t)patcher_of(r, n));
        WAIT_IPI(__atomic_load_n(&patched, __ATOMIC_ACQUIRE) == r);
        CHECK_EQ(call_fn(), r);
    }

    csr_write(mie, 0);
    return 0;
}
