/* Synchronous exceptions taken to M-mode: every cause that can be raised
 * without paging (illegal instruction incl. reserved encodings, breakpoint,
 * ecall from U/S/M, fetch/load/store access faults), mepc/mtval/mcause
 * values, the mstatus trap stack (MPP, MPIE, MIE) and mret's updates.
 * Page faults are in vm.c, PMP faults in pmp.c, misaligned accesses in
 * misaligned.S. */
#include "test.h"

        .text
        .globl main
main:
        /* Illegal instructions: mtval = the instruction bits (QEMU 7.2
         * always fills it, which the spec allows). */
        TRAP_CASE_TVAL(1, CAUSE_ILLEGAL_INSTRUCTION, 0, .word 0x00000000)
        TRAP_CASE_TVAL(2, CAUSE_ILLEGAL_INSTRUCTION, 0xffffffff, .word 0xffffffff)
        /* custom-0 opcode (0x0b): nothing implemented there. */
        TRAP_CASE_TVAL(3, CAUSE_ILLEGAL_INSTRUCTION, 0x0000000b, .word 0x0000000b)
        /* OP with an unassigned funct7 (0000010). */
        TRAP_CASE_TVAL(4, CAUSE_ILLEGAL_INSTRUCTION, 0x04b50533, .word 0x04b50533)
        /* slliw with shamt[5] = 1 is reserved on RV64. */
        TRAP_CASE_TVAL(5, CAUSE_ILLEGAL_INSTRUCTION, 0x0205151b, .word 0x0205151b)
        /* srai with funct6 010001 (bit 26 set) is not an RV64I encoding. */
        TRAP_CASE(6, CAUSE_ILLEGAL_INSTRUCTION, .word 0x44055513)
        /* LOAD with funct3 = 111 (no such width). */
        TRAP_CASE(7, CAUSE_ILLEGAL_INSTRUCTION, .word 0x00057503)
        /* STORE with funct3 = 100. */
        TRAP_CASE(8, CAUSE_ILLEGAL_INSTRUCTION, .word 0x00a54023)
        /* BRANCH with funct3 = 010. */
        TRAP_CASE(9, CAUSE_ILLEGAL_INSTRUCTION, .word 0x00a52063)
        /* JALR with funct3 != 0. */
        TRAP_CASE(10, CAUSE_ILLEGAL_INSTRUCTION, .word 0x000510e7)
        /* 48-bit-and-longer encodings (low bits 011111 / 0111111). */
        TRAP_CASE(11, CAUSE_ILLEGAL_INSTRUCTION, .word 0x0000001f)
        TRAP_CASE(12, CAUSE_ILLEGAL_INSTRUCTION, .word 0x0000003f)
        /* An unimplemented CSR (custom read/write range). */
        TRAP_CASE(13, CAUSE_ILLEGAL_INSTRUCTION, csrr a0, 0x7c0)
        /* An unimplemented CSR in the custom user read-only range. (Not a
         * hypervisor CSR: QEMU 7.2's default rv64 hart has H, ferrite's
         * does not; these tests depend on H neither way.) */
        TRAP_CASE(14, CAUSE_ILLEGAL_INSTRUCTION, csrr a0, 0xcc0)
        /* The OP-IMM-32 with funct3 = 001 and funct7 != 0 (not slliw). */
        TRAP_CASE(15, CAUSE_ILLEGAL_INSTRUCTION, .word 0x4005151b)
        /* MULW-space funct3 = 001 (no "mulhw"). */
        TRAP_CASE(16, CAUSE_ILLEGAL_INSTRUCTION, .word 0x02b5153b)
        /* AMO with an unassigned funct5 (00101). */
        TRAP_CASE(17, CAUSE_ILLEGAL_INSTRUCTION, .word 0x28b5352f)
        /* The trapping instruction had no effect (a0 unchanged). */
        TEST_RR(18, a0, 1234, li a0, 1234; EXPECT_TRAP 1f; .word 0x0000000b; 1:)

        /* ebreak: cause 3, mepc = its address; QEMU 7.2 writes 0 to mtval
         * (the spec allows the pc or 0). */
        TEST    19
        EXPECT_TRAP 2f
1:      ebreak
        j       fail
