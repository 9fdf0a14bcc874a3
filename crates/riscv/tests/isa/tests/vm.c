/* Sv39 (LEVELS=3) and Sv48 (LEVELS=4) address translation, built twice as
 * vm_sv39 and vm_sv48: satp mode WARL (unsupported modes ignored), 4 KiB
 * pages and superpages at every level, misaligned superpages, R/W/X
 * permissions and the reserved W-without-R encoding, U pages vs SUM for
 * S-mode data and fetch, U-mode access rules, MXR, invalid and
 * non-canonical addresses, non-leaf PTEs at the last level, hardware A/D
 * updates, MPRV for M-mode data accesses, sfence.vma by address, and
 * page faults on fetch, load, store and AMO with mtval = the address. */
#include <string.h>
#include "libtest.h"

#ifndef LEVELS
#error "build with -DLEVELS=3 (Sv39) or -DLEVELS=4 (Sv48)"
#endif
#if LEVELS == 3
#define SATP_MODE SATP_MODE_SV39
#define VA_BITS 39
#else
#define SATP_MODE SATP_MODE_SV48
#define VA_BITS 48
#endif

#define PAGE 4096ull
#define GIGA (1ull << 30)
#define MEGA2 (1ull << 21)
#define LEAF_RWX (PTE_R | PTE_W | PTE_X)
#define AD (PTE_A | PTE_D)

/* Physical pages for page tables, and test data pages. */
static uint64_t pt_pool[48][512] __attribute__((aligned(4096)));
static unsigned pt_used;
static uint8_t data_pages[8][PAGE] __attribute__((aligned(4096)));
/* A 2 MiB-aligned physical region for superpage tests (inside RAM, well
 * past the program image). */
#define MEGA_PA 0x80800000ull

static uint64_t *root;

static uint64_t *alloc_table(void)
{
    if (pt_used == sizeof pt_pool / sizeof pt_pool[0]) {
        htif_puts("out of page tables\n");
        test_exit(1337);
    }
    uint64_t *t = pt_pool[pt_used++];
    memset(t, 0, PAGE);
    return t;
}

static unsigned vpn(uint64_t va, int level)
{
    return (va >> (12 + 9 * level)) & 0x1ff;
}

/* The PTE for va at `level` (0 = 4 KiB leaf level), creating the tables
 * above it. */
static volatile uint64_t *pte_at(uint64_t va, int level)
{
    uint64_t *t = root;
    for (int l = LEVELS - 1; l > level; l--) {
        uint64_t *e = &t[vpn(va, l)];
        if (!(*e & PTE_V))
            *e = (((uint64_t)alloc_table() >> 12) << PTE_PPN_SHIFT) | PTE_V;
        t = (uint64_t *)((*e >> PTE_PPN_SHIFT) << 12);
    }
    return &t[vpn(va, level)];
}

static void map(uint64_t va, uint64_t pa, int level, uint64_t flags)
{
    *pte_at(va, level) = ((pa >> 12) << PTE_PPN_SHIFT) | flags;
    sfence_vma_all();
}

/* Virtual addresses used by the test. */
#define U_ALIAS   0x40000000ull            /* gigapage alias of RAM, with U */
#define TEST_VA   0x100000000ull           /* 4 KiB test pages, one per slot */
#define MEGA_VA   0x140000000ull           /* 2 MiB superpages */
#define WALK_VA   0x180000000ull           /* broken table walk */
#define SLOT(i)   (TEST_VA + (uint64_t)(i) * PAGE)

static uint64_t pa_of(int i) { return (uint64_t)(uintptr_t)data_pages[i]; }
static uint64_t u_alias(void *p) { return (uint64_t)(uintptr_t)p - DRAM_BASE + U_ALIAS; }
static uint64_t s_pc(void *p) { return (uint64_t)(uintptr_t)p; }

/* Run a stub in S or U mode: returns the trap cause (ECALL_FROM(mode)
 * when the access succeeded). */
static uint64_t run(uint64_t mode, void *stub, uint64_t a0, uint64_t a1)
{
    uint64_t pc = mode == PRV_U ? u_alias(stub) : s_pc(stub);
    return mode_call(mode, pc, a0, a1);
}

static void expect_fault(uint64_t mode, void *stub, uint64_t va, uint64_t cause)
{
    CHECK_EQ(run(mode, stub, va, 0), cause);
    CHECK_EQ(trap_mtval, va);
    CHECK_EQ(trap_mode, mode);
}

