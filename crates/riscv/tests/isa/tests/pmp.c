/* Physical memory protection: 16 entries with 4-byte granularity (QEMU
 * 7.2's default), NAPOT, NA4 and TOR matching, R/W/X per access type,
 * lowest-numbered matching entry wins, S/U denied when nothing matches
 * while M is allowed, accesses straddling an entry boundary, MPRV using
 * MPP's privilege, the lock bit (applies to M; locked entries and the
 * pmpaddr below a locked TOR entry ignore writes), and odd pmpcfg CSRs
 * being illegal on RV64. */
#include <string.h>
#include "libtest.h"

/* Test region: 64 KiB of RAM well past the program image; the entries
 * that cover the program leave it unmatched. */
#define REGION     0x80800000ull
#define PAGE       0x1000ull
#define R(i)       (REGION + (uint64_t)(i) * PAGE)

#define NAPOT_ADDR(base, size) (((base) >> 2) | (((size) >> 3) - 1))

#define PMPCFG(csr, v) csr_write(csr, v)

static uint64_t cfg0, cfg2;

/* Set the 8-bit config of entry i (0..15) and its address. */
static void set_entry(int i, uint64_t addr, uint64_t cfg)
{
    switch (i) {
    case 0: csr_write(pmpaddr0, addr); break;
    case 1: csr_write(pmpaddr1, addr); break;
    case 2: csr_write(pmpaddr2, addr); break;
    case 3: csr_write(pmpaddr3, addr); break;
    case 4: csr_write(pmpaddr4, addr); break;
    case 5: csr_write(pmpaddr5, addr); break;
    case 6: csr_write(pmpaddr6, addr); break;
    case 7: csr_write(pmpaddr7, addr); break;
    case 8: csr_write(pmpaddr8, addr); break;
    case 9: csr_write(pmpaddr9, addr); break;
    case 10: csr_write(pmpaddr10, addr); break;
    case 11: csr_write(pmpaddr11, addr); break;
    case 12: csr_write(pmpaddr12, addr); break;
    case 13: csr_write(pmpaddr13, addr); break;
    case 14: csr_write(pmpaddr14, addr); break;
    case 15: csr_write(pmpaddr15, addr); break;
    }
    int shift = (i % 8) * 8;
    if (i < 8) {
        cfg0 = (cfg0 & ~(0xffull << shift)) | (cfg << shift);
        csr_write(pmpcfg0, cfg0);
    } else {
        cfg2 = (cfg2 & ~(0xffull << shift)) | (cfg << shift);
        csr_write(pmpcfg2, cfg2);
    }
    /* With paging implemented the spec asks for sfence.vma after PMP
     * changes (QEMU flushes its TLB on PMP writes anyway). */
    sfence_vma_all();
}

static uint64_t run_s(void *stub, uint64_t a0, uint64_t a1)
{
    return mode_call(PRV_S, (uint64_t)(uintptr_t)stub, a0, a1);
}

static void fault(uint64_t mode, void *stub, uint64_t addr, uint64_t cause)
{
    CHECK_EQ(mode_call(mode, (uint64_t)(uintptr_t)stub, addr, 0), cause);
    CHECK_EQ(trap_mtval, addr);
}

static void ok(uint64_t mode, void *stub, uint64_t addr, uint64_t val)
{
    CHECK_EQ(mode_call(mode, (uint64_t)(uintptr_t)stub, addr, val), ECALL_FROM(mode));
}

