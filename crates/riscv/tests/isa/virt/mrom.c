/* The virt board's reset ROM (MROM, 0x1000-0xffff) and what the hart gets
 * from it with `-bios none -kernel X.elf`: the ten words QEMU 7.2 writes
 * (reset vector code, start address, DTB address), fw_dynamic_info
 * (magic, version 2, next_addr, next_mode = S, options, boot_hart), the
 * registers at the kernel entry (a0 = hartid, a1 = DTB, a2 =
 * &fw_dynamic_info), the DTB placement (2 MiB-aligned, at the top of RAM
 * below 3 GiB; checked with the default -m 128 and with -m 512, see
 * mrom.args) and header; the ROM ignoring writes; the ROM's bounds; and
 * the sifive_test register reading 0, ignoring unknown values and taking
 * only 2- and 4-byte accesses. Spec: riscv-virt-tcg.md 1.4, 1.5, 2.4. */
#include "virt.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

static uint32_t be32(uint64_t a)
{
    return __builtin_bswap32(rd32(a));
}

int main(uint64_t a0, uint64_t a1, uint64_t a2)
{
    /* 1: the ROM's code words (spec 1.4): auipc t0,0; addi a2,t0,40;
     * csrr a0,mhartid; ld a1,32(t0); ld t0,24(t0); jr t0. */
    test_num = 1;
    static const uint32_t code[] = {
        0x00000297, 0x02828613, 0xf1402573, 0x0202b583, 0x0182b283, 0x00028067,
    };
    for (int i = 0; i < 6; i++)
        CHECK_EQ(rd32(MROM_BASE + 4 * i), code[i]);
    /* Start address: the kernel image at the start of RAM. */
    CHECK_EQ(rd64(MROM_BASE + 0x18), DRAM_BASE);
    uint64_t dtb = rd64(MROM_BASE + 0x20);

    /* 2: what the ROM handed to _start (crt.S passes a0-a2 on to main). */
    test_num = 2;
    CHECK_EQ(a0, 0);
    CHECK_EQ(a0, csr_read(mhartid));
    CHECK_EQ(a1, dtb);
    CHECK_EQ(a2, MROM_BASE + 0x28);

    /* 3: fw_dynamic_info (OpenSBI's struct, 8-byte fields). With -bios
     * none the -kernel image is itself the "firmware" at 0x80000000 and
     * next_addr points at it too. */
    test_num = 3;
    CHECK_EQ(rd64(a2 + 0x00), 0x4942534f);      /* "OSBI" */
    CHECK_EQ(rd64(a2 + 0x08), 2);               /* version */
    CHECK_EQ(rd64(a2 + 0x10), DRAM_BASE);       /* next_addr */
    CHECK_EQ(rd64(a2 + 0x18), PRV_S);           /* next_mode */
    CHECK_EQ(rd64(a2 + 0x20), 0);               /* options */
    CHECK_EQ(rd64(a2 + 0x28), 0);               /* boot_hart */
    /* The rest of the ROM reads 0. */
    for (uint64_t a = a2 + 0x30; a < MROM_BASE + 0x200; a += 8)
        CHECK_EQ(rd64(a), 0);

    /* 4: the DTB: a flattened device tree (big-endian magic), at
     * align_down(top - 1 MiB buffer, 2 MiB) where top = min(end of RAM,
     * 3 GiB). The end of RAM is found by probing (-m 128: 0x88000000;
     * -m 512: 0xa0000000). */
    test_num = 4;
    CHECK_EQ(be32(dtb), 0xd00dfeed);
    uint32_t totalsize = be32(dtb + 4);
    CHECK_TRUE(totalsize > 0x40 && totalsize <= MiB);
    uint64_t ram_end = 0;
    for (uint64_t size = 64 * MiB; size <= 4 * GiB; size *= 2) {
        if (M_CALL(stub_ld, DRAM_BASE + size - 8, 0) != CAUSE_MACHINE_ECALL)
            break;
        ram_end = DRAM_BASE + size;
    }
    CHECK_TRUE(ram_end != 0);
    CHECK_EQ(M_CALL(stub_ld, ram_end, 0), CAUSE_LOAD_ACCESS);
    uint64_t top = ram_end < 3 * GiB ? ram_end : 3 * GiB;
    CHECK_EQ(dtb, (top - MiB) & ~(2 * MiB - 1));

    /* 5: the ROM is read-only: stores of every width are ignored (no
     * fault) and leave it unchanged. */
    test_num = 5;
    CHECK_EQ(M_CALL(stub_sw, MROM_BASE, 0xdeadbeef), CAUSE_MACHINE_ECALL);
    CHECK_EQ(M_CALL(stub_sb, MROM_BASE + 5, 0xff), CAUSE_MACHINE_ECALL);
    CHECK_EQ(M_CALL(stub_sd, MROM_BASE + 0x28, 0), CAUSE_MACHINE_ECALL);
    CHECK_EQ(rd32(MROM_BASE), code[0]);
    CHECK_EQ(rd32(MROM_BASE + 4), code[1]);
    CHECK_EQ(rd64(MROM_BASE + 0x28), 0x4942534f);

    /* 6: the ROM covers 0x1000-0xffff; just outside it, nothing. */
    test_num = 6;
    CHECK_EQ(M_CALL(stub_ld, 0xfff8, 0), CAUSE_MACHINE_ECALL);
    CHECK_EQ(mode_call_a0, 0);
    CHECK_EQ(M_CALL(stub_lwu, 0xffc, 0), CAUSE_LOAD_ACCESS);
    CHECK_EQ(M_CALL(stub_lwu, 0x10000, 0), CAUSE_LOAD_ACCESS);

    /* 7: sifive_test (0x100000): reads return 0; values other than
     * 0x3333/0x5555/0x7777 in the low half are ignored; 1- and 8-byte
     * accesses fault (valid sizes are 2 to 4). */
    test_num = 7;
    CHECK_EQ(rd32(SIFIVE_TEST_BASE), 0);
    CHECK_EQ(M_CALL(stub_sw, SIFIVE_TEST_BASE, 0x1234), CAUSE_MACHINE_ECALL);
    CHECK_EQ(M_CALL(stub_sw, SIFIVE_TEST_BASE, 0x55550000), CAUSE_MACHINE_ECALL);
    CHECK_EQ(M_CALL(stub_sh, SIFIVE_TEST_BASE, 0x1111), CAUSE_MACHINE_ECALL);
    CHECK_EQ(M_CALL(stub_lbu, SIFIVE_TEST_BASE, 0), CAUSE_LOAD_ACCESS);
    CHECK_EQ(M_CALL(stub_sb, SIFIVE_TEST_BASE, 0x55), CAUSE_STORE_ACCESS);
    CHECK_EQ(M_CALL(stub_ld, SIFIVE_TEST_BASE, 0), CAUSE_LOAD_ACCESS);
    CHECK_EQ(M_CALL(stub_lwu, SIFIVE_TEST_BASE + 0xffc, 0), CAUSE_MACHINE_ECALL);
    CHECK_EQ(mode_call_a0, 0);
    return 0;
}