2:      CHECK_CAUSE CAUSE_BREAKPOINT
        CHECK_EPC 1b
        CHECK_TVAL 0
        /* ecall from M, S and U; mtval = 0. */
        TRAP_CASE_TVAL(20, CAUSE_MACHINE_ECALL, 0, ecall)
        CHECK_TRAP_MODE PRV_M
        MODE_TRAP_CASE(21, PRV_S, CAUSE_SUPERVISOR_ECALL, ecall)
        CHECK_TVAL 0
        MODE_TRAP_CASE(22, PRV_U, CAUSE_USER_ECALL, ecall)
        CHECK_TVAL 0
        /* ebreak and an illegal instruction from U and S also go to M
         * when nothing is delegated. */
        MODE_TRAP_CASE(23, PRV_U, CAUSE_BREAKPOINT, ebreak)
        MODE_TRAP_CASE(24, PRV_S, CAUSE_ILLEGAL_INSTRUCTION, .word 0)
        MODE_TRAP_CASE(25, PRV_U, CAUSE_ILLEGAL_INSTRUCTION, .word 0xffffffff)

        /* Access faults: nothing is mapped at UNMAPPED_ADDR. mtval = the
         * faulting address. */
        li      s0, UNMAPPED_ADDR
        TRAP_CASE_TVAL(26, CAUSE_LOAD_ACCESS, UNMAPPED_ADDR, ld a0, 0(s0))
        TRAP_CASE_TVAL(27, CAUSE_LOAD_ACCESS, UNMAPPED_ADDR + 0x10, lbu a0, 0x10(s0))
        TRAP_CASE_TVAL(28, CAUSE_STORE_ACCESS, UNMAPPED_ADDR + 8, sw a0, 8(s0))
        TRAP_CASE_TVAL(29, CAUSE_STORE_ACCESS, UNMAPPED_ADDR - 8, sd a0, -8(s0))
        TRAP_CASE_TVAL(30, CAUSE_LOAD_ACCESS, UNMAPPED_ADDR, fld fa0, 0(s0))
        TRAP_CASE_TVAL(31, CAUSE_STORE_ACCESS, UNMAPPED_ADDR, fsw fa0, 0(s0))
        /* The faulting load did not change its destination. */
        TEST_RR(32, a0, 55, li a0, 55; EXPECT_TRAP 1f; ld a0, 0(s0); 1:)
        /* Instruction access fault: jumping there faults with mepc =
         * mtval = the target. */
        TEST    33
        EXPECT_TRAP 1f
        jalr    ra, 0(s0)
        j       fail
1:      CHECK_CAUSE CAUSE_FETCH_ACCESS
        CHECK_MEM trap_mepc, UNMAPPED_ADDR
        CHECK_TVAL UNMAPPED_ADDR
        /* ra was still written by the jalr (the fault is on the fetch of
         * the target, after the jump completed). */
        TEST    34
        EXPECT_TRAP 2f
        jalr    ra, 0(s0)
1:      j       fail
2:      la      t0, 1b
        CHECKR  ra, t0
        /* A fault from U-mode is taken with MPP = U. */
        MODE_TRAP_CASE(35, PRV_U, CAUSE_LOAD_ACCESS, ld a0, 0(s0))
        CHECK_TVAL UNMAPPED_ADDR

        /* Trap stack: with MIE = 1, a trap saves MIE into MPIE and clears
         * MIE; MPP = M. (mie = 0, so no interrupt can be taken.) */
        TEST    36
        csrsi   mstatus, MSTATUS_MIE
        EXPECT_TRAP 1f
        ecall
1:      la      t0, trap_mstatus
        ld      t0, 0(t0)
        andi    t1, t0, MSTATUS_MIE
        CHECK   t1, 0
        andi    t1, t0, MSTATUS_MPIE
        CHECK   t1, MSTATUS_MPIE
        li      t1, MSTATUS_MPP
        and     t1, t0, t1
        CHECK   t1, MSTATUS_MPP
        /* mret: MIE = MPIE, MPIE = 1, MPP = U (the least-privileged mode,
         * priv 1.12). Return to M itself here. */
        TEST    37
        csrci   mstatus, MSTATUS_MIE
        li      t0, MSTATUS_MPP | MSTATUS_MPIE
        csrs    mstatus, t0             /* MPP = M, MPIE = 1 */
        la      t0, 1f
        csrw    mepc, t0
        mret
1:      csrr    t0, mstatus
        andi    t1, t0, MSTATUS_MIE
        CHECK   t1, MSTATUS_MIE
        andi    t1, t0, MSTATUS_MPIE
        CHECK   t1, MSTATUS_MPIE
        li      t1, MSTATUS_MPP
        and     t1, t0, t1
        CHECK   t1, 0
        csrci   mstatus, MSTATUS_MIE
        /* mret to a lower mode clears MPRV. */
        TEST    38
        li      t0, MSTATUS_MPRV
        csrs    mstatus, t0
        EXPECT_TRAP 1f
        ENTER_MODE PRV_S, 2f
2:      ecall
1:      la      t0, trap_mstatus
        ld      t0, 0(t0)
        li      t1, MSTATUS_MPRV
        and     t1, t0, t1
        CHECK   t1, 0
        /* mepc/sepc: the spec says bit 0 always reads 0 (IALIGN = 16);
         * QEMU 7.2 stores and returns bit 0 as written (it only ignores it
         * when returning). QEMU is the oracle. */
        TEST    39
        li      t0, 0x80001233
        csrw    mepc, t0
        csrr    a0, mepc
        CHECK   a0, 0x80001233
        TEST    40
        li      t0, 0x80001235
        csrw    sepc, t0
        csrr    a0, sepc
        CHECK   a0, 0x80001235
        /* mcause is written exactly: ecall = 11 with the interrupt bit 0. */
        TRAP_CASE(41, CAUSE_MACHINE_ECALL, ecall)
        csrr    a0, mcause
        CHECK   a0, CAUSE_MACHINE_ECALL
        /* Every trap counted once. */
        TEST    42
        la      t0, trap_count
        ld      a0, 0(t0)
        EXPECT_TRAP 1f
        ecall
1:      ld      a1, 0(t0)
        sub     a1, a1, a0
        CHECK   a1, 1
        j       pass