static void expect_ok(uint64_t mode, void *stub, uint64_t va, uint64_t val)
{
    CHECK_EQ(run(mode, stub, va, val), ECALL_FROM(mode));
}

/* Put "li a0, 0x5a; ecall" at the start of data page i, for fetch tests. */
static void put_code(int i)
{
    memcpy(data_pages[i], stub_ecall, 8);
    fence_i();
}

int main(void)
{
    test_num = 1;
    /* satp: Bare reads back 0; the supported mode is accepted. */
    CHECK_EQ(csr_read(satp), 0);
    root = alloc_table();
    uint64_t satp = (SATP_MODE << SATP_MODE_SHIFT) | ((uint64_t)(uintptr_t)root >> 12);
    csr_write(satp, satp);
    CHECK_EQ(csr_read(satp), satp);

    test_num = 2;
    /* Unsupported modes are ignored: the whole write has no effect. */
    csr_write(satp, (1ull << SATP_MODE_SHIFT) | 0x1234);
    CHECK_EQ(csr_read(satp), satp);
    csr_write(satp, (15ull << SATP_MODE_SHIFT) | 0x1234);
    CHECK_EQ(csr_read(satp), satp);
    /* ASID bits are WARL: write all ones and read back what sticks; the
     * mode and PPN are unchanged. */
    csr_write(satp, satp | (0xffffull << 44));
    uint64_t asid = (csr_read(satp) >> 44) & 0xffff;
    CHECK_EQ(csr_read(satp) & ~(0xffffull << 44), satp);
    csr_write(satp, satp);

    /* RAM identity-mapped for S (gigapage, no U), and aliased for U. */
    map(DRAM_BASE, DRAM_BASE, 2, PTE_V | LEAF_RWX | AD);
    map(U_ALIAS, DRAM_BASE, 2, PTE_V | PTE_R | PTE_X | PTE_U | AD);

    test_num = 3;
    /* S-mode code runs through the identity map and can ecall. */
    CHECK_EQ(run(PRV_S, stub_ecall, 0, 0), ECALL_FROM(PRV_S));
    CHECK_EQ(mode_call_a0, 0x5a);
    /* U-mode code runs through the U alias. */
    CHECK_EQ(run(PRV_U, stub_ecall, 0, 0), ECALL_FROM(PRV_U));
    CHECK_EQ(mode_call_a0, 0x5a);

    test_num = 4;
    /* A 4 KiB RW page: loads and stores reach the right physical page. */
    map(SLOT(0), pa_of(0), 0, PTE_V | PTE_R | PTE_W | AD);
    *(volatile uint64_t *)(data_pages[0] + 0x18) = 0x1122334455667788ull;
    expect_ok(PRV_S, stub_ld, SLOT(0) + 0x18, 0);
    CHECK_EQ(mode_call_a0, 0x1122334455667788ull);
    expect_ok(PRV_S, stub_sd, SLOT(0) + 0x20, 0xabcdef);
    CHECK_EQ(*(volatile uint64_t *)(data_pages[0] + 0x20), 0xabcdef);
    expect_ok(PRV_S, stub_amoadd, SLOT(0) + 0x20, 1);
    CHECK_EQ(mode_call_a0, 0xabcdef);
    CHECK_EQ(*(volatile uint64_t *)(data_pages[0] + 0x20), 0xabcdf0);

    test_num = 5;
    /* Fetch from a page without X: fetch page fault, mepc = mtval = va. */
    put_code(0);
    CHECK_EQ(mode_call(PRV_S, SLOT(0), 0, 0), CAUSE_FETCH_PAGE_FAULT);
    CHECK_EQ(trap_mtval, SLOT(0));
    CHECK_EQ(trap_mepc, SLOT(0));
    /* Via a jump from mapped code: same fault, at the target. */
    expect_fault(PRV_S, stub_jump, SLOT(0) + 4, CAUSE_FETCH_PAGE_FAULT);

    test_num = 6;
    /* Store to a read-only page: store page fault; AMO likewise; the
     * load works. */
    map(SLOT(1), pa_of(1), 0, PTE_V | PTE_R | AD);
    expect_fault(PRV_S, stub_sd, SLOT(1) + 8, CAUSE_STORE_PAGE_FAULT);
    expect_fault(PRV_S, stub_amoadd, SLOT(1) + 8, CAUSE_STORE_PAGE_FAULT);
    expect_ok(PRV_S, stub_ld, SLOT(1) + 8, 0);
    /* An SC to it faults too (the LR before it is fine). */
    expect_fault(PRV_S, stub_lrsc, SLOT(1) + 16, CAUSE_STORE_PAGE_FAULT);

    test_num = 7;
    /* Execute-only page: fetch works, loads fault unless MXR. */
    put_code(2);
    map(SLOT(2), pa_of(2), 0, PTE_V | PTE_X | AD);
    CHECK_EQ(mode_call(PRV_S, SLOT(2), 0, 0), ECALL_FROM(PRV_S));
    CHECK_EQ(mode_call_a0, 0x5a);
    expect_fault(PRV_S, stub_ld, SLOT(2), CAUSE_LOAD_PAGE_FAULT);
    csr_set(mstatus, MSTATUS_MXR);
    expect_ok(PRV_S, stub_ld, SLOT(2), 0);
    CHECK_EQ(mode_call_a0, *(volatile uint64_t *)data_pages[2]);
    /* MXR does not make it writable. */
    expect_fault(PRV_S, stub_sd, SLOT(2), CAUSE_STORE_PAGE_FAULT);
    csr_clear(mstatus, MSTATUS_MXR);

    test_num = 8;
    /* Invalid PTE: every access faults with its own cause. */
    map(SLOT(3), pa_of(3), 0, PTE_R | PTE_W | PTE_X | AD);   /* V = 0 */
    expect_fault(PRV_S, stub_ld, SLOT(3), CAUSE_LOAD_PAGE_FAULT);
    expect_fault(PRV_S, stub_sd, SLOT(3), CAUSE_STORE_PAGE_FAULT);
    CHECK_EQ(mode_call(PRV_S, SLOT(3), 0, 0), CAUSE_FETCH_PAGE_FAULT);
    /* Nothing mapped at all (no tables) likewise. */
    expect_fault(PRV_S, stub_ld, 0x7000000000ull & ((1ull << (VA_BITS - 1)) - 1), CAUSE_LOAD_PAGE_FAULT);

    test_num = 9;
    /* W without R is reserved: faults even for a store. */
    map(SLOT(4), pa_of(4), 0, PTE_V | PTE_W | AD);
    expect_fault(PRV_S, stub_ld, SLOT(4), CAUSE_LOAD_PAGE_FAULT);
    expect_fault(PRV_S, stub_sd, SLOT(4), CAUSE_STORE_PAGE_FAULT);
    map(SLOT(4), pa_of(4), 0, PTE_V | PTE_W | PTE_X | AD);
    expect_fault(PRV_S, stub_sd, SLOT(4), CAUSE_STORE_PAGE_FAULT);

    test_num = 10;
    /* U pages from S: data needs SUM, fetch never allowed. */
    put_code(5);
    map(SLOT(5), pa_of(5), 0, PTE_V | LEAF_RWX | PTE_U | AD);
    expect_fault(PRV_S, stub_ld, SLOT(5), CAUSE_LOAD_PAGE_FAULT);
    expect_fault(PRV_S, stub_sd, SLOT(5), CAUSE_STORE_PAGE_FAULT);
    csr_set(mstatus, MSTATUS_SUM);
    expect_ok(PRV_S, stub_ld, SLOT(5), 0);
    expect_ok(PRV_S, stub_sd, SLOT(5) + 64, 7);
    CHECK_EQ(mode_call(PRV_S, SLOT(5), 0, 0), CAUSE_FETCH_PAGE_FAULT);
    csr_clear(mstatus, MSTATUS_SUM);
    CHECK_EQ(mode_call(PRV_S, SLOT(5), 0, 0), CAUSE_FETCH_PAGE_FAULT);

    test_num = 11;
    /* U mode: U pages work (data and fetch), non-U pages fault even with
     * SUM (SUM only affects S). */
    expect_ok(PRV_U, stub_ld, SLOT(5), 0);
    expect_ok(PRV_U, stub_sd, SLOT(5) + 72, 9);
    CHECK_EQ(mode_call(PRV_U, SLOT(5), 0, 0), ECALL_FROM(PRV_U));
    CHECK_EQ(mode_call_a0, 0x5a);
    csr_set(mstatus, MSTATUS_SUM);
    expect_fault(PRV_U, stub_ld, SLOT(0), CAUSE_LOAD_PAGE_FAULT);
    expect_fault(PRV_U, stub_sd, SLOT(0), CAUSE_STORE_PAGE_FAULT);
    csr_clear(mstatus, MSTATUS_SUM);
    CHECK_EQ(mode_call(PRV_U, SLOT(2), 0, 0), CAUSE_FETCH_PAGE_FAULT);
    /* U-mode code fetched from a non-U page (the S identity map). */
    CHECK_EQ(mode_call(PRV_U, s_pc(stub_ecall), 0, 0), CAUSE_FETCH_PAGE_FAULT);
    /* MXR lets U read its own execute-only pages. */
    put_code(6);
    map(SLOT(6), pa_of(6), 0, PTE_V | PTE_X | PTE_U | AD);
    expect_fault(PRV_U, stub_ld, SLOT(6), CAUSE_LOAD_PAGE_FAULT);
    csr_set(mstatus, MSTATUS_MXR);
    expect_ok(PRV_U, stub_ld, SLOT(6), 0);
    csr_clear(mstatus, MSTATUS_MXR);

    test_num = 12;
    /* Hardware A/D updates: a load sets A only, a store sets A and D. */
    map(SLOT(7), pa_of(7), 0, PTE_V | PTE_R | PTE_W);
    volatile uint64_t *pte7 = pte_at(SLOT(7), 0);
    expect_ok(PRV_S, stub_ld, SLOT(7), 0);
    CHECK_EQ(*pte7 & AD, PTE_A);
    expect_ok(PRV_S, stub_sd, SLOT(7), 1);
    CHECK_EQ(*pte7 & AD, AD);
    /* A store to a clean page with A = 0 sets both at once. */
    *pte7 = ((pa_of(7) >> 12) << PTE_PPN_SHIFT) | PTE_V | PTE_R | PTE_W;
    sfence_vma_all();
    expect_ok(PRV_S, stub_sb, SLOT(7) + 3, 1);
    CHECK_EQ(*pte7 & AD, AD);
    /* A fetch sets A. */
    put_code(7);
    *pte7 = ((pa_of(7) >> 12) << PTE_PPN_SHIFT) | PTE_V | PTE_X;
    sfence_vma_all();
    CHECK_EQ(mode_call(PRV_S, SLOT(7), 0, 0), ECALL_FROM(PRV_S));
    CHECK_EQ(*pte7 & AD, PTE_A);
    /* A faulting access does not set A. */
    *pte7 = ((pa_of(7) >> 12) << PTE_PPN_SHIFT) | PTE_V | PTE_X;
    sfence_vma_all();
    expect_fault(PRV_S, stub_sd, SLOT(7), CAUSE_STORE_PAGE_FAULT);
    CHECK_EQ(*pte7 & AD, 0);
    /* Non-leaf PTEs are not given A/D. */
    volatile uint64_t *nonleaf = pte_at(SLOT(7), 1);
    CHECK_EQ(*nonleaf & (AD | LEAF_RWX), 0);

    test_num = 13;
    /* 2 MiB superpage: offset bits below 2 MiB come from the VA. */
    map(MEGA_VA, MEGA_PA, 1, PTE_V | PTE_R | PTE_W | AD);
    *(volatile uint64_t *)(uintptr_t)(MEGA_PA + 0x12340) = 0x600dcafe;
    expect_ok(PRV_S, stub_ld, MEGA_VA + 0x12340, 0);
    CHECK_EQ(mode_call_a0, 0x600dcafe);
    expect_ok(PRV_S, stub_sd, MEGA_VA + 0x1ffff8, 0x5151);
    CHECK_EQ(*(volatile uint64_t *)(uintptr_t)(MEGA_PA + 0x1ffff8), 0x5151);
    /* Misaligned superpage (PPN[0] != 0): page fault. */
    map(MEGA_VA + MEGA2, MEGA_PA + PAGE, 1, PTE_V | PTE_R | PTE_W | AD);
    expect_fault(PRV_S, stub_ld, MEGA_VA + MEGA2 + 8, CAUSE_LOAD_PAGE_FAULT);
    expect_fault(PRV_S, stub_sd, MEGA_VA + MEGA2 + 8, CAUSE_STORE_PAGE_FAULT);

    test_num = 14;
    /* Gigapages: the identity map above is one; a misaligned one
     * faults. */
    map(3 * GIGA, DRAM_BASE + MEGA2, 2, PTE_V | PTE_R | AD);
    expect_fault(PRV_S, stub_ld, 3 * GIGA, CAUSE_LOAD_PAGE_FAULT);
    map(3 * GIGA, DRAM_BASE, 2, PTE_V | PTE_R | AD);
    expect_ok(PRV_S, stub_ld, 3 * GIGA + (MEGA_PA - DRAM_BASE) + 0x12340, 0);
    CHECK_EQ(mode_call_a0, 0x600dcafe);
#if LEVELS == 4
    /* Sv48 512 GiB "terapage" (leaf at level 3): PA = 0 + offset; the
     * top-level slot 1 covers VA 512 GiB..1 TiB, mapped to PA 0.. so RAM
     * appears at 512 GiB + 0x80000000. */
    map(1ull << 39, 0, 3, PTE_V | PTE_R | AD);
    expect_ok(PRV_S, stub_ld, (1ull << 39) + MEGA_PA + 0x12340, 0);
    CHECK_EQ(mode_call_a0, 0x600dcafe);
    /* ... and misaligned at that level faults. */
    map(2ull << 39, DRAM_BASE, 3, PTE_V | PTE_R | AD);
    expect_fault(PRV_S, stub_ld, 2ull << 39, CAUSE_LOAD_PAGE_FAULT);
#endif

    test_num = 15;
    /* A pointer PTE at the last level is a page fault. */
    map(SLOT(8), (uint64_t)(uintptr_t)alloc_table(), 0, PTE_V);
    expect_fault(PRV_S, stub_ld, SLOT(8), CAUSE_LOAD_PAGE_FAULT);

    test_num = 16;
    /* Non-canonical addresses (bits above VA_BITS-1 not a sign extension)
     * fault, even if the low bits would map. */
    expect_fault(PRV_S, stub_ld, SLOT(0) | (1ull << (VA_BITS - 1)), CAUSE_LOAD_PAGE_FAULT);
    expect_fault(PRV_S, stub_sd, SLOT(0) | (1ull << 63), CAUSE_STORE_PAGE_FAULT);
    CHECK_EQ(mode_call(PRV_S, SLOT(0) | (1ull << VA_BITS), 0, 0), CAUSE_FETCH_PAGE_FAULT);

    test_num = 17;
    /* sfence.vma by address: remapping a page and flushing it makes the
     * new mapping visible. */
    map(SLOT(9), pa_of(0), 0, PTE_V | PTE_R | AD);
    expect_ok(PRV_S, stub_ld, SLOT(9) + 0x18, 0);
    CHECK_EQ(mode_call_a0, 0x1122334455667788ull);
    *pte_at(SLOT(9), 0) = ((pa_of(1) >> 12) << PTE_PPN_SHIFT) | PTE_V | PTE_R | AD;
    *(volatile uint64_t *)(data_pages[1] + 0x18) = 0x99;
    __asm__ volatile("sfence.vma %0, zero" :: "r"(SLOT(9)) : "memory");
    expect_ok(PRV_S, stub_ld, SLOT(9) + 0x18, 0);
    CHECK_EQ(mode_call_a0, 0x99);
    /* By address and ASID. */
    *pte_at(SLOT(9), 0) = ((pa_of(0) >> 12) << PTE_PPN_SHIFT) | PTE_V | PTE_R | AD;
    __asm__ volatile("sfence.vma %0, %1" :: "r"(SLOT(9)), "r"(0) : "memory");
    expect_ok(PRV_S, stub_ld, SLOT(9) + 0x18, 0);
    CHECK_EQ(mode_call_a0, 0x1122334455667788ull);
    /* Unmapping it: the access faults after the flush. */
    *pte_at(SLOT(9), 0) = 0;
    __asm__ volatile("sfence.vma %0, zero" :: "r"(SLOT(9)) : "memory");
    expect_fault(PRV_S, stub_ld, SLOT(9), CAUSE_LOAD_PAGE_FAULT);

    test_num = 18;
    /* MPRV: M-mode loads translate and check as MPP's mode. */
    CHECK_EQ(mprv_ld(SLOT(0) + 0x18, PRV_S), (uint64_t)-1);
    CHECK_EQ(mode_call_a0, 0x1122334455667788ull);
    /* MPP = S on a U page faults without SUM, works with it; mtval = the
     * address and the trap is taken from M. */
    CHECK_EQ(mprv_ld(SLOT(5), PRV_S), CAUSE_LOAD_PAGE_FAULT);
    CHECK_EQ(trap_mtval, SLOT(5));
    CHECK_EQ(trap_mode, PRV_M);
    csr_set(mstatus, MSTATUS_SUM);
    CHECK_EQ(mprv_ld(SLOT(5), PRV_S), (uint64_t)-1);
    csr_clear(mstatus, MSTATUS_SUM);
    /* MPP = U on a non-U page faults. */
    CHECK_EQ(mprv_ld(SLOT(0), PRV_U), CAUSE_LOAD_PAGE_FAULT);
    /* MPRV with MPP = M is plain M: no translation. */
    CHECK_EQ(mprv_ld(pa_of(0) + 0x18, PRV_M), (uint64_t)-1);
    CHECK_EQ(mode_call_a0, 0x1122334455667788ull);

    test_num = 19;
    /* Page-table walk touching nothing (a non-leaf PTE pointing at an
     * unmapped physical address): QEMU 7.2 reports a page fault, not an
     * access fault (its walker turns a failed PTE load into a plain
     * translation failure). */
    *pte_at(WALK_VA, 1) = (((uint64_t)UNMAPPED_ADDR >> 12) << PTE_PPN_SHIFT) | PTE_V;
    sfence_vma_all();
    expect_fault(PRV_S, stub_ld, WALK_VA, CAUSE_LOAD_PAGE_FAULT);

    test_num = 20;
    /* A misaligned store straddling a writable page (slot 0) and a
     * read-only one (slot 1): store page fault with mtval = the start of
     * the read-only page, the part that faulted (QEMU's choice; the spec
     * also allows the access's own address), and neither page is
     * written. */
    *(volatile uint64_t *)(data_pages[0] + PAGE - 8) = 0;
    *(volatile uint64_t *)(data_pages[1]) = 0;
    CHECK_EQ(run(PRV_S, stub_sd, SLOT(1) - 4, 0x1111111111111111ull), CAUSE_STORE_PAGE_FAULT);
    CHECK_EQ(trap_mtval, SLOT(1));
    CHECK_EQ(*(volatile uint64_t *)(data_pages[0] + PAGE - 8), 0);
    CHECK_EQ(*(volatile uint64_t *)(data_pages[1]), 0);
    /* The same load works (both pages readable) and joins the halves. */
    *(volatile uint32_t *)(data_pages[0] + PAGE - 4) = 0x44332211;
    *(volatile uint32_t *)(data_pages[1]) = 0x88776655;
    expect_ok(PRV_S, stub_ld, SLOT(1) - 4, 0);
    CHECK_EQ(mode_call_a0, 0x8877665544332211ull);

    test_num = 21;
    /* Self-modifying code through two virtual aliases of one physical
     * page: S writes instructions through a writable alias, fence.i, and
     * runs them through an executable alias; then rewrites and reruns. */
    map(SLOT(11), pa_of(3), 0, PTE_V | PTE_R | PTE_W | AD);
    map(SLOT(12), pa_of(3), 0, PTE_V | PTE_X | AD);
    /* "addi a0, zero, imm; ecall" as one doubleword. */
#define LI_ECALL(imm) ((0x00000073ull << 32) | 0x00000513ull | ((uint64_t)(imm) << 20))
    expect_ok(PRV_S, stub_sd, SLOT(11), LI_ECALL(0x5a));
    fence_i();
    CHECK_EQ(mode_call(PRV_S, SLOT(12), 0, 0), ECALL_FROM(PRV_S));
    CHECK_EQ(mode_call_a0, 0x5a);
    expect_ok(PRV_S, stub_sd, SLOT(11), LI_ECALL(0x123));
    fence_i();
    CHECK_EQ(mode_call(PRV_S, SLOT(12), 0, 0), ECALL_FROM(PRV_S));
    CHECK_EQ(mode_call_a0, 0x123);
    /* The same physical code reached through a third alias (U page)
     * from U-mode. */
    map(SLOT(13), pa_of(3), 0, PTE_V | PTE_X | PTE_U | AD);
    CHECK_EQ(mode_call(PRV_U, SLOT(13), 0, 0), ECALL_FROM(PRV_U));
    CHECK_EQ(mode_call_a0, 0x123);

    test_num = 22;
    /* Turning translation off: S sees physical addresses again. */
    csr_write(satp, 0);
    sfence_vma_all();
    expect_ok(PRV_S, stub_ld, pa_of(0) + 0x18, 0);
    CHECK_EQ(mode_call_a0, 0x1122334455667788ull);
    (void)asid;
    return 0;
}