int main(void)
{
    test_num = 1;
    /* Granularity: with G = 0 every address bit is writable, down to bit
     * 0. The spec makes bits 63:54 read-only zero on RV64; QEMU 7.2
     * stores all 64 bits as written. QEMU is the oracle. */
    csr_write(pmpaddr1, -1);
    CHECK_EQ(csr_read(pmpaddr1), (uint64_t)-1);
    csr_write(pmpaddr1, 0x5);
    CHECK_EQ(csr_read(pmpaddr1), 0x5);
    csr_write(pmpaddr1, 0);

    /* Entry 15: TOR [0, REGION) RWX covers the program, CLINT, HTIF;
     * entry 14 (OFF) supplies its base, 0. Entry 0 (crt.S's allow-all)
     * is cleared. Nothing else matches yet. */
    set_entry(14, 0, PMP_OFF);
    set_entry(15, REGION >> 2, PMP_TOR | PMP_R | PMP_W | PMP_X);
    set_entry(0, 0, PMP_OFF);
    memset((void *)(uintptr_t)REGION, 0, 16 * PAGE);

    test_num = 2;
    /* S and U code still runs (entry 15 gives X). */
    CHECK_EQ(run_s(stub_ecall, 0, 0), ECALL_FROM(PRV_S));
    CHECK_EQ(mode_call(PRV_U, (uint64_t)(uintptr_t)stub_ecall, 0, 0), ECALL_FROM(PRV_U));

    test_num = 3;
    /* No matching entry: S/U fault, M is allowed. */
    fault(PRV_S, stub_ld, R(0), CAUSE_LOAD_ACCESS);
    fault(PRV_S, stub_sd, R(0) + 8, CAUSE_STORE_ACCESS);
    fault(PRV_U, stub_ld, R(0) + 16, CAUSE_LOAD_ACCESS);
    /* An AMO: the spec says store/AMO access fault; QEMU 7.2 reports a
     * load access fault (as for every faulting AMO, see rv64a.S). */
    fault(PRV_S, stub_amoadd, R(0), CAUSE_LOAD_ACCESS);
    CHECK_EQ(mode_call(PRV_S, R(0), 0, 0), CAUSE_FETCH_ACCESS);
    CHECK_EQ(trap_mtval, R(0));
    *(volatile uint64_t *)(uintptr_t)R(0) = 5;
    CHECK_EQ(*(volatile uint64_t *)(uintptr_t)R(0), 5);

    test_num = 4;
    /* NAPOT 4 KiB, read-only. */
    set_entry(1, NAPOT_ADDR(R(0), PAGE), PMP_NAPOT | PMP_R);
    CHECK_EQ(csr_read(pmpaddr1), NAPOT_ADDR(R(0), PAGE));
    ok(PRV_S, stub_ld, R(0), 0);
    CHECK_EQ(mode_call_a0, 5);
    ok(PRV_U, stub_ld, R(0) + PAGE - 8, 0);
    fault(PRV_S, stub_sd, R(0), CAUSE_STORE_ACCESS);
    CHECK_EQ(mode_call(PRV_S, R(0), 0, 0), CAUSE_FETCH_ACCESS);
    /* Just past the end: no match. */
    fault(PRV_S, stub_ld, R(1), CAUSE_LOAD_ACCESS);
    /* An access straddling the end of the entry fails as a whole (QEMU
     * reports the access's start address). */
    fault(PRV_S, stub_ld, R(1) - 4, CAUSE_LOAD_ACCESS);

    test_num = 5;
    /* NA4: exactly 4 bytes, RW. */
    set_entry(2, R(2) >> 2, PMP_NA4 | PMP_R | PMP_W);
    ok(PRV_S, stub_sb, R(2) + 3, 0x77);
    ok(PRV_S, stub_lbu, R(2) + 3, 0);
    CHECK_EQ(mode_call_a0, 0x77);
    fault(PRV_S, stub_lbu, R(2) + 4, CAUSE_LOAD_ACCESS);
    fault(PRV_S, stub_lbu, R(2) - 1, CAUSE_LOAD_ACCESS);
    /* An 8-byte access only half inside it. */
    fault(PRV_S, stub_ld, R(2), CAUSE_LOAD_ACCESS);

    test_num = 6;
    /* TOR [R(3), R(4)) execute-only: code there runs, data access faults. */
    memcpy((void *)(uintptr_t)R(3), stub_ecall, 8);
    fence_i();
    set_entry(3, R(3) >> 2, PMP_OFF);
    set_entry(4, R(4) >> 2, PMP_TOR | PMP_X);
    CHECK_EQ(mode_call(PRV_S, R(3), 0, 0), ECALL_FROM(PRV_S));
    CHECK_EQ(mode_call_a0, 0x5a);
    CHECK_EQ(mode_call(PRV_U, R(3), 0, 0), ECALL_FROM(PRV_U));
    fault(PRV_S, stub_ld, R(3), CAUSE_LOAD_ACCESS);
    fault(PRV_S, stub_sd, R(3) + PAGE - 8, CAUSE_STORE_ACCESS);
    CHECK_EQ(mode_call(PRV_S, R(4), 0, 0), CAUSE_FETCH_ACCESS);

    test_num = 7;
    /* Priority: entry 5 (no permissions, 4 KiB) shadows entry 6 (RW,
     * 8 KiB) where they overlap. */
    set_entry(6, NAPOT_ADDR(R(6), 2 * PAGE), PMP_NAPOT | PMP_R | PMP_W);
    set_entry(5, NAPOT_ADDR(R(6), PAGE), PMP_NAPOT);
    fault(PRV_S, stub_ld, R(6), CAUSE_LOAD_ACCESS);
    ok(PRV_S, stub_sd, R(7), 1);
    /* ... and a no-permission entry does not restrict M. */
    *(volatile uint64_t *)(uintptr_t)R(6) = 9;
    CHECK_EQ(*(volatile uint64_t *)(uintptr_t)R(6), 9);
    /* Removing entry 5 lets entry 6 match. */
    set_entry(5, 0, PMP_OFF);
    ok(PRV_S, stub_ld, R(6), 0);
    CHECK_EQ(mode_call_a0, 9);

    test_num = 8;
    /* MPRV: M's loads use MPP's privilege for PMP too. */
    CHECK_EQ(mprv_ld(R(8), PRV_S), CAUSE_LOAD_ACCESS);
    CHECK_EQ(mprv_ld(R(8), PRV_M), (uint64_t)-1);
    CHECK_EQ(mprv_ld(R(6), PRV_U), (uint64_t)-1);

    test_num = 9;
    /* R = 0, W = 1 is reserved. Later QEMU versions keep the old
     * configuration byte; QEMU 7.2 stores it as written. QEMU 7.2 is the
     * oracle (what such an entry then permits is not tested). */
    set_entry(7, NAPOT_ADDR(R(9), PAGE), PMP_NAPOT | PMP_R | PMP_W);
    csr_write(pmpcfg0, (cfg0 & ~(0xffull << 56)) | ((uint64_t)(PMP_NAPOT | PMP_W) << 56));
    CHECK_EQ((csr_read(pmpcfg0) >> 56) & 0xff, PMP_NAPOT | PMP_W);
    csr_write(pmpcfg0, cfg0);
    CHECK_EQ((csr_read(pmpcfg0) >> 56) & 0xff, PMP_NAPOT | PMP_R | PMP_W);

    test_num = 10;
    /* pmpcfg1 and pmpcfg3 do not exist on RV64. */
    trap_resume = 0;
    {
        uint64_t cause;
        __asm__ volatile(
            "la t0, 1f\n"
            "la t1, trap_resume\n"
            "sd t0, 0(t1)\n"
            "csrr t2, pmpcfg1\n"
            "sd zero, 0(t1)\n"
            "li %0, -1\n"
            "j 2f\n"
            "1: la t1, trap_mcause\n"
            "ld %0, 0(t1)\n"
            "2:\n"
            : "=r"(cause) :: "t0", "t1", "t2", "memory");
        CHECK_EQ(cause, CAUSE_ILLEGAL_INSTRUCTION);
    }

    test_num = 11;
    /* Lock bit: a locked read-only entry also stops M's stores. */
    set_entry(8, NAPOT_ADDR(R(10), PAGE), PMP_NAPOT | PMP_R | PMP_L);
    CHECK_EQ(mprv_ld(R(10), PRV_M), (uint64_t)-1);
    trap_count = 0;
    {
        uint64_t cause;
        __asm__ volatile(
            "la t0, 1f\n"
            "la t1, trap_resume\n"
            "sd t0, 0(t1)\n"
            "sd zero, 0(%1)\n"
            "sd zero, 0(t1)\n"
            "li %0, -1\n"
            "j 2f\n"
            "1: la t1, trap_mcause\n"
            "ld %0, 0(t1)\n"
            "2:\n"
            : "=r"(cause) : "r"(R(10)) : "t0", "t1", "memory");
        CHECK_EQ(cause, CAUSE_STORE_ACCESS);
        CHECK_EQ(trap_mtval, R(10));
        CHECK_EQ(trap_mode, PRV_M);
    }
    /* Writes to the locked entry's address and config are ignored. */
    csr_write(pmpaddr8, 0x1234);
    CHECK_EQ(csr_read(pmpaddr8), NAPOT_ADDR(R(10), PAGE));
    csr_write(pmpcfg2, cfg2 & ~0xffull);
    CHECK_EQ(csr_read(pmpcfg2) & 0xff, PMP_NAPOT | PMP_R | PMP_L);
    /* ... while the other entries in the same pmpcfg stay writable. */
    csr_write(pmpcfg2, cfg2 | ((uint64_t)(PMP_NAPOT | PMP_R) << 8));
    CHECK_EQ((csr_read(pmpcfg2) >> 8) & 0xff, PMP_NAPOT | PMP_R);
    csr_write(pmpcfg2, cfg2);

    test_num = 12;
    /* A locked TOR entry also locks the pmpaddr below it (its base). */
    set_entry(9, R(11) >> 2, PMP_OFF);
    set_entry(10, R(12) >> 2, PMP_TOR | PMP_R | PMP_W | PMP_L);
    csr_write(pmpaddr9, 0);
    CHECK_EQ(csr_read(pmpaddr9), R(11) >> 2);
    ok(PRV_S, stub_sd, R(11), 3);
    /* M can write it (W granted) now that the lock applies to M. */
    *(volatile uint64_t *)(uintptr_t)(R(11) + 8) = 4;
    CHECK_EQ(mprv_ld(R(11) + 8, PRV_M), (uint64_t)-1);
    CHECK_EQ(mode_call_a0, 4);
    return 0;
}
